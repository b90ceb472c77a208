package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The browser console against a real relay and a real Host on Xvfb, driven
// in Debian's headless chromium: the relay signals, Chromium's WebRTC talks
// to the Host's pion peer directly (or through the relay's TURN).

func TestBrowserConsole(t *testing.T) { runBrowserConsole(t, false) }

// TestBrowserConsoleTURNOnly forces the browser's ICE to relay candidates
// (iceTransportPolicy "relay"): the selected pair must be relayed.
func TestBrowserConsoleTURNOnly(t *testing.T) { runBrowserConsole(t, true) }

func runBrowserConsole(t *testing.T, relayOnly bool) {
	x := captest.StartX(t, 800, 600)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out := startReader(t, ctx, x)

	env := newEnv(t)
	h := env.startHost(t, x.Display, false)
	b := newConsoleBrowser(t, env, env.login(t).Token)
	// The Portal's My devices offers "Control through browser" for the
	// online Host; the test follows that link in the same tab.
	b.open(ctx, "/mydevices")
	path := b.eval(ctx, `document.querySelector('a[href^="/console/"]')?.getAttribute("href") || ""`)
	if path != "/console/?device="+h.deviceID {
		t.Fatalf("My devices links the console as %q", path)
	}
	if relayOnly {
		path += "&relay=1"
	}
	b.open(ctx, path)
	b.waitConnected(ctx)
	if v := b.eval(ctx, `tandemConsole.state.viewOnly`); v != "false" {
		t.Fatalf("the owner's console is view only (%s)", v)
	}

	pair := b.eval(ctx, `tandemConsole.selectedPair().then(p => p.local + "/" + p.remote)`)
	t.Logf("selected candidate pair (local/remote): %s", pair)
	if relayOnly && !strings.HasPrefix(pair, "relay/") {
		t.Fatalf("a relay-only console uses a %s pair, want a relayed local candidate", pair)
	}

	// 1. The canvas equals the X framebuffer pixel for pixel, and again
	// after the screen changes.
	b.matchScreen(ctx, x)
	if _, err := x.Run(ctx, "xterm", "-geometry", "30x6+420+300", "-title", "second", "-bg", "navy", "-e", "sh", "-c", "sleep 600"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.WaitWindow(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	b.matchScreen(ctx, x)

	// 2. Text typed in the browser (KeyboardEvent.code, the Shift of the
	// modifier toolbar for the next key) arrives in the xterm.
	b.click(ctx, 200, 150)
	b.typeKeys(ctx, "hello ")
	b.do(ctx, chromedp.Click(chromedp.CSS(`.mod[data-code="ShiftLeft"]`), chromedp.NodeVisible))
	b.typeKeys(ctx, "tandem 42\r")
	if got := waitFile(t, out, 20*time.Second); got != "hello Tandem 42" {
		t.Fatalf("the xterm's program read %q", got)
	}

	// 3. Disconnect ends the session on the Host.
	b.do(ctx, chromedp.Click(chromedp.CSS(`#disconnect`), chromedp.NodeVisible))
	if err := h.waitNoSessions(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserConsoleViewOnly: a role without keyboard_mouse gets a view-only
// console that still shows the screen; typing in it sends nothing, and
// input sent anyway is refused by the Host, whose xterm receives nothing.
func TestBrowserConsoleViewOnly(t *testing.T) {
	x := captest.StartX(t, 640, 480)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := startReader(t, ctx, x)
	env := newEnv(t)
	h := env.startHost(t, x.Display, false)
	_, c := env.roleClient(t, ctx, "viewer@example.com", policy.ViewScreen)
	b := newConsoleBrowser(t, env, c.Token)
	b.open(ctx, "/console/?device="+h.deviceID)
	b.waitConnected(ctx)
	if v := b.eval(ctx, `tandemConsole.state.viewOnly && !document.getElementById("mode").hidden`); v != "true" {
		t.Fatalf("a view_screen-only role's console is not view only")
	}
	b.matchScreen(ctx, x)

	b.click(ctx, 200, 150)
	b.typeKeys(ctx, "nope\r")
	// Input sent anyway (as a hostile page could) is refused by the Host.
	b.eval(ctx, `(() => { tandemConsole.sendInput(Uint8Array.of(0x23, 1, 4, 0x4b, 0x65, 0x79, 0x41)); return "sent"; })()`)
	b.poll(ctx, `tandemConsole.state.refusals.some(r => r.code === 2 && r.ref === 0x23)`, "the Host's refusal of a key")
	if n := b.eval(ctx, `String(tandemConsole.state.refusals.length)`); n != "1" {
		t.Fatalf("%s refusals: the view-only console sent input of its own", n)
	}
	if b, err := os.ReadFile(out); err == nil && len(b) > 0 {
		t.Fatalf("the xterm's program read %q in a view-only session", b)
	}
}

// TestBrowserConsoleOnDemand: from key to consent to pixels. The end user's
// agent joins with the key; the technician's My sessions shows it waiting
// with Start session, which opens the console (the key posted, not in the
// URL); the end user is asked and allows; the canvas shows their screen.
func TestBrowserConsoleOnDemand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	x, e, c, od := onDemandKey(t, ctx)
	ui := &allowUI{allow: true}
	e.onDemandAgent(t, ctx, x.Display, od.Key, ui)
	odState(t, ctx, c, od.Key, wire.OnDemandWaiting)

	b := newConsoleBrowser(t, e, c.Token)
	b.open(ctx, "/sessions")
	// Start session opens a new tab; here the same one.
	b.eval(ctx, `(() => { const f = document.querySelector('form[action="/console/"]'); f.removeAttribute("target"); f.submit(); return "ok"; })()`)
	b.poll(ctx, `location.pathname === "/console/" && location.search === "" && window.tandemConsole !== undefined`, "the console page")
	b.waitConnected(ctx)
	ui.mu.Lock()
	asked := len(ui.asked)
	ui.mu.Unlock()
	if asked != 1 {
		t.Fatalf("the end user was asked %d times", asked)
	}
	b.matchScreen(ctx, x)
	odState(t, ctx, c, od.Key, wire.OnDemandStarted)
}

// TestBrowserConsoleDrag: a mouse drag in the browser (press on a window's
// title bar, move, release) moves the window on the Host (openbox as its
// window manager).
func TestBrowserConsoleDrag(t *testing.T) {
	if _, err := exec.LookPath("openbox"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openbox is not installed (scripts/deps.sh TEST)")
		}
		t.Skip("openbox is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	x := captest.StartX(t, 640, 480)
	if _, err := x.Run(ctx, "openbox"); err != nil {
		t.Fatal(err)
	}
	// openbox is ready once it announces itself on the root window.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _ := x.Command(ctx, "xprop", "-root", "_NET_SUPPORTING_WM_CHECK").Output()
		if strings.Contains(string(out), "window id") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("openbox did not start: %s", out)
		}
	}
	if _, err := x.Run(ctx, "xterm", "-geometry", "40x8+100+100", "-title", "dragme", "-e", "sh", "-c", "exec sleep 600"); err != nil {
		t.Fatal(err)
	}
	// Reparented by openbox: found by xdotool (which searches the whole
	// tree), not among the root's children.
	if out, err := x.Command(ctx, "xdotool", "search", "--sync", "--name", "dragme").CombinedOutput(); err != nil {
		t.Fatalf("xdotool search: %v: %s", err, out)
	}
	// Where the client window is on the screen (xwininfo's absolute
	// position; xdotool's is off for reparented windows).
	where := func() (int, int) {
		out, err := x.Command(ctx, "xwininfo", "-name", "dragme").Output()
		if err != nil {
			t.Fatalf("xwininfo: %v", err)
		}
		var px, py int
		for _, l := range strings.Split(string(out), "\n") {
			l = strings.TrimSpace(l)
			if v, ok := strings.CutPrefix(l, "Absolute upper-left X:"); ok {
				fmt.Sscan(v, &px)
			}
			if v, ok := strings.CutPrefix(l, "Absolute upper-left Y:"); ok {
				fmt.Sscan(v, &py)
			}
		}
		return px, py
	}
	// Managed: openbox has put a title bar above the client (asked for
	// at +100+100, it moves down).
	x0, y0 := where()
	for deadline := time.Now().Add(30 * time.Second); y0 <= 100 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		x0, y0 = where()
	}
	if y0 <= 100 {
		t.Fatalf("openbox never framed the window (client at %d,%d)", x0, y0)
	}
	env := newEnv(t)
	h := env.startHost(t, x.Display, false)
	b := newConsoleBrowser(t, env, env.login(t).Token)
	b.open(ctx, "/console/?device="+h.deviceID)
	b.waitConnected(ctx)
	b.matchScreen(ctx, x) // the frame is drawn: its title bar is where the screen says
	// The title bar is just above the client window. A person's drag:
	// each event has reached the Host (its pointer is there) before the
	// next, so nothing depends on how the events are batched on the way.
	hx, hy := x0+60, y0-10
	at := func(want image.Point) {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if captest.Pointer(t, x) == want {
				return
			}
		}
		t.Fatalf("the Host's pointer never reached %v", want)
	}
	px, py := b.pagePoint(ctx, hx, hy)
	b.do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, px, py))
	at(image.Pt(hx, hy))
	b.do(ctx, chromedp.MouseEvent(chromedp.MousePressed, px, py, chromedp.ButtonType(input.MouseButtonLeft), chromedp.ClickCount(1)))
	for k := 1; k <= 10; k++ {
		p := image.Pt(hx+15*k, hy+8*k)
		px, py = b.pagePoint(ctx, p.X, p.Y)
		b.do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, px, py, chromedp.ButtonType(input.MouseButtonLeft)))
		at(p)
	}
	b.do(ctx, chromedp.MouseEvent(chromedp.MouseReleased, px, py, chromedp.ButtonType(input.MouseButtonLeft), chromedp.ClickCount(1)))
	var gx, gy int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if gx, gy = where(); gx == x0+150 && gy == y0+80 {
			return
		}
	}
	t.Fatalf("the window is at %d,%d after a drag by (150, 80) from %d,%d; the pointer at %v", gx, gy, x0, y0, captest.Pointer(t, x))
}

// TestBrowserConsoleClipboard: text copied on the Host reaches the console
// (and the browser's clipboard), and the browser's clipboard sent with
// Send clipboard is what the Host's applications paste; Lock input locks
// and unlocks the Host's local input.
func TestBrowserConsoleClipboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, h, x := deskEnv(t)
	b := newConsoleBrowser(t, e, e.login(t).Token)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(b.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: e.url}); err != nil {
			t.Fatalf("granting %s: %v", name, err)
		}
	}
	b.open(ctx, "/console/?device="+h.deviceID)
	b.waitConnected(ctx)

	captest.Copy(t, x, "copied on the host ✓")
	b.poll(ctx, `tandemConsole.state.clipboard === "copied on the host ✓"`, "the host's clipboard in the console")
	b.poll(ctx, `navigator.clipboard.readText().then(t => t === "copied on the host ✓")`, "the host's clipboard in the browser's")

	b.eval(ctx, `navigator.clipboard.writeText("from the browser 42").then(() => "ok")`)
	b.do(ctx, chromedp.Click(chromedp.CSS(`#clip-send`), chromedp.NodeVisible))
	var got string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, _ = captest.Paste(t, x); got == "from the browser 42" {
			break
		}
	}
	if got != "from the browser 42" {
		t.Fatalf("the host pastes %q (console notices: %s)", got, b.notices())
	}

	// Lock input, then unlock: the button follows the Host's state.
	b.do(ctx, chromedp.Click(chromedp.CSS(`#lock-input`), chromedp.NodeVisible))
	b.poll(ctx, `tandemConsole.state.local === 1 && document.getElementById("lock-input").getAttribute("aria-pressed") === "true"`, "the Host's input locked")
	b.do(ctx, chromedp.Click(chromedp.CSS(`#lock-input`), chromedp.NodeVisible))
	b.poll(ctx, `tandemConsole.state.local === 0 && document.getElementById("lock-input").getAttribute("aria-pressed") === "false"`, "the Host's input unlocked")
}

// startReader runs an xterm whose shell writes the first line it reads to
// the returned file.
func startReader(t *testing.T, ctx context.Context, x *xvfb.Server) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "typed.txt")
	if _, err := x.Run(ctx, "xterm", "-geometry", "50x12+40+40", "-title", "tandem-e2e",
		"-e", "sh", "-c", `printf 'TANDEM BROWSER READY\n'; IFS= read -r line; printf '%s' "$line" > `+out+`; sleep 600`); err != nil {
		t.Fatal(err)
	}
	if _, err := x.WaitWindow(ctx, "tandem-e2e"); err != nil {
		t.Fatal(err)
	}
	return out
}

func waitFile(t *testing.T, path string, within time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
	}
	return ""
}

type consoleBrowser struct {
	t    testing.TB
	ctx  context.Context
	base string
}

// newConsoleBrowser starts headless Chromium signed in to env's Portal
// with token (the __Host-tandem cookie, as the Portal's sign-in sets it).
func newConsoleBrowser(t testing.TB, env *env, token string) *consoleBrowser {
	t.Helper()
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (scripts/deps.sh TEST)")
		}
		t.Skip("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// WebRTC on 127.0.0.1, with plain host candidates (not mDNS names,
		// which pion would have to resolve by multicast).
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if _, err := chromedp.Call(bctx, network.SetCookie, network.SetCookieParams{Name: "__Host-tandem", Value: token,
		URL: env.url + "/", Path: "/", Secure: new(true), HTTPOnly: new(true), SameSite: network.CookieSameSiteStrict}); err != nil {
		t.Fatalf("setting the Portal cookie: %v", err)
	}
	// A headless page never has the focus the async Clipboard API wants.
	if _, err := chromedp.Call(bctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatalf("focus emulation: %v", err)
	}
	return &consoleBrowser{t: t, ctx: bctx, base: env.url}
}

func (b *consoleBrowser) do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	dctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if err := chromedp.Do(dctx, steps...); err != nil {
		b.t.Fatalf("%v (console notices: %s)", err, b.notices())
	}
}

func (b *consoleBrowser) notices() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.tandemConsole ? tandemConsole.state.notices : document.body.innerText)`))
	return s
}

// eval evaluates a JS expression (awaiting a promise) as a string.
func (b *consoleBrowser) eval(ctx context.Context, js string) string {
	b.t.Helper()
	v, err := b.tryEval(ctx, js)
	if err != nil {
		b.t.Fatalf("evaluating %s: %v (console notices: %s)", js, err, b.notices())
	}
	return v
}

func (b *consoleBrowser) tryEval(ctx context.Context, js string) (string, error) {
	ectx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	v, err := chromedp.Run(ectx, chromedp.Evaluate[any](js, chromedp.EvalAwaitPromise))
	return fmt.Sprint(v), err
}

// navigating reports an evaluation cut short because the page was being
// replaced (a form submitted, a redirect): the next poll asks the new page.
func navigating(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Inspected target navigated or closed") ||
		strings.Contains(msg, "Execution context was destroyed") ||
		strings.Contains(msg, "Cannot find context with specified id")
}

// poll waits until js is true, at most 60 s.
func (b *consoleBrowser) poll(ctx context.Context, js, what string) {
	b.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		v, err := b.tryEval(ctx, "Promise.resolve("+js+").then(Boolean)")
		switch {
		case err != nil && navigating(err) && ctx.Err() == nil:
			continue
		case err != nil:
			b.t.Fatalf("evaluating %s: %v (console notices: %s)", js, err, b.notices())
		case v == "true":
			return
		}
	}
	b.t.Fatalf("timed out waiting for %s (console notices: %s)", what, b.notices())
}

func (b *consoleBrowser) open(ctx context.Context, path string) {
	b.t.Helper()
	b.do(ctx, chromedp.Navigate(b.base+path))
}

func (b *consoleBrowser) waitConnected(ctx context.Context) {
	b.t.Helper()
	b.poll(ctx, `tandemConsole.state.phase === "connected" && tandemConsole.state.frames > 0`, "the console's first frame")
}

// pagePoint is where the Host's screen point (x, y) is on the page.
func (b *consoleBrowser) pagePoint(ctx context.Context, x, y int) (float64, float64) {
	b.t.Helper()
	pos := b.eval(ctx, fmt.Sprintf(`(() => { const r = document.getElementById("canvas").getBoundingClientRect(), s = tandemConsole.state;
  return (r.left + (%d + 0.5) * r.width / s.width) + "," + (r.top + (%d + 0.5) * r.height / s.height); })()`, x, y))
	var px, py float64
	if _, err := fmt.Sscanf(pos, "%g,%g", &px, &py); err != nil {
		b.t.Fatalf("canvas position %q: %v", pos, err)
	}
	return px, py
}

// click clicks the canvas at the Host's screen point (x, y).
func (b *consoleBrowser) click(ctx context.Context, x, y int) {
	b.t.Helper()
	px, py := b.pagePoint(ctx, x, y)
	b.do(ctx, chromedp.MouseClickXY(px, py))
}

// typeKeys types s into the focused console, key by key.
func (b *consoleBrowser) typeKeys(ctx context.Context, s string) {
	b.t.Helper()
	b.do(ctx, chromedp.KeyEvent(s))
}

// matchScreen waits until the console's canvas equals x's framebuffer
// pixel for pixel (the screen may still be changing), at most 60 s.
func (b *consoleBrowser) matchScreen(ctx context.Context, x *xvfb.Server) {
	b.t.Helper()
	b.matchRegion(ctx, x, image.Rect(0, 0, x.Width, x.Height))
}

// matchRegion waits until the console shows region r of x's screen (one
// monitor of it) and its canvas equals that part of the framebuffer.
func (b *consoleBrowser) matchRegion(ctx context.Context, x *xvfb.Server, want image.Rectangle) {
	b.t.Helper()
	var last error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ref, err := captest.GrabXWD(ctx, x)
		if err != nil {
			b.t.Fatal(err)
		}
		type snap struct {
			W, H   int
			Pix    string
			Origin struct{ X, Y int }
		}
		sctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		s, err := chromedp.Run(sctx, chromedp.Evaluate[snap](`tandemConsole.snapshot()`, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil {
			b.t.Fatalf("canvas snapshot: %v", err)
		}
		if got := image.Rect(s.Origin.X, s.Origin.Y, s.Origin.X+s.W, s.Origin.Y+s.H); got != want {
			last = fmt.Errorf("canvas shows %v, want %v", got, want)
			continue
		}
		rgba, err := base64.StdEncoding.DecodeString(s.Pix)
		if err != nil || len(rgba) != s.W*s.H*4 {
			b.t.Fatalf("canvas snapshot of %d bytes: %v", len(rgba), err)
		}
		// RGBA to BGRX for captest.CompareBGRX.
		for i := 0; i < len(rgba); i += 4 {
			rgba[i], rgba[i+2] = rgba[i+2], rgba[i]
		}
		if last = captest.CompareBGRX(rgba, s.W, s.H, s.W*4, ref, want.Min.X, want.Min.Y); last == nil {
			return
		}
	}
	b.t.Fatalf("the console's canvas differs from the X framebuffer: %v", last)
}
