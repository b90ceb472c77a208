// Package logo checks and serves an account's Portal logo (spec 6.3): a
// rectangular 4:1 logo (sidebar, error, install and OnDemand pages) and a
// square 1:1 one (collapsed sidebar, OnDemand client); JPG, PNG or SVG of
// at most 0.3 MB.
//
// Uploads are hostile until proven otherwise. The type is what the bytes
// are, never what the client says; PNG and JPEG are decoded (dimensions
// checked before any pixel is) and re-encoded, so nothing but pixels
// survives; SVG is parsed and rebuilt from an allowlist (sanitize.go), so
// no script, event handler, foreign object or outside reference survives.
// Served logos also carry their own CSP, which forbids scripts outright.
package logo

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"
	"strconv"
)

// MaxSize is the largest upload: 0.3 MB.
const MaxSize = 300 << 10

// MaxPixels bounds a raster logo's width and height before decoding: a
// tiny compressed file can claim a huge canvas.
const MaxPixels = 4096

// Shape is which of the two logos.
type Shape string

const (
	Rect   Shape = "rect"   // 4:1
	Square Shape = "square" // 1:1
)

// Valid reports whether s is a known shape.
func (s Shape) Valid() bool { return s == Rect || s == Square }

// ratio is the shape's width/height.
func (s Shape) ratio() float64 {
	if s == Rect {
		return 4
	}
	return 1
}

// Label is the shape as the spec names it.
func (s Shape) Label() string {
	if s == Rect {
		return "rectangular logo (4:1)"
	}
	return "square logo (1:1)"
}

// Content types of stored logos.
const (
	PNG  = "image/png"
	JPEG = "image/jpeg"
	SVG  = "image/svg+xml"
)

// ErrRefused wraps every reason an upload is refused; its text is for the
// user.
var ErrRefused = errors.New("logo refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, args...)...)
}

// ratioTolerance: a logo within 10% of its shape's ratio is accepted
// (400×100 and 410×100 are both a 4:1 logo; 300×100 is not).
const ratioTolerance = 0.10

func checkRatio(shape Shape, w, h float64) error {
	if !(w > 0 && h > 0) || math.IsInf(w, 0) || math.IsInf(h, 0) {
		return refuse("the image has no usable size")
	}
	want := shape.ratio()
	if got := w / h; math.Abs(got-want)/want > ratioTolerance {
		return refuse("the %s must be %s wide as it is high; this one is %s×%s", shape.Label(),
			map[Shape]string{Rect: "4 times as", Square: "as"}[shape], fmtNum(w), fmtNum(h))
	}
	return nil
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Check validates an upload for shape and returns what to store: its
// content type and clean bytes.
func Check(shape Shape, data []byte) (contentType string, clean []byte, err error) {
	if !shape.Valid() {
		return "", nil, refuse("the shape must be rect or square")
	}
	if len(data) == 0 {
		return "", nil, refuse("the file is empty")
	}
	if len(data) > MaxSize {
		return "", nil, refuse("the file is larger than 0.3 MB")
	}
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		img, err := decodeRaster(shape, data, png.DecodeConfig, png.Decode)
		if err != nil {
			return "", nil, err
		}
		var buf bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
			return "", nil, fmt.Errorf("logo: encoding png: %w", err)
		}
		return PNG, buf.Bytes(), nil
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		img, err := decodeRaster(shape, data, jpeg.DecodeConfig, jpeg.Decode)
		if err != nil {
			return "", nil, err
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
			return "", nil, fmt.Errorf("logo: encoding jpeg: %w", err)
		}
		return JPEG, buf.Bytes(), nil
	}
	clean, w, h, err := SanitizeSVG(data)
	if err != nil {
		return "", nil, err
	}
	if err := checkRatio(shape, w, h); err != nil {
		return "", nil, err
	}
	return SVG, clean, nil
}

func decodeRaster(shape Shape, data []byte, cfg func(io.Reader) (image.Config, error), dec func(io.Reader) (image.Image, error)) (image.Image, error) {
	c, err := cfg(bytes.NewReader(data))
	if err != nil {
		return nil, refuse("the image can't be read (%v)", err)
	}
	if c.Width > MaxPixels || c.Height > MaxPixels {
		return nil, refuse("the image is larger than %d×%d pixels", MaxPixels, MaxPixels)
	}
	if c.Width < 16 || c.Height < 16 {
		return nil, refuse("the image is smaller than 16×16 pixels")
	}
	if err := checkRatio(shape, float64(c.Width), float64(c.Height)); err != nil {
		return nil, err
	}
	img, err := dec(bytes.NewReader(data))
	if err != nil {
		return nil, refuse("the image can't be read (%v)", err)
	}
	return img, nil
}

// CSP is the Content-Security-Policy every served logo carries: an SVG
// opened on its own may draw and style itself, nothing else — no script,
// no fetch, no frame.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

// Serve writes a stored logo with headers that keep it an image.
func Serve(w http.ResponseWriter, r *http.Request, contentType string, data []byte, etag string) {
	switch contentType {
	case PNG, JPEG, SVG:
	default:
		http.Error(w, "no logo", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", "inline")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "private, max-age=300")
	if etag != "" {
		h.Set("ETag", `"`+etag+`"`)
		if r.Header.Get("If-None-Match") == `"`+etag+`"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}
