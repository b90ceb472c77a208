//go:build windows

package capture

import (
	"fmt"
	"image"
	"log/slog"
	"sync"

	"github.com/kbinani/screenshot"
)

// shotCapturer grabs through github.com/kbinani/screenshot (GDI BitBlt on
// Windows, CoreGraphics/ScreenCaptureKit on macOS) and converts to BGRX.
type shotCapturer struct {
	log *slog.Logger

	mu     sync.Mutex
	closed bool
}

func openScreenshot(opts Options) (Capturer, error) {
	c := &shotCapturer{log: opts.Logger}
	if n := screenshot.NumActiveDisplays(); n <= 0 {
		return nil, errNoActiveDisplay
	}
	return c, nil
}

func (c *shotCapturer) Bounds() image.Rectangle {
	var b image.Rectangle
	for i := range screenshot.NumActiveDisplays() {
		b = b.Union(screenshot.GetDisplayBounds(i))
	}
	return b
}

func (c *shotCapturer) Monitors() ([]Monitor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	n := screenshot.NumActiveDisplays()
	ms := make([]Monitor, 0, n)
	for i := range n {
		r := screenshot.GetDisplayBounds(i)
		if r.Empty() {
			continue
		}
		ms = append(ms, Monitor{Name: fmt.Sprintf("display-%d", i), X: r.Min.X, Y: r.Min.Y,
			Width: r.Dx(), Height: r.Dy()})
	}
	if len(ms) == 0 {
		return nil, errNoActiveDisplay
	}
	// Windows' primary monitor and macOS' main display sit at the origin.
	return primaryFallback(ms), nil
}

func (c *shotCapturer) Grab(r image.Rectangle, dst *Frame) (*Frame, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	cr, err := clipToScreen(r, c.Bounds())
	if err != nil {
		return nil, err
	}
	img, err := screenshot.CaptureRect(cr)
	if err != nil {
		return nil, fmt.Errorf("capture: grab %v: %w", cr, err)
	}
	ib := img.Bounds()
	w, h := min(ib.Dx(), cr.Dx()), min(ib.Dy(), cr.Dy())
	dst = prepare(dst, w, h)
	for y := range h {
		o := img.PixOffset(ib.Min.X, ib.Min.Y+y)
		swapRB(dst.Pix[y*dst.Stride:(y+1)*dst.Stride], img.Pix[o:o+w*4])
	}
	return dst, nil
}

func (c *shotCapturer) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}
