package agent

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/tandem-rc/tandem/internal/xext"
)

const (
	keysymX       = 0x0078 // XK_x
	keysymNumLock = 0xff7f // XK_Num_Lock
)

// x11Hotkey grabs Ctrl+Shift+X on the root window. X matches a grab's
// modifiers exactly, so it is grabbed once for each combination of the lock
// modifiers (CapsLock, NumLock) that may be on.
type x11Hotkey struct {
	conn  *xgb.Conn
	root  xproto.Window
	codes []xproto.Keycode
	mods  []uint16
	c     chan struct{}
	done  chan struct{}
	once  sync.Once
	// presses counts every key press this connection received: the grab
	// delivers only the hotkey, which the tests check.
	presses atomic.Int64
}

// OpenHotkey grabs Ctrl+Shift+X on display ("" = $DISPLAY).
func OpenHotkey(display string) (Hotkey, error) {
	conn, err := xext.Dial(display)
	if err != nil {
		if display == "" {
			display = os.Getenv("DISPLAY")
		}
		return nil, fmt.Errorf("agent: hotkey: X display %q: %w", display, err)
	}
	h := &x11Hotkey{conn: conn, root: xproto.Setup(conn).DefaultScreen(conn).Root,
		c: make(chan struct{}, 1), done: make(chan struct{})}
	if err := h.grab(); err != nil {
		conn.Close()
		return nil, err
	}
	go h.loop()
	return h, nil
}

func (h *x11Hotkey) grab() error {
	setup := xproto.Setup(h.conn)
	min, max := setup.MinKeycode, setup.MaxKeycode
	km, err := xproto.GetKeyboardMapping(h.conn, min, byte(max-min+1)).Reply()
	if err != nil {
		return fmt.Errorf("agent: hotkey: keyboard mapping: %w", err)
	}
	per := int(km.KeysymsPerKeycode)
	numLock := uint16(0)
	var numCodes []xproto.Keycode
	for i := 0; i*per < len(km.Keysyms); i++ {
		code := xproto.Keycode(int(min) + i)
		switch km.Keysyms[i*per] {
		case keysymX:
			h.codes = append(h.codes, code)
		case keysymNumLock:
			numCodes = append(numCodes, code)
		}
	}
	if len(h.codes) == 0 {
		return errors.New("agent: hotkey: the keyboard has no X key")
	}
	// NumLock is whichever modifier the Num_Lock key is mapped to.
	if mm, err := xproto.GetModifierMapping(h.conn).Reply(); err == nil && mm.KeycodesPerModifier > 0 {
		n := int(mm.KeycodesPerModifier)
		for i, kc := range mm.Keycodes {
			for _, c := range numCodes {
				if kc == c && kc != 0 {
					numLock = 1 << (i / n)
				}
			}
		}
	}
	base := uint16(xproto.ModMaskControl | xproto.ModMaskShift)
	h.mods = []uint16{base, base | xproto.ModMaskLock}
	if numLock != 0 {
		h.mods = append(h.mods, base|numLock, base|xproto.ModMaskLock|numLock)
	}
	for _, code := range h.codes {
		for _, m := range h.mods {
			err := xproto.GrabKeyChecked(h.conn, true, h.root, m, code, xproto.GrabModeAsync, xproto.GrabModeAsync).Check()
			if err != nil {
				if _, busy := err.(xproto.AccessError); busy {
					return errors.New("agent: hotkey: Ctrl+Shift+X is already taken by another program")
				}
				return fmt.Errorf("agent: hotkey: grab Ctrl+Shift+X: %w", err)
			}
		}
	}
	return nil
}

func (h *x11Hotkey) loop() {
	defer close(h.done)
	for {
		ev, err := h.conn.WaitForEvent()
		if ev == nil && err == nil {
			return // connection closed
		}
		if kp, ok := ev.(xproto.KeyPressEvent); ok {
			h.presses.Add(1)
			for _, c := range h.codes {
				if kp.Detail == c {
					select {
					case h.c <- struct{}{}:
					default:
					}
				}
			}
		}
	}
}

func (h *x11Hotkey) C() <-chan struct{} { return h.c }

// Close ungrabs the key and closes the connection. Idempotent.
func (h *x11Hotkey) Close() error {
	h.once.Do(func() {
		for _, code := range h.codes {
			for _, m := range h.mods {
				xproto.UngrabKey(h.conn, code, h.root, m)
			}
		}
		// A round trip makes sure the ungrabs reached the server.
		_, _ = xproto.GetInputFocus(h.conn).Reply()
		h.conn.Close()
		<-h.done
	})
	return nil
}
