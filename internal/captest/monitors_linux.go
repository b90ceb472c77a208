//go:build linux

package captest

import (
	"testing"

	"github.com/jezek/xgb/randr"
	"github.com/jezek/xgb/xproto"

	"github.com/tandem-rc/tandem/internal/xext"
)

// SplitScreen splits an Xvfb's w×h screen into two RandR 1.5 monitors,
// LEFT (the left half, on the screen's output) and RIGHT (primary), as
// `xrandr --setmonitor` does; hosts list them as the session's monitors.
func SplitScreen(tb testing.TB, display string, w, h int) {
	tb.Helper()
	xc, err := xext.Dial(display)
	if err != nil {
		tb.Fatal(err)
	}
	defer xc.Close()
	if err := randr.Init(xc); err != nil {
		tb.Fatal(err)
	}
	if _, err := randr.QueryVersion(xc, 1, 5).Reply(); err != nil {
		tb.Fatal(err)
	}
	root := xproto.Setup(xc).DefaultScreen(xc).Root
	res, err := randr.GetScreenResourcesCurrent(xc, root).Reply()
	if err != nil || len(res.Outputs) == 0 {
		tb.Fatalf("screen resources: %v", err)
	}
	add := func(name string, x int, primary bool, outputs ...randr.Output) {
		a, err := xproto.InternAtom(xc, false, uint16(len(name)), name).Reply()
		if err != nil {
			tb.Fatal(err)
		}
		if err := randr.SetMonitorChecked(xc, root, randr.MonitorInfo{Name: a.Atom, Primary: primary,
			X: int16(x), Width: uint16(w / 2), Height: uint16(h), WidthInMillimeters: uint32(w / 8),
			HeightInMillimeters: uint32(h / 4), NOutput: uint16(len(outputs)), Outputs: outputs}).Check(); err != nil {
			tb.Fatalf("SetMonitor %s: %v", name, err)
		}
	}
	add("LEFT", 0, false, res.Outputs[0])
	add("RIGHT", w/2, true)
}
