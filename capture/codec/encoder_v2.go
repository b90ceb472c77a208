package codec

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"slices"

	"github.com/tandem-rc/tandem/capture"
)

const (
	// maxPalette is the most colours a PALETTE tile carries; tiles with more
	// go RAW.
	maxPalette = 16
	// motionProbes is how many damaged tiles probe for a scroll or move.
	motionProbes = 16
	// moveRange bounds a window move's |dx| and |dy| per frame; a vertical
	// scroll may shift by up to the screen height.
	moveRange = 96
	// minMotionTiles is the damage below which no motion is searched.
	minMotionTiles = 4
)

// encodeV2 writes a version-2 payload for tiles (all of them in a keyframe)
// and brings prev up to date. prev still holds the previous frame on entry
// for deltas.
func (e *Encoder) encodeV2(f *capture.Frame, key bool, tiles []int) ([]byte, error) {
	g := e.g
	ops := e.ops[:0]
	nops := 0
	if e.jpegQ > 0 || e.nLossy > 0 { // lossy tiles still need their refresh
		tiles = e.trackLossy(key, tiles)
		if len(tiles) == 0 { // only lossy tiles whose refinement waits
			e.moving = false
			return nil, nil
		}
	}
	rest := tiles
	var rects, atlas []image.Rectangle
	moved := false
	if !key && len(tiles) >= minMotionTiles {
		if s, ok := e.findMotion(f, tiles); ok {
			moved = true
			var copied []int
			copied, rest = e.verifyMotion(f, tiles, s, e.copied[:0], e.rest[:0])
			e.copied, e.rest = copied, rest
			if !e.motion {
				ops, nops = e.appendCopies(ops, nops, copied, s)
			}
			var subCopies []image.Rectangle
			rest, subCopies, rects = e.refine(f, rest, s)
			if e.motion { // one list: a moved window becomes a few copies
				subCopies = e.copyRects(subCopies, copied)
				// or one, when the box around them all moved whole.
				var box image.Rectangle
				subCopies, box = e.absorbCopies(f, subCopies, s)
				// Inside the box every pixel moved: nothing else to send.
				rects = subtract(rects, box)
				// Slivers are a smooth wallpaper's chance matches, not
				// the window: sent as pixels, they cost less than ops.
				keep := subCopies[:0]
				for _, r := range subCopies {
					if r.Dx() < minMovedRun || r.Dx()*r.Dy() < 4*minMovedRun {
						rects = append(rects, r)
					} else {
						keep = append(keep, r)
					}
				}
				subCopies = keep
				rects = coalesce(rects, subCopies)
			}
			// Fewer, larger ops: split blocks leave strips 16 pixels long.
			subCopies = mergeRects(subCopies, 0, 0)
			rects = mergeRects(rects, e.ts, e.ts)
			// Only now, every source checked against the screen as it was
			// before this payload, do the destinations become exact.
			for _, t := range copied {
				e.setLossy(t, false) // copied from lossless sources
			}
			for _, r := range subCopies {
				ops, nops = appendCopy(ops, nops, r, s)
				e.markLossy(r, false)
			}
			if e.motion && e.jpegQ > 0 && s.X != 0 {
				// Photographic pixels a window move uncovered go lossy.
				// Not a vertical scroll's: its new rows are mostly text,
				// whose dense lines the classifier cannot tell from a
				// picture in a strip a few rows high.
				keep := rects[:0]
				for _, r := range rects {
					if r.Dx()*r.Dy() >= minAtlasPixels && e.manyColours(f, r) {
						atlas = append(atlas, r)
					} else {
						keep = append(keep, r)
					}
				}
				rects = keep
				// Wider pieces, fewer of them: each costs its coordinates.
				atlas = mergeRects(atlas, atlasWidth, e.ts)
			}
		}
	}
	e.moving = moved

	// Where each damaged tile changed: a video's JPEG then covers the
	// video, not the still edges of the tiles around it.
	if e.motion && e.jpegQ > 0 && !key {
		if len(e.changed) != g.n() {
			e.changed = make([]image.Rectangle, g.n())
		}
		for _, t := range rest {
			e.changed[t] = e.changedBox(f, g.rect(t))
		}
	}
	// The decoder will hold f (or a JPEG of it) on every damaged tile: prev
	// takes f there. Nothing below reads prev; tiles may be filtered in place.
	if !key {
		rowBytes := g.w * 4
		for _, t := range tiles {
			r := g.rect(t)
			a, b := r.Min.X*4, r.Max.X*4
			for y := r.Min.Y; y < r.Max.Y; y++ {
				copy(e.prev[y*rowBytes+a:y*rowBytes+b], f.Pix[y*f.Stride+a:y*f.Stride+b])
			}
		}
	}

	var lossyTiles []int
	if e.jpegQ > 0 && !key {
		keep := rest[:0]
		for _, t := range rest {
			if e.streak[t] >= lossyStreak && e.photographic(f, g.rect(t)) {
				lossyTiles = append(lossyTiles, t)
			} else {
				keep = append(keep, t)
			}
		}
		rest = keep
		// Changing tiles next to lossy ones (the edges of a video, partly
		// covered by it) go lossy too, until they stop changing.
		if len(lossyTiles) > 0 {
			e.grow(lossyTiles)
			keep = rest[:0]
			for _, t := range rest {
				if e.streak[t] >= lossyStreak && e.near[t] {
					lossyTiles = append(lossyTiles, t)
				} else {
					keep = append(keep, t)
				}
			}
			rest = keep
			slices.Sort(lossyTiles)
		}
	}

	e.zbuf.Reset()
	raw := 0
	next := 0
	for i := 0; i < len(rest); {
		t := rest[i]
		r := g.rect(t)
		kind, ncol, rgb := e.classify(f, r)
		j := i + 1
		switch kind {
		case OpFill:
			for j < len(rest) && rest[j] == rest[j-1]+1 {
				k, _, c := e.classify(f, g.rect(rest[j]))
				if k != OpFill || c != rgb {
					break
				}
				j++
			}
			ops = append(ops, OpFill)
			ops = binary.AppendUvarint(ops, uint64(t-next))
			ops = binary.AppendUvarint(ops, uint64(j-i-1))
			ops = append(ops, rgb[0], rgb[1], rgb[2])
		case OpPalette:
			ops = append(ops, OpPalette)
			ops = binary.AppendUvarint(ops, uint64(t-next))
			ops = append(ops, byte(ncol-1))
			n, err := e.writePalette(f, r, ncol)
			if err != nil {
				return nil, e.streamErr(err)
			}
			raw += n
		default:
			// A run of RAW tiles: consecutive tiles that are neither solid
			// nor few-coloured.
			n, err := e.writeRaw(f, r)
			if err != nil {
				return nil, e.streamErr(err)
			}
			raw += n
			for j < len(rest) && rest[j] == rest[j-1]+1 {
				r2 := g.rect(rest[j])
				if k, _, _ := e.classify(f, r2); k != OpRaw {
					break
				}
				n, err := e.writeRaw(f, r2)
				if err != nil {
					return nil, e.streamErr(err)
				}
				raw += n
				j++
			}
			ops = append(ops, OpRaw)
			ops = binary.AppendUvarint(ops, uint64(t-next))
			ops = binary.AppendUvarint(ops, uint64(j-i-1))
		}
		nops++
		next = rest[j-1] + 1
		for _, t := range rest[i:j] {
			e.setLossy(t, false)
		}
		i = j
	}
	if e.motion {
		// Video rides in the atlas too: its JPEG headers then repeat in
		// the zstd window, not on the wire.
		var boxes []image.Rectangle
		for _, t := range lossyTiles {
			if b := e.changed[t]; !b.Empty() {
				boxes = append(boxes, b)
			}
		}
		atlas = append(atlas, mergeRects(boxes, 0, 0)...)
	} else {
		for _, r := range g.rects(lossyTiles) {
			var err error
			if ops, err = e.appendJPEG(ops, f, r); err != nil {
				return nil, err
			}
			nops++
		}
	}
	if !e.motion { // the atlas marks its pieces' pixels
		for _, t := range lossyTiles {
			e.setLossy(t, true)
		}
	}
	if len(atlas) > 0 {
		var err error
		var n int
		if ops, n, err = e.appendAtlas(ops, f, atlas); err != nil {
			return nil, err
		}
		if n > 0 {
			raw += n
			nops++
		} else { // no smaller than the pixels, or no atlas fits: lossless
			for _, r := range atlas {
				rects = appendTiled(rects, r, e.ts)
			}
		}
	}
	for _, r := range rects {
		e.markLossy(r, false)
		ops = append(ops, OpRect)
		ops = binary.AppendUvarint(ops, uint64(r.Min.X))
		ops = binary.AppendUvarint(ops, uint64(r.Min.Y))
		ops = binary.AppendUvarint(ops, uint64(r.Dx()))
		ops = binary.AppendUvarint(ops, uint64(r.Dy()))
		nops++
		n, err := e.writeRaw(f, r)
		if err != nil {
			return nil, e.streamErr(err)
		}
		raw += n
	}
	if raw > 0 {
		if err := e.zw.Flush(); err != nil {
			return nil, e.streamErr(err)
		}
	}
	e.ops = ops

	z := e.zbuf.Bytes()
	out := make([]byte, 0, headerLen+10+len(ops)+4+len(z))
	out = append(out, Magic, Version2, 0)
	if key {
		out[2] |= FlagKey
	}
	if e.predict {
		out[2] |= FlagPredict
	}
	out = binary.BigEndian.AppendUint16(out, uint16(f.Width))
	out = binary.BigEndian.AppendUint16(out, uint16(f.Height))
	out = binary.BigEndian.AppendUint16(out, uint16(e.ts))
	out = binary.AppendUvarint(out, uint64(nops))
	out = append(out, ops...)
	out = binary.BigEndian.AppendUint32(out, uint32(raw))
	out = append(out, z...)
	e.zbuf.Reset()
	return out, nil
}

func (e *Encoder) streamErr(err error) error {
	e.prev = nil // the stream is broken: restart with a keyframe
	return fmt.Errorf("codec: zstd: %w", err)
}

// classify reports how tile r of f is best sent: OpFill (with its colour),
// OpPalette (with its number of colours, the palette left in e.pal and
// e.palIdx) or OpRaw.
func (e *Encoder) classify(f *capture.Frame, r image.Rectangle) (kind byte, n int, rgb [3]byte) {
	e.palReset()
	last := uint32(1 << 31) // no colour
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := f.Pix[y*f.Stride+r.Min.X*4 : y*f.Stride+r.Max.X*4]
		for x := 0; x < len(row); x += 4 {
			c := uint32(row[x]) | uint32(row[x+1])<<8 | uint32(row[x+2])<<16
			if c == last {
				continue
			}
			last = c
			if _, ok := e.palLookup(c); ok {
				continue
			}
			if len(e.pal) == maxPalette {
				return OpRaw, 0, rgb
			}
			e.palAdd(c)
		}
	}
	c := e.pal[0]
	if len(e.pal) == 1 {
		return OpFill, 1, [3]byte{byte(c >> 16), byte(c >> 8), byte(c)}
	}
	// A palette tile is worth it when it shrinks the raw bytes at least
	// twofold; otherwise RAW keeps cross-tile matches in the zstd stream.
	px := r.Dx() * r.Dy()
	if len(e.pal)*3+px > px*3/2 {
		return OpRaw, 0, rgb
	}
	return OpPalette, len(e.pal), rgb
}

// Palette hash: open addressing over palKeys (colour | 1<<31 when used).
const palSlots = 1024

func (e *Encoder) palReset() {
	for _, s := range e.palUsed {
		e.palKeys[s] = 0
	}
	e.palUsed = e.palUsed[:0]
	e.pal = e.pal[:0]
}

func palHash(c uint32) int { return int((c * 0x9E3779B1) >> 22) }

func (e *Encoder) palLookup(c uint32) (byte, bool) {
	for s := palHash(c); ; s = (s + 1) & (palSlots - 1) {
		k := e.palKeys[s]
		if k == 0 {
			return 0, false
		}
		if k == c|1<<31 {
			return e.palVals[s], true
		}
	}
}

func (e *Encoder) palAdd(c uint32) {
	s := palHash(c)
	for e.palKeys[s] != 0 {
		s = (s + 1) & (palSlots - 1)
	}
	e.palKeys[s] = c | 1<<31
	e.palVals[s] = byte(len(e.pal))
	e.palUsed = append(e.palUsed, s)
	e.pal = append(e.pal, c)
}

// writePalette writes the palette (from the preceding classify) and the
// tile's indices to the zstd stream.
func (e *Encoder) writePalette(f *capture.Frame, r image.Rectangle, n int) (int, error) {
	need := n*3 + r.Dx()*r.Dy()
	if cap(e.scratch) < need {
		e.scratch = make([]byte, max(need, e.ts*e.ts*3))
	}
	buf := e.scratch[:need]
	for i, c := range e.pal[:n] {
		buf[i*3], buf[i*3+1], buf[i*3+2] = byte(c>>16), byte(c>>8), byte(c)
	}
	o := n * 3
	last, li := uint32(1<<31), byte(0)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := f.Pix[y*f.Stride+r.Min.X*4 : y*f.Stride+r.Max.X*4]
		for x := 0; x < len(row); x += 4 {
			c := uint32(row[x]) | uint32(row[x+1])<<8 | uint32(row[x+2])<<16
			if c != last {
				last = c
				li, _ = e.palLookup(c)
			}
			buf[o] = li
			o++
		}
	}
	_, err := e.zw.Write(buf)
	return need, err
}

// writeRaw writes tile r as RGB to the zstd stream.
func (e *Encoder) writeRaw(f *capture.Frame, r image.Rectangle) (int, error) {
	need := r.Dx() * r.Dy() * 3
	if cap(e.scratch) < need {
		e.scratch = make([]byte, max(need, e.ts*e.ts*3))
	}
	buf := e.scratch[:need]
	if e.predict {
		predictBGRX(buf, f.Pix[r.Min.Y*f.Stride+r.Min.X*4:], f.Stride, r.Dx(), r.Dy())
	} else {
		o := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			o += bgrxToRGB(buf[o:], f.Pix[y*f.Stride+r.Min.X*4:y*f.Stride+r.Max.X*4])
		}
	}
	_, err := e.zw.Write(buf)
	return need, err
}

// findMotion looks for one translation s (a copy source offset: the
// content now at p was at p+s in the previous frame) shared by the damaged
// tiles: a vertical scroll (s.X == 0, any s.Y) or a move (|s| <= moveRange).
// Probes are short, non-uniform pixel runs of damaged tiles, looked up in
// the previous frame; offsets found by several probes are candidates, and
// the one that verifies on the most tiles wins.
func (e *Encoder) findMotion(f *capture.Frame, tiles []int) (image.Point, bool) {
	g := e.g
	rowBytes := g.w * 4
	clear(e.votes)
	if e.votes == nil {
		e.votes = map[image.Point]int{}
	}
	step := max(len(tiles)/motionProbes, 1)
	var hits []image.Point
	for i := 0; i < len(tiles); i += step {
		r := g.rect(tiles[i])
		L := min(32, r.Dx())
		if L < 8 {
			continue
		}
		// The probe: the first row of the tile (from a third of the way
		// down) whose first L pixels are not all one colour.
		py := -1
		for y := r.Min.Y + r.Dy()/3; y < r.Max.Y; y++ {
			seg := f.Pix[y*f.Stride+r.Min.X*4 : y*f.Stride+(r.Min.X+L)*4]
			if !uniform(seg) {
				py = y
				break
			}
		}
		if py < 0 {
			continue
		}
		px := r.Min.X
		probe := f.Pix[py*f.Stride+px*4 : py*f.Stride+(px+L)*4]
		// Check the first pixel that differs from the first one before the
		// whole run: on text it is the rarer colour.
		k := 4
		for binary.LittleEndian.Uint32(probe[k:])&0xffffff == binary.LittleEndian.Uint32(probe)&0xffffff {
			k += 4
		}
		pk := binary.LittleEndian.Uint32(probe[k:])
		hits = hits[:0]
		match := func(x, y int) {
			o := y*rowBytes + x*4
			if binary.LittleEndian.Uint32(e.prev[o+k:]) == pk && bytes.Equal(e.prev[o:o+L*4], probe) {
				hits = append(hits, image.Pt(x-px, y-py))
			}
		}
		for y := range g.h { // vertical scroll
			if y != py {
				match(px, y)
			}
		}
		for y := max(py-moveRange, 0); y <= min(py+moveRange, g.h-1); y++ {
			for x := max(px-moveRange, 0); x <= min(px+moveRange, g.w-L); x++ {
				if x != px {
					match(x, y)
				}
			}
		}
		if len(hits) == 0 || len(hits) > 8 {
			continue // no match, or too ambiguous to vote
		}
		for _, h := range hits {
			e.votes[h]++
		}
	}
	type cand struct {
		s image.Point
		n int
	}
	var cands []cand
	for s, n := range e.votes {
		if n >= 2 {
			cands = append(cands, cand{s, n})
		}
	}
	if len(cands) == 0 {
		return image.Point{}, false
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.n != b.n {
			return b.n - a.n
		}
		if a.s.Y != b.s.Y {
			return a.s.Y - b.s.Y
		}
		return a.s.X - b.s.X
	})
	best, bestN := image.Point{}, 0
	for _, c := range cands[:min(len(cands), 3)] {
		if n := e.countMotion(f, tiles, c.s); n > bestN {
			best, bestN = c.s, n
		}
	}
	return best, bestN > 0
}

func uniform(seg []byte) bool {
	p := binary.LittleEndian.Uint32(seg) & 0xffffff
	for i := 4; i+4 <= len(seg); i += 4 {
		if binary.LittleEndian.Uint32(seg[i:])&0xffffff != p {
			return false
		}
	}
	return true
}

// tileMoved reports whether tile r of f equals the previous frame at r+s.
func (e *Encoder) tileMoved(f *capture.Frame, r image.Rectangle, s image.Point) bool {
	src := r.Add(s)
	if src.Min.X < 0 || src.Min.Y < 0 || src.Max.X > e.g.w || src.Max.Y > e.g.h || e.touchesLossy(src) {
		return false
	}
	rowBytes := e.g.w * 4
	n := r.Dx() * 4
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := (y+s.Y)*rowBytes + src.Min.X*4
		if !bytes.Equal(f.Pix[y*f.Stride+r.Min.X*4:][:n], e.prev[o:o+n]) {
			return false
		}
	}
	return true
}

func (e *Encoder) countMotion(f *capture.Frame, tiles []int, s image.Point) int {
	n := 0
	for _, t := range tiles {
		if e.tileMoved(f, e.g.rect(t), s) {
			n++
		}
	}
	return n
}

// verifyMotion splits tiles into those that are a copy of the previous
// frame at offset s and the rest.
func (e *Encoder) verifyMotion(f *capture.Frame, tiles []int, s image.Point, copied, rest []int) ([]int, []int) {
	for _, t := range tiles {
		if e.tileMoved(f, e.g.rect(t), s) {
			copied = append(copied, t)
		} else {
			rest = append(rest, t)
		}
	}
	return copied, rest
}

// appendCopies appends COPY ops for the copied tiles (sorted), one per run
// of adjacent tiles in a tile row.
func (e *Encoder) appendCopies(ops []byte, nops int, copied []int, s image.Point) ([]byte, int) {
	g := e.g
	for i := 0; i < len(copied); {
		j := i + 1
		for j < len(copied) && copied[j] == copied[j-1]+1 && copied[j]/g.tilesX == copied[i]/g.tilesX {
			j++
		}
		ops, nops = appendCopy(ops, nops, g.rect(copied[i]).Union(g.rect(copied[j-1])), s)
		i = j
	}
	return ops, nops
}

// absorbCopies grows the largest copy rectangle over the others while
// the box around them moved whole (a window's edges split into many small
// copies otherwise), and returns the copies (the box and the parts of the
// others outside it) and the box.
func (e *Encoder) absorbCopies(f *capture.Frame, rs []image.Rectangle, s image.Point) ([]image.Rectangle, image.Rectangle) {
	if len(rs) == 0 {
		return rs, image.Rectangle{}
	}
	if len(rs) == 1 {
		return rs, rs[0]
	}
	slices.SortFunc(rs, func(a, b image.Rectangle) int { return b.Dx()*b.Dy() - a.Dx()*a.Dy() })
	acc := rs[0]
	out := rs[1:1]
	for _, r := range rs[1:] {
		if r.In(acc) {
			continue
		}
		if u := acc.Union(r); e.movedAround(f, u, acc, s) {
			acc = u
			continue
		}
		out = append(out, r)
	}
	return append(subtract(out, acc), acc), acc
}

// subtract returns the parts of rs outside a.
func subtract(rs []image.Rectangle, a image.Rectangle) []image.Rectangle {
	out := rs[:0:0]
	for _, r := range rs {
		if !r.Overlaps(a) {
			out = append(out, r)
			continue
		}
		i := r.Intersect(a)
		for _, p := range []image.Rectangle{
			image.Rect(r.Min.X, r.Min.Y, r.Max.X, i.Min.Y), // above
			image.Rect(r.Min.X, i.Max.Y, r.Max.X, r.Max.Y), // below
			image.Rect(r.Min.X, i.Min.Y, i.Min.X, i.Max.Y), // left
			image.Rect(i.Max.X, i.Min.Y, r.Max.X, i.Max.Y), // right
		} {
			if !p.Empty() {
				out = append(out, p)
			}
		}
	}
	return out
}

// movedAround reports whether u (which contains acc, already known to
// have moved) equals the previous frame at u+s outside acc, its source
// inside the screen and holding no lossy pixel.
func (e *Encoder) movedAround(f *capture.Frame, u, acc image.Rectangle, s image.Point) bool {
	src := u.Add(s)
	if src.Min.X < 0 || src.Min.Y < 0 || src.Max.X > e.g.w || src.Max.Y > e.g.h || e.touchesLossy(src) {
		return false
	}
	rowBytes := e.g.w * 4
	same := func(y, x0, x1 int) bool {
		if x0 >= x1 {
			return true
		}
		o := (y+s.Y)*rowBytes + (x0+s.X)*4
		return bytes.Equal(f.Pix[y*f.Stride+x0*4:y*f.Stride+x1*4], e.prev[o:o+(x1-x0)*4])
	}
	for y := u.Min.Y; y < u.Max.Y; y++ {
		if y >= acc.Min.Y && y < acc.Max.Y {
			if !same(y, u.Min.X, acc.Min.X) || !same(y, acc.Max.X, u.Max.X) {
				return false
			}
		} else if !same(y, u.Min.X, u.Max.X) {
			return false
		}
	}
	return true
}

// copyRects appends the copied tiles (sorted) to rs as row runs.
func (e *Encoder) copyRects(rs []image.Rectangle, copied []int) []image.Rectangle {
	g := e.g
	for i := 0; i < len(copied); {
		j := i + 1
		for j < len(copied) && copied[j] == copied[j-1]+1 && copied[j]/g.tilesX == copied[i]/g.tilesX {
			j++
		}
		rs = append(rs, g.rect(copied[i]).Union(g.rect(copied[j-1])))
		i = j
	}
	return rs
}

func appendCopy(ops []byte, nops int, r image.Rectangle, s image.Point) ([]byte, int) {
	ops = append(ops, OpCopy)
	ops = binary.AppendUvarint(ops, uint64(r.Min.X))
	ops = binary.AppendUvarint(ops, uint64(r.Min.Y))
	ops = binary.AppendUvarint(ops, uint64(r.Dx()))
	ops = binary.AppendUvarint(ops, uint64(r.Dy()))
	ops = binary.AppendVarint(ops, int64(s.X))
	ops = binary.AppendVarint(ops, int64(s.Y))
	return ops, nops + 1
}

// subBlock is the cell size in which refine splits the damaged tiles that
// a scroll or move does not cover whole.
const subBlock = 16

// Sub-block states.
const (
	subSame  = iota // unchanged since the previous frame
	subMoved        // the previous frame's content at offset s
	subNew          // neither: sent raw
	subSplit        // split by splitBlock into its own copies and rects
)

// refine splits tiles that the motion s does not cover whole into
// sub-blocks: unchanged ones are left alone, moved ones become copies
// (runs within a sub-block row) and the rest raw rectangles. Tiles with no
// unchanged or moved sub-block stay whole tiles (returned in keep).
func (e *Encoder) refine(f *capture.Frame, tiles []int, s image.Point) (keep []int, copies, rects []image.Rectangle) {
	g := e.g
	keep = tiles[:0] // tiles is e.rest: filtered in place
	var state []int
	for _, t := range tiles {
		r := g.rect(t)
		if r.Dx() <= subBlock && r.Dy() <= subBlock {
			keep = append(keep, t)
			continue
		}
		state = state[:0]
		useful := false
		var splitCopies, splitRects []image.Rectangle
		for y := r.Min.Y; y < r.Max.Y; y += subBlock {
			for x := r.Min.X; x < r.Max.X; x += subBlock {
				b := image.Rect(x, y, min(x+subBlock, r.Max.X), min(y+subBlock, r.Max.Y))
				st := subNew
				switch {
				case e.blockMoved(f, b, image.Point{}):
					st = subSame
				case e.blockMoved(f, b, s):
					st = subMoved
				default:
					// A block across a window's edge: part of it moved
					// or stayed; only the rest goes raw.
					if c, r, ok := e.splitBlock(f, b, s); ok {
						st = subSplit
						splitCopies, splitRects = append(splitCopies, c...), append(splitRects, r...)
					}
				}
				useful = useful || st != subNew
				state = append(state, st)
			}
		}
		if !useful || e.nLossy > 0 && e.refresh[t] {
			keep = append(keep, t)
			continue
		}
		copies, rects = append(copies, splitCopies...), append(rects, splitRects...)
		bw := (r.Dx() + subBlock - 1) / subBlock
		for i := 0; i < len(state); {
			j := i + 1
			for j < len(state) && j%bw != 0 && state[j] == state[i] {
				j++
			}
			x0, y0 := r.Min.X+i%bw*subBlock, r.Min.Y+i/bw*subBlock
			run := image.Rect(x0, y0, min(x0+(j-i)*subBlock, r.Max.X), min(y0+subBlock, r.Max.Y))
			switch state[i] {
			case subMoved:
				copies = append(copies, run)
			case subNew:
				rects = append(rects, run)
			}
			i = j
		}
	}
	return keep, copies, rects
}

// splitBlock splits block b by columns, then the changed column runs by
// rows, into the parts that are unchanged, moved by s (copies) and new
// (rects): window edges are straight, so a block they cross splits into a
// few strips. It reports false when nothing in b is unchanged or moved.
func (e *Encoder) splitBlock(f *capture.Frame, b image.Rectangle, s image.Point) (copies, rects []image.Rectangle, ok bool) {
	src := b.Add(s)
	canMove := src.Min.X >= 0 && src.Min.Y >= 0 && src.Max.X <= e.g.w && src.Max.Y <= e.g.h
	if canMove && e.touchesLossy(src) {
		// Lossy pixels near the move (the strip it uncovered last frame):
		// only a pixel-exact split keeps the text beside them exact.
		return e.splitBlockPx(f, b, s)
	}
	rowBytes := e.g.w * 4
	px := func(x, y int) uint32 { return binary.LittleEndian.Uint32(f.Pix[y*f.Stride+x*4:]) & 0xffffff }
	old := func(x, y int) uint32 { return binary.LittleEndian.Uint32(e.prev[y*rowBytes+x*4:]) & 0xffffff }
	// state of the pixels in r: subSame, subMoved or subNew.
	state := func(r image.Rectangle) int {
		same, moved := true, canMove
		for y := r.Min.Y; y < r.Max.Y && (same || moved); y++ {
			for x := r.Min.X; x < r.Max.X && (same || moved); x++ {
				p := px(x, y)
				same = same && p == old(x, y)
				moved = moved && p == old(x+s.X, y+s.Y)
			}
		}
		switch {
		case same:
			return subSame
		case moved:
			return subMoved
		}
		return subNew
	}
	emit := func(r image.Rectangle, st int) {
		switch st {
		case subMoved:
			copies = append(copies, r)
		case subNew:
			rects = append(rects, r)
		}
		ok = ok || st != subNew
	}
	// runs groups the lines of [lo, hi) by state, calling fn per run.
	runs := func(lo, hi int, line func(int) image.Rectangle, fn func(a, b, st int)) {
		for a := lo; a < hi; {
			st := state(line(a))
			c := a + 1
			for c < hi && state(line(c)) == st {
				c++
			}
			fn(a, c, st)
			a = c
		}
	}
	runs(b.Min.X, b.Max.X, func(x int) image.Rectangle { return image.Rect(x, b.Min.Y, x+1, b.Max.Y) }, func(x0, x1, st int) {
		if st != subNew {
			emit(image.Rect(x0, b.Min.Y, x1, b.Max.Y), st)
			return
		}
		runs(b.Min.Y, b.Max.Y, func(y int) image.Rectangle { return image.Rect(x0, y, x1, y+1) }, func(y0, y1, st int) {
			emit(image.Rect(x0, y0, x1, y1), st)
		})
	})
	return copies, rects, ok
}

// coalesce replaces the new-pixel fragments within each sub-block by
// their bounding box when it overlaps no copy: in a flat wallpaper a
// move leaves unchanged pixels among the new ones, and one rectangle (its
// unchanged pixels resent) costs less than many ops.
func coalesce(rects, copies []image.Rectangle) []image.Rectangle {
	if len(rects) < 2 {
		return rects
	}
	key := func(r image.Rectangle) image.Point { return image.Pt(r.Min.X/subBlock, r.Min.Y/subBlock) }
	slices.SortStableFunc(rects, func(a, b image.Rectangle) int {
		ka, kb := key(a), key(b)
		return cmp.Or(ka.Y-kb.Y, ka.X-kb.X)
	})
	out := make([]image.Rectangle, 0, len(rects))
	for i := 0; i < len(rects); {
		j, bb := i+1, rects[i]
		for j < len(rects) && key(rects[j]) == key(rects[i]) {
			bb = bb.Union(rects[j])
			j++
		}
		if j-i > 1 && !slices.ContainsFunc(copies, bb.Overlaps) {
			out = append(out, bb)
		} else {
			out = append(out, rects[i:j]...)
		}
		i = j
	}
	return out
}

// minMovedRun is the shortest run of moved pixels splitBlockPx copies.
const minMovedRun = 4

// splitBlockPx is splitBlock pixel by pixel, for a block whose source
// holds lossy pixels (never a copy source): each row's runs of moved and
// new pixels, merged down the block where they line up.
func (e *Encoder) splitBlockPx(f *capture.Frame, b image.Rectangle, s image.Point) (copies, rects []image.Rectangle, ok bool) {
	g := e.g
	rowBytes := g.w * 4
	state := func(x, y int) int {
		p := binary.LittleEndian.Uint32(f.Pix[y*f.Stride+x*4:]) & 0xffffff
		if p == binary.LittleEndian.Uint32(e.prev[y*rowBytes+x*4:])&0xffffff {
			return subSame
		}
		sx, sy := x+s.X, y+s.Y
		if !e.lossyPx[sy*g.w+sx] && p == binary.LittleEndian.Uint32(e.prev[sy*rowBytes+sx*4:])&0xffffff {
			return subMoved
		}
		return subNew
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; {
			st := state(x, y)
			x1 := x + 1
			for x1 < b.Max.X && state(x1, y) == st {
				x1++
			}
			if st == subMoved && x1-x < minMovedRun {
				st = subNew // a smooth wallpaper's chance match, not the window
			}
			switch st {
			case subMoved:
				copies = append(copies, image.Rect(x, y, x1, y+1))
				ok = true
			case subNew:
				rects = append(rects, image.Rect(x, y, x1, y+1))
			default:
				ok = true
			}
			x = x1
		}
	}
	return mergeRects(copies, 0, 0), mergeRects(rects, 0, 0), ok
}

// blockMoved reports whether rectangle b of f equals the previous frame at
// b+s.
func (e *Encoder) blockMoved(f *capture.Frame, b image.Rectangle, s image.Point) bool {
	src := b.Add(s)
	if src.Min.X < 0 || src.Min.Y < 0 || src.Max.X > e.g.w || src.Max.Y > e.g.h || s != (image.Point{}) && e.touchesLossy(src) {
		return false
	}
	rowBytes := e.g.w * 4
	n := b.Dx() * 4
	for y := b.Min.Y; y < b.Max.Y; y++ {
		o := (y+s.Y)*rowBytes + src.Min.X*4
		if !bytes.Equal(f.Pix[y*f.Stride+b.Min.X*4:][:n], e.prev[o:o+n]) {
			return false
		}
	}
	return true
}

// lossyStreak is how many consecutive changed frames make a
// photographic tile lossy.
const lossyStreak = 2

// trackLossy updates the change streaks and adds to tiles (sorted) the
// lossy tiles due for their lossless refinement: unchanged for refineAfter
// frames, and, while a move or scroll goes on, within the refine budget.
func (e *Encoder) trackLossy(key bool, tiles []int) []int {
	n := e.g.n()
	if key || len(e.streak) != n {
		e.streak = make([]uint8, n)
		e.still = make([]uint8, n)
		e.lossy = make([]bool, n)
		e.refresh = make([]bool, n)
		e.lossyCnt = make([]int32, n)
		e.lossyPx = nil // allocated by the first lossy pixel
		e.nLossy = 0
	}
	clear(e.refresh)
	hold := e.moving && len(tiles) > 0
	budget := int(e.refineBudget.Load())
	j := 0
	var out []int
	for t := range n {
		if j < len(tiles) && tiles[j] == t {
			e.streak[t] = min(e.streak[t]+1, 255)
			e.still[t] = 0
			out = append(out, t)
			j++
			continue
		}
		e.streak[t] = 0
		e.still[t] = min(e.still[t]+1, 255)
		if !e.lossy[t] || int(e.still[t]) < e.refineAfter {
			continue
		}
		if hold {
			if budget == 0 {
				continue
			}
			budget--
		}
		e.refresh[t] = true
		out = append(out, t)
	}
	return out
}

// setLossy marks every pixel of tile t lossy (v) or exact.
func (e *Encoder) setLossy(t int, v bool) {
	if e.lossy == nil || !v && !e.lossy[t] {
		return
	}
	e.markLossy(e.g.rect(t), v)
}

// markLossy marks the pixels of r lossy (v) or exact and keeps the tile
// counts.
func (e *Encoder) markLossy(r image.Rectangle, v bool) {
	if e.lossy == nil || !v && e.nLossy == 0 {
		return
	}
	g := e.g
	if e.lossyPx == nil {
		if !v {
			return
		}
		e.lossyPx = make([]bool, g.w*g.h)
	}
	for ty := r.Min.Y / g.ts; ty*g.ts < r.Max.Y; ty++ {
		for tx := r.Min.X / g.ts; tx*g.ts < r.Max.X; tx++ {
			t := ty*g.tilesX + tx
			if !v && e.lossyCnt[t] == 0 {
				continue
			}
			c := r.Intersect(g.rect(t))
			d := int32(0)
			for y := c.Min.Y; y < c.Max.Y; y++ {
				row := e.lossyPx[y*g.w+c.Min.X : y*g.w+c.Max.X]
				for x, l := range row {
					if l != v {
						row[x] = v
						d++
					}
				}
			}
			if !v {
				d = -d
			}
			was := e.lossyCnt[t] > 0
			e.lossyCnt[t] += d
			if now := e.lossyCnt[t] > 0; now != was {
				e.lossy[t] = now
				if now {
					e.nLossy++
				} else {
					e.nLossy--
				}
			}
		}
	}
}

// touchesLossy reports whether r holds a lossy pixel.
func (e *Encoder) touchesLossy(r image.Rectangle) bool {
	if e.nLossy == 0 {
		return false
	}
	g := e.g
	for ty := r.Min.Y / g.ts; ty*g.ts < r.Max.Y; ty++ {
		for tx := r.Min.X / g.ts; tx*g.ts < r.Max.X; tx++ {
			t := ty*g.tilesX + tx
			if !e.lossy[t] {
				continue
			}
			c := r.Intersect(g.rect(t))
			for y := c.Min.Y; y < c.Max.Y; y++ {
				if slices.Contains(e.lossyPx[y*g.w+c.Min.X:y*g.w+c.Max.X], true) {
					return true
				}
			}
		}
	}
	return false
}

// manyColours reports whether r looks like neither text nor UI, the
// classifier that keeps them lossless: more colours than a PALETTE tile
// holds and no colour covering half of it (anti-aliased text has many
// colours, but its background dominates), so uncovered pixels go lossy.
func (e *Encoder) manyColours(f *capture.Frame, r image.Rectangle) bool {
	top, more := e.countColours(f, r)
	return more || len(e.pal) > maxPalette && top*2 < r.Dx()*r.Dy()
}

// photographic reports whether tile r looks like a photo or video frame:
// more than 256 colours, or more than 32 with no colour covering half the
// tile. (Anti-aliased text has up to a few hundred colours, but its
// background dominates.)
func (e *Encoder) photographic(f *capture.Frame, r image.Rectangle) bool {
	top, more := e.countColours(f, r)
	if more {
		return true
	}
	if len(e.pal) <= min(32, r.Dx()*r.Dy()/8) { // uncovered strips are small
		return false
	}
	return top*2 < r.Dx()*r.Dy()
}

// countColours leaves r's colours in e.pal and returns how many pixels
// the most common one covers, or more set when r has over 256 colours
// (it then stops counting).
func (e *Encoder) countColours(f *capture.Frame, r image.Rectangle) (top int, more bool) {
	const many = 256
	e.palReset()
	counts := e.palCount[:0]
	defer func() { e.palCount = counts }()
	last, li := uint32(1<<31), 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := f.Pix[y*f.Stride+r.Min.X*4 : y*f.Stride+r.Max.X*4]
		for x := 0; x < len(row); x += 4 {
			c := uint32(row[x]) | uint32(row[x+1])<<8 | uint32(row[x+2])<<16
			if c != last {
				last = c
				i, ok := e.palLookup(c)
				if !ok {
					if len(e.pal) == many {
						return 0, true
					}
					i = byte(len(e.pal))
					e.palAdd(c)
					counts = append(counts, 0)
				}
				li = int(i)
			}
			counts[li]++
		}
	}
	return slices.Max(counts), false
}

// appendJPEG appends a JPEG op for rectangle r of f.
func (e *Encoder) appendJPEG(ops []byte, f *capture.Frame, r image.Rectangle) ([]byte, error) {
	if e.rgba == nil || e.rgba.Rect.Dx() < r.Dx() || e.rgba.Rect.Dy() < r.Dy() {
		e.rgba = image.NewRGBA(image.Rect(0, 0, max(r.Dx(), e.g.w), max(r.Dy(), e.g.h)))
	}
	img := e.rgba.SubImage(image.Rect(0, 0, r.Dx(), r.Dy())).(*image.RGBA)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		src := f.Pix[y*f.Stride+r.Min.X*4 : y*f.Stride+r.Max.X*4]
		dst := img.Pix[img.PixOffset(0, y-r.Min.Y):][:len(src)]
		for x := 0; x < len(src); x += 4 {
			dst[x], dst[x+1], dst[x+2], dst[x+3] = src[x+2], src[x+1], src[x], 0xff
		}
	}
	e.jpegBuf.Reset()
	if err := jpeg.Encode(&e.jpegBuf, img, &jpeg.Options{Quality: e.jpegQ}); err != nil {
		return ops, fmt.Errorf("codec: jpeg: %w", err)
	}
	ops = append(ops, OpJPEG)
	ops = binary.AppendUvarint(ops, uint64(r.Min.X))
	ops = binary.AppendUvarint(ops, uint64(r.Min.Y))
	ops = binary.AppendUvarint(ops, uint64(r.Dx()))
	ops = binary.AppendUvarint(ops, uint64(r.Dy()))
	ops = binary.AppendUvarint(ops, uint64(e.jpegBuf.Len()))
	return append(ops, e.jpegBuf.Bytes()...), nil
}

// changedBox is the bounding box of r's pixels that differ from prev.
func (e *Encoder) changedBox(f *capture.Frame, r image.Rectangle) image.Rectangle {
	rowBytes := e.g.w * 4
	box := image.Rectangle{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		cur := f.Pix[y*f.Stride+r.Min.X*4 : y*f.Stride+r.Max.X*4]
		old := e.prev[y*rowBytes+r.Min.X*4 : y*rowBytes+r.Max.X*4]
		if bytes.Equal(cur, old) {
			continue
		}
		x0, x1 := 0, len(cur)/4
		for x0 < x1 && binary.LittleEndian.Uint32(cur[x0*4:])&0xffffff == binary.LittleEndian.Uint32(old[x0*4:])&0xffffff {
			x0++
		}
		for x1 > x0 && binary.LittleEndian.Uint32(cur[x1*4-4:])&0xffffff == binary.LittleEndian.Uint32(old[x1*4-4:])&0xffffff {
			x1--
		}
		if x0 < x1 {
			box = box.Union(image.Rect(r.Min.X+x0, y, r.Min.X+x1, y+1))
		}
	}
	return box
}

// appendTiled appends r cut into pieces at most ts on a side (RECT ops'
// bound).
func appendTiled(rs []image.Rectangle, r image.Rectangle, ts int) []image.Rectangle {
	for y := r.Min.Y; y < r.Max.Y; y += ts {
		for x := r.Min.X; x < r.Max.X; x += ts {
			rs = append(rs, image.Rect(x, y, min(x+ts, r.Max.X), min(y+ts, r.Max.Y)))
		}
	}
	return rs
}

// minAtlasPixels is the smallest uncovered rectangle worth a lossy piece.
const minAtlasPixels = 16

// atlasWidth is the width the atlas' shelves fill before a new one starts.
const atlasWidth = 256

// appendAtlas packs the rectangles rs of f into one image (shelves of
// pieces, tallest first), appends an ATLAS op for it and writes its JPEG to
// the zstd stream; it returns the bytes written there, or 0 (and ops
// unchanged) when the JPEG is no smaller than the raw pixels.
func (e *Encoder) appendAtlas(ops []byte, f *capture.Frame, rs []image.Rectangle) ([]byte, int, error) {
	// Tallest first: the order the op lists them in.
	slices.SortStableFunc(rs, func(a, b image.Rectangle) int { return b.Dy() - a.Dy() })
	width := min(atlasWidth, e.g.w) // the decoder's bound: aw <= the screen's width
	for _, r := range rs {
		width = max(width, r.Dx())
	}
	pos, aw, ah := packShelves(rs, width)
	if aw > e.g.w || ah > e.g.h || aw*ah > e.g.w*e.g.h { // the decoder's bounds
		return ops, 0, nil
	}
	img := image.NewRGBA(image.Rect(0, 0, aw, ah))
	for i := range img.Pix {
		img.Pix[i] = 0x80 // grey gaps: flat blocks cost little
	}
	for i, r := range rs {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			src := f.Pix[y*f.Stride+r.Min.X*4 : y*f.Stride+r.Max.X*4]
			dst := img.Pix[img.PixOffset(pos[i].X, pos[i].Y+y-r.Min.Y):][:len(src)]
			for x := 0; x < len(src); x += 4 {
				dst[x], dst[x+1], dst[x+2], dst[x+3] = src[x+2], src[x+1], src[x], 0xff
			}
		}
	}
	e.jpegBuf.Reset()
	if err := jpeg.Encode(&e.jpegBuf, img, &jpeg.Options{Quality: e.jpegQ}); err != nil {
		return ops, 0, fmt.Errorf("codec: jpeg: %w", err)
	}
	px := 0
	for _, r := range rs {
		px += r.Dx() * r.Dy()
	}
	if e.jpegBuf.Len() >= px*3 || e.jpegBuf.Len() > maxAtlasJPEG(aw, ah) {
		return ops, 0, nil
	}
	ops = append(ops, OpAtlas)
	ops = binary.AppendUvarint(ops, uint64(aw))
	ops = binary.AppendUvarint(ops, uint64(len(rs)))
	var last image.Point
	for _, r := range rs {
		ops = binary.AppendVarint(ops, int64(r.Min.X-last.X))
		ops = binary.AppendVarint(ops, int64(r.Min.Y-last.Y))
		ops = binary.AppendUvarint(ops, uint64(r.Dx()-1))
		ops = binary.AppendUvarint(ops, uint64(r.Dy()-1))
		last = r.Min
		e.markLossy(r, true)
	}
	ops = binary.AppendUvarint(ops, uint64(e.jpegBuf.Len()))
	if _, err := e.zw.Write(e.jpegBuf.Bytes()); err != nil {
		return ops, 0, e.streamErr(err)
	}
	return ops, e.jpegBuf.Len(), nil
}

// grow marks in e.near the tiles 4-adjacent to the given ones.
func (e *Encoder) grow(tiles []int) {
	g := e.g
	if len(e.near) != g.n() {
		e.near = make([]bool, g.n())
	}
	clear(e.near)
	for _, t := range tiles {
		tx, ty := t%g.tilesX, t/g.tilesX
		if tx > 0 {
			e.near[t-1] = true
		}
		if tx+1 < g.tilesX {
			e.near[t+1] = true
		}
		if ty > 0 {
			e.near[t-g.tilesX] = true
		}
		if ty+1 < g.tilesY {
			e.near[t+g.tilesX] = true
		}
	}
}

// mergeRects joins disjoint rectangles that share a column span and touch
// vertically, then those that share a row span and touch horizontally,
// keeping widths at most maxW and heights at most maxH (0: unbounded). The result is in column
// order, which keeps a vertical strip's raw data together.
func mergeRects(rs []image.Rectangle, maxW, maxH int) []image.Rectangle {
	if len(rs) < 2 {
		return rs
	}
	fitsW := func(n int) bool { return maxW == 0 || n <= maxW }
	fitsH := func(n int) bool { return maxH == 0 || n <= maxH }
	slices.SortFunc(rs, func(a, b image.Rectangle) int {
		return cmp.Or(a.Min.X-b.Min.X, a.Max.X-b.Max.X, a.Min.Y-b.Min.Y)
	})
	out := rs[:1]
	for _, r := range rs[1:] {
		c := &out[len(out)-1]
		if r.Min.X == c.Min.X && r.Max.X == c.Max.X && r.Min.Y == c.Max.Y && fitsH(r.Max.Y-c.Min.Y) {
			c.Max.Y = r.Max.Y
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b image.Rectangle) int {
		return cmp.Or(a.Min.Y-b.Min.Y, a.Max.Y-b.Max.Y, a.Min.X-b.Min.X)
	})
	rs = out[:1]
	for _, r := range out[1:] {
		c := &rs[len(rs)-1]
		if r.Min.Y == c.Min.Y && r.Max.Y == c.Max.Y && r.Min.X == c.Max.X && fitsW(r.Max.X-c.Min.X) {
			c.Max.X = r.Max.X
			continue
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b image.Rectangle) int { return cmp.Or(a.Min.X-b.Min.X, a.Min.Y-b.Min.Y) })
	return rs
}
