//go:build linux

package input

// The wlroots back end (sway, Hyprland, river, labwc...): a virtual pointer
// (wlr-virtual-pointer-unstable-v1) and a virtual keyboard
// (virtual-keyboard-unstable-v1) over one Wayland connection, pure Go.
//
// Keys: the virtual keyboard carries its own XKB keymap, a US layout over
// the evdev key codes, so KeyboardEvent.code (a US position) maps to the
// evdev code of that position through the key table's XKB name. The
// compositor does not derive modifier state from a virtual keyboard's keys,
// so the back end sends it (modifiers request) after each modifier key.
//
// A seat with no keyboard of its own (a headless compositor) gains one with
// ours: clients bind their wl_keyboard only then, so the first keys of the
// first session can reach nobody. A machine's real keyboard avoids it.
//
// Text: text the US keymap types (ASCII) is typed with its keys; other
// text, like wtype, uploads a keymap whose keys carry exactly the text's
// characters (one level, any Unicode keysym), presses them in order, and
// restores the US keymap: layout-independent and complete, including
// characters no layout has.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-rc/tandem/internal/wl"
)

// evdevKeycodes is the XKB keycode set whose names the key table uses
// (XKB keycode = evdev code + 8).
var evdevKeycodes = "/usr/share/X11/xkb/keycodes/evdev"

// usKeymap is the virtual keyboard's layout for physical keys.
const usKeymap = `xkb_keymap {
	xkb_keycodes { include "evdev+aliases(qwerty)" };
	xkb_types { include "complete" };
	xkb_compat { include "complete" };
	xkb_symbols { include "pc+us+inet(evdev)" };
};
`

// Linux input event codes (linux/input-event-codes.h).
const (
	btnLeft   = 0x110
	btnRight  = 0x111
	btnMiddle = 0x112
	btnSide   = 0x113
	btnExtra  = 0x114
)

// Modifier masks of the keymap above (real modifiers).
const (
	modMaskShift = 1 << 0
	modMaskLock  = 1 << 1
	modMaskCtrl  = 1 << 2
	modMaskAlt   = 1 << 3 // Mod1
	modMaskNum   = 1 << 4 // Mod2
	modMaskSuper = 1 << 6 // Mod4
)

var codeModifier = map[string]uint32{
	"ShiftLeft": modMaskShift, "ShiftRight": modMaskShift,
	"ControlLeft": modMaskCtrl, "ControlRight": modMaskCtrl,
	"AltLeft": modMaskAlt, "AltRight": modMaskAlt,
	"MetaLeft": modMaskSuper, "MetaRight": modMaskSuper,
}

// maxTypeKeys bounds the distinct characters of one uploaded text keymap
// (keycodes 9..255); longer texts are typed in several keymaps.
const maxTypeKeys = 240

type wlrBackend struct {
	log   *slog.Logger
	conn  *wl.Conn
	outs  *wl.Outputs
	ptr   uint32 // zwlr_virtual_pointer_v1
	kbd   uint32 // zwp_virtual_keyboard_v1
	codes map[string]uint32
	start time.Time

	mu        sync.Mutex
	held      map[string]bool // modifier codes down
	depressed uint32
	locked    uint32
}

// newWaylandBackend connects to the compositor at Options.Wayland.
func newWaylandBackend(opts Options, log *slog.Logger) (backend, error) {
	path, err := wl.SocketPath(opts.Wayland, opts.RuntimeDir)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	codes, err := loadEvdevCodes(evdevKeycodes)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := wl.Dial(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	b := &wlrBackend{log: log, conn: conn, codes: codes, start: time.Now(), held: map[string]bool{}}
	fail := func(err error) (backend, error) {
		conn.Close()
		return nil, err
	}
	pm, ok1 := conn.Global("zwlr_virtual_pointer_manager_v1")
	km, ok2 := conn.Global("zwp_virtual_keyboard_manager_v1")
	seat, ok3 := conn.Global("wl_seat")
	if !ok1 || !ok2 || !ok3 {
		return fail(fmt.Errorf("input: the Wayland compositor offers no virtual pointer and keyboard (not supported on this desktop): %w", errors.ErrUnsupported))
	}
	seatID, err := conn.Bind(seat, 1, nil)
	if err != nil {
		return fail(err)
	}
	pmID, err := conn.Bind(pm, 1, nil)
	if err != nil {
		return fail(err)
	}
	kmID, err := conn.Bind(km, 1, nil)
	if err != nil {
		return fail(err)
	}
	b.ptr = conn.NewID(nil)
	if err := conn.Send(pmID, 0, seatID, b.ptr); err != nil { // create_virtual_pointer
		return fail(err)
	}
	b.kbd = conn.NewID(nil)
	if err := conn.Send(kmID, 0, seatID, b.kbd); err != nil { // create_virtual_keyboard
		return fail(err)
	}
	if err := b.uploadKeymap(usKeymap); err != nil {
		return fail(err)
	}
	if b.outs, err = wl.TrackOutputs(ctx, conn); err != nil {
		return fail(fmt.Errorf("input: %w", err))
	}
	// A refused request (an unauthorised client) surfaces here as a
	// protocol error rather than at the first key.
	if err := conn.Roundtrip(ctx); err != nil {
		return fail(fmt.Errorf("input: %w", err))
	}
	log.Debug("input: opened wlroots virtual pointer and keyboard", "socket", path)
	return b, nil
}

var (
	evdevKeyRe   = regexp.MustCompile(`^\s*<([A-Za-z0-9+\-]+)>\s*=\s*(\d+)\s*;`)
	evdevAliasRe = regexp.MustCompile(`^\s*alias\s*<([A-Za-z0-9+\-]+)>\s*=\s*<([A-Za-z0-9+\-]+)>\s*;`)
)

// loadEvdevCodes maps the key table's codes to evdev codes through the XKB
// evdev keycode names (and their aliases).
func loadEvdevCodes(file string) (map[string]uint32, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("xkb keycodes (install xkb-data): %w", err)
	}
	defer f.Close()
	names := map[string]int{}
	aliases := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := evdevKeyRe.FindStringSubmatch(sc.Text()); m != nil {
			if n, err := strconv.Atoi(m[2]); err == nil && n >= 8 && n < 1<<16 {
				names[m[1]] = n
			}
		} else if m := evdevAliasRe.FindStringSubmatch(sc.Text()); m != nil {
			aliases[m[1]] = m[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := map[string]uint32{}
	for code, def := range keyTable {
		name := def.xkb
		if a, ok := aliases[name]; ok {
			name = a
		}
		if n, ok := names[name]; ok {
			out[code] = uint32(n - 8)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no key names", file)
	}
	return out, nil
}

func (b *wlrBackend) now() uint32 { return uint32(time.Since(b.start).Milliseconds()) }

// uploadKeymap gives the virtual keyboard an XKB keymap (format 1: text,
// NUL-terminated, in a sealed-size memfd).
func (b *wlrBackend) uploadKeymap(text string) error {
	fd, mem, err := wl.Memfd("tandem-keymap", len(text)+1)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	copy(mem, text)
	mem[len(text)] = 0
	_ = unix.Munmap(mem)
	return b.conn.Send(b.kbd, 0, uint32(1), wl.FD(fd), uint32(len(text)+1)) // keymap(XKB_V1, fd, size)
}

func (b *wlrBackend) keyAvailable(code string) error {
	if _, ok := b.codes[code]; !ok {
		return fmt.Errorf("no key for it in the XKB evdev keycodes: %w", ErrUnknownKey)
	}
	return nil
}

func (b *wlrBackend) key(code string, down bool) error {
	kc, ok := b.codes[code]
	if !ok {
		return ErrUnknownKey
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	state := uint32(0)
	if down {
		state = 1
	}
	if err := b.conn.Send(b.kbd, 1, b.now(), kc, state); err != nil {
		return err
	}
	changed := false
	if _, ok := codeModifier[code]; ok {
		b.held[code] = down
		b.depressed = 0
		for c, d := range b.held {
			if d {
				b.depressed |= codeModifier[c]
			}
		}
		changed = true
	}
	if down && (code == "CapsLock" || code == "NumLock") {
		m := uint32(modMaskLock)
		if code == "NumLock" {
			m = modMaskNum
		}
		b.locked ^= m
		changed = true
	}
	if changed {
		return b.conn.Send(b.kbd, 2, b.depressed, uint32(0), b.locked, uint32(0)) // modifiers
	}
	return nil
}

// layout is the output layout's bounding box (the root coordinates).
func (b *wlrBackend) layout() image.Rectangle {
	list, _ := b.outs.List()
	var r image.Rectangle
	for _, o := range list {
		r = r.Union(image.Rect(o.X, o.Y, o.X+o.Width, o.Y+o.Height))
	}
	return r
}

func (b *wlrBackend) move(x, y int) error {
	r := b.layout()
	if r.Empty() {
		return errors.New("the compositor has no output")
	}
	x = min(max(x, r.Min.X), r.Max.X-1) - r.Min.X
	y = min(max(y, r.Min.Y), r.Max.Y-1) - r.Min.Y
	// motion_absolute(time, x, y, x_extent, y_extent): x/x_extent of the layout box.
	if err := b.conn.Send(b.ptr, 1, b.now(), uint32(x), uint32(y), uint32(r.Dx()), uint32(r.Dy())); err != nil {
		return err
	}
	return b.conn.Send(b.ptr, 4) // frame
}

// evdevButton is a button's Linux input event code.
func evdevButton(btn Button) uint32 {
	return map[Button]uint32{ButtonLeft: btnLeft, ButtonRight: btnRight, ButtonMiddle: btnMiddle, ButtonBack: btnSide, ButtonForward: btnExtra}[btn]
}

func (b *wlrBackend) button(btn Button, down bool) error {
	code := evdevButton(btn)
	state := uint32(0)
	if down {
		state = 1
	}
	if err := b.conn.Send(b.ptr, 2, b.now(), code, state); err != nil {
		return err
	}
	return b.conn.Send(b.ptr, 4)
}

// wheel sends discrete wheel notches (15 units each, as libinput reports a
// mouse wheel): axis 0 is vertical (positive down), 1 horizontal.
func (b *wlrBackend) wheel(dx, dy int) error {
	t := b.now()
	if err := b.conn.Send(b.ptr, 5, uint32(0)); err != nil { // axis_source(wheel)
		return err
	}
	for axis, n := range [2]int{dy, dx} {
		if n == 0 {
			continue
		}
		if err := b.conn.Send(b.ptr, 7, t, uint32(axis), wl.Fixed(15*n), int32(n)); err != nil { // axis_discrete
			return err
		}
	}
	return b.conn.Send(b.ptr, 4)
}

// usKey is the US-layout key (and whether Shift) that types r, for text
// the virtual keyboard's own keymap covers: no keymap change, which costs
// the compositor and the focused client a keymap compile each.
func usKey(r rune) (code string, shift, ok bool) {
	switch {
	case r >= 'a' && r <= 'z':
		return "Key" + string(r-'a'+'A'), false, true
	case r >= 'A' && r <= 'Z':
		return "Key" + string(r), true, true
	case r >= '0' && r <= '9':
		return "Digit" + string(r), false, true
	}
	if i := strings.IndexRune(")!@#$%^&*(", r); i >= 0 {
		return "Digit" + strconv.Itoa(i), true, true
	}
	const plain, shifted = "-=[]\\;'`,./ \n\t", "_+{}|:\"~<>?"
	codes := []string{"Minus", "Equal", "BracketLeft", "BracketRight", "Backslash", "Semicolon", "Quote", "Backquote", "Comma", "Period", "Slash", "Space", "Enter", "Tab"}
	if i := strings.IndexRune(plain, r); i >= 0 {
		return codes[i], false, true
	}
	if i := strings.IndexRune(shifted, r); i >= 0 {
		return codes[i], true, true
	}
	return "", false, false
}

// typeUS types text that usKey covers entirely on the US keymap; false
// when it does not.
func (b *wlrBackend) typeUS(text string) (bool, error) {
	for _, r := range text {
		if _, _, ok := usKey(r); !ok {
			return false, nil
		}
	}
	shiftKC := b.codes["ShiftLeft"]
	mods := func(shift bool) error {
		m := b.depressed &^ modMaskShift
		if shift {
			m |= modMaskShift
		}
		return b.conn.Send(b.kbd, 2, m, uint32(0), b.locked&^modMaskLock, uint32(0))
	}
	for _, r := range text {
		code, shift, _ := usKey(r)
		kc := b.codes[code]
		if shift {
			if err := b.conn.Send(b.kbd, 1, b.now(), shiftKC, uint32(1)); err != nil {
				return true, err
			}
			if err := mods(true); err != nil {
				return true, err
			}
		}
		if err := b.conn.Send(b.kbd, 1, b.now(), kc, uint32(1)); err != nil {
			return true, err
		}
		if err := b.conn.Send(b.kbd, 1, b.now(), kc, uint32(0)); err != nil {
			return true, err
		}
		if shift {
			if err := b.conn.Send(b.kbd, 1, b.now(), shiftKC, uint32(0)); err != nil {
				return true, err
			}
			if err := mods(false); err != nil {
				return true, err
			}
		}
	}
	// The held modifiers and locks as they were.
	return true, b.conn.Send(b.kbd, 2, b.depressed, uint32(0), b.locked, uint32(0))
}

// textKeymap binds syms to keycodes 9, 10, ... at one level.
func textKeymap(syms []uint32) string {
	var s strings.Builder
	s.WriteString("xkb_keymap {\nxkb_keycodes \"tandem\" {\nminimum = 8;\nmaximum = 255;\n")
	for i := range syms {
		fmt.Fprintf(&s, "<T%d> = %d;\n", i, i+9)
	}
	s.WriteString("};\nxkb_types \"tandem\" { include \"complete\" };\nxkb_compat \"tandem\" { include \"complete\" };\nxkb_symbols \"tandem\" {\n")
	for i, k := range syms {
		fmt.Fprintf(&s, "key <T%d> { [ 0x%08x ] };\n", i, k)
	}
	s.WriteString("};\n};\n")
	return s.String()
}

func (b *wlrBackend) typeText(text string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Caps Lock is lifted for the keys (and restored) by typeUS's modifiers.
	if done, err := b.typeUS(text); done {
		return err
	}
	runes := []rune(text)
	var err error
	for len(runes) > 0 && err == nil {
		// One keymap per chunk of up to maxTypeKeys distinct characters.
		index := map[uint32]int{}
		var syms []uint32
		n := 0
		for ; n < len(runes); n++ {
			k := runeKeysym(runes[n])
			if _, ok := index[k]; !ok {
				if len(syms) == maxTypeKeys {
					break
				}
				index[k] = len(syms)
				syms = append(syms, k)
			}
		}
		if err = b.uploadKeymap(textKeymap(syms)); err != nil {
			break
		}
		// No modifier may change what the keys type.
		if err = b.conn.Send(b.kbd, 2, uint32(0), uint32(0), uint32(0), uint32(0)); err != nil {
			break
		}
		for _, r := range runes[:n] {
			kc := uint32(index[runeKeysym(r)] + 1) // evdev = XKB keycode - 8
			if err = b.conn.Send(b.kbd, 1, b.now(), kc, uint32(1)); err != nil {
				break
			}
			if err = b.conn.Send(b.kbd, 1, b.now(), kc, uint32(0)); err != nil {
				break
			}
		}
		runes = runes[n:]
	}
	// Back to the physical-key layout and the held modifiers, also after a
	// failure.
	return errors.Join(err, b.uploadKeymap(usKeymap),
		b.conn.Send(b.kbd, 2, b.depressed, uint32(0), b.locked, uint32(0)))
}

func (b *wlrBackend) close() error {
	_ = b.conn.Send(b.ptr, 8) // destroy
	_ = b.conn.Send(b.kbd, 3) // destroy
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = b.conn.Roundtrip(ctx) // the destroys reach the compositor before the socket closes
	return b.conn.Close()
}
