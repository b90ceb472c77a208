package capture

import (
	"fmt"
	"image"
	"log/slog"
	"math"
	"sync"
	"unsafe"

	"github.com/tandem-rc/tandem/internal/quartz"
)

// macOS capture: CoreGraphics through purego (internal/quartz), no cgo.
// Coordinates are Quartz global display coordinates in points, as the
// input side posts events in; CGWindowListCreateImage with the nominal
// resolution option returns points too, and a Retina image that comes back
// in pixels anyway is sampled down (cgToBGRX). Without the Screen
// Recording permission the system returns the wallpaper without windows
// (input.CheckPermissions says so at start).
//
// CGWindowListCreateImage is deprecated since macOS 14 in favour of
// ScreenCaptureKit (asynchronous, Objective-C blocks); it still answers
// there. A macOS without it fails Open with the missing symbol named.
type cgCapturer struct {
	log *slog.Logger

	mu     sync.Mutex
	closed bool
}

func open(opts Options) (Capturer, error) {
	if err := quartz.Load(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDisplay, err)
	}
	if len(displays()) == 0 {
		return nil, errNoActiveDisplay
	}
	return &cgCapturer{log: opts.Logger}, nil
}

// maxDisplays bounds the display list (macOS supports far fewer).
const maxDisplays = 32

func displays() []uint32 {
	ids := make([]uint32, maxDisplays)
	var n uint32
	if quartz.CGGetActiveDisplayList(maxDisplays, &ids[0], &n) != 0 {
		return nil
	}
	return ids[:min(n, maxDisplays)]
}

// pointRect rounds a CoreGraphics rectangle outwards to whole points.
func pointRect(r quartz.CGRect) image.Rectangle {
	return image.Rect(int(math.Floor(r.Origin.X)), int(math.Floor(r.Origin.Y)),
		int(math.Ceil(r.Origin.X+r.Size.W)), int(math.Ceil(r.Origin.Y+r.Size.H)))
}

func (c *cgCapturer) Bounds() image.Rectangle {
	var b image.Rectangle
	for _, id := range displays() {
		b = b.Union(pointRect(quartz.CGDisplayBounds(id)))
	}
	return b
}

func (c *cgCapturer) Monitors() ([]Monitor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	mainID := quartz.CGMainDisplayID()
	var ms []Monitor
	for _, id := range displays() {
		r := pointRect(quartz.CGDisplayBounds(id))
		if r.Empty() {
			continue
		}
		ms = append(ms, Monitor{Name: fmt.Sprintf("display-%d", id), X: r.Min.X, Y: r.Min.Y,
			Width: r.Dx(), Height: r.Dy(), Primary: id == mainID})
	}
	if len(ms) == 0 {
		return nil, errNoActiveDisplay
	}
	return primaryFallback(ms), nil
}

func (c *cgCapturer) Grab(r image.Rectangle, dst *Frame) (*Frame, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	cr, err := clipToScreen(r, c.Bounds())
	if err != nil {
		return nil, err
	}
	rect := quartz.CGRect{Origin: quartz.CGPoint{X: float64(cr.Min.X), Y: float64(cr.Min.Y)},
		Size: quartz.CGSize{W: float64(cr.Dx()), H: float64(cr.Dy())}}
	img := quartz.CGWindowListCreateImage(rect, quartz.WindowListOptionOnScreenOnly, quartz.NullWindowID,
		quartz.WindowImageNominalResolution)
	if img == 0 {
		return nil, fmt.Errorf("capture: CGWindowListCreateImage %v returned no image", cr)
	}
	defer quartz.CFRelease(img)
	data := quartz.CGDataProviderCopyData(quartz.CGImageGetDataProvider(img))
	if data == 0 {
		return nil, fmt.Errorf("capture: no pixels in the CoreGraphics image of %v", cr)
	}
	defer quartz.CFRelease(data)
	n := quartz.CFDataGetLength(data)
	p := quartz.CFDataGetBytePtr(data)
	if n <= 0 || p == nil {
		return nil, fmt.Errorf("capture: empty CoreGraphics image of %v", cr)
	}
	src := unsafe.Slice((*byte)(p), n)
	return cgToBGRX(dst, cr.Dx(), cr.Dy(), src, int(quartz.CGImageGetWidth(img)), int(quartz.CGImageGetHeight(img)),
		int(quartz.CGImageGetBytesPerRow(img)), int(quartz.CGImageGetBitsPerPixel(img)), quartz.CGImageGetBitmapInfo(img))
}

func (c *cgCapturer) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}
