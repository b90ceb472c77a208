package guest

import (
	"image"
	"image/color"
	"image/draw"
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

// DrawCursor puts the hot spot on the position, blends by alpha, clips at
// the edges and ignores a cursor without an image.
func TestDrawCursor(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 3))
	for i := range img.Pix {
		img.Pix[i] = 0 // transparent
	}
	img.SetNRGBA(1, 1, color.NRGBA{255, 0, 0, 255}) // the hot spot, opaque red
	img.SetNRGBA(2, 2, color.NRGBA{0, 0, 255, 128}) // half-transparent blue
	c := Cursor{Pos: image.Pt(110, 60), HotX: 1, HotY: 1, Image: img}
	grey := color.RGBA{100, 100, 100, 255}
	dst := image.NewRGBA(image.Rect(0, 0, 40, 30))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(grey), image.Point{}, draw.Src)
	// dst shows the root from (100, 50): the hot spot lands at (10, 10).
	DrawCursor(dst, image.Pt(100, 50), c)
	if got := dst.RGBAAt(10, 10); got != (color.RGBA{255, 0, 0, 255}) {
		t.Fatalf("hot spot pixel %v", got)
	}
	if got := dst.RGBAAt(9, 9); got != grey {
		t.Fatalf("transparent pixel changed the screen: %v", got)
	}
	if got := dst.RGBAAt(11, 11); got.B <= 100 || got.R >= 100 || got.A != 255 {
		t.Fatalf("half-transparent pixel not blended: %v", got)
	}
	// Off the right edge: clipped, no panic; no image: nothing drawn.
	DrawCursor(dst, image.Pt(100, 50), Cursor{Pos: image.Pt(139, 78), HotX: 1, HotY: 1, Image: img})
	if got := dst.RGBAAt(39, 28); got != (color.RGBA{255, 0, 0, 255}) {
		t.Fatalf("edge hot spot pixel %v", got)
	}
	before := append([]byte(nil), dst.Pix...)
	DrawCursor(dst, image.Pt(100, 50), Cursor{Pos: image.Pt(120, 60)})
	if string(before) != string(dst.Pix) {
		t.Fatal("a cursor without an image drew something")
	}
}
