package guest

import (
	"image"
	"testing"

	"github.com/tandem-rc/tandem/transport/wire"
)

func TestCursorState(t *testing.T) {
	var c cursorState
	if _, ok := c.get(); ok {
		t.Fatal("a cursor before any position")
	}
	c.shape(&wire.CursorShape{ID: 7, HotX: 1, HotY: 0, Width: 2, Height: 1, Pix: []byte{1, 2, 3, 4, 5, 6, 7, 8}})
	c.move(&wire.CursorPos{X: 10, Y: -3, ID: 7})
	cur, ok := c.get()
	if !ok || cur.Pos != image.Pt(10, -3) || cur.Serial != 7 || cur.HotX != 1 || cur.Image == nil {
		t.Fatalf("cursor %+v, %v", cur, ok)
	}
	if got := cur.Image.NRGBAAt(1, 0); got.R != 5 || got.A != 8 {
		t.Fatalf("pixel (1,0) = %+v, want the wire's second pixel", got)
	}
	// A position naming a shape not (yet) received has no image.
	c.move(&wire.CursorPos{X: 1, Y: 1, ID: 8})
	if cur, _ := c.get(); cur.Image != nil || cur.Serial != 8 {
		t.Fatalf("unknown shape: %+v", cur)
	}
	// Shapes are bounded: the map starts over past maxCursorShapes.
	for id := uint32(100); id < 100+2*maxCursorShapes; id++ {
		c.shape(&wire.CursorShape{ID: id, Width: 1, Height: 1, Pix: make([]byte, 4)})
		if len(c.shapes) > maxCursorShapes {
			t.Fatalf("%d shapes kept", len(c.shapes))
		}
	}
}
