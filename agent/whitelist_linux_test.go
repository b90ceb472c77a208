//go:build linux

package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jezek/xgb/xproto"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// whitelistGrant is fakeRelay.grant with a whitelist.
func whitelistGrant(t *testing.T, f *fakeRelay, sid, dev string, wl []policy.GrantApp) string {
	t.Helper()
	tok, err := policy.Sign(&policy.Grant{Version: policy.GrantVersion, SessionID: sid, AccountID: "acct", DeviceID: dev,
		User: policy.GrantUser{ID: "u1", Email: "tech@example.com"}, Permissions: policy.FullSet().Strings(),
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Minute).Unix(), Whitelist: wl}, f.key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// xwin is a real X client's top-level window.
type xwin struct {
	id  string
	cmd *exec.Cmd
}

func startClient(t *testing.T, x *xvfb.Server, name string, args ...string) xwin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd, err := x.Run(context.Background(), name, args...)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	id, err := x.WaitWindow(ctx, "^"+name+"$")
	if err != nil {
		t.Fatal(err)
	}
	return xwin{id: id, cmd: cmd}
}

func xdo(t *testing.T, x *xvfb.Server, args ...string) string {
	t.Helper()
	out, err := x.Command(context.Background(), "xdotool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xdotool %v: %v: %s", args, err, out)
	}
	return string(out)
}

// geometry is the window's rectangle in root coordinates (inside its
// border), from xwininfo, which also gets it right for windows reparented
// into a window manager's frame.
func geometry(t *testing.T, x *xvfb.Server, w xwin) image.Rectangle {
	t.Helper()
	out, err := x.Command(context.Background(), "xwininfo", "-id", w.id).Output()
	if err != nil {
		t.Fatalf("xwininfo: %v", err)
	}
	var v [4]int
	for _, line := range strings.Split(string(out), "\n") {
		k, val, _ := strings.Cut(strings.TrimSpace(line), ":")
		n, _ := strconv.Atoi(strings.TrimSpace(val))
		switch k {
		case "Absolute upper-left X":
			v[0] = n
		case "Absolute upper-left Y":
			v[1] = n
		case "Width":
			v[2] = n
		case "Height":
			v[3] = n
		}
	}
	return image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3])
}

// guestScreen decodes the frames the guest receives, as the guest does.
type guestScreen struct {
	t   *testing.T
	ch  *transport.Channel
	dec *codec.Decoder
}

// until decodes frames until ok holds for the decoded screen; every
// decoded frame is first checked with always.
func (g *guestScreen) until(what string, always, ok func(*image.RGBA) error) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	for {
		m, err := g.ch.Recv(ctx)
		if err != nil {
			g.t.Fatalf("%s: never seen (%v); last: %v", what, err, last)
		}
		fr, isFrame := m.(*wire.ScreenFrame)
		if !isFrame {
			continue
		}
		if _, err := g.dec.Decode(fr.Data); err != nil {
			g.t.Fatalf("decode: %v", err)
		}
		img := g.dec.Image()
		if err := always(img); err != nil {
			g.t.Fatalf("frame %d: %v", fr.Seq, err)
		}
		if last = ok(img); last == nil {
			return
		}
	}
}

type rgb struct{ r, g, b uint8 }

func at(img *image.RGBA, x, y int) rgb {
	i := img.PixOffset(x, y)
	return rgb{img.Pix[i], img.Pix[i+1], img.Pix[i+2]}
}

// count counts pixels of colour c inside r.
func count(img *image.RGBA, r image.Rectangle, c rgb) int {
	n := 0
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if at(img, x, y) == c {
				n++
			}
		}
	}
	return n
}

// onlyBlack fails if any pixel of r, outside allowed, is not the mask colour.
func onlyBlack(img *image.RGBA, r, allowed image.Rectangle) error {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if image.Pt(x, y).In(allowed) {
				continue
			}
			if c := at(img, x, y); c != (rgb{}) {
				return fmt.Errorf("pixel (%d,%d) = %v reached the guest outside the whitelisted window %v", x, y, c, allowed)
			}
		}
	}
	return nil
}

var (
	green = rgb{0, 0xff, 0}
	red   = rgb{0xff, 0, 0}
	blue  = rgb{0, 0, 0xff}
)

// Two real programs under Xvfb; the grant whitelists only xterm. The frames
// the guest decodes never carry a pixel of xlogo's window, as it moves over
// xterm and closes; pointer and keyboard input outside xterm is dropped.
func TestWhitelistXvfb(t *testing.T) {
	for _, bin := range []string{"xterm", "xlogo", "xclock", "xdotool", "xwininfo"} {
		needTool(t, bin)
	}
	x := captest.StartX(t, 640, 480)
	xterm := startClient(t, x, "xterm", "-geometry", "40x12+20+20", "-bg", "#00ff00", "-fg", "#00ff00", "-bw", "0")
	xlogo := startClient(t, x, "xlogo", "-geometry", "200x200+400+40", "-bg", "#ff0000", "-fg", "#0000ff", "-bw", "0")
	termR, logoR := geometry(t, x, xterm), geometry(t, x, xlogo)
	if termR.Overlaps(logoR) || termR.Empty() || logoR.Empty() {
		t.Fatalf("unexpected layout: xterm %v, xlogo %v", termR, logoR)
	}

	inj, events := &recordingInjector{}, &eventLog{}
	f, _, dev := startHostWith(t, inj, func(o *Options) {
		o.Capture = func() (capture.Capturer, error) {
			return capture.Open(capture.Options{Display: x.Display, Logger: o.Logger})
		}
		o.Windows = func() (Windows, error) { return OpenWindows(WindowsOptions{Display: x.Display, Logger: o.Logger}) }
		o.OnEvent = events.add
	})
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "wl", Grant: whitelistGrant(t, f, "wl", dev,
		[]policy.GrantApp{{Name: "Terminal", Executable: "XTerm", Path: "/usr/bin"}})})
	_, chans := guestPeer(t, f, "wl")
	scr := &guestScreen{t: t, ch: chans[wire.ChannelScreen], dec: codec.NewDecoder(codec.Limits{})}
	t.Cleanup(func() { scr.dec.Close() })
	noLogo := func(img *image.RGBA) error {
		if n := count(img, img.Rect, red) + count(img, img.Rect, blue); n > 0 {
			return fmt.Errorf("%d pixels of xlogo reached the guest", n)
		}
		return nil
	}

	// xterm shows; xlogo's window and the desktop are mask colour only.
	termInner := termR.Inset(4)
	scr.until("xterm visible, the rest masked", noLogo, func(img *image.RGBA) error {
		if n := count(img, termInner, green); n != termInner.Dx()*termInner.Dy() {
			return fmt.Errorf("xterm shows %d green pixels of %d", n, termInner.Dx()*termInner.Dy())
		}
		return onlyBlack(img, img.Rect, termR)
	})

	// xlogo moves over xterm's right part: the covered part is masked.
	xdo(t, x, "windowmove", "--sync", xlogo.id, strconv.Itoa(termR.Min.X+termR.Dx()/2), strconv.Itoa(termR.Min.Y))
	logoR = geometry(t, x, xlogo)
	left := image.Rect(termR.Min.X, termR.Min.Y, logoR.Min.X, termR.Max.Y)
	scr.until("xlogo over xterm masked", noLogo, func(img *image.RGBA) error {
		if n := count(img, logoR.Intersect(termR), green); n != 0 {
			return fmt.Errorf("%d pixels of xterm under xlogo still shown", n)
		}
		if n := count(img, left.Inset(4), green); n != left.Inset(4).Dx()*left.Inset(4).Dy() {
			return fmt.Errorf("the uncovered part of xterm shows %d green pixels", n)
		}
		return onlyBlack(img, img.Rect, left)
	})

	// Input: the real pointer over xlogo, which has focus (no window
	// manager: focus follows the pointer). Clicks, wheel, keys and moves
	// into xlogo are dropped; nothing is injected.
	center := logoR.Min.Add(logoR.Size().Div(2))
	xdo(t, x, "mousemove", "--sync", strconv.Itoa(center.X), strconv.Itoa(center.Y))
	in := chans[wire.ChannelInput]
	for _, m := range []wire.Message{&wire.MouseButton{Button: 1, Down: true}, &wire.MouseWheel{DY: 1},
		&wire.Key{Code: "KeyA", Down: true}, &wire.KeyTap{Code: "Enter"}, &wire.Text{Text: "rm -rf /"}} {
		wantError(t, call(t, in, m), wire.ErrCodeDenied, m.Type(), "dropped by the host")
	}
	wantPong := func(id uint32) {
		t.Helper()
		if p := call(t, in, &wire.Ping{ID: id}); p.(*wire.Pong).ID != id {
			t.Fatalf("pong %+v", p)
		}
	}
	for _, p := range []image.Point{center, {termR.Max.X + 5, termR.Max.Y + 5}, {-1, -1}} {
		if err := in.Send(&wire.MouseMove{X: int32(p.X), Y: int32(p.Y)}); err != nil {
			t.Fatal(err)
		}
	}
	wantPong(1)
	if n := inj.count(); n != 0 {
		t.Fatalf("%d input events injected outside the whitelisted window", n)
	}
	if n := events.count("refused"); n != 5 {
		t.Fatalf("%d refusals reported, want 5 (moves are dropped quietly)", n)
	}
	// Over xterm's visible part: pointer and keyboard pass.
	inTerm := left.Min.Add(image.Pt(10, 10))
	xdo(t, x, "mousemove", "--sync", strconv.Itoa(inTerm.X), strconv.Itoa(inTerm.Y))
	for _, m := range []wire.Message{&wire.MouseMove{X: int32(inTerm.X), Y: int32(inTerm.Y)}, &wire.MouseButton{Button: 1, Down: true},
		&wire.MouseButton{Button: 1}, &wire.KeyTap{Code: "Enter"}} {
		if err := in.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	wantPong(2)
	if n := inj.count(); n != 4 {
		t.Fatalf("%d input events injected inside the whitelisted window, want 4", n)
	}

	// xlogo closes: xterm shows whole again.
	if err := xlogo.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	scr.until("xterm whole again", noLogo, func(img *image.RGBA) error {
		if n := count(img, termInner, green); n != termInner.Dx()*termInner.Dy() {
			return fmt.Errorf("xterm shows %d green pixels of %d", n, termInner.Dx()*termInner.Dy())
		}
		return onlyBlack(img, img.Rect, termR)
	})

	// A third program opens over xterm mid-session: masked from its first frame on.
	at := termR.Min.Add(image.Pt(30, 30))
	startClient(t, x, "xclock", "-geometry", fmt.Sprintf("100x100+%d+%d", at.X, at.Y), "-bg", "#ff0000", "-fg", "#0000ff", "-hd", "#0000ff", "-hl", "#0000ff", "-bw", "0")
	clockR := image.Rect(at.X, at.Y, at.X+100, at.Y+100)
	scr.until("xclock over xterm masked", noLogo, func(img *image.RGBA) error {
		if n := count(img, clockR, green); n != 0 {
			return fmt.Errorf("%d pixels of xterm under xclock still shown", n)
		}
		if n := count(img, image.Rect(termR.Min.X, termR.Min.Y, termR.Max.X, clockR.Min.Y).Inset(4), green); n == 0 {
			return errors.New("xterm's uncovered top is not shown")
		}
		return onlyBlack(img, img.Rect, termR)
	})
}

// A whitelist naming another program masks everything, and a whitelist on a
// host that cannot enumerate windows refuses the session.
func TestWhitelistRefusedWhenUnenforceable(t *testing.T) {
	f, _, dev := startHostWith(t, &recordingInjector{}, func(o *Options) {
		o.Windows = func() (Windows, error) { return nil, fmt.Errorf("window enumeration: %w", errors.ErrUnsupported) }
	})
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "wl-no", Grant: whitelistGrant(t, f, "wl-no", dev,
		[]policy.GrantApp{{Executable: "xterm"}})})
	s := f.next(t, wire.SigError)
	if s.Code != "grant_refused" || s.Session != "wl-no" || !strings.Contains(s.Message, "cannot enforce the application whitelist") {
		t.Fatalf("got %+v, want the session refused because the whitelist cannot be enforced", s)
	}
	// Without a whitelist the same host still serves sessions.
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "plain", Grant: f.grant(t, "plain", dev,
		[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
	_, chans := guestPeer(t, f, "plain")
	recvType[*wire.ScreenFrame](t, chans[wire.ChannelScreen])
}

// The whitelist re-evaluates the window list twice per frame and once per
// input event; this is what one evaluation costs with real clients.
func BenchmarkWhitelistRefresh(b *testing.B) {
	x := captest.StartX(b, 1280, 720)
	for i := range 4 {
		if _, err := x.Run(context.Background(), "xlogo", "-geometry", fmt.Sprintf("100x100+%d+10", i*120)); err != nil {
			b.Skip(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := x.WaitWindow(ctx, "xlogo"); err != nil {
		b.Fatal(err)
	}
	w, err := OpenWindows(WindowsOptions{Display: x.Display})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	g := newAppGuard(w, []policy.GrantApp{{Executable: "xterm"}}, nil)
	for b.Loop() {
		if _, err := g.refresh(); err != nil {
			b.Fatal(err)
		}
	}
	wins, _ := w.List()
	b.ReportMetric(float64(len(wins)), "windows")
}

// xevLog records the kinds of events a real xev window receives.
type xevLog struct {
	mu     sync.Mutex
	events []string
}

func (l *xevLog) snapshot() []string { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.events) }

var xevEvent = regexp.MustCompile(`^(ButtonPress|ButtonRelease|KeyPress|KeyRelease) event`)

func startXev(t *testing.T, x *xvfb.Server, geom string) (xwin, *xevLog) {
	t.Helper()
	cmd := x.Command(context.Background(), "xev", "-name", "xev", "-geometry", geom, "-event", "button", "-event", "keyboard")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	l := &xevLog{}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := xevEvent.FindStringSubmatch(sc.Text()); m != nil {
				l.mu.Lock()
				l.events = append(l.events, m[1])
				l.mu.Unlock()
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := x.WaitWindow(ctx, "^xev$")
	if err != nil {
		t.Fatal(err)
	}
	return xwin{id: id, cmd: cmd}, l
}

// Real input (XTEST through the input package) into real windows: with
// only xterm whitelisted, a real xev window next to it receives no click,
// wheel or key; the pointer does not move onto it. Whitelisting xev in a
// second session lets the same input through, so the first result is not
// an artefact of the setup.
func TestWhitelistRealInput(t *testing.T) {
	for _, bin := range []string{"xterm", "xev", "xdotool", "xwininfo"} {
		needTool(t, bin)
	}
	x := captest.StartX(t, 640, 480)
	xterm := startClient(t, x, "xterm", "-geometry", "40x12+20+20", "-bw", "0")
	xev, seen := startXev(t, x, "200x200+400+40")
	termR, xevR := geometry(t, x, xterm), geometry(t, x, xev)
	if termR.Overlaps(xevR) {
		t.Fatalf("unexpected layout: xterm %v, xev %v", termR, xevR)
	}
	probe, err := input.Open(input.Options{Display: x.Display})
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("no input injection in this build: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	f, _, dev := startHostWith(t, nil, func(o *Options) {
		o.Input = func() (input.Injector, error) { return input.Open(input.Options{Display: x.Display, Logger: o.Logger}) }
		o.Windows = func() (Windows, error) { return OpenWindows(WindowsOptions{Display: x.Display, Logger: o.Logger}) }
	})
	mouse := func() image.Point { return captest.Pointer(t, x) }
	inXev := xevR.Min.Add(xevR.Size().Div(2))
	burst := []wire.Message{&wire.MouseButton{Button: 1, Down: true}, &wire.MouseButton{Button: 1},
		&wire.MouseWheel{DY: 1}, &wire.KeyTap{Code: "KeyA"}, &wire.Key{Code: "KeyB", Down: true}, &wire.Key{Code: "KeyB"}}

	for i, c := range []struct {
		exe  string
		want []string // what xev sees
	}{
		{"xterm", nil},
		{"xev", []string{"ButtonPress", "ButtonRelease", "ButtonPress", "ButtonRelease", "KeyPress", "KeyRelease", "KeyPress", "KeyRelease"}},
	} {
		sid := fmt.Sprintf("real-%d", i)
		f.push(&wire.Signal{Type: wire.SigGrant, Session: sid, Grant: whitelistGrant(t, f, sid, dev, []policy.GrantApp{{Executable: c.exe}})})
		p, chans := guestPeer(t, f, sid)
		in := chans[wire.ChannelInput]
		// The technician moves the pointer onto xev from inside xterm.
		start := termR.Min.Add(image.Pt(10, 10))
		xdo(t, x, "mousemove", "--sync", strconv.Itoa(start.X), strconv.Itoa(start.Y))
		if err := in.Send(&wire.MouseMove{X: int32(inXev.X), Y: int32(inXev.Y)}); err != nil {
			t.Fatal(err)
		}
		if pong := call(t, in, &wire.Ping{ID: 1}); pong.(*wire.Pong).ID != 1 {
			t.Fatalf("pong %+v", pong)
		}
		wantAt := start
		if c.want != nil {
			wantAt = inXev
		}
		if got := mouse(); got != wantAt {
			t.Fatalf("whitelist %s: pointer at %v after a move to xev, want %v", c.exe, got, wantAt)
		}
		// The local user puts the pointer (and so the focus) on xev; it is
		// there already if the technician's move passed (--sync would wait
		// for a motion that never comes).
		if mouse() != inXev {
			xdo(t, x, "mousemove", "--sync", strconv.Itoa(inXev.X), strconv.Itoa(inXev.Y))
		}
		before := len(seen.snapshot())
		for _, m := range burst {
			if err := in.Send(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := in.Send(&wire.Ping{ID: 2}); err != nil {
			t.Fatal(err)
		}
		refused := 0
		for done := false; !done; {
			switch m := recvType[wire.Message](t, in).(type) {
			case *wire.Pong:
				done = true
			case *wire.Error:
				if m.Code != wire.ErrCodeDenied {
					t.Fatalf("whitelist %s: %+v", c.exe, m)
				}
				refused++
			}
		}
		if wantRefused := map[bool]int{true: len(burst), false: 0}[c.want == nil]; refused != wantRefused {
			t.Fatalf("whitelist %s: %d inputs refused, want %d", c.exe, refused, wantRefused)
		}
		// An allowed burst must show up at xev; a refused one must not. A
		// marker click by xdotool after the burst bounds the wait without
		// timing: once xev reports it, anything injected before it is in.
		xdo(t, x, "click", "3")
		var got []string
		marked := false
		for deadline := time.Now().Add(20 * time.Second); !marked && time.Now().Before(deadline); {
			ev := seen.snapshot()[before:]
			if n := len(ev); n >= 2+len(c.want) && ev[n-1] == "ButtonRelease" && ev[n-2] == "ButtonPress" {
				got, marked = ev[:n-2], true
				break
			}
			time.Sleep(20 * time.Millisecond) // polling xev's output, not synchronising
		}
		if !marked {
			t.Fatalf("whitelist %s: xev never reported the marker click; saw %q", c.exe, seen.snapshot()[before:])
		}
		if !slices.Equal(got, c.want) {
			t.Fatalf("whitelist %s: xev saw %q, want %q", c.exe, got, c.want)
		}
		p.Close()
	}
}

// Under a real window manager (openbox) top-level windows are its frames
// and the clients are reparented into them: the whitelist still finds each
// frame's application, masks the other program's frame and client, and
// follows the keyboard focus the window manager gives.
func TestWhitelistUnderWindowManager(t *testing.T) {
	for _, bin := range []string{"openbox", "xterm", "xlogo", "xdotool", "xprop", "xwininfo"} {
		needTool(t, bin)
	}
	x := captest.StartX(t, 640, 480)
	if _, err := x.Run(context.Background(), "openbox", "--sm-disable"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		out, _ := x.Command(context.Background(), "xprop", "-root", "_NET_SUPPORTING_WM_CHECK").Output()
		if strings.Contains(string(out), "window id") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("openbox did not start")
		}
		time.Sleep(20 * time.Millisecond) // polling the root property, not synchronising
	}
	xterm := startClient(t, x, "xterm", "-geometry", "40x12+20+40", "-bg", "#00ff00", "-fg", "#00ff00", "-bw", "0")
	xlogo := startClient(t, x, "xlogo", "-geometry", "200x200+200+100", "-bg", "#ff0000", "-fg", "#0000ff", "-bw", "0")
	termR, logoR := geometry(t, x, xterm), geometry(t, x, xlogo)
	if !termR.Overlaps(logoR) {
		t.Fatalf("want xlogo over part of xterm: xterm %v, xlogo %v", termR, logoR)
	}

	inj := &recordingInjector{}
	f, _, dev := startHostWith(t, inj, func(o *Options) {
		o.Capture = func() (capture.Capturer, error) {
			return capture.Open(capture.Options{Display: x.Display, Logger: o.Logger})
		}
		o.Windows = func() (Windows, error) { return OpenWindows(WindowsOptions{Display: x.Display, Logger: o.Logger}) }
	})
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "wm", Grant: whitelistGrant(t, f, "wm", dev, []policy.GrantApp{{Executable: "xterm"}})})
	_, chans := guestPeer(t, f, "wm")
	scr := &guestScreen{t: t, ch: chans[wire.ChannelScreen], dec: codec.NewDecoder(codec.Limits{})}
	t.Cleanup(func() { scr.dec.Close() })
	noLogo := func(img *image.RGBA) error {
		if n := count(img, img.Rect, red) + count(img, img.Rect, blue); n > 0 {
			return fmt.Errorf("%d pixels of xlogo reached the guest", n)
		}
		return nil
	}
	visible := image.Rect(termR.Min.X, termR.Min.Y, logoR.Min.X, termR.Max.Y).Inset(4)
	scr.until("xterm's uncovered part shown, xlogo masked", noLogo, func(img *image.RGBA) error {
		if n := count(img, visible, green); n != visible.Dx()*visible.Dy() {
			return fmt.Errorf("xterm's uncovered part shows %d green pixels of %d", n, visible.Dx()*visible.Dy())
		}
		// xlogo's client and its frame's title bar (openbox draws about
		// 20 pixels above the client) are masked.
		title := image.Rect(logoR.Min.X, logoR.Min.Y-10, logoR.Max.X, logoR.Min.Y)
		if err := onlyBlack(img, title, image.Rectangle{}); err != nil {
			return err
		}
		return onlyBlack(img, logoR, image.Rectangle{})
	})

	// Focus on xlogo (the window manager focused the newest window; make
	// sure): keys dropped. Focus on xterm: keys pass.
	in := chans[wire.ChannelInput]
	xdo(t, x, "windowactivate", "--sync", xlogo.id)
	wantError(t, call(t, in, &wire.KeyTap{Code: "KeyA"}), wire.ErrCodeDenied, wire.TypeKeyTap, "focused window")
	xdo(t, x, "windowactivate", "--sync", xterm.id)
	if err := in.Send(&wire.Text{Text: "ok"}); err != nil {
		t.Fatal(err)
	}
	if p, isPong := call(t, in, &wire.Ping{ID: 3}).(*wire.Pong); !isPong || p.ID != 3 {
		t.Fatalf("keys to the focused xterm: got %+v before the pong", p)
	}
	if n := inj.count(); n != 1 {
		t.Fatalf("%d key events injected, want 1", n)
	}
}

// The X11 enumeration itself: stacking order, geometry and the executable
// behind each window, from the X server's own record of the client's PID
// (X-Resource) and, on servers without it, from _NET_WM_PID.
func TestX11WindowsList(t *testing.T) {
	for _, bin := range []string{"xterm", "xlogo", "xdotool", "xwininfo"} {
		needTool(t, bin)
	}
	x := captest.StartX(t, 640, 480)
	xterm := startClient(t, x, "xterm", "-geometry", "40x12+20+20", "-bw", "0")
	xlogo := startClient(t, x, "xlogo", "-geometry", "100x100+100+50", "-bw", "0")
	w, err := OpenWindows(WindowsOptions{Display: x.Display})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	xw := w.(*x11Windows)
	if !xw.hasRes {
		t.Fatal("Xvfb offers X-Resource 1.2; the enumeration did not use it")
	}
	exe := func(name string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatal(err)
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		return real
	}
	find := func(wins []TopWindow, id string) (int, TopWindow) {
		n, _ := strconv.ParseUint(id, 10, 64)
		for i, win := range wins {
			if win.ID == n {
				return i, win
			}
		}
		t.Fatalf("window %s not listed: %+v", id, wins)
		return 0, TopWindow{}
	}
	wins, err := w.List()
	if err != nil {
		t.Fatal(err)
	}
	it, term := find(wins, xterm.id)
	il, logo := find(wins, xlogo.id)
	if il < it {
		t.Errorf("xlogo (started last, on top) listed below xterm: %+v", wins)
	}
	if term.Exe != exe("xterm") || logo.Exe != exe("xlogo") {
		t.Errorf("executables %q, %q; want %q, %q", term.Exe, logo.Exe, exe("xterm"), exe("xlogo"))
	}
	if term.Rect != geometry(t, x, xterm) || logo.Rect != geometry(t, x, xlogo) {
		t.Errorf("rectangles %v, %v; xwininfo says %v, %v", term.Rect, logo.Rect, geometry(t, x, xterm), geometry(t, x, xlogo))
	}
	// Raising xterm reorders the list (a restack event, not a new window).
	xdo(t, x, "windowraise", xterm.id)
	wins, err = w.List()
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := find(wins, xterm.id); it != len(wins)-1 {
		t.Errorf("raised xterm is not on top: %+v", wins)
	}
	// Unmapped windows are not listed.
	xdo(t, x, "windowunmap", "--sync", xlogo.id)
	wins, err = w.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, win := range wins {
		if strconv.FormatUint(win.ID, 10) == xlogo.id {
			t.Errorf("unmapped xlogo still listed")
		}
	}

	// Without X-Resource only the client's own _NET_WM_PID counts: xterm
	// sets it; a window without it has no known executable (masked).
	xw.mu.Lock()
	xw.hasRes, xw.dirty, xw.exes = false, true, map[xproto.Window]string{}
	xw.mu.Unlock()
	wins, err = w.List()
	if err != nil {
		t.Fatal(err)
	}
	if _, term := find(wins, xterm.id); term.Exe != exe("xterm") {
		t.Errorf("xterm via _NET_WM_PID: %q", term.Exe)
	}
	// Focus follows the pointer without a window manager.
	r := geometry(t, x, xterm)
	xdo(t, x, "mousemove", "--sync", strconv.Itoa(r.Min.X+5), strconv.Itoa(r.Min.Y+5))
	if id, err := w.Focused(); err != nil || strconv.FormatUint(id, 10) != xterm.id {
		t.Errorf("Focused = %d, %v; want xterm %s", id, err, xterm.id)
	}
	if p, err := w.Pointer(); err != nil || p != r.Min.Add(image.Pt(5, 5)) {
		t.Errorf("Pointer = %v, %v", p, err)
	}
}

// With a whitelist, the pointer travels to the guest only over whitelisted
// windows: over xlogo (not whitelisted) neither its position nor its shape
// is sent.
func TestWhitelistHidesCursor(t *testing.T) {
	for _, bin := range []string{"xterm", "xlogo", "xdotool", "xwininfo"} {
		needTool(t, bin)
	}
	x := captest.StartX(t, 640, 480)
	xterm := startClient(t, x, "xterm", "-geometry", "40x12+20+20", "-bw", "0")
	xlogo := startClient(t, x, "xlogo", "-geometry", "200x200+400+40", "-bw", "0")
	termR, logoR := geometry(t, x, xterm), geometry(t, x, xlogo)
	f, _, dev := startHostWith(t, &recordingInjector{}, func(o *Options) {
		o.Capture = func() (capture.Capturer, error) {
			return capture.Open(capture.Options{Display: x.Display, Logger: o.Logger})
		}
		o.Windows = func() (Windows, error) { return OpenWindows(WindowsOptions{Display: x.Display, Logger: o.Logger}) }
	})
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "wlc", Grant: whitelistGrant(t, f, "wlc", dev,
		[]policy.GrantApp{{Name: "Terminal", Executable: "XTerm", Path: "/usr/bin"}})})
	_, chans := guestPeer(t, f, "wlc", wire.CapScreenTiles, wire.CapScreenTilesV2, wire.CapFragments, wire.CapCursor)
	ctl := chans[wire.ChannelControl]
	shapes := map[uint32]*wire.CursorShape{}
	in1 := termR.Min.Add(image.Pt(10, 10))
	xdotool(t, x, "mousemove", strconv.Itoa(in1.X), strconv.Itoa(in1.Y))
	waitPos(t, ctl, in1, shapes, nil)

	// Over xlogo, then back into xterm elsewhere: the first message after
	// the detour is the new xterm position, nothing from xlogo.
	out := logoR.Min.Add(image.Pt(50, 50))
	xdotool(t, x, "mousemove", strconv.Itoa(out.X), strconv.Itoa(out.Y))
	xdotool(t, x, "sleep", "0.3") // several cursor polls over xlogo
	in2 := termR.Min.Add(image.Pt(30, 40))
	xdotool(t, x, "mousemove", strconv.Itoa(in2.X), strconv.Itoa(in2.Y))
	for {
		switch m := recvType[wire.Message](t, ctl).(type) {
		case *wire.CursorShape:
			shapes[m.ID] = m
		case *wire.CursorPos:
			p := image.Pt(int(m.X), int(m.Y))
			if !p.In(termR) {
				t.Fatalf("cursor position %v outside the whitelisted xterm %v reached the guest", p, termR)
			}
			if p == in2 {
				return
			}
		case *wire.Ping:
			_ = ctl.Send((*wire.Pong)(m))
		}
	}
}
