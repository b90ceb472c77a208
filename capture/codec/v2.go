package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"io"
)

// Wire constants of payload version 2 (see the package documentation).
const (
	Version2 = 2

	OpCopy    = 0x01
	OpFill    = 0x02
	OpRaw     = 0x03
	OpPalette = 0x04
	OpRect    = 0x05
	OpJPEG    = 0x06
	OpAtlas   = 0x07

	// DefaultJPEGQuality is the JPEG quality the host uses for lossy tiles:
	// about 40 dB PSNR-Y on video at a third of x264's veryfast bitrate
	// budget (see tandem-bench).
	DefaultJPEGQuality = 30

	// maxWorkFactor bounds a payload's work: the pixels written by its
	// ops, summed, may be at most this many screens.
	maxWorkFactor = 4
)

// opV2 is one parsed version-2 op.
type opV2 struct {
	kind byte
	// COPY: destination rectangle and source offset.
	dst    image.Rectangle
	sx, sy int
	// tile ops: first tile and count (FILL, RAW), colour (FILL), palette
	// size (PALETTE).
	tile, count int
	rgb         [3]byte
	n           int
	jpeg        []byte // JPEG: the image
	// ATLAS: the image's size, the pieces (destination, position in the
	// atlas) and the JPEG's length in the raw data.
	aw, ah  int
	pieces  []atlasPiece
	jpegLen int
}

// atlasPiece is one rectangle of an ATLAS op: dst on the screen, taken
// from the atlas image at at.
type atlasPiece struct {
	dst image.Rectangle
	at  image.Point
}

// packShelves places rectangles (their sizes; each at most width wide) in
// an atlas width pixels wide, in order, on shelves: left to right, and on
// a new shelf below when the next one does not fit. It returns their
// positions and the atlas' size (the widest shelf, the shelves' heights).
// The ATLAS op sends only the sizes; encoder and decoder pack alike.
func packShelves(rs []image.Rectangle, width int) (pos []image.Point, aw, ah int) {
	pos = make([]image.Point, len(rs))
	x, y, shelf := 0, 0, 0
	for i, r := range rs {
		if x+r.Dx() > width {
			x, y, shelf = 0, y+shelf, 0
		}
		pos[i] = image.Pt(x, y)
		x += r.Dx()
		aw, shelf = max(aw, x), max(shelf, r.Dy())
	}
	return pos, aw, y + shelf
}

// maxAtlasJPEG bounds an ATLAS op's JPEG: never more than its raw pixels
// (the encoder sends those instead) plus room for the headers.
func maxAtlasJPEG(aw, ah int) int { return aw*ah*3 + 2048 }

// headerV2 is a parsed version-2 payload.
type headerV2 struct {
	key     bool
	predict bool
	g       grid
	ops     []opV2
	rawLen  int
	z       []byte
}

// parseV2 validates a version-2 payload but its zstd part. ops is scratch.
func parseV2(p []byte, lim Limits, ops []opV2) (headerV2, error) {
	var h headerV2
	h.ops = ops[:0]
	flags, g, err := parseScreen(p, lim, FlagKey|FlagPredict)
	if err != nil {
		return h, err
	}
	h.key, h.g, h.predict = flags&FlagKey != 0, g, flags&FlagPredict != 0
	w, ht, ts, n := g.w, g.h, g.ts, g.n()
	r := reader{b: p[headerLen:]}
	count := r.uvarint()
	if r.err != nil || count == 0 || count > uint64(len(r.b)) {
		return h, fmt.Errorf("%w: bad op count", ErrCorrupt)
	}
	budget := maxWorkFactor * w * ht
	var pieces []atlasPiece
	copyBudget := w * ht
	next := 0
	tileOps := false
	for range count {
		var op opV2
		op.kind = r.byte()
		switch op.kind {
		case OpCopy:
			if h.key {
				return h, fmt.Errorf("%w: copy in a keyframe", ErrCorrupt)
			}
			if tileOps {
				return h, fmt.Errorf("%w: copy after a tile op", ErrCorrupt)
			}
			x, y, cw, ch := r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
			sx, sy := r.varint(), r.varint()
			if r.err != nil {
				break
			}
			if cw == 0 || ch == 0 || x >= uint64(w) || y >= uint64(ht) || cw > uint64(w)-x || ch > uint64(ht)-y ||
				sx <= -int64(w) || sx >= int64(w) || sy <= -int64(ht) || sy >= int64(ht) {
				return h, fmt.Errorf("%w: copy rectangle outside the screen", ErrCorrupt)
			}
			op.dst = image.Rect(int(x), int(y), int(x+cw), int(y+ch))
			op.sx, op.sy = int(sx), int(sy)
			if !op.dst.Add(image.Pt(op.sx, op.sy)).In(image.Rect(0, 0, w, ht)) {
				return h, fmt.Errorf("%w: copy source outside the screen", ErrCorrupt)
			}
			budget -= int(cw * ch)
			copyBudget -= int(cw * ch)
			if copyBudget < 0 {
				return h, fmt.Errorf("%w: copies cover more than the screen", ErrTooLarge)
			}
		case OpRect:
			if h.key {
				return h, fmt.Errorf("%w: rectangle in a keyframe", ErrCorrupt)
			}
			tileOps = true
			x, y, cw, ch := r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
			if r.err != nil {
				break
			}
			if cw == 0 || ch == 0 || x >= uint64(w) || y >= uint64(ht) || cw > uint64(w)-x || ch > uint64(ht)-y ||
				cw > uint64(ts) || ch > uint64(ts) {
				return h, fmt.Errorf("%w: rectangle outside the screen or larger than a tile", ErrCorrupt)
			}
			op.dst = image.Rect(int(x), int(y), int(x+cw), int(y+ch))
			budget -= int(cw * ch)
			h.rawLen += int(cw*ch) * 3
		case OpJPEG:
			if h.key {
				return h, fmt.Errorf("%w: JPEG in a keyframe", ErrCorrupt)
			}
			tileOps = true
			x, y, cw, ch, l := r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
			if r.err != nil {
				break
			}
			if cw == 0 || ch == 0 || x >= uint64(w) || y >= uint64(ht) || cw > uint64(w)-x || ch > uint64(ht)-y {
				return h, fmt.Errorf("%w: JPEG rectangle outside the screen", ErrCorrupt)
			}
			if l == 0 || l > uint64(len(r.b)) {
				return h, fmt.Errorf("%w: truncated JPEG", ErrCorrupt)
			}
			op.dst = image.Rect(int(x), int(y), int(x+cw), int(y+ch))
			op.jpeg, r.b = r.b[:l], r.b[l:]
			budget -= int(cw * ch)
		case OpAtlas:
			if h.key {
				return h, fmt.Errorf("%w: atlas in a keyframe", ErrCorrupt)
			}
			tileOps = true
			aw, np := r.uvarint(), r.uvarint()
			if r.err != nil {
				break
			}
			if aw == 0 || aw > uint64(w) || np == 0 || np > uint64(len(r.b)) {
				return h, fmt.Errorf("%w: %d-wide atlas with %d pieces", ErrCorrupt, aw, np)
			}
			first := len(pieces)
			var last image.Point
			for range np {
				dx, dy, cw, ch := r.varint(), r.varint(), r.uvarint(), r.uvarint()
				if r.err != nil {
					break
				}
				x, y := int64(last.X)+dx, int64(last.Y)+dy
				if x < 0 || y < 0 || x >= int64(w) || y >= int64(ht) ||
					cw >= uint64(w)-uint64(x) || ch >= uint64(ht)-uint64(y) || cw >= aw {
					return h, fmt.Errorf("%w: atlas piece outside the screen or wider than the atlas", ErrCorrupt)
				}
				last = image.Pt(int(x), int(y))
				pc := atlasPiece{dst: image.Rect(int(x), int(y), int(x)+int(cw)+1, int(y)+int(ch)+1)}
				budget -= pc.dst.Dx() * pc.dst.Dy()
				if budget < 0 {
					return h, fmt.Errorf("%w: ops write more than %d screens", ErrTooLarge, maxWorkFactor)
				}
				pieces = append(pieces, pc)
			}
			if r.err != nil {
				break
			}
			op.pieces = pieces[first:len(pieces):len(pieces)]
			dsts := make([]image.Rectangle, len(op.pieces))
			for i, pc := range op.pieces {
				dsts[i] = pc.dst
			}
			pos, packed, ah := packShelves(dsts, int(aw))
			for i := range op.pieces {
				op.pieces[i].at = pos[i]
			}
			op.aw, op.ah = int(aw), ah
			if packed != op.aw {
				return h, fmt.Errorf("%w: %d-wide atlas packs %d wide", ErrCorrupt, op.aw, packed)
			}
			if uint64(ah) > uint64(ht) || op.aw*op.ah > w*ht {
				return h, fmt.Errorf("%w: %dx%d atlas", ErrTooLarge, op.aw, op.ah)
			}
			budget -= op.aw * op.ah
			l := r.uvarint()
			if r.err != nil {
				break
			}
			if l == 0 || l > uint64(maxAtlasJPEG(op.aw, op.ah)) {
				return h, fmt.Errorf("%w: %d-byte atlas JPEG", ErrCorrupt, l)
			}
			op.jpegLen = int(l)
			h.rawLen += int(l)
		case OpFill, OpRaw, OpPalette:
			tileOps = true
			skip := r.uvarint()
			c := uint64(1)
			switch op.kind {
			case OpPalette:
				op.n = int(r.byte()) + 1
			default:
				c = r.uvarint() + 1
			}
			if op.kind == OpFill {
				op.rgb = [3]byte{r.byte(), r.byte(), r.byte()}
			}
			if r.err != nil {
				break
			}
			if skip >= uint64(n-next) || c > uint64(n-next)-skip || c == 0 {
				return h, fmt.Errorf("%w: tile run past %d tiles", ErrCorrupt, n)
			}
			op.tile, op.count = next+int(skip), int(c)
			next = op.tile + op.count
			for t := op.tile; t < next; t++ {
				rc := h.g.rect(t)
				px := rc.Dx() * rc.Dy()
				budget -= px
				switch op.kind {
				case OpRaw:
					h.rawLen += px * 3
				case OpPalette:
					h.rawLen += op.n*3 + px
				}
			}
		default:
			if r.err == nil {
				return h, fmt.Errorf("%w: unknown op %#x", ErrCorrupt, op.kind)
			}
		}
		if r.err != nil {
			return h, fmt.Errorf("%w: truncated op list", ErrCorrupt)
		}
		if budget < 0 {
			return h, fmt.Errorf("%w: ops write more than %d screens", ErrTooLarge, maxWorkFactor)
		}
		h.ops = append(h.ops, op)
	}
	raw := r.uint32()
	if r.err != nil {
		return h, fmt.Errorf("%w: truncated raw length", ErrCorrupt)
	}
	if uint64(raw) != uint64(h.rawLen) {
		return h, fmt.Errorf("%w: raw length %d, ops need %d", ErrCorrupt, raw, h.rawLen)
	}
	h.z = r.b
	if (len(h.z) == 0) != (h.rawLen == 0) {
		return h, fmt.Errorf("%w: %d bytes of zstd data for %d raw bytes", ErrCorrupt, len(h.z), h.rawLen)
	}
	return h, nil
}

// reader reads the op list; after the first error it returns zeros.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() { r.err, r.b = ErrCorrupt, nil }

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *reader) varint() int64 {
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *reader) uint32() uint32 {
	if len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// decodeV2 applies a version-2 payload.
func (d *Decoder) decodeV2(payload []byte) (Update, error) {
	h, err := parseV2(payload, d.lim, d.ops)
	d.ops = h.ops[:0]
	if err != nil {
		return Update{}, err
	}
	if !h.key {
		if err := d.checkDelta(h.g); err != nil {
			return Update{}, err
		}
	} else {
		if d.img == nil || d.img.Rect.Dx() != h.g.w || d.img.Rect.Dy() != h.g.h {
			d.img = nil
			d.img = image.NewRGBA(image.Rect(0, 0, h.g.w, h.g.h))
		}
		d.g = h.g
		d.ok = true
		d.needReset = true
	}
	if h.rawLen > 0 {
		d.feed.b = h.z
		if d.needReset {
			if err := d.zd.Reset(&d.feed); err != nil {
				return Update{}, fmt.Errorf("%w: zstd stream: %w", ErrCorrupt, err)
			}
			d.needReset = false
		}
	}
	g := d.g
	if cap(d.dirty) < g.n() {
		d.dirty = make([]bool, g.n())
	}
	dirty := d.dirty[:g.n()]
	clear(dirty)
	if need := g.ts*g.ts*3 + 256*3; cap(d.buf) < need {
		d.buf = make([]byte, need)
	}
	// COPY ops read the screen as it was before the payload: gather every
	// source first (the parser bounds their total to one screen).
	snap := d.snap[:0]
	for _, op := range h.ops {
		if op.kind != OpCopy {
			break
		}
		src := op.dst.Add(image.Pt(op.sx, op.sy))
		for y := src.Min.Y; y < src.Max.Y; y++ {
			p := d.img.PixOffset(src.Min.X, y)
			snap = append(snap, d.img.Pix[p:p+src.Dx()*4]...)
		}
	}
	d.snap = snap
	markRect := func(r image.Rectangle) {
		for ty := r.Min.Y / g.ts; ty*g.ts < r.Max.Y; ty++ {
			for tx := r.Min.X / g.ts; tx*g.ts < r.Max.X; tx++ {
				dirty[ty*g.tilesX+tx] = true
			}
		}
	}
	for _, op := range h.ops {
		switch op.kind {
		case OpCopy:
			n := op.dst.Dx() * 4
			for y := op.dst.Min.Y; y < op.dst.Max.Y; y++ {
				p := d.img.PixOffset(op.dst.Min.X, y)
				copy(d.img.Pix[p:p+n], snap[:n])
				snap = snap[n:]
			}
			markRect(op.dst)
		case OpJPEG:
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(op.jpeg))
			if err != nil {
				return Update{}, fmt.Errorf("%w: JPEG: %w", ErrCorrupt, err)
			}
			if cfg.Width != op.dst.Dx() || cfg.Height != op.dst.Dy() {
				return Update{}, fmt.Errorf("%w: %dx%d JPEG for a %v rectangle", ErrCorrupt, cfg.Width, cfg.Height, op.dst)
			}
			img, err := jpeg.Decode(bytes.NewReader(op.jpeg))
			if err != nil {
				return Update{}, fmt.Errorf("%w: JPEG: %w", ErrCorrupt, err)
			}
			if img.Bounds().Size() != op.dst.Size() {
				return Update{}, fmt.Errorf("%w: JPEG size changed", ErrCorrupt)
			}
			draw.Draw(d.img, op.dst, img, img.Bounds().Min, draw.Src)
			markRect(op.dst)
		case OpAtlas:
			if cap(d.jbuf) < op.jpegLen {
				d.jbuf = make([]byte, op.jpegLen)
			}
			buf := d.jbuf[:op.jpegLen]
			if _, err := io.ReadFull(d.zd, buf); err != nil {
				return Update{}, fmt.Errorf("%w: zstd stream: %w", ErrCorrupt, err)
			}
			// The size is checked before the pixels are allocated.
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(buf))
			if err != nil {
				return Update{}, fmt.Errorf("%w: atlas JPEG: %w", ErrCorrupt, err)
			}
			if cfg.Width != op.aw || cfg.Height != op.ah {
				return Update{}, fmt.Errorf("%w: %dx%d JPEG for a %dx%d atlas", ErrCorrupt, cfg.Width, cfg.Height, op.aw, op.ah)
			}
			img, err := jpeg.Decode(bytes.NewReader(buf))
			if err != nil {
				return Update{}, fmt.Errorf("%w: atlas JPEG: %w", ErrCorrupt, err)
			}
			if img.Bounds() != image.Rect(0, 0, op.aw, op.ah) {
				return Update{}, fmt.Errorf("%w: atlas JPEG size changed", ErrCorrupt)
			}
			for _, pc := range op.pieces {
				draw.Draw(d.img, pc.dst, img, pc.at, draw.Src)
				markRect(pc.dst)
			}
		case OpRect:
			r := op.dst
			buf := d.buf[:r.Dx()*r.Dy()*3]
			if _, err := io.ReadFull(d.zd, buf); err != nil {
				return Update{}, fmt.Errorf("%w: zstd stream: %w", ErrCorrupt, err)
			}
			d.putRaw(r, buf, h.predict)
			markRect(r)
		case OpFill:
			for t := op.tile; t < op.tile+op.count; t++ {
				dirty[t] = true
				r := g.rect(t)
				row := d.img.Pix[d.img.PixOffset(r.Min.X, r.Min.Y):][:r.Dx()*4]
				for x := 0; x < len(row); x += 4 {
					row[x], row[x+1], row[x+2], row[x+3] = op.rgb[0], op.rgb[1], op.rgb[2], 0xff
				}
				for y := r.Min.Y + 1; y < r.Max.Y; y++ {
					p := d.img.PixOffset(r.Min.X, y)
					copy(d.img.Pix[p:p+len(row)], row)
				}
			}
		case OpRaw:
			for t := op.tile; t < op.tile+op.count; t++ {
				dirty[t] = true
				r := g.rect(t)
				buf := d.buf[:r.Dx()*r.Dy()*3]
				if _, err := io.ReadFull(d.zd, buf); err != nil {
					return Update{}, fmt.Errorf("%w: zstd stream: %w", ErrCorrupt, err)
				}
				d.putRaw(r, buf, h.predict)
			}
		case OpPalette:
			t := op.tile
			dirty[t] = true
			r := g.rect(t)
			buf := d.buf[:op.n*3+r.Dx()*r.Dy()]
			if _, err := io.ReadFull(d.zd, buf); err != nil {
				return Update{}, fmt.Errorf("%w: zstd stream: %w", ErrCorrupt, err)
			}
			pal, idx := buf[:op.n*3], buf[op.n*3:]
			i := 0
			for y := r.Min.Y; y < r.Max.Y; y++ {
				row := d.img.Pix[d.img.PixOffset(r.Min.X, y):][:r.Dx()*4]
				for x := 0; x < len(row); x, i = x+4, i+1 {
					c := int(idx[i])
					if c >= op.n {
						return Update{}, fmt.Errorf("%w: palette index %d of %d", ErrCorrupt, c, op.n)
					}
					row[x], row[x+1], row[x+2], row[x+3] = pal[c*3], pal[c*3+1], pal[c*3+2], 0xff
				}
			}
		}
	}
	if len(d.feed.b) != 0 {
		return Update{}, fmt.Errorf("%w: %d bytes of zstd data left over", ErrCorrupt, len(d.feed.b))
	}
	u := Update{Keyframe: h.key}
	if h.key {
		for t, v := range dirty {
			if !v {
				return Update{}, fmt.Errorf("%w: keyframe leaves tile %d out", ErrCorrupt, t)
			}
		}
		u.Rects = []image.Rectangle{d.img.Rect}
		return u, nil
	}
	tiles := d.tiles[:0]
	for t, v := range dirty {
		if v {
			tiles = append(tiles, t)
		}
	}
	d.tiles = tiles
	u.Rects = g.rects(tiles)
	return u, nil
}

// putRaw writes the raw data of a RAW tile or RECT op at r: RGB pixels,
// or with FlagPredict MED residuals (see unpredictRGBA).
func (d *Decoder) putRaw(r image.Rectangle, buf []byte, predict bool) {
	p := d.img.PixOffset(r.Min.X, r.Min.Y)
	if predict {
		unpredictRGBA(d.img.Pix[p:], d.img.Stride, r.Dx(), r.Dy(), buf)
		return
	}
	rb := r.Dx() * 3
	for y := 0; y < r.Dy(); y++ {
		q := p + y*d.img.Stride
		rgbToRGBA(d.img.Pix[q:q+r.Dx()*4], buf[y*rb:][:rb])
	}
}
