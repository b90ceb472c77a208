package codec

import (
	"fmt"
	"image"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Limits bound what a Decoder accepts, so hostile payloads cannot make it
// allocate without bound. Zero fields take the defaults.
type Limits struct {
	MaxWidth, MaxHeight int // default 8192x8192
	// MaxPayload is the largest payload in bytes; default 3*MaxWidth*MaxHeight
	// + 1 MiB (a keyframe of incompressible pixels fits).
	MaxPayload int
}

func (l Limits) withDefaults() Limits {
	if l.MaxWidth <= 0 {
		l.MaxWidth = 8192
	}
	if l.MaxHeight <= 0 {
		l.MaxHeight = 8192
	}
	l.MaxWidth, l.MaxHeight = min(l.MaxWidth, 0xffff), min(l.MaxHeight, 0xffff)
	if l.MaxPayload <= 0 {
		l.MaxPayload = 3*l.MaxWidth*l.MaxHeight + 1<<20
	}
	return l
}

// Update describes what a payload changed.
type Update struct {
	Keyframe bool
	// Rects are the changed areas (unions of tiles), disjoint; a keyframe
	// has one rectangle covering the screen.
	Rects []image.Rectangle
}

// chunkBytes bounds the decompression buffer: tiles are decompressed in
// batches of about this size straight into the image.
const chunkBytes = 1 << 20

// Decoder turns payloads back into the screen image. It is not safe for
// concurrent use.
type Decoder struct {
	lim Limits

	zd   *zstd.Decoder
	err  error
	feed feeder

	img   *image.RGBA
	g     grid
	ok    bool // the zstd stream state is valid
	buf   []byte
	jbuf  []byte // an ATLAS op's JPEG
	tiles []int

	ops       []opV2
	dirty     []bool
	snap      []byte // version 2: COPY sources
	needReset bool   // version 2: the next zstd data starts a new stream
}

// NewDecoder returns a Decoder that accepts payloads within lim.
func NewDecoder(lim Limits) *Decoder {
	d := &Decoder{lim: lim.withDefaults()}
	d.zd, d.err = zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(WindowSize),
		zstd.WithDecoderMaxMemory(WindowSize))
	if d.err != nil {
		d.err = fmt.Errorf("codec: create zstd decoder: %w", d.err)
	}
	return d
}

// Image returns the current screen (A=255), or nil before the first
// keyframe. Decode updates it in place: copy it to keep a snapshot. After a
// failed Decode it may be partly updated until the next keyframe.
func (d *Decoder) Image() *image.RGBA { return d.img }

// Decode applies one payload to the image. Errors wrap ErrNeedKeyframe,
// ErrCorrupt or ErrTooLarge; after any error, deltas fail with
// ErrNeedKeyframe until the next keyframe.
func (d *Decoder) Decode(payload []byte) (Update, error) {
	if d.err != nil {
		return Update{}, d.err
	}
	u, err := d.decode(payload)
	if err != nil {
		d.ok = false
		d.feed.b = nil
		return Update{}, err
	}
	return u, nil
}

func (d *Decoder) decode(payload []byte) (Update, error) {
	if len(payload) > d.lim.MaxPayload {
		return Update{}, fmt.Errorf("%w: %d-byte payload (limit %d)", ErrTooLarge, len(payload), d.lim.MaxPayload)
	}
	if len(payload) >= headerLen+2 && payload[0] == Magic && payload[1] == Version2 {
		return d.decodeV2(payload)
	}
	h, err := parseHeader(payload, d.lim, d.tiles)
	if h.tiles != nil {
		d.tiles = h.tiles[:0]
	}
	if err != nil {
		return Update{}, err
	}
	if !h.key {
		if err := d.checkDelta(h.g); err != nil {
			return Update{}, err
		}
	}
	d.feed.b = h.z
	tiles := h.tiles
	if h.key {
		if err := d.zd.Reset(&d.feed); err != nil {
			return Update{}, fmt.Errorf("codec: reset zstd decoder: %w", err)
		}
		d.needReset = false
		if d.img == nil || d.img.Rect.Dx() != h.g.w || d.img.Rect.Dy() != h.g.h {
			d.img = nil // let the old image go before allocating the new one
			d.img = image.NewRGBA(image.Rect(0, 0, h.g.w, h.g.h))
		}
		d.g = h.g
		d.ok = true
		tiles = d.tiles[:0]
		for i := range h.g.n() {
			tiles = append(tiles, i)
		}
		d.tiles = tiles
	}
	if err := d.readTiles(tiles, h.rawLen); err != nil {
		return Update{}, err
	}
	if len(d.feed.b) != 0 {
		return Update{}, fmt.Errorf("%w: %d bytes of zstd data left over", ErrCorrupt, len(d.feed.b))
	}
	u := Update{Keyframe: h.key}
	if h.key {
		u.Rects = []image.Rectangle{d.img.Rect}
	} else {
		u.Rects = d.g.rects(tiles)
	}
	return u, nil
}

// readTiles decompresses the tiles in batches of at most chunkBytes (or one
// tile) and writes them into the image.
func (d *Decoder) readTiles(tiles []int, rawLen int) error {
	g := d.g
	if need := min(rawLen, max(chunkBytes, g.ts*g.ts*3)); cap(d.buf) < need {
		d.buf = make([]byte, need)
	}
	buf := d.buf[:cap(d.buf)]
	for i := 0; i < len(tiles); {
		j, n := i, 0
		for j < len(tiles) {
			r := g.rect(tiles[j])
			tb := r.Dx() * r.Dy() * 3
			if n+tb > len(buf) {
				break
			}
			n += tb
			j++
		}
		if _, err := io.ReadFull(d.zd, buf[:n]); err != nil {
			return fmt.Errorf("%w: zstd stream: %w", ErrCorrupt, err)
		}
		o := 0
		for _, t := range tiles[i:j] {
			r := g.rect(t)
			rowBytes := r.Dx() * 3
			for y := r.Min.Y; y < r.Max.Y; y++ {
				p := d.img.PixOffset(r.Min.X, y)
				rgbToRGBA(d.img.Pix[p:p+r.Dx()*4], buf[o:o+rowBytes])
				o += rowBytes
			}
		}
		i = j
	}
	return nil
}

// rgbToRGBA expands len(src)/3 RGB pixels into RGBA with A=255, unrolled
// by four pixels.
func rgbToRGBA(dst, src []byte) {
	n := len(src) / 3
	dst = dst[:n*4]
	src = src[:n*3]
	i, j := 0, 0
	for ; i+12 <= len(src) && j+16 <= len(dst); i, j = i+12, j+16 {
		s := src[i : i+12 : i+12]
		d := dst[j : j+16 : j+16]
		d[0], d[1], d[2], d[3] = s[0], s[1], s[2], 0xff
		d[4], d[5], d[6], d[7] = s[3], s[4], s[5], 0xff
		d[8], d[9], d[10], d[11] = s[6], s[7], s[8], 0xff
		d[12], d[13], d[14], d[15] = s[9], s[10], s[11], 0xff
	}
	for ; i+3 <= len(src) && j+4 <= len(dst); i, j = i+3, j+4 {
		dst[j], dst[j+1], dst[j+2], dst[j+3] = src[i], src[i+1], src[i+2], 0xff
	}
}

// Close releases the zstd decoder; later Decodes fail with ErrClosed.
// Idempotent.
func (d *Decoder) Close() error {
	if d.err == ErrClosed {
		return nil
	}
	if d.zd != nil {
		d.zd.Close()
	}
	d.err = ErrClosed
	d.img, d.buf, d.feed.b, d.snap = nil, nil, nil, nil
	return nil
}

// feeder hands the zstd decoder the current payload's bytes and reports
// io.ErrUnexpectedEOF once they are used up, so truncated or short data
// fails instead of blocking. (It must not have Bytes/Len methods: the zstd
// decoder would decode such a reader in one shot instead of streaming.)
type feeder struct{ b []byte }

func (f *feeder) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// checkDelta refuses a delta the decoder cannot apply: none before a
// keyframe, and none for another screen geometry than the current one.
func (d *Decoder) checkDelta(g grid) error {
	if !d.ok {
		return ErrNeedKeyframe
	}
	if g != d.g {
		return fmt.Errorf("%w: delta for %dx%d tiles of %d, screen is %dx%d tiles of %d",
			ErrCorrupt, g.w, g.h, g.ts, d.g.w, d.g.h, d.g.ts)
	}
	return nil
}
