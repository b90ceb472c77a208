package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/tandem-rc/tandem/capture"
)

// EncoderOptions configures an Encoder.
type EncoderOptions struct {
	// TileSize is the damage grid's cell size in pixels; 0 means 64.
	// Values outside 16..256 are clamped.
	TileSize int
	// Level is the zstd level; 0 means zstd.SpeedFastest, which keeps a
	// full 1080p keyframe around 10-20 ms on one core.
	Level zstd.EncoderLevel
	// JPEGQuality enables lossy tiles (DefaultJPEGQuality is a good value) (version 2 only): tiles that are
	// photographic (many colours) and have changed on several consecutive
	// frames go as JPEG at this quality (1..100), and are resent lossless
	// once they stop changing. 0 keeps every tile lossless.
	JPEGQuality int
	// Version is the payload version to write: 0 or 2 for version 2 (copy,
	// fill, palette ops), 1 for the tile-only version 1.
	Version int
	// Predict (version 2 only) sets FlagPredict: RAW tiles and RECT ops
	// carry MED prediction residuals instead of pixels, which zstd packs
	// tighter on photographic content. Only for decoders that announced it
	// (older ones reject the flag).
	Predict bool
	// Motion (version 2 only; only for decoders that announced
	// wire.CapScreenMotion, older ones reject OpAtlas): while a window
	// moves or scrolls, the photographic pixels it uncovers go lossy, at
	// JPEGQuality, packed into one ATLAS op per frame, and are refined to
	// lossless once the motion stops (see SetRefineBudget). Text and UI
	// (few colours, one dominant) stay lossless.
	Motion bool
	// RefineAfter is how many frames a lossy tile must stay unchanged
	// before its lossless refinement is sent; 0 means 1.
	RefineAfter int
}

// Encoder turns successive frames into payloads (see the package
// documentation). It is not safe for concurrent use, except ForceKeyframe.
type Encoder struct {
	ts    int
	level zstd.EncoderLevel

	zw   *zstd.Encoder
	win  int
	zbuf bytes.Buffer

	prev    []byte // the last encoded frame, BGRX with stride w*4; nil: next is a keyframe
	prevBuf []byte // prev's storage, kept across keyframes
	g       grid
	force   atomic.Bool

	dirty   []bool
	tiles   []int
	scratch []byte
	closed  bool

	version int
	predict bool // FlagPredict
	// version 2 state
	ops          []byte
	copied, rest []int
	votes        map[image.Point]int
	pal          []uint32
	palUsed      []int
	palKeys      [palSlots]uint32
	palVals      [palSlots]byte
	jpegQ        int
	newQ         atomic.Int32
	palCount     []int
	near         []bool
	streak       []uint8 // consecutive frames each tile changed
	lossy        []bool  // the decoder holds a lossy approximation of some of the tile's pixels
	nLossy       int
	lossyPx      []bool  // per pixel (w*h): the decoder's pixel is lossy
	lossyCnt     []int32 // per tile: how many of its pixels are lossy
	still        []uint8 // consecutive frames each tile stayed unchanged
	refresh      []bool  // tiles refreshed lossless in this frame
	motion       bool    // Options.Motion
	refineAfter  int
	refineBudget atomic.Int32
	moving       bool              // the last frame found a move or scroll
	changed      []image.Rectangle // per damaged tile: where it changed

	jpegBuf bytes.Buffer
	rgba    *image.RGBA
}

// NewEncoder returns an Encoder; its first Encode produces a keyframe.
func NewEncoder(opts EncoderOptions) *Encoder {
	ts := opts.TileSize
	if ts == 0 {
		ts = DefaultTileSize
	}
	ts = min(max(ts, MinTileSize), MaxTileSize)
	level := opts.Level
	if level < zstd.SpeedFastest || level > zstd.SpeedBestCompression {
		level = zstd.SpeedFastest
	}
	v := Version2
	if opts.Version == Version {
		v = Version
	}
	e := &Encoder{ts: ts, level: level, version: v, predict: opts.Predict && v == Version2,
		motion: opts.Motion && v == Version2, refineAfter: max(opts.RefineAfter, 1)}
	e.SetJPEGQuality(opts.JPEGQuality)
	return e
}

// windowFor is the zstd window for a w×h screen: room for two frames of
// raw tiles (so a tile repeated from the previous frame is found), a power
// of two between 64 KiB and WindowSize. Small screens then need small
// decoder buffers.
func windowFor(w, h int) int {
	win := 64 << 10
	for win < WindowSize && win < 2*w*h*3 {
		win <<= 1
	}
	return win
}

// resetStream starts a new zstd stream (a new zstd frame) for a w×h screen,
// recreating the zstd encoder when the window size changes.
func (e *Encoder) resetStream(w, h int) error {
	win := windowFor(w, h)
	if e.zw != nil && e.win == win {
		e.zw.Reset(&e.zbuf)
		return nil
	}
	if e.zw != nil {
		_ = e.zw.Close()
		e.zw = nil
	}
	zw, err := zstd.NewWriter(&e.zbuf,
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(win),
		zstd.WithEncoderLevel(e.level),
		zstd.WithEncoderCRC(false))
	if err != nil {
		return fmt.Errorf("codec: create zstd encoder: %w", err)
	}
	e.zw, e.win = zw, win
	return nil
}

// SetJPEGQuality changes the lossy tiles' JPEG quality from the next
// Encode on (0 turns lossy tiles off; lossy tiles already sent still get
// their lossless refresh), so the sender can adapt to the link. Safe to
// call from any goroutine.
func (e *Encoder) SetJPEGQuality(q int) { e.newQ.Store(int32(min(max(q, 0), 100))) }

// SetRefineBudget sets how many lossy tiles may be refined lossless per
// frame while a move or scroll goes on (default 0: none until the motion
// stops, when every due tile is refined at once). The sender raises it when
// the link has room beyond the motion's lossy frames. Safe to call from any
// goroutine.
func (e *Encoder) SetRefineBudget(tiles int) { e.refineBudget.Store(int32(min(max(tiles, 0), 1<<20))) }

// Lossless reports whether the decoder's screen is pixel-exact: no lossy
// pixel awaits its refinement.
func (e *Encoder) Lossless() bool { return e.nLossy == 0 }

// Refining reports whether lossy pixels still await their refinement: the
// sender then looks at a still screen again soon instead of sleeping until
// the next change (agent's screen loop).
func (e *Encoder) Refining() bool { return !e.Lossless() }

// ForceKeyframe makes the next Encode produce a keyframe (for a viewer that
// joins, or one whose decoder reported ErrNeedKeyframe). Safe to call from
// any goroutine.
func (e *Encoder) ForceKeyframe() { e.force.Store(true) }

// Encode compares f with the last frame it encoded and returns the payload
// for the tiles that changed, or (nil, nil) when nothing changed. The first
// call, a size change, or a call after ForceKeyframe produce a keyframe: all
// tiles, and a new zstd stream so a decoder can join there. The payload is
// newly allocated; f is not retained.
func (e *Encoder) Encode(f *capture.Frame) ([]byte, error) {
	if e.closed {
		return nil, ErrClosed
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	if f.Width > 0xffff || f.Height > 0xffff {
		return nil, fmt.Errorf("codec: %dx%d frame exceeds 65535x65535", f.Width, f.Height)
	}
	e.jpegQ = int(e.newQ.Load())
	key := e.prev == nil || f.Width != e.g.w || f.Height != e.g.h
	if e.force.Swap(false) {
		key = true
	}
	var tiles []int
	if key {
		e.prev = nil
		if err := e.resetStream(f.Width, f.Height); err != nil {
			return nil, err
		}
		e.g = newGrid(f.Width, f.Height, e.ts)
		if n := f.Width * f.Height * 4; cap(e.prevBuf) >= n {
			e.prev = e.prevBuf[:n]
		} else {
			e.prevBuf = nil // let the old buffer go first
			e.prevBuf = make([]byte, n)
			e.prev = e.prevBuf
		}
		for y := range f.Height {
			copy(e.prev[y*f.Width*4:(y+1)*f.Width*4], f.Pix[y*f.Stride:])
		}
		tiles = e.tiles[:0]
		for i := range e.g.n() {
			tiles = append(tiles, i)
		}
	} else {
		tiles = e.damage(f, e.version == Version)
		if len(tiles) == 0 && e.nLossy == 0 { // lossy tiles still need their refresh
			return nil, nil
		}
	}
	e.tiles = tiles
	if e.version == Version2 {
		return e.encodeV2(f, key, tiles)
	}

	out := make([]byte, 0, 64)
	out = append(out, Magic, Version, 0)
	out = binary.BigEndian.AppendUint16(out, uint16(f.Width))
	out = binary.BigEndian.AppendUint16(out, uint16(f.Height))
	out = binary.BigEndian.AppendUint16(out, uint16(e.ts))
	if key {
		out[2] |= FlagKey
	} else {
		var bitmap bool
		out, bitmap = appendTileSet(out, tiles, e.g.n())
		if bitmap {
			out[2] |= FlagBitmap
		}
	}
	out = binary.BigEndian.AppendUint32(out, uint32(e.g.rawLen(tiles)))

	e.zbuf.Reset()
	if err := e.writeTiles(f, tiles); err != nil {
		e.prev = nil // the stream is broken: restart with a keyframe
		return nil, fmt.Errorf("codec: zstd: %w", err)
	}
	z := e.zbuf.Bytes()
	payload := make([]byte, len(out)+len(z))
	copy(payload, out)
	copy(payload[len(out):], z)
	e.zbuf.Reset()
	return payload, nil
}

// damage returns the tiles where f differs from prev, sorted, and copies
// them into prev when update is set. Rows are compared whole first (bytes.Equal is a memcmp),
// then tile by tile only on rows that differ.
func (e *Encoder) damage(f *capture.Frame, update bool) []int {
	g := e.g
	rowBytes := g.w * 4
	tileBytes := g.ts * 4
	if cap(e.dirty) < g.tilesX {
		e.dirty = make([]bool, g.tilesX)
	}
	dirty := e.dirty[:g.tilesX]
	tiles := e.tiles[:0]
	for ty := range g.tilesY {
		y0, y1 := ty*g.ts, min(ty*g.ts+g.ts, g.h)
		clear(dirty)
		nd := 0
		for y := y0; y < y1 && nd < g.tilesX; y++ {
			cur := f.Pix[y*f.Stride : y*f.Stride+rowBytes]
			old := e.prev[y*rowBytes : (y+1)*rowBytes]
			if bytes.Equal(cur, old) {
				continue
			}
			for tx := range g.tilesX {
				if dirty[tx] {
					continue
				}
				a, b := tx*tileBytes, min(tx*tileBytes+tileBytes, rowBytes)
				if !bytes.Equal(cur[a:b], old[a:b]) {
					dirty[tx] = true
					nd++
				}
			}
		}
		if nd == 0 {
			continue
		}
		for tx, d := range dirty {
			if !d {
				continue
			}
			tiles = append(tiles, ty*g.tilesX+tx)
			if !update {
				continue
			}
			a, b := tx*tileBytes, min(tx*tileBytes+tileBytes, rowBytes)
			for y := y0; y < y1; y++ {
				copy(e.prev[y*rowBytes+a:y*rowBytes+b], f.Pix[y*f.Stride+a:y*f.Stride+b])
			}
		}
	}
	return tiles
}

// writeTiles feeds the tiles' RGB bytes to the zstd stream and flushes it,
// so zbuf holds whole blocks that decode to exactly this frame.
func (e *Encoder) writeTiles(f *capture.Frame, tiles []int) error {
	if need := e.ts * e.ts * 3; cap(e.scratch) < need {
		e.scratch = make([]byte, need)
	}
	for _, t := range tiles {
		r := e.g.rect(t)
		buf := e.scratch[:r.Dx()*r.Dy()*3]
		o := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := f.Pix[y*f.Stride+r.Min.X*4 : y*f.Stride+r.Max.X*4]
			o += bgrxToRGB(buf[o:], row)
		}
		if _, err := e.zw.Write(buf); err != nil {
			return err
		}
	}
	return e.zw.Flush()
}

// bgrxToRGB writes len(src)/4 pixels as R, G, B into dst and returns the
// bytes written. Unrolled by four pixels (about 2x a plain loop).
func bgrxToRGB(dst, src []byte) int {
	n := len(src) / 4
	dst = dst[:n*3]
	src = src[:n*4]
	i, j := 0, 0
	for ; i+16 <= len(src) && j+12 <= len(dst); i, j = i+16, j+12 {
		s := src[i : i+16 : i+16]
		d := dst[j : j+12 : j+12]
		d[0], d[1], d[2] = s[2], s[1], s[0]
		d[3], d[4], d[5] = s[6], s[5], s[4]
		d[6], d[7], d[8] = s[10], s[9], s[8]
		d[9], d[10], d[11] = s[14], s[13], s[12]
	}
	for ; i+4 <= len(src) && j+3 <= len(dst); i, j = i+4, j+3 {
		dst[j], dst[j+1], dst[j+2] = src[i+2], src[i+1], src[i]
	}
	return n * 3
}

// Close releases the zstd encoder. Idempotent.
func (e *Encoder) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.zw != nil {
		return e.zw.Close()
	}
	return nil
}
