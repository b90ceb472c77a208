//go:build windows && cgo

package input

// Windows back end: robotgo (SendInput underneath).
//
// Known robotgo limits, not fixed here:
//   - Keys are sent as virtual-key codes; robotgo resolves the character
//     keys ("a", "-", "[", ...) with VkKeyScan on the active layout, so on a
//     non-US layout they follow the printed character, not the US position
//     (a scan-code path, KEYEVENTF_SCANCODE, would be the physical fix).
//     NumpadEnter is sent as plain VK_RETURN.
//   - Move divides the coordinates by the DPI scale of the *foreground
//     window* (robotgo.MoveScale) before SetCursorPos. That is right for a
//     DPI-unaware host process with a single-DPI desktop and wrong
//     otherwise.
//   - robotgo has no X buttons and sends horizontal wheel as vertical
//     (MOUSEEVENTF_WHEEL); Back/Forward and the horizontal wheel therefore
//     go through robotgo.SendInput directly.
//   - UnicodeType sends one UTF-16 unit per event; Type splits astral
//     characters into surrogate pairs itself.

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"unicode/utf16"
	"unsafe"

	"github.com/go-vgo/robotgo"
	"github.com/tailscale/win"
)

// rmu serialises robotgo (package globals, not goroutine-safe).
var rmu sync.Mutex

// windowsMissing: table codes robotgo maps to something else on Windows.
var windowsMissing = map[string]string{
	"NumpadEqual": "robotgo would send the main-row '=' key (VK_OEM_PLUS)",
	"NumpadClear": "robotgo has no Windows key for it",
}

const wheelDelta = 120 // WHEEL_DELTA: one notch

type winBackend struct{ log *slog.Logger }

func newBackend(display string, log *slog.Logger) (backend, error) {
	if display != "" {
		log.Debug("input: Options.Display is ignored on Windows", "display", display)
	}
	rmu.Lock()
	robotgo.KeySleep = 0 // robotgo sleeps KeySleep ms after every key event
	robotgo.MouseSleep = 0
	rmu.Unlock()
	return &winBackend{log: log}, nil
}

func (b *winBackend) keyAvailable(code string) error {
	if keyTable[code].robotgo == "" {
		return fmt.Errorf("robotgo has no Windows key for it: %w", ErrUnknownKey)
	}
	if why, ok := windowsMissing[code]; ok {
		return fmt.Errorf("%s: %w", why, ErrUnknownKey)
	}
	return nil
}

func (b *winBackend) key(code string, down bool) error {
	rmu.Lock()
	defer rmu.Unlock()
	return toggleKey(keyTable[code].robotgo, down)
}

func toggleKey(name string, down bool) error {
	if err := robotgo.KeyToggle(name, upDown(down)); err != nil {
		return fmt.Errorf("robotgo: %v: %w", err, ErrUnknownKey)
	}
	return nil
}

func (b *winBackend) move(x, y int) error {
	rmu.Lock()
	defer rmu.Unlock()
	robotgo.Move(x, y)
	return nil
}

func (b *winBackend) button(btn Button, down bool) error {
	rmu.Lock()
	defer rmu.Unlock()
	switch btn {
	case ButtonLeft, ButtonMiddle, ButtonRight:
		name := map[Button]string{ButtonLeft: "left", ButtonMiddle: "center", ButtonRight: "right"}[btn]
		return robotgo.Toggle(name, upDown(down))
	case ButtonBack, ButtonForward:
		flags := uint32(win.MOUSEEVENTF_XUP)
		if down {
			flags = win.MOUSEEVENTF_XDOWN
		}
		data := uint32(win.XBUTTON1)
		if btn == ButtonForward {
			data = win.XBUTTON2
		}
		return sendMouse(flags, data)
	}
	return fmt.Errorf("unknown mouse button %d", uint8(btn))
}

func (b *winBackend) wheel(dx, dy int) error {
	rmu.Lock()
	defer rmu.Unlock()
	if dy != 0 {
		// robotgo: positive is up (away from the user); ours is down.
		robotgo.Scroll(0, -dy, 0)
	}
	if dx != 0 {
		// MOUSEEVENTF_HWHEEL: positive is right.
		return sendMouse(win.MOUSEEVENTF_HWHEEL, uint32(int32(dx*wheelDelta)))
	}
	return nil
}

func sendMouse(flags, data uint32) error {
	in := win.MOUSE_INPUT{Type: win.INPUT_MOUSE}
	in.Mi.DwFlags = flags
	in.Mi.MouseData = data
	if robotgo.SendInput(1, unsafe.Pointer(&in), int32(unsafe.Sizeof(in))) != 1 {
		return errors.New("SendInput failed (blocked by UIPI or a secure desktop?)")
	}
	return nil
}

func (b *winBackend) typeText(text string) error {
	rmu.Lock()
	defer rmu.Unlock()
	for _, r := range text {
		switch r {
		case '\n', '\t':
			name := map[rune]string{'\n': "enter", '\t': "tab"}[r]
			if err := toggleKey(name, true); err != nil {
				return err
			}
			if err := toggleKey(name, false); err != nil {
				return err
			}
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			robotgo.UnicodeType(uint32(u)) // KEYEVENTF_UNICODE down + up
		}
	}
	return nil
}

func (b *winBackend) close() error { return nil }
