package input

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// fakeBackend records what the injector asks of the platform.
type fakeBackend struct {
	events  []string
	missing map[string]bool // codes keyAvailable rejects
	failOn  string          // event that fails, e.g. "key KeyA down"
	closes  int
}

func (f *fakeBackend) do(ev string) error {
	f.events = append(f.events, ev)
	if ev == f.failOn {
		return errors.New("injected failure")
	}
	return nil
}

func (f *fakeBackend) keyAvailable(code string) error {
	if f.missing[code] {
		return fmt.Errorf("not here: %w", ErrUnknownKey)
	}
	return nil
}
func (f *fakeBackend) key(code string, down bool) error {
	return f.do("key " + code + " " + upDown(down))
}
func (f *fakeBackend) move(x, y int) error { return f.do(fmt.Sprintf("move %d %d", x, y)) }
func (f *fakeBackend) button(b Button, down bool) error {
	return f.do("button " + b.String() + " " + upDown(down))
}
func (f *fakeBackend) wheel(dx, dy int) error     { return f.do(fmt.Sprintf("wheel %d %d", dx, dy)) }
func (f *fakeBackend) typeText(text string) error { return f.do("type " + text) }
func (f *fakeBackend) close() error               { f.closes++; return nil }

func newFake() (*injector, *fakeBackend) {
	f := &fakeBackend{}
	return newInjector(f, slog.New(slog.DiscardHandler)), f
}

func (f *fakeBackend) take() []string {
	ev := f.events
	f.events = nil
	return ev
}

func expectEvents(t *testing.T, f *fakeBackend, want ...string) {
	t.Helper()
	if got := f.take(); !slices.Equal(got, want) {
		t.Fatalf("events:\n got  %q\n want %q", got, want)
	}
}

func TestTapPressesAndReleasesModifiers(t *testing.T) {
	in, f := newFake()
	if err := in.Tap("KeyA", ModShift|ModCtrl|ModAlt|ModMeta); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, f,
		"key ControlLeft down", "key AltLeft down", "key ShiftLeft down", "key MetaLeft down",
		"key KeyA down", "key KeyA up",
		"key MetaLeft up", "key ShiftLeft up", "key AltLeft up", "key ControlLeft up")
	if len(in.keys) != 0 {
		t.Fatalf("keys still tracked: %v", in.keys)
	}
}

func TestTapUnknownCodePressesNothing(t *testing.T) {
	in, f := newFake()
	for _, code := range []string{"NoSuchKey", "", "keya", "KEYA", "Shift"} {
		err := in.Tap(code, ModShift|ModCtrl)
		if !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Tap(%q) = %v, want ErrUnknownKey", code, err)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%q", code)) {
			t.Errorf("error %q does not name the code", err)
		}
	}
	f.missing = map[string]bool{"IntlRo": true}
	if err := in.Tap("IntlRo", ModShift); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Tap(IntlRo) on a backend without it = %v", err)
	}
	// A modifier the backend lacks is found before anything is pressed.
	f.missing = map[string]bool{"MetaLeft": true}
	if err := in.Tap("KeyA", ModShift|ModMeta); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Tap with missing Meta = %v", err)
	}
	expectEvents(t, f)
	if err := in.Key("Nope", true); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Key(Nope) = %v", err)
	}
	if err := in.Tap("KeyA", 0x10); err == nil {
		t.Error("Tap with unknown modifier bits succeeded")
	}
	expectEvents(t, f)
}

func TestTapReleasesModifiersOnError(t *testing.T) {
	in, f := newFake()
	f.failOn = "key KeyA down"
	if err := in.Tap("KeyA", ModShift|ModCtrl); err == nil {
		t.Fatal("expected error")
	}
	expectEvents(t, f, "key ControlLeft down", "key ShiftLeft down", "key KeyA down",
		"key ShiftLeft up", "key ControlLeft up")

	// Failure on a modifier: the ones already down come up again.
	f.failOn = "key ShiftLeft down"
	if err := in.Tap("KeyA", ModShift|ModCtrl); err == nil {
		t.Fatal("expected error")
	}
	expectEvents(t, f, "key ControlLeft down", "key ShiftLeft down", "key ControlLeft up")
	if len(in.keys) != 0 {
		t.Fatalf("keys still tracked: %v", in.keys)
	}
}

func TestTapKeepsHeldModifiers(t *testing.T) {
	in, f := newFake()
	if err := in.Key("ShiftRight", true); err != nil {
		t.Fatal(err)
	}
	if err := in.Tap("KeyA", ModShift|ModCtrl); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, f, "key ShiftRight down", "key ControlLeft down", "key KeyA down", "key KeyA up",
		"key ControlLeft up")
	if !slices.Equal(in.keys, []string{"ShiftRight"}) {
		t.Fatalf("tracked %v, want [ShiftRight]", in.keys)
	}
	// Tapping a modifier with its own bit presses it once.
	if err := in.Tap("ControlRight", ModCtrl); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, f, "key ControlRight down", "key ControlRight up")
}

func TestAliasesCanonicalised(t *testing.T) {
	in, f := newFake()
	if err := in.Key("OSLeft", true); err != nil {
		t.Fatal(err)
	}
	if err := in.Key("MetaLeft", false); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, f, "key MetaLeft down", "key MetaLeft up")
	if len(in.keys) != 0 {
		t.Fatalf("tracked %v", in.keys)
	}
}

func TestReleaseAll(t *testing.T) {
	in, f := newFake()
	must(t, in.Key("ShiftLeft", true))
	must(t, in.Key("KeyQ", true))
	must(t, in.Key("KeyQ", true)) // auto-repeat: tracked once
	must(t, in.MouseButton(ButtonLeft, true))
	must(t, in.MouseButton(ButtonBack, true))
	must(t, in.MouseButton(ButtonBack, false))
	f.take()
	must(t, in.ReleaseAll())
	expectEvents(t, f, "key KeyQ up", "key ShiftLeft up", "button left up")
	must(t, in.ReleaseAll())
	expectEvents(t, f)

	// A failing release still clears the tracking and reports the error.
	must(t, in.Key("AltLeft", true))
	must(t, in.Key("KeyZ", true))
	f.take()
	f.failOn = "key KeyZ up"
	if err := in.ReleaseAll(); err == nil {
		t.Fatal("expected error")
	}
	expectEvents(t, f, "key KeyZ up", "key AltLeft up")
	if len(in.keys) != 0 {
		t.Fatalf("tracked %v", in.keys)
	}
}

func TestCloseReleasesAndIsIdempotent(t *testing.T) {
	in, f := newFake()
	must(t, in.Key("ControlLeft", true))
	must(t, in.MouseButton(ButtonRight, true))
	f.take()
	must(t, in.Close())
	expectEvents(t, f, "key ControlLeft up", "button right up")
	must(t, in.Close())
	if f.closes != 1 {
		t.Fatalf("backend closed %d times", f.closes)
	}
	for name, err := range map[string]error{
		"MoveMouse":   in.MoveMouse(1, 1),
		"MouseButton": in.MouseButton(ButtonLeft, true),
		"Wheel":       in.Wheel(0, 1),
		"Key":         in.Key("KeyA", true),
		"Tap":         in.Tap("KeyA", 0),
		"Type":        in.Type("x"),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	must(t, in.ReleaseAll())
	expectEvents(t, f)
}

func TestTypeLiftsHeldModifiers(t *testing.T) {
	in, f := newFake()
	must(t, in.Key("ShiftLeft", true))
	must(t, in.Key("KeyA", true))
	must(t, in.Key("ControlRight", true))
	f.take()
	must(t, in.Type("hi\r\nthere\rx\ty"))
	expectEvents(t, f, "key ShiftLeft up", "key ControlRight up", "type hi\nthere\nx\ty",
		"key ShiftLeft down", "key ControlRight down")
	if !slices.Equal(in.keys, []string{"KeyA", "ShiftLeft", "ControlRight"}) {
		t.Fatalf("tracked %v", in.keys)
	}
	// The modifiers come back even when typing fails.
	f.failOn = "type boom"
	if err := in.Type("boom"); err == nil {
		t.Fatal("expected error")
	}
	expectEvents(t, f, "key ShiftLeft up", "key ControlRight up", "type boom",
		"key ShiftLeft down", "key ControlRight down")
}

func TestTypeRejectsControlCharacters(t *testing.T) {
	in, f := newFake()
	for _, s := range []string{"a\x00b", "\x1b[A", "x\x7f", "\u0085", "bad\xffutf8"} {
		if err := in.Type(s); err == nil {
			t.Errorf("Type(%q) succeeded", s)
		}
	}
	must(t, in.Type(""))
	expectEvents(t, f)
	must(t, in.Type("é€😀\uFFFD"))
	expectEvents(t, f, "type é€😀\uFFFD")
}

func TestMouseValidation(t *testing.T) {
	in, f := newFake()
	for _, b := range []Button{0, 6, 255} {
		if err := in.MouseButton(b, true); err == nil {
			t.Errorf("MouseButton(%d) succeeded", b)
		}
	}
	if err := in.MoveMouse(1<<30, 0); err == nil {
		t.Error("MoveMouse far out of range succeeded")
	}
	must(t, in.Wheel(0, 0))
	must(t, in.Wheel(-5000, 3))
	must(t, in.MoveMouse(-10, 20))
	expectEvents(t, f, "wheel -100 3", "move -10 20")
}

func TestStrings(t *testing.T) {
	if s := (ModCtrl | ModShift).String(); s != "ctrl+shift" {
		t.Errorf("got %q", s)
	}
	if s := Modifiers(0).String(); s != "none" {
		t.Errorf("got %q", s)
	}
	if s := ButtonForward.String(); s != "forward" {
		t.Errorf("got %q", s)
	}
	if s := Button(9).String(); s != "button(9)" {
		t.Errorf("got %q", s)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
