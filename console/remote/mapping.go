package remote

import (
	"image"

	"fyne.io/fyne/v2"
)

// ViewMode is how the remote screen is drawn (spec 3.2.3, View menu).
type ViewMode int

const (
	FitToScreen ViewMode = iota // scaled into the window, aspect kept, centred
	ActualSize                  // one remote pixel per device pixel, scrolled
)

// remotePoint is a position in the host's root coordinates.
type remotePoint struct{ X, Y int32 }

// mapping relates the view widget's coordinates (Fyne units) to the remote
// screen: the image is drawn at rect, and image pixel (0,0) is the host's
// root position origin.
type mapping struct {
	mode   ViewMode
	widget fyne.Size       // the view widget's size
	screen image.Rectangle // the remote image's bounds (pixels)
	origin image.Point     // root coordinates of the image's top-left pixel
	scale  float32         // device pixels per Fyne unit (canvas scale)
}

// imageRect is where the remote image is drawn inside the widget.
func (m mapping) imageRect() (fyne.Position, fyne.Size) {
	iw, ih := float32(m.screen.Dx()), float32(m.screen.Dy())
	if iw <= 0 || ih <= 0 {
		return fyne.Position{}, fyne.Size{}
	}
	if m.mode == ActualSize {
		s := m.scale
		if s <= 0 {
			s = 1
		}
		return fyne.Position{}, fyne.NewSize(iw/s, ih/s)
	}
	k := min(m.widget.Width/iw, m.widget.Height/ih)
	size := fyne.NewSize(iw*k, ih*k)
	return fyne.NewPos((m.widget.Width-size.Width)/2, (m.widget.Height-size.Height)/2), size
}

// toRemote maps a widget position to the host's root coordinates. Points
// on the margins of Fit To Screen are clamped to the screen's edge, and
// ok is false for them (a click there is not on the remote screen).
func (m mapping) toRemote(p fyne.Position) (remotePoint, bool) {
	pos, size := m.imageRect()
	if size.Width <= 0 || size.Height <= 0 {
		return remotePoint{}, false
	}
	iw, ih := m.screen.Dx(), m.screen.Dy()
	fx := (p.X - pos.X) * float32(iw) / size.Width
	fy := (p.Y - pos.Y) * float32(ih) / size.Height
	x, y := int(fx), int(fy)
	if fx < 0 {
		x = -1
	}
	if fy < 0 {
		y = -1
	}
	ok := x >= 0 && y >= 0 && x < iw && y < ih
	x = max(0, min(x, iw-1))
	y = max(0, min(y, ih-1))
	return remotePoint{X: int32(m.origin.X + x), Y: int32(m.origin.Y + y)}, ok
}
