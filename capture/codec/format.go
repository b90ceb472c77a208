package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math/bits"
)

// Wire constants of payload version 1 (see the package documentation).
const (
	Magic   = 0x54 // 'T'
	Version = 1

	FlagKey    = 0x01
	FlagBitmap = 0x02
	// FlagPredict (version 2): RAW and RECT raw data are MED residuals.
	FlagPredict = 0x02

	MinTileSize     = 16
	MaxTileSize     = 256
	DefaultTileSize = 64

	// WindowSize is the largest zstd window the encoder declares (it uses
	// less for small screens) and the largest the decoder accepts.
	WindowSize = 8 << 20

	headerLen = 9 // magic, version, flags, width, height, tile size
)

var (
	// ErrNeedKeyframe is returned for a delta when the decoder has no valid
	// stream state: before the first keyframe or after an error.
	ErrNeedKeyframe = errors.New("codec: need a keyframe")
	// ErrCorrupt wraps every malformed-payload error.
	ErrCorrupt = errors.New("codec: corrupt payload")
	// ErrTooLarge is returned for payloads or screens beyond the Limits.
	ErrTooLarge = errors.New("codec: payload exceeds limits")
	// ErrClosed is returned by an Encoder or Decoder used after Close.
	ErrClosed = errors.New("codec: closed")
)

// IsKeyframe reports whether payload is a version-1 or version-2 keyframe
// (it only looks at the first three bytes).
func IsKeyframe(payload []byte) bool {
	return len(payload) >= 3 && payload[0] == Magic && (payload[1] == Version || payload[1] == Version2) &&
		payload[2]&FlagKey != 0
}

// grid is the tile geometry of a screen.
type grid struct {
	w, h, ts       int
	tilesX, tilesY int
}

func newGrid(w, h, ts int) grid {
	return grid{w: w, h: h, ts: ts, tilesX: (w + ts - 1) / ts, tilesY: (h + ts - 1) / ts}
}

func (g grid) n() int { return g.tilesX * g.tilesY }

// rect returns tile i's pixels.
func (g grid) rect(i int) image.Rectangle {
	x, y := i%g.tilesX*g.ts, i/g.tilesX*g.ts
	return image.Rect(x, y, min(x+g.ts, g.w), min(y+g.ts, g.h))
}

// rawLen is the decompressed size of the listed tiles.
func (g grid) rawLen(tiles []int) int {
	n := 0
	for _, i := range tiles {
		r := g.rect(i)
		n += r.Dx() * r.Dy() * 3
	}
	return n
}

// header is a parsed payload header.
type header struct {
	key    bool
	g      grid
	tiles  []int // nil for keyframes: every tile
	rawLen int
	z      []byte // the zstd part
}

// appendTileSet appends the shorter encoding of tiles (sorted, unique, at
// least one) and reports whether it is the bitmap.
func appendTileSet(dst []byte, tiles []int, n int) ([]byte, bool) {
	listLen := uvarintLen(uint64(len(tiles)))
	prev := -1
	for _, t := range tiles {
		listLen += uvarintLen(uint64(t - prev - 1))
		prev = t
	}
	bitmapLen := (n + 7) / 8
	if listLen <= bitmapLen {
		dst = binary.AppendUvarint(dst, uint64(len(tiles)))
		prev = -1
		for _, t := range tiles {
			dst = binary.AppendUvarint(dst, uint64(t-prev-1))
			prev = t
		}
		return dst, false
	}
	start := len(dst)
	dst = append(dst, make([]byte, bitmapLen)...)
	for _, t := range tiles {
		dst[start+t>>3] |= 1 << (t & 7)
	}
	return dst, true
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// parseScreen checks the header fields both payload versions share (p holds
// at least headerLen bytes): only known flags, a screen within the limits and
// a valid tile size.
func parseScreen(p []byte, lim Limits, known byte) (flags byte, g grid, err error) {
	flags = p[2]
	if flags&^known != 0 {
		return 0, g, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	w := int(binary.BigEndian.Uint16(p[3:]))
	ht := int(binary.BigEndian.Uint16(p[5:]))
	ts := int(binary.BigEndian.Uint16(p[7:]))
	if w == 0 || ht == 0 {
		return 0, g, fmt.Errorf("%w: empty %dx%d screen", ErrCorrupt, w, ht)
	}
	if w > lim.MaxWidth || ht > lim.MaxHeight {
		return 0, g, fmt.Errorf("%w: %dx%d screen (limit %dx%d)", ErrTooLarge, w, ht, lim.MaxWidth, lim.MaxHeight)
	}
	if ts < MinTileSize || ts > MaxTileSize {
		return 0, g, fmt.Errorf("%w: tile size %d (want %d..%d)", ErrCorrupt, ts, MinTileSize, MaxTileSize)
	}
	return flags, newGrid(w, ht, ts), nil
}

// parseHeader validates everything but the zstd part. tiles is scratch space
// for the tile list.
func parseHeader(p []byte, lim Limits, tiles []int) (header, error) {
	var h header
	if len(p) > lim.MaxPayload {
		return h, fmt.Errorf("%w: %d-byte payload (limit %d)", ErrTooLarge, len(p), lim.MaxPayload)
	}
	if len(p) < headerLen+4 {
		return h, fmt.Errorf("%w: %d-byte payload is shorter than a header", ErrCorrupt, len(p))
	}
	if p[0] != Magic || p[1] != Version {
		return h, fmt.Errorf("%w: magic %#x version %d (want %#x version %d)", ErrCorrupt, p[0], p[1], Magic, Version)
	}
	flags, g, err := parseScreen(p, lim, FlagKey|FlagBitmap)
	if err != nil {
		return h, err
	}
	h.key, h.g = flags&FlagKey != 0, g
	w, ht, n := g.w, g.h, g.n()
	rest := p[headerLen:]
	switch {
	case h.key && flags&FlagBitmap != 0:
		return h, fmt.Errorf("%w: keyframe with a tile bitmap", ErrCorrupt)
	case h.key:
		h.rawLen = w * ht * 3
	case flags&FlagBitmap != 0:
		bl := (n + 7) / 8
		if len(rest) < bl {
			return h, fmt.Errorf("%w: truncated tile bitmap", ErrCorrupt)
		}
		tiles = tiles[:0]
		for i, b := range rest[:bl] {
			for ; b != 0; b &= b - 1 {
				t := i<<3 | bits.TrailingZeros8(b)
				if t >= n {
					return h, fmt.Errorf("%w: tile bitmap sets tile %d of %d", ErrCorrupt, t, n)
				}
				tiles = append(tiles, t)
			}
		}
		if len(tiles) == 0 {
			return h, fmt.Errorf("%w: empty delta", ErrCorrupt)
		}
		rest = rest[bl:]
	default:
		count, k := binary.Uvarint(rest)
		if k <= 0 {
			return h, fmt.Errorf("%w: bad tile count", ErrCorrupt)
		}
		if count == 0 || count > uint64(n) {
			return h, fmt.Errorf("%w: %d tiles listed of %d", ErrCorrupt, count, n)
		}
		rest = rest[k:]
		tiles = tiles[:0]
		prev := -1
		for range count {
			d, k := binary.Uvarint(rest)
			if k <= 0 {
				return h, fmt.Errorf("%w: truncated tile list", ErrCorrupt)
			}
			rest = rest[k:]
			if d >= uint64(n-prev-1) {
				return h, fmt.Errorf("%w: tile index past %d tiles", ErrCorrupt, n)
			}
			prev += int(d) + 1
			tiles = append(tiles, prev)
		}
	}
	if !h.key {
		h.tiles = tiles
		h.rawLen = h.g.rawLen(tiles)
	}
	if len(rest) < 4 {
		return h, fmt.Errorf("%w: truncated raw length", ErrCorrupt)
	}
	if raw := binary.BigEndian.Uint32(rest); uint64(raw) != uint64(h.rawLen) {
		return h, fmt.Errorf("%w: raw length %d, tiles need %d", ErrCorrupt, raw, h.rawLen)
	}
	h.z = rest[4:]
	if len(h.z) == 0 {
		return h, fmt.Errorf("%w: no zstd data", ErrCorrupt)
	}
	return h, nil
}

// rects merges tiles (sorted) into rectangles: runs within a tile row, then
// runs of equal span in consecutive rows.
func (g grid) rects(tiles []int) []image.Rectangle {
	type span struct{ x0, x1 int }
	var out []image.Rectangle
	open := map[span]int{} // span -> index in out of the rect ending on the previous row
	next := map[span]int{}
	row := -1
	flush := func() {
		open, next = next, open
		clear(next)
	}
	for i := 0; i < len(tiles); {
		t := tiles[i]
		ty, tx := t/g.tilesX, t%g.tilesX
		j := i + 1
		for j < len(tiles) && tiles[j] == tiles[j-1]+1 && tiles[j]/g.tilesX == ty {
			j++
		}
		if ty != row {
			if ty != row+1 {
				clear(next)
			}
			flush()
			row = ty
		}
		s := span{tx, tx + j - i}
		r := g.rect(t).Union(g.rect(tiles[j-1]))
		if k, ok := open[s]; ok {
			out[k].Max.Y = r.Max.Y
			next[s] = k
		} else {
			next[s] = len(out)
			out = append(out, r)
		}
		i = j
	}
	return out
}
