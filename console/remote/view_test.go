package remote

import (
	"image"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
)

// viewInWindow puts a view showing a w×h remote screen at origin in a test
// window of size, recording what it sends.
func viewInWindow(t *testing.T, w, h int, origin image.Point, size fyne.Size) (*screenView, *recorder, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	r := &recorder{}
	v := newScreenView(newInputState(r, nil))
	v.control = true
	win := test.NewTempWindow(t, v)
	win.SetPadded(false)
	win.Resize(size)
	v.setFrame(image.NewRGBA(image.Rect(0, 0, w, h)), origin)
	return v, r, win
}

// Events through Fyne's test driver reach the view's handlers and are
// mapped in Fit To Screen: an 800x400 screen in a 400x400 window is drawn
// at half size, 100 units from the top.
func TestViewFitEvents(t *testing.T) {
	v, r, win := viewInWindow(t, 800, 400, image.Pt(0, 0), fyne.NewSize(400, 400))
	if v.Size() != fyne.NewSize(400, 400) {
		t.Fatalf("view size %v", v.Size())
	}
	if v.img.Position() != fyne.NewPos(0, 100) || v.img.Size() != fyne.NewSize(400, 200) {
		t.Fatalf("image drawn at %v size %v", v.img.Position(), v.img.Size())
	}
	c := win.Canvas()
	test.MoveMouse(c, fyne.NewPos(200, 150))
	test.MoveMouse(c, fyne.NewPos(200, 50)) // the margin above: not on the screen
	// (test.Scroll leaves the event's position unset: call the handler.)
	v.Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(10, 110)}, Scrolled: fyne.Delta{DY: -fyneNotch}})
	if got, want := r.take(), "move 400,100; move 20,20; wheel 0,1"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	// A click focuses the view, so keys go to the host; Tab too.
	v.MouseDown(mouse(fyne.NewPos(0.2, 100.2), desktop.MouseButtonSecondary))
	v.MouseUp(mouse(fyne.NewPos(0.2, 100.2), desktop.MouseButtonSecondary))
	if c.Focused() != v {
		t.Fatal("a click did not focus the view")
	}
	v.KeyDown(key(fyne.KeyTab))
	v.KeyUp(key(fyne.KeyTab))
	if got, want := r.take(), "move 0,0; button 3 down; move 0,0; button 3 up; Tab down; Tab up"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	// A click on the margin is not sent; a drag leaving the image keeps
	// following at the edge, and its release is sent.
	v.MouseDown(mouse(fyne.NewPos(100, 20), desktop.MouseButtonPrimary))
	v.MouseUp(mouse(fyne.NewPos(100, 20), desktop.MouseButtonPrimary))
	v.MouseDown(mouse(fyne.NewPos(100, 150), desktop.MouseButtonPrimary))
	v.MouseMoved(mouse(fyne.NewPos(100, 350), desktop.MouseButtonPrimary))
	v.MouseUp(mouse(fyne.NewPos(100, 350), desktop.MouseButtonPrimary))
	if got, want := r.take(), "move 200,100; button 1 down; move 200,399; move 200,399; button 1 up"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	// Losing focus releases what is held.
	v.KeyDown(key(fyne.KeyA))
	c.Unfocus()
	if got, want := r.take(), "KeyA down; KeyA up"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// Actual Size on a second monitor: the view is the screen's size and
// positions are pixels offset by the monitor's origin.
func TestViewActualSizeEvents(t *testing.T) {
	v, r, win := viewInWindow(t, 300, 200, image.Pt(1920, 0), fyne.NewSize(100, 100))
	v.setMode(ActualSize)
	if v.MinSize() != fyne.NewSize(300, 200) {
		t.Fatalf("min size %v", v.MinSize())
	}
	test.MoveMouse(win.Canvas(), fyne.NewPos(60, 70))
	v.MouseMoved(mouse(fyne.NewPos(299.5, 199.5), 0))
	if got, want := r.take(), "move 1980,70; move 2219,199"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// A view-only session sends nothing, whatever the technician does.
func TestViewOnlySendsNothing(t *testing.T) {
	v, r, win := viewInWindow(t, 100, 100, image.Pt(0, 0), fyne.NewSize(100, 100))
	v.control = false
	c := win.Canvas()
	test.MoveMouse(c, fyne.NewPos(50, 50))
	v.Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(50, 50)}, Scrolled: fyne.Delta{DY: 3 * fyneNotch}})
	v.MouseDown(mouse(fyne.NewPos(5, 5), desktop.MouseButtonPrimary))
	v.MouseUp(mouse(fyne.NewPos(5, 5), desktop.MouseButtonPrimary))
	v.KeyDown(key(fyne.KeyA))
	v.TypedRune('a')
	v.KeyUp(key(fyne.KeyA))
	if got := r.take(); got != "" {
		t.Fatalf("view-only sent %s", got)
	}
}

// The toolbar button: a tap is a click, a double tap a double click, and
// a disabled button does neither.
func TestModButtonTaps(t *testing.T) {
	test.NewTempApp(t)
	var taps, doubles int
	b := newModButton("Ctrl", func() { taps++ }, func() { doubles++ })
	test.NewTempWindow(t, b)
	test.Tap(b)
	test.DoubleTap(b)
	if taps != 1 || doubles != 1 {
		t.Fatalf("taps %d, double taps %d", taps, doubles)
	}
	b.setState(Always)
	if b.Text != "Ctrl (always)" {
		t.Fatalf("always on shows %q", b.Text)
	}
	b.Disable()
	test.Tap(b)
	test.DoubleTap(b)
	if taps != 1 || doubles != 1 {
		t.Fatalf("a disabled button reacted: taps %d, double taps %d", taps, doubles)
	}
}
