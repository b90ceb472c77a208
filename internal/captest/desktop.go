package captest

import (
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/tandem-rc/tandem/capture"
)

var words = strings.Fields(`the quick brown fox jumps over a lazy dog func return if else for range
	package import error nil struct interface go build test capture codec tile zstd frame window
	session relay host guest portal policy grant audit monitor screen pixel damage stream keyframe
	0 1 2 42 1024 768 1920 1080 := == != && || { } ( ) [ ] ; , . "ok" 'x' // TODO FIXME`)

// lineText is line n of an endless deterministic text document.
func lineText(n, cols int) string {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	var b strings.Builder
	b.WriteString(strings.Repeat("    ", r.IntN(4)))
	for b.Len() < cols-12 && r.IntN(14) != 0 {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()[:min(b.Len(), cols)]
}

// layout is Desktop's geometry for a w×h screen.
type layout struct {
	title, body image.Rectangle
	cols, rows  int
}

func layoutFor(w, h int) layout {
	win := image.Rect(w/20, h/20, w-w/20, h-h/20)
	title := image.Rect(win.Min.X, win.Min.Y, win.Max.X, win.Min.Y+24)
	body := image.Rect(win.Min.X, title.Max.Y, win.Max.X, win.Max.Y)
	return layout{title: title, body: body, cols: (body.Dx() - 8) / 7, rows: (body.Dy() - 8) / 13}
}

// baseline is the text baseline of body row i.
func (l layout) baseline(i int) image.Point {
	return image.Pt(l.body.Min.X+4, l.body.Min.Y+4+11+i*13)
}

// cell is the prompt line's character cell k (after the "$ " prompt).
func (l layout) cell(k int) image.Rectangle {
	b := l.baseline(l.rows - 1)
	return image.Rect(b.X+(2+k)*7, b.Y-11, b.X+(3+k)*7, b.Y+2)
}

const typedText = "go test -race -run TestGrab ./capture/... "

// Desktop draws a deterministic desktop-like w×h screen: a grey background,
// a terminal window with a blue title bar, and lines of text in the 7×13
// X11 font. scroll moves the text up by that many lines (every text tile
// changes); typed types that many characters on the prompt line at the
// bottom (one glyph changes per extra character).
func Desktop(w, h, scroll, typed int) *capture.Frame {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(color.RGBA{0x3c, 0x3f, 0x41, 0xff}), image.Point{}, draw.Src)
	l := layoutFor(w, h)
	draw.Draw(img, l.title, image.NewUniform(color.RGBA{0x2a, 0x5d, 0xb0, 0xff}), image.Point{}, draw.Src)
	draw.Draw(img, l.body, image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.White, Face: basicfont.Face7x13}
	d.Dot = fixed.P(l.title.Min.X+8, l.title.Min.Y+17)
	d.DrawString("tandem@host: ~/src/tandem - terminal")

	d.Src = image.Black
	for i := range l.rows - 1 {
		d.Dot = fixed.P(l.baseline(i).X, l.baseline(i).Y)
		if i%9 == 3 {
			d.Src = image.NewUniform(color.RGBA{0x00, 0x70, 0x20, 0xff})
		}
		d.DrawString(lineText(scroll+i, l.cols))
		d.Src = image.Black
	}
	prompt := "$ " + strings.Repeat(typedText, 1+typed/len(typedText))[:typed]
	d.Dot = fixed.P(l.baseline(l.rows-1).X, l.baseline(l.rows-1).Y)
	d.DrawString(prompt)
	draw.Draw(img, l.cell(typed), image.Black, image.Point{}, draw.Src) // the cursor
	return capture.FrameFromImage(img)
}

// Typist replays typing on a Desktop frame cheaply: each Next copies one
// more glyph of the prompt line into Frame and moves the block cursor (two
// 7×13 cells change, as when a user types); after MaxTyped characters the
// line is cleared at once.
type Typist struct {
	Frame *capture.Frame
	base  *capture.Frame
	full  *capture.Frame
	l     layout
	n     int
}

// MaxTyped is the length of the line a Typist types before clearing it.
const MaxTyped = 60

// NewTypist returns a Typist on a w×h Desktop with nothing typed.
func NewTypist(w, h int) *Typist {
	return &Typist{
		Frame: Desktop(w, h, 0, 0),
		base:  Desktop(w, h, 0, 0),
		full:  Desktop(w, h, 0, MaxTyped),
		l:     layoutFor(w, h),
	}
}

// Next types one character (or clears the line after MaxTyped).
func (t *Typist) Next() {
	if t.n == MaxTyped {
		line := t.l.cell(0).Union(t.l.cell(MaxTyped))
		t.copy(line, t.base, line.Min)
		t.n = 0
		return
	}
	t.copy(t.l.cell(t.n), t.full, t.l.cell(t.n).Min) // the typed glyph
	t.n++
	t.copy(t.l.cell(t.n), t.full, t.l.cell(MaxTyped).Min) // the cursor
}

// copy copies the r-sized area of src at from into r of Frame.
func (t *Typist) copy(r image.Rectangle, src *capture.Frame, from image.Point) {
	for y := range r.Dy() {
		o := (r.Min.Y+y)*t.Frame.Stride + r.Min.X*4
		so := (from.Y+y)*src.Stride + from.X*4
		copy(t.Frame.Pix[o:o+r.Dx()*4], src.Pix[so:so+r.Dx()*4])
	}
}
