//go:build linux

package input

// The GNOME back end: Mutter's RemoteDesktop session (internal/mutter)
// takes pointer motion in a monitor stream's coordinates, buttons as evdev
// codes, keys as evdev keycodes (the US position of KeyboardEvent.code)
// and text as keysyms, which Mutter maps through the session's own keymap
// (pressing Shift or AltGr for the level itself). Pure Go: D-Bus only.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tandem-rc/tandem/internal/mutter"
)

type mutterBackend struct {
	sess  *mutter.Session
	codes map[string]uint32
}

func newMutterBackend(opts Options, log *slog.Logger) (backend, error) {
	codes, err := loadEvdevCodes(evdevKeycodes)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := mutter.Acquire(ctx, opts.SessionBus, "", log)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	return &mutterBackend{sess: sess, codes: codes}, nil
}

func (b *mutterBackend) keyAvailable(code string) error {
	if _, ok := b.codes[code]; !ok {
		return fmt.Errorf("no key for it in the XKB evdev keycodes: %w", ErrUnknownKey)
	}
	return nil
}

func (b *mutterBackend) key(code string, down bool) error {
	kc, ok := b.codes[code]
	if !ok {
		return ErrUnknownKey
	}
	return b.sess.Call("NotifyKeyboardKeycode", kc, down)
}

// move: absolute motion is relative to a monitor's stream; a point off
// every monitor goes to the nearest one's edge.
func (b *mutterBackend) move(x, y int) error {
	st, ok := b.sess.StreamAt(x, y)
	if !ok {
		return fmt.Errorf("no monitor is cast")
	}
	px := float64(min(max(x-st.X, 0), st.Width-1))
	py := float64(min(max(y-st.Y, 0), st.Height-1))
	return b.sess.Call("NotifyPointerMotionAbsolute", string(st.Path), px, py)
}

func (b *mutterBackend) button(btn Button, down bool) error {
	return b.sess.Call("NotifyPointerButton", int32(evdevButton(btn)), down)
}

// wheel: axis 0 is vertical (positive down), 1 horizontal.
func (b *mutterBackend) wheel(dx, dy int) error {
	for axis, n := range [2]int{dy, dx} {
		if n == 0 {
			continue
		}
		if err := b.sess.Call("NotifyPointerAxisDiscrete", uint32(axis), int32(n)); err != nil {
			return err
		}
	}
	return nil
}

func (b *mutterBackend) typeText(text string) error {
	for _, r := range text {
		ks := runeKeysym(r)
		if err := b.sess.Call("NotifyKeyboardKeysym", ks, true); err != nil {
			return err
		}
		if err := b.sess.Call("NotifyKeyboardKeysym", ks, false); err != nil {
			return err
		}
	}
	return nil
}

func (b *mutterBackend) close() error {
	b.sess.Release()
	return nil
}
