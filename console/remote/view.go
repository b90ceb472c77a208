package remote

import (
	"image"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// screenView draws the remote screen and turns the technician's mouse and
// keyboard into input for it. All its methods run on the UI goroutine.
type screenView struct {
	widget.BaseWidget

	in       *inputState
	img      *canvas.Image
	bg       *canvas.Rectangle
	buf      *image.RGBA // the image drawn; refilled in place from the session
	origin   image.Point
	mode     ViewMode
	control  bool // keyboard_mouse granted and the session runs
	onResize func()
}

var (
	_ desktop.Mouseable = (*screenView)(nil)
	_ desktop.Hoverable = (*screenView)(nil)
	_ desktop.Keyable   = (*screenView)(nil)
	_ fyne.Scrollable   = (*screenView)(nil)
	_ fyne.Tabbable     = (*screenView)(nil)
)

func newScreenView(in *inputState) *screenView {
	v := &screenView{in: in, bg: canvas.NewRectangle(color.Black)}
	v.img = canvas.NewImageFromImage(nil)
	v.img.FillMode = canvas.ImageFillStretch // placed by mapping.imageRect
	v.img.ScaleMode = canvas.ImageScaleSmooth
	v.ExtendBaseWidget(v)
	return v
}

// setFrame shows buf (the view keeps it and draws from it until the next
// call) whose top-left pixel is origin in the host's root coordinates.
func (v *screenView) setFrame(buf *image.RGBA, origin image.Point) {
	resized := v.buf == nil || buf.Bounds() != v.buf.Bounds()
	v.buf, v.origin = buf, origin
	v.img.Image = buf
	if resized {
		v.Refresh() // layout and MinSize change with the screen's size
		if v.onResize != nil {
			v.onResize()
		}
		return
	}
	v.img.Refresh()
}

func (v *screenView) setMode(m ViewMode) {
	v.mode = m
	if m == ActualSize {
		v.img.ScaleMode = canvas.ImageScaleFastest // 1:1, nothing to smooth
	} else {
		v.img.ScaleMode = canvas.ImageScaleSmooth
	}
	v.Refresh()
}

func (v *screenView) mapping() mapping {
	m := mapping{mode: v.mode, widget: v.Size(), origin: v.origin, scale: 1}
	if v.buf != nil {
		m.screen = v.buf.Bounds()
	}
	if c := fyne.CurrentApp().Driver().CanvasForObject(v); c != nil {
		m.scale = c.Scale()
	}
	return m
}

func (v *screenView) CreateRenderer() fyne.WidgetRenderer { return &viewRenderer{v: v} }

type viewRenderer struct{ v *screenView }

func (r *viewRenderer) Layout(size fyne.Size) {
	r.v.bg.Resize(size)
	m := r.v.mapping()
	m.widget = size
	pos, sz := m.imageRect()
	r.v.img.Move(pos)
	r.v.img.Resize(sz)
}

func (r *viewRenderer) MinSize() fyne.Size {
	if r.v.mode == ActualSize && r.v.buf != nil {
		_, sz := r.v.mapping().imageRect()
		return sz
	}
	return fyne.NewSize(160, 100)
}

func (r *viewRenderer) Refresh() {
	r.Layout(r.v.Size())
	r.v.bg.Refresh()
	r.v.img.Refresh()
}

func (r *viewRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.v.bg, r.v.img} }
func (r *viewRenderer) Destroy()                     {}

func (v *screenView) focus() {
	if c := fyne.CurrentApp().Driver().CanvasForObject(v); c != nil {
		c.Focus(v)
	}
}

// --- mouse ------------------------------------------------------------------

func (v *screenView) MouseIn(ev *desktop.MouseEvent) { v.MouseMoved(ev) }
func (v *screenView) MouseOut()                      {}
func (v *screenView) MouseMoved(ev *desktop.MouseEvent) {
	if !v.control || v.buf == nil {
		return
	}
	// Off the image (Fit To Screen's margins) moves are dropped, except
	// while a button is held: a drag keeps following, clamped to the edge.
	if p, ok := v.mapping().toRemote(ev.Position); ok || len(v.in.buttons) > 0 {
		v.in.move(p)
	}
}

func (v *screenView) MouseDown(ev *desktop.MouseEvent) {
	v.focus()
	if !v.control || v.buf == nil {
		return
	}
	if p, ok := v.mapping().toRemote(ev.Position); ok {
		v.in.button(p, ev.Button, true)
	}
}

func (v *screenView) MouseUp(ev *desktop.MouseEvent) {
	if !v.control || v.buf == nil {
		return
	}
	p, _ := v.mapping().toRemote(ev.Position)
	v.in.button(p, ev.Button, false)
}

func (v *screenView) Scrolled(ev *fyne.ScrollEvent) {
	if !v.control || v.buf == nil {
		return
	}
	if p, ok := v.mapping().toRemote(ev.Position); ok {
		v.in.wheel(p, ev.Scrolled)
	}
}

// --- keyboard ---------------------------------------------------------------

func (v *screenView) FocusGained() {}
func (v *screenView) FocusLost() {
	if v.control {
		v.in.releaseHeld()
	}
}
func (v *screenView) AcceptsTab() bool { return true } // Tab goes to the host, not to the next widget

func (v *screenView) KeyDown(ev *fyne.KeyEvent) {
	if v.control {
		v.in.keyDown(ev)
	}
}

func (v *screenView) KeyUp(ev *fyne.KeyEvent) {
	if v.control {
		v.in.keyUp(ev)
	}
}

func (v *screenView) TypedRune(r rune) {
	if v.control {
		v.in.typedRune(r)
	}
}

func (v *screenView) TypedKey(*fyne.KeyEvent) {} // KeyDown/KeyUp carry keys; repeats are the host's
