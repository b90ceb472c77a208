package guest

import (
	"image"
	"image/draw"
	"sync"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Cursor is the host's pointer as last reported: where its hot spot is (root
// coordinates, like FrameEvent origins) and its image. The console draws it
// over the decoded screen; frames never contain it.
type Cursor struct {
	Pos    image.Point
	HotX   int
	HotY   int
	Image  *image.NRGBA // nil until the host sent the shape named by Serial
	Serial uint32
}

// maxCursorShapes bounds the shapes a session keeps (a host resends a shape
// after it has sent this many others).
const maxCursorShapes = 64

// cursorState keeps the shapes by ID and the latest position.
type cursorState struct {
	mu     sync.Mutex
	shapes map[uint32]*wire.CursorShape
	pos    wire.CursorPos
	seen   bool // a position arrived
}

func (c *cursorState) shape(m *wire.CursorShape) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shapes == nil || len(c.shapes) >= maxCursorShapes {
		c.shapes = map[uint32]*wire.CursorShape{}
	}
	c.shapes[m.ID] = m
}

func (c *cursorState) move(m *wire.CursorPos) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos, c.seen = *m, true
}

func (c *cursorState) get() (Cursor, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen {
		return Cursor{}, false
	}
	cur := Cursor{Pos: image.Pt(int(c.pos.X), int(c.pos.Y)), Serial: c.pos.ID}
	if sh := c.shapes[c.pos.ID]; sh != nil {
		img := image.NewNRGBA(image.Rect(0, 0, int(sh.Width), int(sh.Height)))
		copy(img.Pix, sh.Pix) // the wire's RGBA rows are NRGBA's layout
		cur.Image, cur.HotX, cur.HotY = img, int(sh.HotX), int(sh.HotY)
	}
	return cur, true
}

// Cursor returns the host's pointer as last reported, and false until the
// host has reported it (hosts without cursor support never do).
func (s *Session) Cursor() (Cursor, bool) { return s.cursor.get() }

// DrawCursor blends c's image over dst, a copy of the screen whose top left
// is origin in the host's root coordinates (as CopyScreen returns it), with
// the hot spot on c.Pos. A cursor without an image or off dst draws nothing.
func DrawCursor(dst *image.RGBA, origin image.Point, c Cursor) {
	if c.Image == nil {
		return
	}
	at := c.Pos.Sub(origin).Sub(image.Pt(c.HotX, c.HotY)).Add(dst.Bounds().Min)
	r := c.Image.Bounds().Sub(c.Image.Bounds().Min).Add(at)
	draw.Draw(dst, r, c.Image, c.Image.Bounds().Min, draw.Over)
}
