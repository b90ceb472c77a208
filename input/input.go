// Package input injects keyboard and mouse input on the controlled side.
//
// Open returns an Injector for the local desktop. The platform layer is
// robotgo (cgo) on Linux/X11 and Windows, Quartz events through purego
// (no cgo) on macOS; other systems and CGO_ENABLED=0 Linux/Windows builds
// get a stub whose Open returns errors.ErrUnsupported.
//
// Keys are named by browser KeyboardEvent.code values, i.e. physical
// positions on a US keyboard (see keys.go). Every Injector remembers what it
// pressed, so ReleaseAll/Close never leave a key or button stuck when a
// session ends.
//
// An Injector is safe for concurrent use; calls are serialised, and robotgo
// and Xlib are only ever entered by one goroutine at a time across all
// Injectors of the process.
package input

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Button is a mouse button.
type Button uint8

// Mouse buttons.
const (
	ButtonLeft    Button = 1
	ButtonMiddle  Button = 2
	ButtonRight   Button = 3
	ButtonBack    Button = 4
	ButtonForward Button = 5
)

func (b Button) String() string {
	switch b {
	case ButtonLeft:
		return "left"
	case ButtonMiddle:
		return "middle"
	case ButtonRight:
		return "right"
	case ButtonBack:
		return "back"
	case ButtonForward:
		return "forward"
	}
	return fmt.Sprintf("button(%d)", uint8(b))
}

func (b Button) valid() bool { return b >= ButtonLeft && b <= ButtonForward }

// Modifiers is a set of modifier keys for Tap.
type Modifiers uint8

// Modifier bits.
const (
	ModShift Modifiers = 1
	ModCtrl  Modifiers = 2
	ModAlt   Modifiers = 4
	ModMeta  Modifiers = 8 // Windows key / Command
)

const modAll = ModShift | ModCtrl | ModAlt | ModMeta

func (m Modifiers) String() string {
	if m == 0 {
		return "none"
	}
	var parts []string
	for _, n := range []struct {
		m Modifiers
		s string
	}{{ModCtrl, "ctrl"}, {ModAlt, "alt"}, {ModShift, "shift"}, {ModMeta, "meta"}} {
		if m&n.m != 0 {
			parts = append(parts, n.s)
		}
	}
	if m&^modAll != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint8(m&^modAll)))
	}
	return strings.Join(parts, "+")
}

// Options configures Open.
type Options struct {
	// Display is the X11 display (":0"); "" means $DISPLAY. Ignored on
	// Windows and macOS.
	Display string
	// Wayland names a wlroots compositor's socket (a WAYLAND_DISPLAY
	// value, absolute or relative to RuntimeDir): when set, Linux injects
	// through its virtual pointer and keyboard instead of X11. Pure Go:
	// it needs no cgo.
	Wayland string
	// RuntimeDir is the session's XDG_RUNTIME_DIR ("" = this process's).
	RuntimeDir string
	// SessionBus is a GNOME session's D-Bus socket (an absolute path):
	// when set, Linux injects through Mutter's RemoteDesktop API (pure
	// Go), sharing the session a capturer opened on the same bus.
	SessionBus string
	// Logger receives diagnostics; nil discards them. Typed text and key
	// codes are never logged (they may be passwords).
	Logger *slog.Logger
}

// Injector injects input into the local desktop.
type Injector interface {
	// MoveMouse moves the pointer to absolute root / virtual-screen
	// coordinates.
	MoveMouse(x, y int) error
	// MouseButton presses (down) or releases a button.
	MouseButton(b Button, down bool) error
	// Wheel scrolls by notches; dy > 0 scrolls down, dx > 0 scrolls right.
	Wheel(dx, dy int) error
	// Key presses or releases the key at the physical position code
	// (KeyboardEvent.code).
	Key(code string, down bool) error
	// Tap presses the modifiers in mods that are not already held, presses
	// and releases code, then releases those modifiers again — also when a
	// step fails. An unknown code presses nothing.
	Tap(code string, mods Modifiers) error
	// Type types Unicode text, including characters the keyboard layout
	// lacks. "\n" (or "\r\n") types Enter and "\t" Tab; other control
	// characters are rejected before anything is typed. Modifiers held by
	// this Injector are lifted while typing and pressed again afterwards.
	Type(text string) error
	// ReleaseAll releases every key and button this Injector pressed.
	ReleaseAll() error
	// Close releases everything and frees the platform resources. It is
	// idempotent; other methods fail with ErrClosed afterwards.
	Close() error
}

// ErrUnknownKey is returned (wrapped with the code) for a code that is not a
// known KeyboardEvent.code, or that this platform / keyboard cannot press.
var ErrUnknownKey = errors.New("unknown key code")

// ErrClosed is returned by every method of a closed Injector but Close.
var ErrClosed = errors.New("input: injector closed")

// maxWheelNotches bounds one Wheel call; larger deltas are clamped.
const maxWheelNotches = 100

// maxCoord bounds MoveMouse coordinates (robotgo passes int32).
const maxCoord = 1 << 24

// Open returns an Injector for the local desktop. On unsupported systems (or
// without cgo) it returns an error wrapping errors.ErrUnsupported.
func Open(opts Options) (Injector, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b backend
	var err error
	switch {
	case opts.SessionBus != "":
		b, err = newMutterBackend(opts, log)
	case opts.Wayland != "":
		b, err = newWaylandBackend(opts, log)
	default:
		b, err = newBackend(opts.Display, log)
	}
	if err != nil {
		return nil, err
	}
	return newInjector(b, log), nil
}

// backend is the per-OS primitive layer. The injector validates arguments,
// tracks pressed keys and buttons, and serialises calls; a backend only
// performs them. Codes passed to a backend are canonical table codes.
type backend interface {
	// keyAvailable returns nil if code can be pressed here, else an error
	// wrapping ErrUnknownKey. It must not inject anything.
	keyAvailable(code string) error
	key(code string, down bool) error
	move(x, y int) error
	button(b Button, down bool) error
	wheel(dx, dy int) error
	// typeText types text that contains no control characters other than
	// '\n' and '\t'.
	typeText(text string) error
	close() error
}

type injector struct {
	log *slog.Logger

	mu      sync.Mutex
	b       backend
	closed  bool
	keys    []string // pressed codes, in press order
	buttons []Button // pressed buttons, in press order
}

func newInjector(b backend, log *slog.Logger) *injector {
	return &injector{b: b, log: log}
}

func (in *injector) MoveMouse(x, y int) error {
	if x < -maxCoord || x > maxCoord || y < -maxCoord || y > maxCoord {
		return fmt.Errorf("input: move to (%d,%d): coordinates out of range", x, y)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	if err := in.b.move(x, y); err != nil {
		return fmt.Errorf("input: move mouse: %w", err)
	}
	return nil
}

func (in *injector) MouseButton(b Button, down bool) error {
	if !b.valid() {
		return fmt.Errorf("input: unknown mouse button %d", uint8(b))
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	return in.buttonLocked(b, down)
}

func (in *injector) buttonLocked(b Button, down bool) error {
	if err := in.b.button(b, down); err != nil {
		return fmt.Errorf("input: mouse button %s %s: %w", b, upDown(down), err)
	}
	in.buttons = track(in.buttons, b, down)
	return nil
}

// track records a press in (or a release from) the set of what this
// injector holds down, which ReleaseAll releases.
func track[T comparable](held []T, v T, down bool) []T {
	i := slices.Index(held, v)
	switch {
	case down && i < 0:
		return append(held, v)
	case !down && i >= 0:
		return slices.Delete(held, i, i+1)
	}
	return held
}

func (in *injector) Wheel(dx, dy int) error {
	dx = max(-maxWheelNotches, min(maxWheelNotches, dx))
	dy = max(-maxWheelNotches, min(maxWheelNotches, dy))
	if dx == 0 && dy == 0 {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	if err := in.b.wheel(dx, dy); err != nil {
		return fmt.Errorf("input: wheel: %w", err)
	}
	return nil
}

// resolve canonicalises code and checks that the backend can press it.
func (in *injector) resolve(code string) (string, error) {
	c, ok := canonical(code)
	if !ok {
		return "", fmt.Errorf("input: key %q: %w", code, ErrUnknownKey)
	}
	if err := in.b.keyAvailable(c); err != nil {
		return "", fmt.Errorf("input: key %q: %w", code, err)
	}
	return c, nil
}

func (in *injector) Key(code string, down bool) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	c, err := in.resolve(code)
	if err != nil {
		return err
	}
	return in.keyLocked(c, down)
}

// keyLocked injects a canonical code and tracks it.
func (in *injector) keyLocked(code string, down bool) error {
	if err := in.b.key(code, down); err != nil {
		return fmt.Errorf("input: key %q %s: %w", code, upDown(down), err)
	}
	in.keys = track(in.keys, code, down)
	return nil
}

func (in *injector) held(code string) bool { return slices.Contains(in.keys, code) }

func (in *injector) Tap(code string, mods Modifiers) (err error) {
	if mods&^modAll != 0 {
		return fmt.Errorf("input: tap %q: unknown modifier bits 0x%x", code, uint8(mods&^modAll))
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	c, err := in.resolve(code)
	if err != nil {
		return err
	}
	// Resolve every modifier before pressing anything.
	var press []string
	for _, m := range modifierCodes {
		if mods&m.mod == 0 || in.held(m.left) || in.held(m.right) || c == m.left || c == m.right {
			continue
		}
		if _, err := in.resolve(m.press); err != nil {
			return fmt.Errorf("input: tap %q with %s: %w", code, mods, err)
		}
		press = append(press, m.press)
	}
	var pressed []string
	defer func() {
		for _, p := range slices.Backward(pressed) {
			if rerr := in.keyLocked(p, false); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	for _, p := range press {
		if err := in.keyLocked(p, true); err != nil {
			return err
		}
		pressed = append(pressed, p)
	}
	if err := in.keyLocked(c, true); err != nil {
		return err
	}
	return in.keyLocked(c, false)
}

func (in *injector) Type(text string) (err error) {
	if !utf8.ValidString(text) {
		return errors.New("input: type: text is not valid UTF-8")
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	for _, r := range text {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return fmt.Errorf("input: type: control character %U not supported", r)
		}
	}
	if text == "" {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	// Lift the modifiers this injector holds so Shift/Ctrl/Alt/Meta held by
	// the remote user cannot turn text into shortcuts; restore them after.
	var lifted []string
	for _, k := range slices.Clone(in.keys) {
		if !isModifierCode(k) {
			continue
		}
		if err := in.keyLocked(k, false); err != nil {
			in.restore(lifted)
			return fmt.Errorf("input: type: %w", err)
		}
		lifted = append(lifted, k)
	}
	defer func() {
		if rerr := in.restore(lifted); rerr != nil {
			err = errors.Join(err, fmt.Errorf("input: type: %w", rerr))
		}
	}()
	if err := in.b.typeText(text); err != nil {
		return fmt.Errorf("input: type: %w", err)
	}
	return nil
}

func (in *injector) restore(codes []string) error {
	var errs []error
	for _, k := range codes {
		errs = append(errs, in.keyLocked(k, true))
	}
	return errors.Join(errs...)
}

func (in *injector) ReleaseAll() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil
	}
	return in.releaseAllLocked()
}

// releaseAllLocked releases keys (last pressed first), then buttons. The
// tracking is cleared even if the platform fails: retrying a dead display
// would only fail again.
func (in *injector) releaseAllLocked() error {
	var errs []error
	for _, k := range slices.Backward(slices.Clone(in.keys)) {
		if err := in.b.key(k, false); err != nil {
			errs = append(errs, fmt.Errorf("input: release key %q: %w", k, err))
		}
	}
	for _, b := range slices.Backward(slices.Clone(in.buttons)) {
		if err := in.b.button(b, false); err != nil {
			errs = append(errs, fmt.Errorf("input: release mouse button %s: %w", b, err))
		}
	}
	if n := len(in.keys) + len(in.buttons); n > 0 {
		in.log.Debug("input: released held keys and buttons", "keys", len(in.keys), "buttons", len(in.buttons))
	}
	in.keys, in.buttons = nil, nil
	err := errors.Join(errs...)
	if err != nil {
		in.log.Warn("input: release all failed", "err", err)
	}
	return err
}

func (in *injector) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil
	}
	in.closed = true
	err := in.releaseAllLocked()
	if cerr := in.b.close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("input: close: %w", cerr))
	}
	return err
}

func upDown(down bool) string {
	if down {
		return "down"
	}
	return "up"
}
