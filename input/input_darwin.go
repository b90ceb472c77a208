package input

// macOS back end: Quartz events (CGEventCreate*Event + CGEventPost at the
// HID tap) through purego (internal/quartz), so no cgo is needed and the
// darwin build cross-compiles from Linux.
//
// Known limits:
//   - The process needs the Accessibility permission, or posted events
//     are dropped silently (CheckPermissions says so at start).
//   - Coordinates are Quartz global display coordinates (points, not
//     pixels on Retina screens), the same the capture side uses.
//   - Keys are posted as virtual key codes (macKeyCodes): physical US
//     positions whatever the layout, like X11. Quartz does not derive
//     modifier flags from posted modifier keys, so every event carries the
//     flags of the modifiers held through this Injector.
//   - Moves while a button is held are posted as drags, and presses carry
//     a click count (clickCounter), or applications see neither drags nor
//     double clicks.
//   - Media keys, F21–F24, PrintScreen, ScrollLock and Pause have no Mac
//     key code (ErrUnknownKey).

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
	"unicode/utf16"

	"github.com/tandem-rc/tandem/internal/quartz"
)

type macBackend struct {
	log     *slog.Logger
	src     uintptr         // CGEventSourceRef; 0 posts without a source
	mods    map[string]bool // modifier codes held, for the event flags
	buttons map[Button]bool
	clicks  clickCounter
}

func newBackend(display string, log *slog.Logger) (backend, error) {
	if display != "" {
		log.Debug("input: Options.Display is ignored on macOS", "display", display)
	}
	if err := quartz.Load(); err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	return &macBackend{log: log, src: quartz.CGEventSourceCreate(quartz.EventSourceStateHIDSystemState),
		mods: map[string]bool{}, buttons: map[Button]bool{}}, nil
}

func (b *macBackend) keyAvailable(code string) error {
	if _, ok := macKeyCodes[code]; !ok {
		return fmt.Errorf("no macOS key code for it: %w", ErrUnknownKey)
	}
	return nil
}

// post sends ev with the held modifiers' flags and releases it.
func (b *macBackend) post(ev uintptr, what string) error {
	if ev == 0 {
		return fmt.Errorf("input: Quartz could not create the %s event", what)
	}
	defer quartz.CFRelease(ev)
	quartz.CGEventSetFlags(ev, macFlags(b.mods))
	quartz.CGEventPost(quartz.HIDEventTap, ev)
	return nil
}

func (b *macBackend) key(code string, down bool) error {
	vk, ok := macKeyCodes[code]
	if !ok {
		return fmt.Errorf("no macOS key code for it: %w", ErrUnknownKey)
	}
	if isModifierCode(code) {
		// The flags of a modifier's own event include it while down.
		if down {
			b.mods[code] = true
		} else {
			delete(b.mods, code)
		}
	}
	return b.post(quartz.CGEventCreateKeyboardEvent(b.src, vk, down), "key")
}

// location is where the pointer is now (the local user may have moved it).
func (b *macBackend) location() quartz.CGPoint {
	ev := quartz.CGEventCreate(b.src)
	if ev == 0 {
		return quartz.CGPoint{}
	}
	defer quartz.CFRelease(ev)
	return quartz.CGEventGetLocation(ev)
}

func (b *macBackend) move(x, y int) error {
	typ, btn := uint32(quartz.EventMouseMoved), uint32(quartz.MouseButtonLeft)
	switch {
	case b.buttons[ButtonLeft]:
		typ = quartz.EventLeftMouseDragged
	case b.buttons[ButtonRight]:
		typ, btn = quartz.EventRightMouseDragged, quartz.MouseButtonRight
	case len(b.buttons) > 0:
		typ, btn = quartz.EventOtherMouseDragged, quartz.MouseButtonCenter
	}
	at := quartz.CGPoint{X: float64(x), Y: float64(y)}
	return b.post(quartz.CGEventCreateMouseEvent(b.src, typ, at, btn), "mouse move")
}

// macButton is the Quartz button number and the down/up event types.
func macButton(btn Button) (num, downType, upType uint32, err error) {
	switch btn {
	case ButtonLeft:
		return quartz.MouseButtonLeft, quartz.EventLeftMouseDown, quartz.EventLeftMouseUp, nil
	case ButtonRight:
		return quartz.MouseButtonRight, quartz.EventRightMouseDown, quartz.EventRightMouseUp, nil
	case ButtonMiddle:
		return quartz.MouseButtonCenter, quartz.EventOtherMouseDown, quartz.EventOtherMouseUp, nil
	case ButtonBack, ButtonForward: // buttons 4 and 5 are Quartz's 3 and 4
		return uint32(btn) - 1, quartz.EventOtherMouseDown, quartz.EventOtherMouseUp, nil
	}
	return 0, 0, 0, fmt.Errorf("mouse button %s on macOS: %w", btn, errors.ErrUnsupported)
}

func (b *macBackend) button(btn Button, down bool) error {
	num, typ, upType, err := macButton(btn)
	if err != nil {
		return err
	}
	at := b.location()
	n := b.clicks.count()
	if down {
		n = b.clicks.down(btn, int(math.Round(at.X)), int(math.Round(at.Y)), time.Now())
		b.buttons[btn] = true
	} else {
		typ = upType
		delete(b.buttons, btn)
	}
	ev := quartz.CGEventCreateMouseEvent(b.src, typ, at, num)
	if ev != 0 {
		quartz.CGEventSetIntegerValueField(ev, quartz.FieldMouseEventClickState, int64(n))
		quartz.CGEventSetIntegerValueField(ev, quartz.FieldMouseEventButtonNumber, int64(num))
	}
	return b.post(ev, "mouse button")
}

func (b *macBackend) wheel(dx, dy int) error {
	// Quartz: positive wheel 1 scrolls up, positive wheel 2 left; ours
	// are the reverse. Lines, as a notch scrolls.
	v, h := int32(-dy), int32(-dx)
	if quartz.CGEventCreateScrollWheelEvent2 != nil {
		return b.post(quartz.CGEventCreateScrollWheelEvent2(b.src, quartz.ScrollEventUnitLine, 2, v, h, 0), "scroll")
	}
	// Before macOS 13: a blank event made a scroll event field by field
	// (CGEventCreateScrollWheelEvent is variadic, which purego cannot call
	// on arm64).
	ev := quartz.CGEventCreate(b.src)
	if ev != 0 {
		quartz.CGEventSetType(ev, quartz.EventScrollWheel)
		quartz.CGEventSetIntegerValueField(ev, quartz.FieldScrollWheelEventDeltaAx1, int64(v))
		quartz.CGEventSetIntegerValueField(ev, quartz.FieldScrollWheelEventDeltaAx2, int64(h))
	}
	return b.post(ev, "scroll")
}

func (b *macBackend) tapVK(code string) error {
	if err := b.key(code, true); err != nil {
		return err
	}
	return b.key(code, false)
}

// typeText posts each character as a key event carrying the character
// itself (CGEventKeyboardSetUnicodeString), so it needs no key of the
// layout; Enter and Tab are their keys.
func (b *macBackend) typeText(text string) error {
	for _, r := range text {
		switch r {
		case '\n':
			if err := b.tapVK("Enter"); err != nil {
				return err
			}
			continue
		case '\t':
			if err := b.tapVK("Tab"); err != nil {
				return err
			}
			continue
		}
		units := utf16.Encode([]rune{r})
		for _, down := range []bool{true, false} {
			ev := quartz.CGEventCreateKeyboardEvent(b.src, 0, down)
			if ev != 0 {
				quartz.CGEventKeyboardSetUnicodeString(ev, uintptr(len(units)), &units[0])
			}
			if err := b.post(ev, "typing"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *macBackend) close() error {
	if b.src != 0 {
		quartz.CFRelease(b.src)
		b.src = 0
	}
	return nil
}
