package capture_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"image"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/randr"
	"github.com/jezek/xgb/xproto"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xext"
	"github.com/tandem-rc/tandem/internal/xvfb"
)

const xtermTitle = "tandem-capture-test"

// startXterm starts an Xvfb with an xterm showing known text at the top
// left and waits until the window is mapped.
func startXterm(t *testing.T, w, h int) *xvfb.Server {
	t.Helper()
	s := captest.StartX(t, w, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Run(context.Background(), "xterm", "-geometry", "80x24+0+0", "-T", xtermTitle,
		"-e", "sh", "-c", `printf "HELLO TANDEM\n"; exec sleep 600`); err != nil {
		t.Fatalf("start xterm: %v", err)
	}
	if _, err := s.WaitWindow(ctx, xtermTitle); err != nil {
		t.Fatal(err)
	}
	return s
}

func open(t *testing.T, s *xvfb.Server, noSHM bool) capture.Capturer {
	t.Helper()
	c, err := capture.Open(capture.Options{Display: s.Display, NoSHM: noSHM})
	if err != nil {
		t.Fatalf("Open(%s): %v", s.Display, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if got := capture.UsingSHM(c); got == noSHM {
		t.Fatalf("UsingSHM = %v with NoSHM = %v", got, noSHM)
	}
	return c
}

// stableGrab waits until the xterm has drawn its text, then grabs the whole
// screen around an xwd dump and retries until both grabs agree, so the dump
// shows the same screen as the returned frame.
func stableGrab(t *testing.T, s *xvfb.Server, c capture.Capturer) (*capture.Frame, *captest.XWD) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	textArea := image.Rect(0, 0, 200, 40)
	for {
		f, err := c.Grab(textArea, nil)
		if err != nil {
			t.Fatalf("Grab(%v): %v", textArea, err)
		}
		if captest.DarkPixels(f) > 100 { // "HELLO TANDEM" in xterm's fixed font
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("xterm text never appeared (%d dark pixels)", captest.DarkPixels(f))
		case <-time.After(20 * time.Millisecond):
		}
	}
	f, x, err := captest.StableGrab(ctx, s, c)
	if err != nil {
		t.Fatal(err)
	}
	return f, x
}

func TestGrabMatchesXWD(t *testing.T) {
	for _, tc := range []struct {
		name  string
		noSHM bool
	}{{"shm", false}, {"plain", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startXterm(t, 1024, 768)
			c := open(t, s, tc.noSHM)
			if got, want := c.Bounds(), image.Rect(0, 0, 1024, 768); got != want {
				t.Fatalf("Bounds = %v, want %v", got, want)
			}
			full, ref := stableGrab(t, s, c)
			if full.Width != 1024 || full.Height != 768 || full.Stride != 1024*4 {
				t.Fatalf("full grab is %dx%d stride %d", full.Width, full.Height, full.Stride)
			}
			if err := captest.CompareBGRX(full.Pix, full.Width, full.Height, full.Stride, ref, 0, 0); err != nil {
				t.Fatalf("full screen differs from xwd: %v", err)
			}
			if n := captest.DarkPixels(full); n < 100 {
				t.Fatalf("only %d text pixels on screen", n)
			}

			// Sub-rectangles, clipped ones, and dst reuse.
			dst := &capture.Frame{Pix: make([]byte, 0, 1024*768*4)}
			for _, tt := range []struct {
				r    image.Rectangle
				want image.Rectangle
			}{
				{image.Rect(13, 7, 13+333, 7+211), image.Rect(13, 7, 13+333, 7+211)},
				{image.Rect(0, 0, 1, 1), image.Rect(0, 0, 1, 1)},
				{image.Rect(-10, -20, 50, 40), image.Rect(0, 0, 50, 40)},
				{image.Rect(1000, 700, 3000, 3000), image.Rect(1000, 700, 1024, 768)},
				{image.Rect(5, 0, 1019, 768), image.Rect(5, 0, 1019, 768)},
			} {
				f, err := c.Grab(tt.r, dst)
				if err != nil {
					t.Fatalf("Grab(%v): %v", tt.r, err)
				}
				if f != dst || &f.Pix[:1][0] != &dst.Pix[:1][0] || cap(f.Pix) != 1024*768*4 {
					t.Fatalf("Grab(%v) did not reuse dst", tt.r)
				}
				if f.Width != tt.want.Dx() || f.Height != tt.want.Dy() || f.Stride != f.Width*4 || len(f.Pix) != f.Width*f.Height*4 {
					t.Fatalf("Grab(%v) = %dx%d stride %d len %d, want %v", tt.r, f.Width, f.Height, f.Stride, len(f.Pix), tt.want)
				}
				if err := captest.CompareBGRX(f.Pix, f.Width, f.Height, f.Stride, ref, tt.want.Min.X, tt.want.Min.Y); err != nil {
					t.Fatalf("Grab(%v) differs from xwd: %v", tt.r, err)
				}
			}
			// A too-small dst grows.
			small := &capture.Frame{Pix: make([]byte, 16)}
			if f, err := c.Grab(image.Rect(0, 0, 100, 100), small); err != nil || len(f.Pix) != 100*100*4 {
				t.Fatalf("Grab into small dst: %v", err)
			} else if err := captest.CompareBGRX(f.Pix, 100, 100, f.Stride, ref, 0, 0); err != nil {
				t.Fatal(err)
			}

			if _, err := c.Grab(image.Rect(2000, 2000, 2100, 2100), nil); !errors.Is(err, capture.ErrEmptyRect) {
				t.Fatalf("Grab outside the screen: err = %v, want ErrEmptyRect", err)
			}
			if _, err := c.Grab(image.Rectangle{}, nil); !errors.Is(err, capture.ErrEmptyRect) {
				t.Fatalf("Grab of an empty rectangle: err = %v, want ErrEmptyRect", err)
			}
		})
	}
}

// TestGrabFollowsChanges checks that grabs see new content: typing into
// the xterm changes the captured frame the same way xwd sees it.
func TestGrabFollowsChanges(t *testing.T) {
	s := startXterm(t, 640, 480)
	c := open(t, s, false)
	before, _ := stableGrab(t, s, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Draw a black rectangle over the text with xwd-independent tools: an
	// xterm with reverse video filling a known area.
	if _, err := s.Run(context.Background(), "xterm", "-geometry", "20x5+300+200", "-T", "second", "-rv",
		"-e", "sh", "-c", "exec sleep 600"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitWindow(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	for {
		after, ref := stableGrab(t, s, c)
		if err := captest.CompareBGRX(after.Pix, after.Width, after.Height, after.Stride, ref, 0, 0); err != nil {
			t.Fatalf("after change: %v", err)
		}
		if !bytes.Equal(before.Pix, after.Pix) {
			// The new window is reverse video: black inside its area.
			inner, err := c.Grab(image.Rect(310, 210, 340, 230), nil)
			if err != nil {
				t.Fatal(err)
			}
			if n := captest.DarkPixels(inner); n < 30*20*9/10 {
				t.Fatalf("second xterm area has %d dark pixels of %d", n, 30*20)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the second window never appeared in a grab")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestMonitors(t *testing.T) {
	s := captest.StartX(t, 1024, 768)
	c := open(t, s, false)
	ms, err := c.Monitors()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].X != 0 || ms[0].Y != 0 || ms[0].Width != 1024 || ms[0].Height != 768 || !ms[0].Primary || ms[0].Index != 0 {
		t.Fatalf("Monitors = %+v, want one primary 1024x768 at 0,0", ms)
	}
	if ms[0].Name == "" {
		t.Fatal("monitor has no name")
	}

	// Split the screen into two RandR 1.5 monitors from another client, as
	// `xrandr --setmonitor` does.
	xc, err := xext.Dial(s.Display)
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close()
	if err := randr.Init(xc); err != nil {
		t.Fatal(err)
	}
	if _, err := randr.QueryVersion(xc, 1, 5).Reply(); err != nil {
		t.Fatal(err)
	}
	root := xproto.Setup(xc).DefaultScreen(xc).Root
	// LEFT takes over the screen's output, which replaces the server's
	// automatic monitor for it; RIGHT has no output.
	res, err := randr.GetScreenResourcesCurrent(xc, root).Reply()
	if err != nil || len(res.Outputs) == 0 {
		t.Fatalf("screen resources: %v", err)
	}
	add := func(name string, x, w int, primary bool, outputs ...randr.Output) {
		a, err := xproto.InternAtom(xc, false, uint16(len(name)), name).Reply()
		if err != nil {
			t.Fatal(err)
		}
		if err := randr.SetMonitorChecked(xc, root, randr.MonitorInfo{Name: a.Atom, Primary: primary,
			X: int16(x), Y: 0, Width: uint16(w), Height: 768, WidthInMillimeters: uint32(w / 4),
			HeightInMillimeters: 192, NOutput: uint16(len(outputs)), Outputs: outputs}).Check(); err != nil {
			t.Fatalf("SetMonitor %s: %v", name, err)
		}
	}
	add("LEFT", 0, 400, false, res.Outputs[0])
	add("RIGHT", 400, 624, true)
	ms, err = c.Monitors()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]capture.Monitor{
		"LEFT":  {Name: "LEFT", X: 0, Y: 0, Width: 400, Height: 768},
		"RIGHT": {Name: "RIGHT", X: 400, Y: 0, Width: 624, Height: 768, Primary: true},
	}
	if len(ms) != len(want) {
		t.Fatalf("Monitors = %+v, want %+v", ms, want)
	}
	for i, m := range ms {
		if m.Index != i {
			t.Fatalf("Monitors[%d].Index = %d", i, m.Index)
		}
		m.Index = 0
		if want[m.Name] != m {
			t.Fatalf("Monitors = %+v, want %+v", ms, want)
		}
	}
}

func TestCloseAndErrors(t *testing.T) {
	s := captest.StartX(t, 320, 200)
	c := open(t, s, false)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Grab(image.Rect(0, 0, 10, 10), nil); !errors.Is(err, capture.ErrClosed) {
		t.Fatalf("Grab after Close: err = %v, want ErrClosed", err)
	}
	if _, err := c.Monitors(); !errors.Is(err, capture.ErrClosed) {
		t.Fatalf("Monitors after Close: err = %v, want ErrClosed", err)
	}
	if got := c.Bounds(); got != image.Rect(0, 0, 320, 200) {
		t.Fatalf("Bounds after Close = %v", got)
	}

	if _, err := capture.Open(capture.Options{Display: ":4999"}); !errors.Is(err, capture.ErrNoDisplay) {
		t.Fatalf("Open(:4999): err = %v, want ErrNoDisplay", err)
	}
	if xgb.Logger.Writer() == os.Stderr {
		t.Fatal("xgb still logs to stderr")
	}
}

// TestSHMSegmentRemoved checks that the segment is marked for removal
// (SHM_DEST) while attached, so it cannot outlive the capturer and the
// X server even on a crash.
func TestSHMSegmentRemoved(t *testing.T) {
	s := captest.StartX(t, 320, 200)
	c := open(t, s, false)
	id := capture.SHMID(c)
	if id < 0 {
		t.Fatal("no shared segment")
	}
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		t.Skipf("cannot read System V shm table: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || fs[1] != strconv.Itoa(id) {
			continue
		}
		perms, err := strconv.ParseUint(fs[2], 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		const shmDest = 0o1000
		if perms&shmDest == 0 {
			t.Fatalf("segment %d perms %o: not marked for removal", id, perms)
		}
		if size, _ := strconv.Atoi(fs[3]); size < 320*200*4 {
			t.Fatalf("segment %d is %d bytes, want >= %d", id, size, 320*200*4)
		}
		return
	}
	t.Fatalf("segment %d not in /proc/sysvipc/shm", id)
}

func TestCRTCMonitors(t *testing.T) {
	s := captest.StartX(t, 800, 600)
	c := open(t, s, false)
	ms, err := capture.CRTCMonitors(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Width != 800 || ms[0].Height != 600 || !ms[0].Primary || ms[0].Name == "" {
		t.Fatalf("CRTC monitors = %+v, want one primary 800x600", ms)
	}
}

// TestScreenResize shrinks the screen before Open, grows it afterwards, and
// checks that Bounds follows (RandR notify) and the SHM segment grows.
func TestScreenResize(t *testing.T) {
	s := captest.StartX(t, 1024, 768)
	xc, err := xext.Dial(s.Display)
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close()
	if err := randr.Init(xc); err != nil {
		t.Fatal(err)
	}
	if _, err := randr.QueryVersion(xc, 1, 5).Reply(); err != nil {
		t.Fatal(err)
	}
	root := xproto.Setup(xc).DefaultScreen(xc).Root
	res, err := randr.GetScreenResourcesCurrent(xc, root).Reply()
	if err != nil || len(res.Crtcs) == 0 {
		t.Fatalf("screen resources: %v", err)
	}
	// Switch the CRTC off, then shrink the screen to 640x480.
	if _, err := randr.SetCrtcConfig(xc, res.Crtcs[0], xproto.TimeCurrentTime, res.ConfigTimestamp,
		0, 0, 0, randr.RotationRotate0, nil).Reply(); err != nil {
		t.Fatalf("disable CRTC: %v", err)
	}
	setSize := func(w, h int) {
		t.Helper()
		if err := randr.SetScreenSizeChecked(xc, root, uint16(w), uint16(h), uint32(w/4), uint32(h/4)).Check(); err != nil {
			t.Fatalf("SetScreenSize %dx%d: %v", w, h, err)
		}
	}
	setSize(640, 480)

	c := open(t, s, false)
	if got := c.Bounds(); got != image.Rect(0, 0, 640, 480) {
		t.Fatalf("Bounds = %v, want 640x480", got)
	}
	id := capture.SHMID(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check := func(w, h int) {
		t.Helper()
		for c.Bounds() != image.Rect(0, 0, w, h) {
			select {
			case <-ctx.Done():
				t.Fatalf("Bounds = %v, want %dx%d", c.Bounds(), w, h)
			case <-time.After(10 * time.Millisecond):
			}
		}
		f, err := c.Grab(image.Rect(0, 0, 5000, 5000), nil)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := captest.GrabXWD(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if f.Width != w || f.Height != h || ref.Width != w || ref.Height != h {
			t.Fatalf("grab %dx%d, xwd %dx%d, want %dx%d", f.Width, f.Height, ref.Width, ref.Height, w, h)
		}
		if err := captest.CompareBGRX(f.Pix, f.Width, f.Height, f.Stride, ref, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	check(640, 480)
	setSize(1024, 768)
	check(1024, 768)
	if !capture.UsingSHM(c) {
		t.Fatal("fell back from MIT-SHM after growing")
	}
	if nid := capture.SHMID(c); nid == id || nid < 0 {
		t.Fatalf("SHM segment %d not replaced (was %d) after the screen grew", nid, id)
	}
}

// TestConcurrentUse exercises the capturer from several goroutines (run
// with -race), then closes it while grabs are in flight: every grab either
// succeeds or reports ErrClosed.
func TestConcurrentUse(t *testing.T) {
	s := captest.StartX(t, 320, 240)
	c := open(t, s, false)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var f *capture.Frame
			for i := range 50 {
				var err error
				switch (g + i) % 3 {
				case 0:
					f, err = c.Grab(image.Rect(g*10, i, g*10+100, i+50), f)
					if err == nil && (f.Width != 100 || f.Height != 50) {
						err = errors.New("wrong size")
					}
				case 1:
					_, err = c.Monitors()
				default:
					if c.Bounds().Empty() {
						err = errors.New("empty bounds")
					}
				}
				if err != nil && !errors.Is(err, capture.ErrClosed) {
					errs <- err
					return
				}
				if g == 0 && i == 40 {
					_ = c.Close()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestServerGone: when the X server dies, grabs fail instead of hanging.
func TestServerGone(t *testing.T) {
	for _, noSHM := range []bool{false, true} {
		s := captest.StartX(t, 320, 240)
		c := open(t, s, noSHM)
		if _, err := c.Grab(c.Bounds(), nil); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		if _, err := c.Grab(c.Bounds(), nil); err == nil {
			t.Fatalf("NoSHM=%v: Grab succeeded after the X server exited", noSHM)
		}
		if _, err := c.Monitors(); err == nil {
			t.Fatalf("NoSHM=%v: Monitors succeeded after the X server exited", noSHM)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStaleBounds: a grab with a size older than the screen's (the RandR
// notify not yet read) is retried within the real size, and MIT-SHM stays
// in use.
func TestStaleBounds(t *testing.T) {
	for _, noSHM := range []bool{false, true} {
		s := captest.StartX(t, 320, 240)
		c := open(t, s, noSHM)
		capture.SetBounds(c, image.Rect(0, 0, 640, 480))
		f, err := c.Grab(image.Rect(0, 0, 640, 480), nil)
		if err != nil {
			t.Fatalf("NoSHM=%v: Grab with stale bounds: %v", noSHM, err)
		}
		if f.Width != 320 || f.Height != 240 || c.Bounds() != image.Rect(0, 0, 320, 240) {
			t.Fatalf("NoSHM=%v: got %dx%d, bounds %v", noSHM, f.Width, f.Height, c.Bounds())
		}
		if capture.UsingSHM(c) == noSHM {
			t.Fatalf("NoSHM=%v: MIT-SHM use changed", noSHM)
		}
	}
}
