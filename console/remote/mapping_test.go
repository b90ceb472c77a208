package remote

import (
	"image"
	"testing"

	"fyne.io/fyne/v2"
)

func TestFitMapping(t *testing.T) {
	// A 1600x900 screen in a 800x600 widget: scale 0.5, 450 tall, 75 margins.
	m := mapping{mode: FitToScreen, widget: fyne.NewSize(800, 600), screen: image.Rect(0, 0, 1600, 900), origin: image.Pt(1920, 0), scale: 1}
	pos, size := m.imageRect()
	if pos != fyne.NewPos(0, 75) || size != fyne.NewSize(800, 450) {
		t.Fatalf("image rect %v %v", pos, size)
	}
	for _, c := range []struct {
		at   fyne.Position
		want remotePoint
		ok   bool
	}{
		{fyne.NewPos(0, 75), remotePoint{1920, 0}, true},
		{fyne.NewPos(400, 300), remotePoint{1920 + 800, 450}, true},
		{fyne.NewPos(799.9, 524.9), remotePoint{1920 + 1599, 899}, true},
		{fyne.NewPos(100, 10), remotePoint{1920 + 200, 0}, false},    // top margin: clamped
		{fyne.NewPos(100, 590), remotePoint{1920 + 200, 899}, false}, // bottom margin
		{fyne.NewPos(-5, 100), remotePoint{1920, 50}, false},         // left of the widget
	} {
		got, ok := m.toRemote(c.at)
		if got != c.want || ok != c.ok {
			t.Errorf("toRemote(%v) = %v %v, want %v %v", c.at, got, ok, c.want, c.ok)
		}
	}
	// A tall screen in a wide widget: side margins.
	m = mapping{mode: FitToScreen, widget: fyne.NewSize(1000, 500), screen: image.Rect(0, 0, 500, 1000), scale: 1}
	pos, size = m.imageRect()
	if pos != fyne.NewPos(375, 0) || size != fyne.NewSize(250, 500) {
		t.Fatalf("tall image rect %v %v", pos, size)
	}
	if got, ok := m.toRemote(fyne.NewPos(375+125, 250)); !ok || got != (remotePoint{250, 500}) {
		t.Fatalf("tall centre: %v %v", got, ok)
	}
}

func TestActualSizeMapping(t *testing.T) {
	// Actual size on a 2x HiDPI canvas: 1 remote pixel = 1 device pixel = 0.5 unit.
	m := mapping{mode: ActualSize, widget: fyne.NewSize(960, 540), screen: image.Rect(0, 0, 1920, 1080), origin: image.Pt(0, 1080), scale: 2}
	pos, size := m.imageRect()
	if pos != (fyne.Position{}) || size != fyne.NewSize(960, 540) {
		t.Fatalf("image rect %v %v", pos, size)
	}
	if got, ok := m.toRemote(fyne.NewPos(100.25, 10.5)); !ok || got != (remotePoint{200, 1080 + 21}) {
		t.Fatalf("hidpi: %v %v", got, ok)
	}
	// At scale 1 the widget position is the pixel, whatever the widget's size
	// (the scroller shows part of it).
	m = mapping{mode: ActualSize, widget: fyne.NewSize(1920, 1080), screen: image.Rect(0, 0, 1920, 1080), scale: 1}
	if got, ok := m.toRemote(fyne.NewPos(1500, 1000)); !ok || got != (remotePoint{1500, 1000}) {
		t.Fatalf("actual: %v %v", got, ok)
	}
	if _, ok := m.toRemote(fyne.NewPos(1920, 5)); ok {
		t.Fatal("a point right of the screen is on it")
	}
}

func TestMappingWithoutScreen(t *testing.T) {
	m := mapping{mode: FitToScreen, widget: fyne.NewSize(100, 100), scale: 1}
	if _, ok := m.toRemote(fyne.NewPos(5, 5)); ok {
		t.Fatal("mapped a point with no screen yet")
	}
}
