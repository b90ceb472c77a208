package console

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The real-window test runs the console in a child process (this test
// binary again) because Fyne's event loop needs the main thread, which
// TestMain owns.
const childEnv = "TANDEM_CONSOLE_TEST_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		err := Run(ctx, Options{Logger: log, ConfigDir: dir, Transport: transport.Config{Loopback: true}, Refresh: time.Second})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "console:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	ownerEmail    = relaytest.OwnerEmail
	ownerPassword = relaytest.OwnerPassword
)

func skipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "" {
		tb.Skipf(format, args...)
	}
	tb.Fatalf(format, args...)
}

// startRelay serves a relay (HTTP and TURN) on 127.0.0.1 with an owner
// account; it returns its URL and a deployment package's enrollment key.
func startRelay(t *testing.T, log *slog.Logger, mods ...func(*relay.Config)) (string, string) {
	t.Helper()
	r := relaytest.Start(t, log, mods...)
	return r.URL, r.Key
}

// startHost enrolls and runs a real Host on display with real capture and
// input; it returns its hostname.
func startHost(t *testing.T, log *slog.Logger, url, key, display string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	suffix := make([]byte, 3)
	rand.Read(suffix)
	hostname := "console-" + hex.EncodeToString(suffix)
	inv := func() *wire.Inventory {
		return &wire.Inventory{Hostname: hostname, OS: "linux", Version: "test", User: "tester",
			Monitors: []wire.MonitorInfo{{Name: "screen", Width: 1, Height: 1, Primary: true}}}
	}
	cfg, err := installer.Enroll(ctx, nil, url, key, t.TempDir(), inv())
	if err != nil {
		t.Fatal(err)
	}
	relayKey, err := cfg.RelayKey()
	if err != nil {
		t.Fatal(err)
	}
	h, err := agent.New(agent.Options{RelayURL: cfg.RelayURL, DeviceID: cfg.DeviceID, Key: cfg.Key, RelayKey: relayKey,
		Version: "test", Logger: log, Transport: transport.Config{Loopback: true}, Inventory: inv,
		Capture: func() (capture.Capturer, error) { return capture.Open(capture.Options{Display: display, Logger: log}) },
		Input:   func() (input.Injector, error) { return input.Open(input.Options{Display: display, Logger: log}) },
		Files:   agent.FilesOptions{Root: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(rctx) }()
	t.Cleanup(func() {
		rcancel()
		_ = h.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("host Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("host did not stop")
		}
	})
	return hostname
}

// logLines collects the child's stderr and tells when a line contains text.
type logLines struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{}
}

func (l *logLines) read(r *bufio.Scanner) {
	for r.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, r.Text())
		close(l.more)
		l.more = make(chan struct{})
		l.mu.Unlock()
	}
}

func (l *logLines) wait(ctx context.Context, parts ...string) error {
	for i := 0; ; {
		l.mu.Lock()
		for ; i < len(l.lines); i++ {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l.lines[i], p)
			}
			if ok {
				l.mu.Unlock()
				return nil
			}
		}
		more := l.more
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("the console never logged %q", parts)
		case <-more:
		}
	}
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// textBands finds the horizontal bands of text in img's column x0..x1:
// runs of at least minH rows that hold pixels unlike the background (the
// most common colour); it returns their middles. Table grid lines are
// thinner and do not count.
func textBands(img *image.RGBA, x0, x1 int) []int {
	b := img.Bounds()
	hist := map[[3]uint8]int{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := x0; x < x1; x += 2 {
			o := img.PixOffset(x, y)
			hist[[3]uint8{img.Pix[o], img.Pix[o+1], img.Pix[o+2]}]++
		}
	}
	var bg [3]uint8
	for c, n := range hist {
		if n > hist[bg] {
			bg = c
		}
	}
	diff := func(a, b uint8) int {
		if a > b {
			return int(a - b)
		}
		return int(b - a)
	}
	const minH = 5
	var bands []int
	run := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		ink := 0
		for x := x0; x < x1; x++ {
			o := img.PixOffset(x, y)
			if diff(img.Pix[o], bg[0])+diff(img.Pix[o+1], bg[1])+diff(img.Pix[o+2], bg[2]) > 90 {
				ink++
			}
		}
		// Text has ink in a few places of a row; a grid line or a
		// border fills most of it.
		if ink > 0 && ink < (x1-x0)*3/4 {
			run++
			continue
		}
		if run >= minH {
			bands = append(bands, y-run/2)
		}
		run = 0
	}
	return bands
}

// TestConsoleWindow runs the console's real window under Xvfb against a
// real relay and Host: the technician types the password with xdotool, the
// console logs in, and the Host's row appears in the devices table (it
// logs the name and the screen shows one more line of text in the Name
// column than before the Host came online); clicking the row and Remote
// control connects and opens the remote-control window.
func TestConsoleWindow(t *testing.T) {
	for _, tool := range []string{"xdotool"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, "%s not installed", tool)
		}
	}
	x, err := xvfb.Start(1280, 800)
	if errors.Is(err, xvfb.ErrUnavailable) {
		skipOrFail(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	log := testLogger()
	url, key := startRelay(t, log)

	// The relay and user are remembered from an earlier login: the form
	// opens with the password focused.
	dir := t.TempDir()
	if err := guest.SaveState(dir, &guest.State{Relay: url, Email: ownerEmail}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(x.Env(), childEnv+"="+dir, "XDG_RUNTIME_DIR="+t.TempDir(), "FYNE_THEME=light")
	stderr, err := child.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &logLines{more: make(chan struct{})}
	readDone := make(chan struct{})
	go func() { logs.read(bufio.NewScanner(stderr)); close(readDone) }()
	t.Cleanup(func() {
		_ = child.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() { <-readDone; exited <- child.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("console exited with %v; its log:\n%s", err, logs)
			}
		case <-time.After(20 * time.Second):
			_ = child.Process.Kill()
			t.Error("the console did not quit on SIGTERM")
		}
	})

	win, err := x.WaitWindow(ctx, "^Tandem Console$")
	if err != nil {
		t.Fatalf("%v; console log:\n%s", err, logs)
	}
	xdo := func(args ...string) string {
		t.Helper()
		out, err := x.Command(ctx, "xdotool", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("xdotool %q: %v: %s", args, err, out)
		}
		return string(out)
	}
	xdo("windowfocus", "--sync", win)
	xdo("type", "--delay", "30", ownerPassword)
	xdo("key", "Return")

	// Logged in through the window: the token is remembered.
	for {
		if st, err := guest.LoadState(dir); err == nil && st.Token != "" && st.Email == ownerEmail {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the console did not log in; its log:\n%s", logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := logs.wait(ctx, "devices shown", "count=0"); err != nil {
		t.Fatalf("%v; log:\n%s", err, logs)
	}

	geo := map[string]int{}
	for _, kv := range strings.Fields(xdo("getwindowgeometry", "--shell", win)) {
		k, v, _ := strings.Cut(kv, "=")
		geo[k], _ = strconv.Atoi(v)
	}
	rect := image.Rect(geo["X"], geo["Y"], geo["X"]+geo["WIDTH"], geo["Y"]+geo["HEIGHT"])
	if rect.Dx() < 600 || rect.Dy() < 400 {
		t.Fatalf("window geometry %v", rect)
	}
	capt, err := capture.Open(capture.Options{Display: x.Display, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer capt.Close()
	// The Name column: right of the star column, left of Status.
	nameX0, nameX1 := 50, 230
	var bands []int
	shot := func() (*image.RGBA, int) {
		t.Helper()
		f, err := capt.Grab(rect, nil)
		if err != nil {
			t.Fatal(err)
		}
		img := f.RGBA()
		bands = textBands(img, nameX0, nameX1)
		return img, len(bands)
	}
	// Before the Host exists: the header lines and "No devices." Wait until
	// three grabs agree, so the main view is painted.
	var before int
	for same, last := 0, -1; same < 3; {
		_, n := shot()
		if n == last && n > 0 {
			same++
		} else {
			same, last = 1, n
		}
		before = n
		select {
		case <-ctx.Done():
			t.Fatal("the main view never settled")
		case <-time.After(150 * time.Millisecond):
		}
	}

	hostname := startHost(t, log, url, key, x.Display)
	if err := logs.wait(ctx, "devices shown", "count=1", hostname); err != nil {
		t.Fatalf("%v; log:\n%s", err, logs)
	}
	var img *image.RGBA
	for n := 0; n <= before; {
		img, n = shot()
		select {
		case <-ctx.Done():
			t.Fatalf("the devices table shows no new row (%d text lines in the Name column before and after)", before)
		case <-time.After(150 * time.Millisecond):
		}
	}
	path := filepath.Join(t.TempDir(), "console.png")
	if out := os.Getenv("TANDEM_TEST_SCREENSHOT"); out != "" {
		path = out
	}
	if f, err := os.Create(path); err == nil {
		_ = png.Encode(f, img)
		f.Close()
		t.Logf("screenshot: %s (%d text lines in the Name column before the Host, more after)", path, before)
	}

	// Select the Host's row (the last line of text in the Name column) and
	// press Remote control (right of the bar above the table): the console
	// connects through the relay and opens the session window.
	rowY := bands[len(bands)-1] // the grab is window-relative
	xdo("mousemove", "--window", win, "150", strconv.Itoa(rowY), "click", "1")
	xdo("mousemove", "--window", win, strconv.Itoa(rect.Dx()-237), "141", "click", "1")
	if _, err := x.WaitWindow(ctx, "^"+hostname+"$"); err != nil {
		t.Fatalf("no session window: %v; console log:\n%s", err, logs)
	}
}
