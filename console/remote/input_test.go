package remote

import (
	"errors"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/tandem-rc/tandem/transport/wire"
)

// recorder is the message sink of logic tests: it keeps what was sent.
type recorder struct {
	msgs []wire.Message
	err  error
}

func (r *recorder) Send(m wire.Message) error {
	if r.err != nil {
		return r.err
	}
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) take() string {
	d := describe(r.msgs)
	r.msgs = nil
	return d
}

func key(n fyne.KeyName) *fyne.KeyEvent { return &fyne.KeyEvent{Name: n} }

func TestKeysWithToolbarModifiers(t *testing.T) {
	r := &recorder{}
	in := newInputState(r, nil)

	// Ctrl on for one key: Ctrl+C, then plain C.
	in.clickMod(ModCtrl)
	in.keyDown(key(fyne.KeyC))
	in.keyUp(key(fyne.KeyC))
	in.keyDown(key(fyne.KeyC))
	in.keyUp(key(fyne.KeyC))
	if got, want := r.take(), "ControlLeft down; KeyC down; KeyC up; ControlLeft up; KeyC down; KeyC up"; got != want {
		t.Fatalf("ctrl once:\n got %s\nwant %s", got, want)
	}

	// A physical modifier does not end "on for the next key".
	in.clickMod(ModAlt)
	in.keyDown(key(desktop.KeyShiftLeft))
	in.keyDown(key(fyne.KeyTab))
	in.keyUp(key(fyne.KeyTab))
	in.keyUp(key(desktop.KeyShiftLeft))
	if got, want := r.take(), "AltLeft down; ShiftLeft down; Tab down; Tab up; AltLeft up; ShiftLeft up"; got != want {
		t.Fatalf("alt once with shift:\n got %s\nwant %s", got, want)
	}

	// Always on: Win stays down over two keys until clicked off.
	in.doubleClickMod(ModMeta)
	in.keyDown(key(fyne.KeyE))
	in.keyUp(key(fyne.KeyE))
	in.keyDown(key(fyne.KeyR))
	in.keyUp(key(fyne.KeyR))
	in.clickMod(ModMeta)
	if got, want := r.take(), "MetaLeft down; KeyE down; KeyE up; KeyR down; KeyR up; MetaLeft up"; got != want {
		t.Fatalf("meta always:\n got %s\nwant %s", got, want)
	}

	// The physical key of a modifier the toolbar holds is not sent twice,
	// so releasing it does not undo the toolbar.
	in.doubleClickMod(ModCtrl)
	in.keyDown(key(desktop.KeyControlLeft))
	in.keyUp(key(desktop.KeyControlLeft))
	if got, want := r.take(), "ControlLeft down"; got != want {
		t.Fatalf("physical ctrl under toolbar ctrl:\n got %s\nwant %s", got, want)
	}
	in.releaseAll()
	if got, want := r.take(), "ControlLeft up"; got != want {
		t.Fatalf("release all: got %s want %s", got, want)
	}
}

func TestTypedRuneOnlyForKeysWithoutCode(t *testing.T) {
	r := &recorder{}
	in := newInputState(r, nil)
	in.keyDown(key(fyne.KeyA))
	in.typedRune('a') // the host makes the 'a' from KeyA
	in.keyUp(key(fyne.KeyA))
	in.keyDown(key("é")) // a layout key Fyne cannot name
	in.typedRune('é')
	in.keyUp(key("é"))
	in.typedRune('\t')
	if got, want := r.take(), `KeyA down; KeyA up; text "é"`; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestKeyUpWithoutDownIsDropped(t *testing.T) {
	r := &recorder{}
	in := newInputState(r, nil)
	in.keyUp(key(fyne.KeyReturn)) // pressed before the view had focus
	if got := r.take(); got != "" {
		t.Fatalf("sent %s", got)
	}
}

func TestDoubleClickAndDrag(t *testing.T) {
	r := &recorder{}
	in := newInputState(r, nil)
	p := remotePoint{10, 20}
	// A double click is two full clicks, in order.
	in.button(p, desktop.MouseButtonPrimary, true)
	in.button(p, desktop.MouseButtonPrimary, false)
	in.button(p, desktop.MouseButtonPrimary, true)
	in.button(p, desktop.MouseButtonPrimary, false)
	if got, want := r.take(), "move 10,20; button 1 down; move 10,20; button 1 up; move 10,20; button 1 down; move 10,20; button 1 up"; got != want {
		t.Fatalf("double click:\n got %s\nwant %s", got, want)
	}
	// Drag with the right button: down, moves, up where it ends.
	in.button(remotePoint{1, 1}, desktop.MouseButtonSecondary, true)
	in.move(remotePoint{5, 6})
	in.move(remotePoint{9, 9})
	in.button(remotePoint{9, 9}, desktop.MouseButtonSecondary, false)
	if got, want := r.take(), "move 1,1; button 3 down; move 5,6; move 9,9; move 9,9; button 3 up"; got != want {
		t.Fatalf("drag:\n got %s\nwant %s", got, want)
	}
	// Middle button; an up without its down is not sent.
	in.button(p, desktop.MouseButtonTertiary, true)
	in.button(p, desktop.MouseButtonTertiary, false)
	in.button(p, desktop.MouseButtonTertiary, false)
	if got, want := r.take(), "move 10,20; button 2 down; move 10,20; button 2 up"; got != want {
		t.Fatalf("middle:\n got %s\nwant %s", got, want)
	}
}

func TestReleaseHeldOnFocusLoss(t *testing.T) {
	r := &recorder{}
	in := newInputState(r, nil)
	in.doubleClickMod(ModShift)
	in.keyDown(key(fyne.KeyX))
	in.button(remotePoint{3, 4}, desktop.MouseButtonPrimary, true)
	r.take()
	in.releaseHeld()
	if got, want := r.take(), "KeyX up; button 1 up"; got != want {
		t.Fatalf("release held: got %s want %s", got, want)
	}
	if in.mods.State(ModShift) != Always {
		t.Fatal("focus loss turned the toolbar's shift off")
	}
	in.keyUp(key(fyne.KeyX)) // its up came after all: not sent twice
	if got := r.take(); got != "" {
		t.Fatalf("sent %s", got)
	}
}

func TestWheelNotches(t *testing.T) {
	r := &recorder{}
	in := newInputState(r, nil)
	p := remotePoint{7, 8}
	in.wheel(p, fyne.Delta{DY: -fyneNotch}) // wheel towards the user: down
	in.wheel(p, fyne.Delta{DY: 2 * fyneNotch})
	in.wheel(p, fyne.Delta{DX: fyneNotch})
	if got, want := r.take(), "move 7,8; wheel 0,1; move 7,8; wheel 0,-2; move 7,8; wheel -1,0"; got != want {
		t.Fatalf("notches:\n got %s\nwant %s", got, want)
	}
	// A touchpad's small steps add up to a notch, and the rest carries over.
	for i := 0; i < 3; i++ {
		in.wheel(p, fyne.Delta{DY: -fyneNotch * 0.4})
	}
	if got, want := r.take(), "move 7,8; wheel 0,1"; got != want {
		t.Fatalf("small steps: got %s want %s", got, want)
	}
	in.wheel(p, fyne.Delta{DY: -fyneNotch * 0.8}) // 0.2 left over + 0.8
	if got, want := r.take(), "move 7,8; wheel 0,1"; got != want {
		t.Fatalf("remainder: got %s want %s", got, want)
	}
}

func TestSendErrorIsReported(t *testing.T) {
	r := &recorder{err: errors.New("session ended")}
	var got []error
	in := newInputState(r, func(err error) { got = append(got, err) })
	in.button(remotePoint{1, 1}, desktop.MouseButtonPrimary, true)
	if len(got) == 0 || len(r.msgs) != 0 {
		t.Fatalf("errors reported: %v, sent %d", got, len(r.msgs))
	}
}
