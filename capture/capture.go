// Package capture grabs the screen of the machine Tandem controls.
//
// One Capturer holds one persistent connection to the windowing system
// (on X11: one xgb connection with an MIT-SHM segment), so a whole-screen
// grab costs a few milliseconds instead of the tens of milliseconds a
// connection-per-frame screenshot costs. Frames are BGRX, the native layout
// of a 24/32-bit X11 ZPixmap on little-endian machines, so the X11 path copies
// pixels exactly once.
//
// Platform code lives in capture_linux.go (X11 via xgb, pure Go),
// capture_windows.go and capture_darwin.go (github.com/kbinani/screenshot),
// and capture_other.go (a stub returning errors.ErrUnsupported).
package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"log/slog"
	"time"
)

// Frame is a screen image in BGRX byte order (4 bytes per pixel, X11 ZPixmap
// depth-24 little-endian layout; the X byte is ignored).
//
// Pixel (x, y) starts at Pix[y*Stride+x*4]: blue, green, red, unused.
type Frame struct {
	Width, Height, Stride int
	Pix                   []byte
}

// Monitor is one physical (or RandR virtual) monitor in root coordinates.
type Monitor struct {
	Index               int
	Name                string
	X, Y, Width, Height int
	Primary             bool
}

// Rect returns the monitor's area in root coordinates.
func (m Monitor) Rect() image.Rectangle {
	return image.Rect(m.X, m.Y, m.X+m.Width, m.Y+m.Height)
}

// Options configures Open.
type Options struct {
	// Display is the X11 display to open ("" = $DISPLAY). Ignored elsewhere.
	Display string
	// Wayland names a wlroots compositor's socket (a WAYLAND_DISPLAY
	// value, absolute or relative to RuntimeDir): when set, Linux captures
	// through wlr-screencopy instead of X11.
	Wayland string
	// RuntimeDir is the session's XDG_RUNTIME_DIR ("" = this process's).
	RuntimeDir string
	// SessionBus is a GNOME session's D-Bus socket (an absolute path):
	// when set, Linux captures through Mutter's ScreenCast API with
	// PipeWire frames (the PipeWire socket beside it) instead.
	SessionBus string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// NoSHM forces the plain X11 GetImage path instead of MIT-SHM, as used
	// automatically when the X server is remote. For tests and benchmarks;
	// ignored on other platforms.
	NoSHM bool
}

// Capturer grabs screen areas. Its methods are safe for concurrent use, but
// grabs are serialised.
type Capturer interface {
	// Bounds is the whole virtual screen in root coordinates.
	Bounds() image.Rectangle
	// Monitors lists the monitors (RandR monitors or CRTCs on X11); when
	// the system reports none, it returns one monitor covering Bounds. When
	// no monitor is flagged primary, the one at the origin (else the first)
	// is.
	Monitors() ([]Monitor, error)
	// Grab captures r, clipped to Bounds, into dst, reusing dst.Pix when it
	// is big enough; dst may be nil. The returned frame has Stride ==
	// Width*4. It fails with ErrEmptyRect when r does not meet the screen.
	Grab(r image.Rectangle, dst *Frame) (*Frame, error)
	// Close releases the connection. Idempotent; later grabs fail with
	// ErrClosed.
	Close() error
}

var (
	// ErrClosed is returned by a Capturer used after Close.
	ErrClosed = errors.New("capture: capturer is closed")
	// ErrEmptyRect is returned by Grab when the rectangle is outside the screen.
	ErrEmptyRect = errors.New("capture: rectangle does not intersect the screen")
	// ErrNoDisplay wraps failures to reach the display server (no X server,
	// no $DISPLAY, refused authorisation).
	ErrNoDisplay = errors.New("capture: cannot connect to the display")
	// ErrUnsupportedFormat means the display uses a pixel format this package
	// does not convert (anything but 24/32-bit depth in 32 bits per pixel,
	// 8 bits per channel, least significant byte first).
	ErrUnsupportedFormat = errors.New("capture: unsupported pixel format")
)

// Open connects to the display and returns a Capturer.
func Open(opts Options) (Capturer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return open(opts)
}

// prepare returns dst (or a new frame) sized w×h with a tight stride, reusing
// dst.Pix when its capacity suffices.
func prepare(dst *Frame, w, h int) *Frame {
	if dst == nil {
		dst = new(Frame)
	}
	n := w * h * 4
	if cap(dst.Pix) >= n {
		dst.Pix = dst.Pix[:n]
	} else {
		dst.Pix = make([]byte, n)
	}
	dst.Width, dst.Height, dst.Stride = w, h, w*4
	return dst
}

// Validate reports whether f's fields describe a consistent image.
func (f *Frame) Validate() error {
	switch {
	case f == nil:
		return errors.New("capture: nil frame")
	case f.Width <= 0 || f.Height <= 0:
		return fmt.Errorf("capture: frame size %dx%d is empty", f.Width, f.Height)
	case f.Stride < f.Width*4:
		return fmt.Errorf("capture: frame stride %d is less than 4*width %d", f.Stride, f.Width*4)
	case len(f.Pix) < (f.Height-1)*f.Stride+f.Width*4:
		return fmt.Errorf("capture: frame pixels (%d bytes) too short for %dx%d stride %d", len(f.Pix), f.Width, f.Height, f.Stride)
	}
	return nil
}

// RGBA converts the frame to a new *image.RGBA with A=255. It returns an
// empty image when f is inconsistent (see Validate).
func (f *Frame) RGBA() *image.RGBA {
	if f.Validate() != nil {
		return image.NewRGBA(image.Rectangle{})
	}
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	for y := 0; y < f.Height; y++ {
		swapRB(img.Pix[y*img.Stride:y*img.Stride+f.Width*4], f.Pix[y*f.Stride:y*f.Stride+f.Width*4])
	}
	return img
}

// swapRB converts len(dst)/4 pixels between BGRX and RGBA (either way: it
// swaps bytes 0 and 2) and sets byte 3 to 0xff. Four pixels at a time in two
// 64-bit words: about 3x faster than a byte loop.
func swapRB(dst, src []byte) {
	n := min(len(dst), len(src)) &^ 3
	dst, src = dst[:n], src[:n]
	const g, rb, a = 0x0000ff000000ff00, 0x000000ff000000ff, 0xff000000ff000000
	for len(src) >= 16 && len(dst) >= 16 {
		v := binary.LittleEndian.Uint64(src)
		w := binary.LittleEndian.Uint64(src[8:])
		binary.LittleEndian.PutUint64(dst, v&g|v>>16&rb|(v&rb)<<16|a)
		binary.LittleEndian.PutUint64(dst[8:], w&g|w>>16&rb|(w&rb)<<16|a)
		src, dst = src[16:], dst[16:]
	}
	for len(src) >= 4 && len(dst) >= 4 {
		dst[0], dst[1], dst[2], dst[3] = src[2], src[1], src[0], 0xff
		src, dst = src[4:], dst[4:]
	}
}

// FrameFromImage converts img to a Frame. Transparent pixels are composited
// over black (the colour image.Image.At(...).RGBA() reports). *image.RGBA
// and *image.NRGBA take a fast path; other types go through image/draw.
func FrameFromImage(img image.Image) *Frame {
	b := img.Bounds()
	f := prepare(nil, b.Dx(), b.Dy())
	if b.Empty() {
		return f
	}
	switch m := img.(type) {
	case *image.RGBA:
		for y := 0; y < f.Height; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			swapRB(f.Pix[y*f.Stride:(y+1)*f.Stride], m.Pix[o:o+f.Width*4])
		}
	case *image.NRGBA:
		for y := 0; y < f.Height; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			nrgbaToBGRX(f.Pix[y*f.Stride:(y+1)*f.Stride], m.Pix[o:o+f.Width*4])
		}
	default:
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
		swapRB(f.Pix, rgba.Pix)
	}
	return f
}

// nrgbaToBGRX premultiplies exactly as color.NRGBA.RGBA does, then keeps the
// high byte, so the fast path agrees with the generic one.
func nrgbaToBGRX(dst, src []byte) {
	n := min(len(dst), len(src)) &^ 3
	dst, src = dst[:n], src[:n]
	for i := 0; i+4 <= len(src); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		if a := uint32(s[3]); a == 0xff {
			d[0], d[1], d[2] = s[2], s[1], s[0]
		} else {
			d[0] = premul(s[2], a)
			d[1] = premul(s[1], a)
			d[2] = premul(s[0], a)
		}
		d[3] = 0xff
	}
}

func premul(c uint8, a uint32) uint8 {
	v := uint32(c)
	v |= v << 8
	v *= a
	v /= 0xff
	return uint8(v >> 8)
}

// errNoActiveDisplay: the system lists no display to capture.
var errNoActiveDisplay = fmt.Errorf("%w: no active display", ErrNoDisplay)

// clipToScreen is r clipped to the screen's bounds b; ErrEmptyRect when
// nothing of r is on screen.
func clipToScreen(r, b image.Rectangle) (image.Rectangle, error) {
	cr := r.Intersect(b)
	if cr.Empty() {
		return cr, fmt.Errorf("%w: %v outside %v", ErrEmptyRect, r, b)
	}
	return cr, nil
}

// primaryFallback marks a primary monitor when none is flagged: the one at
// the origin, else the first. It also numbers the monitors.
func primaryFallback(ms []Monitor) []Monitor {
	has := false
	for i := range ms {
		ms[i].Index = i
		has = has || ms[i].Primary
	}
	if has || len(ms) == 0 {
		return ms
	}
	for i := range ms {
		if ms[i].X == 0 && ms[i].Y == 0 {
			ms[i].Primary = true
			return ms
		}
	}
	ms[0].Primary = true
	return ms
}

// Cursor is the pointer: where its hot spot is (root coordinates) and
// which shape it shows.
type Cursor struct {
	X, Y   int
	Serial uint32 // names the shape (X11: the XFixes cursor serial)
	// Shape is set when Serial differs from the previous call's (and on
	// the first call); nil otherwise.
	Shape *CursorImage
}

// CursorImage is a pointer image in straight (not premultiplied) RGBA,
// Width*Height*4 bytes, rows top to bottom.
type CursorImage struct {
	Serial        uint32
	HotX, HotY    int
	Width, Height int
	Pix           []byte
}

// CursorReader is implemented by capturers that can report the pointer
// apart from the screen (X11 XFixes). Screen grabs never include the
// pointer there: X servers leave the cursor out of GetImage.
type CursorReader interface {
	// Cursor returns the pointer's position and, when it changed, its
	// shape. It fails with errors.ErrUnsupported without XFixes.
	Cursor() (Cursor, error)
}

// Damager is implemented by capturers that hear from the display server
// where the screen changed (X11 DAMAGE), so an idle screen costs no grabs.
type Damager interface {
	// Damage waits until the screen changed since the previous call and
	// returns the changed rectangles (root coordinates, clipped to the
	// screen); after timeout without change it returns the whole screen
	// (a safety poll). It returns ctx's error when ctx ends, ErrClosed
	// after Close, and errors.ErrUnsupported without DAMAGE.
	Damage(ctx context.Context, timeout time.Duration) ([]image.Rectangle, error)
}

// Partial grabs pay off only while the damage is a few small rectangles;
// beyond these the whole region is grabbed in one request.
const (
	maxDamageRects    = 32
	maxDamageFraction = 0.5
)

// GrabDamaged refreshes dst, a previous grab of region, with the pixels of
// the damaged rectangles only, or grabs the whole region into dst when dst
// does not match region's size or the damage is large or scattered. It
// returns the frame and whether it grabbed the whole region.
func GrabDamaged(c Capturer, region image.Rectangle, damaged []image.Rectangle, dst *Frame) (*Frame, bool, error) {
	region = region.Intersect(c.Bounds())
	if dst == nil || dst.Width != region.Dx() || dst.Height != region.Dy() || dst.Stride != dst.Width*4 || len(damaged) > maxDamageRects {
		f, err := c.Grab(region, dst)
		return f, true, err
	}
	area := 0
	for _, r := range damaged {
		area += r.Intersect(region).Dx() * r.Intersect(region).Dy()
	}
	if float64(area) > maxDamageFraction*float64(region.Dx()*region.Dy()) {
		f, err := c.Grab(region, dst)
		return f, true, err
	}
	var part *Frame
	for _, r := range damaged {
		r = r.Intersect(region)
		if r.Empty() {
			continue
		}
		var err error
		if part, err = c.Grab(r, part); err != nil {
			if errors.Is(err, ErrEmptyRect) {
				continue // the screen shrank under the damage
			}
			return nil, false, err
		}
		ox, oy := r.Min.X-region.Min.X, r.Min.Y-region.Min.Y
		for y := 0; y < part.Height; y++ {
			copy(dst.Pix[(oy+y)*dst.Stride+ox*4:], part.Pix[y*part.Stride:y*part.Stride+part.Width*4])
		}
	}
	return dst, false, nil
}

// premulToStraight converts premultiplied ARGB words (X11 cursor images)
// to straight RGBA bytes.
func premulToStraight(dst []byte, argb []uint32) {
	for i, p := range argb {
		a := p >> 24
		r, g, b := p>>16&0xff, p>>8&0xff, p&0xff
		if a != 0 && a != 0xff {
			r, g, b = min(r*255/a, 255), min(g*255/a, 255), min(b*255/a, 255)
		}
		dst[i*4], dst[i*4+1], dst[i*4+2], dst[i*4+3] = byte(r), byte(g), byte(b), byte(a)
	}
}
