package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xvfb"
)

// xevLog runs xev on a window of x and keeps what it prints: the X events
// (buttons, wheel notches as buttons 4 and 5, motion) the Host injected.
type xevLog struct {
	out *syncBuffer
}

var xevEvent = regexp.MustCompile(`(?s)(ButtonPress|ButtonRelease|MotionNotify) event,.*?root:\((-?\d+),(-?\d+)\),\s*state (0x[0-9a-f]+), (?:button (\d+)|is_hint)`)

type xEvent struct {
	kind         string
	x, y, button int
	state        int
}

func (l *xevLog) events() []xEvent {
	var out []xEvent
	for _, m := range xevEvent.FindAllStringSubmatch(l.out.String(), -1) {
		e := xEvent{kind: m[1]}
		e.x, _ = strconv.Atoi(m[2])
		e.y, _ = strconv.Atoi(m[3])
		st, _ := strconv.ParseInt(m[4], 0, 32)
		e.state = int(st)
		e.button, _ = strconv.Atoi(m[5])
		out = append(out, e)
	}
	return out
}

// waitEvents polls until pred holds for the events so far, at most 30 s.
func (l *xevLog) waitEvents(t *testing.T, what string, pred func([]xEvent) bool) []xEvent {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ev := l.events(); pred(ev) {
			return ev
		}
	}
	t.Fatalf("the Host never produced %s; xev saw %+v", what, l.events())
	return nil
}

func count(ev []xEvent, kind string, button int) int {
	n := 0
	for _, e := range ev {
		if e.kind == kind && e.button == button {
			n++
		}
	}
	return n
}

// hostPoint is where the Host's screen point (x, y) is on the page, for
// the monitor the console shows (its origin).
func (b *consoleBrowser) hostPoint(ctx context.Context, x, y int) (float64, float64) {
	b.t.Helper()
	pos := b.eval(ctx, fmt.Sprintf(`(() => { const r = document.getElementById("canvas").getBoundingClientRect(), s = tandemConsole.state;
  return (r.left + (%d - s.origin.x + 0.5) * r.width / s.width) + "," + (r.top + (%d - s.origin.y + 0.5) * r.height / s.height); })()`, x, y))
	var px, py float64
	if _, err := fmt.Sscanf(pos, "%g,%g", &px, &py); err != nil {
		b.t.Fatalf("canvas position %q: %v", pos, err)
	}
	return px, py
}

// TestBrowserConsoleFeatures runs the browser console's wheel, touch, chat,
// monitor picker, power confirmations and file transfer against one real
// relay, one Host on an Xvfb split into two monitors (LEFT and RIGHT,
// primary) and one headless Chromium: one fixture, six checks.
func TestBrowserConsoleFeatures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	const W, H = 1280, 480
	x := captest.StartX(t, W, H)
	captest.SplitScreen(t, x.Display, W, H)
	xev := &xevLog{out: &syncBuffer{}}
	cmd := x.Command(ctx, "xev", "-geometry", "400x300+100+100", "-name", "xevwin", "-event", "mouse")
	cmd.Stdout = xev.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if _, err := x.WaitWindow(ctx, "xevwin"); err != nil {
		t.Fatal(err)
	}
	power := &recordedPower{}
	chat := &chatScreen{shown: make(chan agent.ChatMessage, 16)}
	root := t.TempDir()
	env := newEnv(t)
	h := env.startHost(t, x.Display, false, func(o *agent.Options) {
		o.Power = power
		o.ChatUI = chat
		o.Files.Root = root
	})
	b := newConsoleBrowser(t, env, env.login(t).Token)
	b.open(ctx, "/console/?device="+h.deviceID)
	b.waitConnected(ctx)
	b.matchScreen(ctx, x) // all monitors at first
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = t }()
			f(t)
		})
	}
	run("wheel", func(t *testing.T) { browserWheel(t, ctx, b, xev) })
	run("touch", func(t *testing.T) { browserTouch(t, ctx, b, xev) })
	run("chat", func(t *testing.T) { browserChat(t, ctx, b, chat) })
	run("power", func(t *testing.T) { browserPower(t, ctx, b, power) })
	run("files", func(t *testing.T) { browserFiles(t, ctx, b, root) })
	run("monitors", func(t *testing.T) { browserMonitors(t, ctx, b, x) })
}

// browserWheel: wheel notches in the browser (100 pixels each) are the
// Host's wheel buttons: 5 down, 4 up, at the pointer.
func browserWheel(t *testing.T, ctx context.Context, b *consoleBrowser, xev *xevLog) {
	px, py := b.hostPoint(ctx, 300, 250)
	b.do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, px, py))
	wheel := func(dy float64) {
		// Raw parameters: the typed ones omit a zero deltaX, which
		// Chromium requires.
		if _, err := chromedp.Call(b.ctx, cdp.Command[map[string]any, cdp.Empty]{Method: input.CommandDispatchMouseEvent},
			map[string]any{"type": "mouseWheel", "x": px, "y": py, "deltaX": 0, "deltaY": dy}); err != nil {
			t.Fatal(err)
		}
	}
	wheel(300)
	ev := xev.waitEvents(t, "3 notches down", func(ev []xEvent) bool { return count(ev, "ButtonPress", 5) >= 3 })
	wheel(-100)
	wheel(-100)
	ev = xev.waitEvents(t, "2 notches up", func(ev []xEvent) bool { return count(ev, "ButtonPress", 4) >= 2 })
	if n, m := count(ev, "ButtonPress", 5), count(ev, "ButtonPress", 4); n != 3 || m != 2 {
		t.Fatalf("%d notches down and %d up, want 3 and 2", n, m)
	}
	for _, e := range ev {
		if e.kind == "ButtonPress" && (e.button == 4 || e.button == 5) && (e.x != 300 || e.y != 250) {
			t.Fatalf("a notch at %d,%d, want at the pointer 300,250", e.x, e.y)
		}
	}
}

// browserTouch: on a touch screen, a tap is a left click where the finger
// was, and a finger drag is a left-button drag (the page, not the browser,
// gets the moves: touch-action none).
func browserTouch(t *testing.T, ctx context.Context, b *consoleBrowser, xev *xevLog) {
	if _, err := chromedp.Call(b.ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: 5}); err != nil {
		t.Fatal(err)
	}
	defer chromedp.Call(b.ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: false})
	touch := func(typ input.DispatchTouchEventType, hx, hy int) {
		px, py := b.hostPoint(ctx, hx, hy)
		pts := []*input.TouchPoint{{X: px, Y: py}}
		if typ == input.DispatchTouchEventTypeTouchEnd {
			pts = []*input.TouchPoint{}
		}
		if _, err := chromedp.Call(b.ctx, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: pts}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(xev.events())
	touch(input.DispatchTouchEventTypeTouchStart, 200, 150)
	touch(input.DispatchTouchEventTypeTouchEnd, 200, 150)
	ev := xev.waitEvents(t, "a tap's click", func(ev []xEvent) bool { return count(ev[before:], "ButtonRelease", 1) >= 1 })[before:]
	if count(ev, "ButtonPress", 1) != 1 || count(ev, "ButtonRelease", 1) != 1 {
		t.Fatalf("a tap gave %+v", ev)
	}
	for _, e := range ev {
		if e.kind != "MotionNotify" && (e.x != 200 || e.y != 150) {
			t.Fatalf("the tap clicked at %d,%d, want 200,150", e.x, e.y)
		}
	}

	before = len(xev.events())
	touch(input.DispatchTouchEventTypeTouchStart, 150, 300)
	for k := 1; k <= 5; k++ {
		touch(input.DispatchTouchEventTypeTouchMove, 150+30*k, 300-20*k)
	}
	touch(input.DispatchTouchEventTypeTouchEnd, 300, 200)
	ev = xev.waitEvents(t, "a finger drag", func(ev []xEvent) bool { return count(ev[before:], "ButtonRelease", 1) >= 1 })[before:]
	var press, release *xEvent
	held := 0
	for i, e := range ev {
		switch {
		case e.kind == "ButtonPress" && e.button == 1:
			press = &ev[i]
		case e.kind == "ButtonRelease" && e.button == 1:
			release = &ev[i]
		case e.kind == "MotionNotify" && e.state&0x100 != 0 && press != nil && release == nil:
			held++ // moved with the left button down
		}
	}
	if press == nil || release == nil || press.x != 150 || press.y != 300 || release.x != 300 || release.y != 200 || held < 3 {
		t.Fatalf("a finger drag from 150,300 to 300,200 gave press %+v, release %+v, %d moves held: %+v", press, release, held, ev)
	}
}

// browserChat: the console's chat reaches the Host's user and their reply
// the console.
func browserChat(t *testing.T, ctx context.Context, b *consoleBrowser, chat *chatScreen) {
	b.do(ctx, chromedp.Click(chromedp.CSS(`#chat-toggle`), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS(`#chat-text`), "Hello from the browser", chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`#chat-form button`), chromedp.NodeVisible))
	m := chat.next(t)
	if m.Text != "Hello from the browser" || !strings.Contains(m.Technician, ownerEmail) {
		t.Fatalf("the local user saw %+v", m)
	}
	if err := m.Reply("Go ahead ✓"); err != nil {
		t.Fatal(err)
	}
	b.poll(ctx, `document.getElementById("chat-log").textContent.includes("Device: Go ahead ✓")`, "the reply in the console's chat")
	b.do(ctx, chromedp.Click(chromedp.CSS(`#chat-toggle`), chromedp.NodeVisible)) // closed again
}

// browserPower: Lock and Ctrl+Alt+Del go at once; Log out, Restart and
// Shut down ask first, and the Host hears of them only after an OK (a
// Cancel sends nothing). The Host's power hook records instead of acting.
func browserPower(t *testing.T, ctx context.Context, b *consoleBrowser, power *recordedPower) {
	dialogs := make(chan string, 4)
	lctx, lcancel := context.WithCancel(b.ctx)
	defer lcancel()
	chromedp.Listen(lctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs <- d.Message
		}
	})
	wantPower := 0 // actions carried out when the next confirmation opens
	choose := func(v int) {
		// Dispatched from a timer: the evaluation must not wait on the
		// confirm dialog it opens.
		b.eval(ctx, fmt.Sprintf(`(() => { setTimeout(() => { const s = document.getElementById("power"); s.value = "%d"; s.dispatchEvent(new Event("change")); }); return "ok"; })()`, v))
	}
	answer := func(want string, accept bool) {
		select {
		case msg := <-dialogs:
			if !strings.Contains(msg, want) {
				t.Fatalf("the confirmation says %q, want it to name %q", msg, want)
			}
			if n := len(power.list()); n != wantPower {
				t.Fatalf("the Host received %v before the technician confirmed", power.list())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no confirmation for %s", want)
		}
		if _, err := chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept}); err != nil {
			t.Fatal(err)
		}
	}
	waitPower := func(want ...agent.PowerAction) {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if got := power.list(); fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
		}
		t.Fatalf("the Host carried out %v, want %v", power.list(), want)
	}
	choose(3) // Restart, cancelled
	answer("Restart", false)
	choose(2) // Lock: no question, and after the cancelled Restart
	waitPower(agent.PowerLock)
	select {
	case msg := <-dialogs:
		t.Fatalf("Lock asked %q", msg)
	default:
	}
	wantPower = 1
	choose(3)
	answer("Restart", true)
	waitPower(agent.PowerLock, agent.PowerRestart)
	wantPower = 2
	choose(4)
	answer("Shut down", true)
	waitPower(agent.PowerLock, agent.PowerRestart, agent.PowerShutdown)
	wantPower = 3
	choose(1)
	answer("Log out", true)
	waitPower(agent.PowerLock, agent.PowerRestart, agent.PowerShutdown, agent.PowerLogout)
}

// browserFiles: an upload through the page's file input and a download
// through the Files panel arrive byte for byte; a name leaving the Host's
// folder is refused by the Host; a cancelled upload leaves no file; a
// download over the browser's limit is refused before its bytes come.
func browserFiles(t *testing.T, ctx context.Context, b *consoleBrowser, root string) {
	dl := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl}); err != nil {
		t.Fatal(err)
	}
	b.do(ctx, chromedp.Click(chromedp.CSS(`#files-toggle`), chromedp.NodeVisible))
	b.poll(ctx, `document.getElementById("files-path").textContent === "/"`, "the Host's folder listed")

	// Upload through the file input.
	local := filepath.Join(t.TempDir(), "report.bin")
	data := randomFile(t, local, 3<<20+4321)
	b.do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`#file-input`), []string{local}))
	b.poll(ctx, `tandemConsole.state.transfers.some(t => t.name === "report.bin" && t.status === "done")`, "the upload done")
	sameFile(t, filepath.Join(root, "report.bin"), data)
	b.poll(ctx, `tandemConsole.state.listing.some(e => e.name === "report.bin")`, "the upload listed")

	// Download from the panel.
	want := randomFile(t, filepath.Join(root, "from-host.bin"), 2<<20+777)
	b.eval(ctx, `tandemConsole.listFolder("").then(String)`)
	b.do(ctx, chromedp.Click(chromedp.CSS(`#files-list button[data-name="from-host.bin"]`), chromedp.NodeVisible))
	b.poll(ctx, `tandemConsole.state.transfers.some(t => t.name === "from-host.bin" && t.status === "done" && t.done === t.total && t.total === `+strconv.Itoa(len(want))+`)`, "the download done")
	var got []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, _ = os.ReadFile(filepath.Join(dl, "from-host.bin")); len(got) == len(want) {
			break
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the browser saved %d bytes, want the Host's %d", len(got), len(want))
	}

	// Hostile names: the Host refuses, nothing lands outside its folder.
	before, _ := os.ReadDir(filepath.Dir(root))
	for _, name := range []string{"../escape.bin", "/etc/escape.bin", "a/../../escape.bin"} {
		r := b.eval(ctx, `tandemConsole.upload(new File([new Uint8Array(64)], "x"), `+strconv.Quote(name)+`).then(t => t.status + " " + t.error)`)
		if !strings.HasPrefix(r, "failed ") || !strings.Contains(r, "refused") {
			t.Errorf("upload to %q: %s", name, r)
		}
	}
	if after, _ := os.ReadDir(filepath.Dir(root)); len(after) != len(before) {
		t.Fatalf("entries next to the Host's folder changed: %d → %d", len(before), len(after))
	}

	// Cancel after the first chunk: no file in place; the session goes on.
	r := b.eval(ctx, `tandemConsole.upload(new File([new Uint8Array(4 << 20)], "big.bin"), "big.bin",
  { onProgress: (t) => { if (t.done > 0) t.cancel(); } }).then(t => t.status + " " + t.error)`)
	if r != "failed cancelled" {
		t.Fatalf("the cancelled upload ended %q", r)
	}
	if _, err := os.Stat(filepath.Join(root, "big.bin")); err == nil {
		t.Fatal("the cancelled upload is in place")
	}
	// Over the browser's download limit (a sparse file on the Host).
	big := filepath.Join(root, "huge.iso")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 600<<20); err != nil {
		t.Fatal(err)
	}
	r = b.eval(ctx, `tandemConsole.download("huge.iso").then(t => t.status + " " + t.code + " " + t.done)`)
	if r != "failed 7 0" {
		t.Fatalf("the oversized download ended %q", r)
	}
	if n, _ := strconv.Atoi(b.eval(ctx, `tandemConsole.listFolder("").then(String)`)); n < 3 {
		t.Fatalf("the listing after all that has %d entries, want report.bin, from-host.bin and huge.iso", n)
	}
}

// browserMonitors: the View's monitor picker lists the Host's two
// monitors; choosing one shows exactly that part of the screen, and input
// lands on it (the canvas's origin is the monitor's).
func browserMonitors(t *testing.T, ctx context.Context, b *consoleBrowser, x *xvfb.Server) {
	opts := b.eval(ctx, `Array.from(document.getElementById("monitor").options, o => o.value + "=" + o.textContent).join("|")`)
	idx := map[string]string{}
	for _, o := range strings.Split(opts, "|") {
		v, text, _ := strings.Cut(o, "=")
		idx[strings.Fields(text)[0]] = v
	}
	if len(idx) != 3 || idx["All"] != "-1" || idx["LEFT"] == "" || idx["RIGHT"] == "" {
		t.Fatalf("the monitor picker offers %q", opts)
	}
	pick := func(v string) {
		b.eval(ctx, `(() => { const s = document.getElementById("monitor"); s.value = "`+v+`"; s.dispatchEvent(new Event("change")); return "ok"; })()`)
	}
	pick(idx["RIGHT"])
	b.matchRegion(ctx, x, image.Rect(x.Width/2, 0, x.Width, x.Height))
	px, py := b.hostPoint(ctx, x.Width/2+100, 60)
	b.do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, px, py))
	waitPointer(t, x, image.Pt(x.Width/2+100, 60))
	pick(idx["LEFT"])
	b.matchRegion(ctx, x, image.Rect(0, 0, x.Width/2, x.Height))
	px, py = b.hostPoint(ctx, 40, 30)
	b.do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, px, py))
	waitPointer(t, x, image.Pt(40, 30))
	pick(idx["All"])
	b.matchScreen(ctx, x)
}

func waitPointer(t *testing.T, x *xvfb.Server, want image.Point) {
	t.Helper()
	var got image.Point
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = captest.Pointer(t, x); got == want {
			return
		}
	}
	t.Fatalf("the Host's pointer is at %v, want %v", got, want)
}
