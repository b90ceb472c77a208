//go:build darwin && cgo

package input

// macOS back end: robotgo (Quartz events). Not built or run in this
// project's CI; kept to plain robotgo calls.
//
// Known limits:
//   - The process needs the Accessibility permission, or events are dropped
//     silently.
//   - Coordinates are Quartz global display coordinates (points, not pixels
//     on Retina screens).
//   - Character keys are resolved through the active layout by robotgo, so
//     they follow the printed character on non-US layouts.
//   - Quartz does not derive modifier flags from injected modifier key
//     events, so the flags of the modifiers held through this Injector are
//     passed with every key press.
//   - robotgo scrolls in pixels; one notch is macPixelsPerNotch pixels.
//   - Back/Forward buttons are not available through robotgo.

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"unicode/utf16"

	"github.com/go-vgo/robotgo"
)

// rmu serialises robotgo (package globals, not goroutine-safe).
var rmu sync.Mutex

// darwinMissing: table codes robotgo maps to K_NOT_A_KEY on macOS.
var darwinMissing = map[string]bool{
	"F21": true, "F22": true, "F23": true, "F24": true,
	"ContextMenu": true, "ScrollLock": true, "Pause": true, "MediaStop": true,
}

const macPixelsPerNotch = 10

type macBackend struct {
	log  *slog.Logger
	mods map[string]bool // modifier codes held, for the event flags
}

func newBackend(display string, log *slog.Logger) (backend, error) {
	if display != "" {
		log.Debug("input: Options.Display is ignored on macOS", "display", display)
	}
	rmu.Lock()
	robotgo.KeySleep = 0
	robotgo.MouseSleep = 0
	rmu.Unlock()
	return &macBackend{log: log, mods: map[string]bool{}}, nil
}

func (b *macBackend) keyAvailable(code string) error {
	if keyTable[code].robotgo == "" || darwinMissing[code] {
		return fmt.Errorf("robotgo has no macOS key for it: %w", ErrUnknownKey)
	}
	return nil
}

// flags are robotgo's modifier names for the held modifiers.
func (b *macBackend) flags() []any {
	var f []any
	for _, m := range []struct{ code, flag string }{
		{"ShiftLeft", "shift"}, {"ShiftRight", "shift"},
		{"ControlLeft", "ctrl"}, {"ControlRight", "ctrl"},
		{"AltLeft", "alt"}, {"AltRight", "alt"},
		{"MetaLeft", "cmd"}, {"MetaRight", "cmd"},
	} {
		if b.mods[m.code] {
			f = append(f, m.flag)
		}
	}
	return f
}

func (b *macBackend) key(code string, down bool) error {
	rmu.Lock()
	defer rmu.Unlock()
	name := keyTable[code].robotgo
	var err error
	if down && !isModifierCode(code) {
		err = robotgo.KeyToggle(name, append([]any{"down"}, b.flags()...)...)
	} else {
		// No flags on key up: robotgo would send key-up events for them.
		err = robotgo.KeyToggle(name, upDown(down))
	}
	if err != nil {
		return fmt.Errorf("robotgo: %v: %w", err, ErrUnknownKey)
	}
	if isModifierCode(code) {
		if down {
			b.mods[code] = true
		} else {
			delete(b.mods, code)
		}
	}
	return nil
}

func (b *macBackend) move(x, y int) error {
	rmu.Lock()
	defer rmu.Unlock()
	robotgo.Move(x, y)
	return nil
}

func (b *macBackend) button(btn Button, down bool) error {
	rmu.Lock()
	defer rmu.Unlock()
	switch btn {
	case ButtonLeft, ButtonMiddle, ButtonRight:
		name := map[Button]string{ButtonLeft: "left", ButtonMiddle: "center", ButtonRight: "right"}[btn]
		return robotgo.Toggle(name, upDown(down))
	}
	return fmt.Errorf("mouse button %s on macOS: %w", btn, errors.ErrUnsupported)
}

func (b *macBackend) wheel(dx, dy int) error {
	rmu.Lock()
	defer rmu.Unlock()
	// robotgo: positive y scrolls up, positive x left; ours are the reverse.
	robotgo.Scroll(-dx*macPixelsPerNotch, -dy*macPixelsPerNotch, 0)
	return nil
}

func (b *macBackend) typeText(text string) error {
	rmu.Lock()
	defer rmu.Unlock()
	for _, r := range text {
		switch r {
		case '\n', '\t':
			name := map[rune]string{'\n': "enter", '\t': "tab"}[r]
			if err := robotgo.KeyTap(name); err != nil {
				return fmt.Errorf("robotgo: %w", err)
			}
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			robotgo.UnicodeType(uint32(u))
		}
	}
	return nil
}

func (b *macBackend) close() error { return nil }
