package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// localDesk is one session's hold on the local desktop: its clipboard, the
// input lock and the blanked screen. Everything it took is given back in
// close, whatever ended the session.
type localDesk struct {
	s *Session

	mu      sync.Mutex
	closed  bool
	clip    Clipboard
	lock    InputLocker
	blank   ScreenBlanker
	locked  bool
	blanked bool
}

// localPermission is the permission a local-desktop message needs.
func localPermission(t wire.MsgType) policy.Permission {
	switch t {
	case wire.TypeClipboardText, wire.TypeClipboardGet:
		return policy.Clipboard
	case wire.TypeInputLock:
		return policy.LockInput
	case wire.TypeScreenBlank:
		return policy.BlankScreen
	}
	return "" // host → guest only: nothing grants a guest sending it
}

func (h *Host) openClipboard() (Clipboard, error) {
	if h.o.Clipboard != nil {
		return h.o.Clipboard()
	}
	return OpenClipboard(LocalOptions{Logger: h.log})
}

func (h *Host) openInputLocker() (InputLocker, error) {
	if h.o.InputLock != nil {
		return h.o.InputLock()
	}
	return OpenInputLocker(LocalOptions{Logger: h.log})
}

func (h *Host) openScreenBlanker() (ScreenBlanker, error) {
	if h.o.ScreenBlank != nil {
		return h.o.ScreenBlank()
	}
	return OpenScreenBlanker(LocalOptions{Logger: h.log})
}

// startClipboard opens the clipboard for a session granted it and forwards
// what local applications copy to a guest that announced CapClipboard.
func (d *localDesk) startClipboard(ctx context.Context, control *transport.Channel) {
	if !d.s.perms.Has(policy.Clipboard) {
		return
	}
	clip, err := d.clipboard()
	if err != nil {
		d.s.log.Warn("clipboard unavailable", "err", err)
		return
	}
	go func() {
		select {
		case <-d.s.hello:
		case <-ctx.Done():
			return
		}
		if !slices.Contains(d.s.guestCaps, wire.CapClipboard) {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case text, ok := <-clip.Changes():
				if !ok {
					return
				}
				if err := control.Send(&wire.ClipboardText{Text: text}); err != nil {
					return
				}
				d.s.log.Info("local clipboard sent to the technician", "bytes", len(text))
			}
		}
	}()
}

func (d *localDesk) clipboard() (Clipboard, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("the session is ending")
	}
	if d.clip == nil {
		c, err := d.s.h.openClipboard()
		if err != nil {
			return nil, err
		}
		d.clip = c
	}
	return d.clip, nil
}

// handle runs one local-desktop message; the caller checked the permission.
func (d *localDesk) handle(ctx context.Context, ch *transport.Channel, m wire.Message) error {
	fail := func(code uint16, err error) error {
		d.s.log.Warn("local desktop request failed", "message", fmt.Sprintf("0x%02x", uint8(m.Type())), "err", err)
		return ch.Send(&wire.Error{Code: code, Ref: m.Type(), Message: err.Error()})
	}
	switch m := m.(type) {
	case *wire.ClipboardText:
		if !utf8.ValidString(m.Text) || len(m.Text) > MaxClipboard {
			return fail(wire.ErrCodeBadRequest, errors.New("clipboard text must be UTF-8 of at most 1 MiB"))
		}
		clip, err := d.clipboard()
		if err != nil {
			return fail(unsupportedOr(err), fmt.Errorf("the host cannot use its clipboard: %w", err))
		}
		if err := clip.Set(m.Text); err != nil {
			return fail(wire.ErrCodeInternal, err)
		}
		d.s.log.Info("clipboard set by the technician", "bytes", len(m.Text))
		return nil
	case *wire.ClipboardGet:
		clip, err := d.clipboard()
		if err != nil {
			return fail(unsupportedOr(err), fmt.Errorf("the host cannot use its clipboard: %w", err))
		}
		text, err := clip.Get(ctx)
		if err != nil {
			return fail(wire.ErrCodeInternal, err)
		}
		return ch.Send(&wire.ClipboardText{Text: text})
	case *wire.InputLock:
		if err := d.setLock(m.Lock); err != nil {
			return fail(unsupportedOr(err), err)
		}
		d.s.log.Info("local input lock", "locked", m.Lock)
		d.s.h.event(Event{Kind: "input_lock", SessionID: d.s.g.SessionID, Technician: technician(d.s.g), Detail: fmt.Sprint(m.Lock)})
		return ch.Send(d.state())
	case *wire.ScreenBlank:
		if err := d.setBlank(m.Blank); err != nil {
			return fail(unsupportedOr(err), err)
		}
		d.s.log.Info("local screen blank", "blanked", m.Blank)
		d.s.h.event(Event{Kind: "screen_blank", SessionID: d.s.g.SessionID, Technician: technician(d.s.g), Detail: fmt.Sprint(m.Blank)})
		return ch.Send(d.state())
	}
	return ch.Send(&wire.Error{Code: wire.ErrCodeBadRequest, Ref: m.Type(), Message: fmt.Sprintf("a guest does not send message 0x%02x", uint8(m.Type()))})
}

func unsupportedOr(err error) uint16 {
	if errors.Is(err, errors.ErrUnsupported) {
		return wire.ErrCodeUnsupported
	}
	return wire.ErrCodeInternal
}

func (d *localDesk) state() *wire.LocalState {
	d.mu.Lock()
	defer d.mu.Unlock()
	var f uint8
	if d.locked {
		f |= wire.LocalInputLocked
	}
	if d.blanked {
		f |= wire.LocalScreenBlanked
	}
	return &wire.LocalState{Flags: f}
}

func (d *localDesk) setLock(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("the session is ending")
	}
	if d.lock == nil {
		if !on {
			return nil
		}
		l, err := d.s.h.openInputLocker()
		if err != nil {
			return fmt.Errorf("the host cannot lock its keyboard and mouse: %w", err)
		}
		d.lock = l
	}
	var err error
	if on {
		err = d.lock.Lock()
	} else {
		err = d.lock.Unlock()
	}
	if err == nil {
		d.locked = on
	}
	return err
}

func (d *localDesk) setBlank(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("the session is ending")
	}
	if d.blank == nil {
		if !on {
			return nil
		}
		b, err := d.s.h.openScreenBlanker()
		if err != nil {
			return fmt.Errorf("the host cannot blank its screen: %w", err)
		}
		d.blank = b
	}
	if err := d.blank.Blank(on); err != nil {
		return err
	}
	d.blanked = on
	return nil
}

// around runs an injection so it reaches applications while input is locked.
func (d *localDesk) around(inject func() error) error {
	d.mu.Lock()
	l := d.lock
	d.mu.Unlock()
	if l == nil {
		return inject()
	}
	return l.Around(inject)
}

// close unlocks input, restores the screen and withdraws the session's
// clipboard text.
func (d *localDesk) close() {
	d.mu.Lock()
	d.closed = true
	clip, lock, blank := d.clip, d.lock, d.blank
	d.clip, d.lock, d.blank = nil, nil, nil
	d.locked, d.blanked = false, false
	d.mu.Unlock()
	for _, c := range []interface{ Close() error }{lock, blank, clip} {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil {
			d.s.log.Warn("releasing the local desktop failed", "err", err)
		}
	}
}
