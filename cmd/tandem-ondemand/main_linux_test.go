package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/setupname"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/transport/wire"
)

// joinStandIn stands in for the relay's POST /api/v1/ondemand/join only
// (the relay side is built separately; the end-to-end test runs both).
// The agent's WebSocket gets a 404 there, so the agent stays in the queue.
type joinStandIn struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []wire.OnDemandJoinRequest
}

func newJoinStandIn(t *testing.T) *joinStandIn {
	j := &joinStandIn{}
	relayPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	j.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/ondemand/join" {
			http.NotFound(w, r)
			return
		}
		var req wire.OnDemandJoinRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		j.mu.Lock()
		j.reqs = append(j.reqs, req)
		j.mu.Unlock()
		if req.Key == "999999999" {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(wire.APIError{Error: wire.APIErrorBody{Code: "invalid_key", Message: "no such session key"}})
			return
		}
		_ = json.NewEncoder(w).Encode(wire.OnDemandJoinResponse{DeviceID: "od-1", AccountID: "acct",
			RelayPublicKey: base64.StdEncoding.EncodeToString(relayPub), ExpiresAt: time.Now().Add(time.Hour).Unix(),
			Technician: "Tess Tech"})
	})}}
	j.srv.Start()
	t.Cleanup(j.srv.Close)
	return j
}

func (j *joinStandIn) joined() []wire.OnDemandJoinRequest {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]wire.OnDemandJoinRequest(nil), j.reqs...)
}

// buildAgent builds this command once into dir.
func buildAgent(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tandem-ondemand")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// dotPixels counts the pixels of the "Waiting for assistance…" dot's colour.
func dotPixels(d *captest.XWD) int {
	n := 0
	for y := 0; y < d.Height; y++ {
		for x := 0; x < d.Width; x++ {
			r, g, b := d.At(x, y)
			if near(r, 0x1e) && near(g, 0x88) && near(b, 0xe5) {
				n++
			}
		}
	}
	return n
}

// windowPixels counts pixels that are not the bare root's black: the
// drawn window, in either theme.
func windowPixels(d *captest.XWD) int {
	n := 0
	for i := 0; i+2 < len(d.RGB); i += 3 {
		if d.RGB[i]|d.RGB[i+1]|d.RGB[i+2] != 0 {
			n++
		}
	}
	return n
}

// redPixels counts the error text's pixels.
func redPixels(d *captest.XWD) int {
	n := 0
	for i := 0; i+2 < len(d.RGB); i += 3 {
		if d.RGB[i] > 0xd0 && d.RGB[i+1] < 0x80 && d.RGB[i+2] < 0x80 {
			n++
		}
	}
	return n
}

func near(a, b byte) bool { return a >= b-4 && a <= b+4 }

// screenUntil grabs the screen until ok holds; it saves the last grab as
// PNG in $TANDEM_SCREENSHOTS when set (to look at).
func screenUntil(t *testing.T, ctx context.Context, x *xvfb.Server, what string, ok func(*captest.XWD) bool) *captest.XWD {
	t.Helper()
	for {
		d, err := captest.GrabXWD(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if ok(d) {
			savePNG(t, what, d)
			return d
		}
		select {
		case <-ctx.Done():
			savePNG(t, what, d)
			t.Fatalf("the screen never showed %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func savePNG(t *testing.T, name string, d *captest.XWD) {
	dir := os.Getenv("TANDEM_SCREENSHOTS")
	if dir == "" {
		return
	}
	img := image.NewRGBA(image.Rect(0, 0, d.Width, d.Height))
	for i := 0; i < d.Width*d.Height; i++ {
		copy(img.Pix[i*4:], d.RGB[i*3:i*3+3])
		img.Pix[i*4+3] = 0xff
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	_ = os.WriteFile(filepath.Join(dir, name+".png"), b.Bytes(), 0o644)
}

// nothingLeft fails if any of dirs holds anything.
func nothingLeft(t *testing.T, out *bytes.Buffer, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		var left []string
		_ = filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error {
			if p != dir {
				left = append(left, p)
			}
			return nil
		})
		if len(left) != 0 {
			t.Fatalf("left behind: %v\n%s", left, out)
		}
	}
}

// TestWindowUnderX runs the real program on a private X server: the key
// entry shows, the user types the key and presses Enter, the window shows
// "Waiting for assistance…" (its dot), Ctrl+Shift+X ends it, Space on
// Close exits with status 0, and nothing was left in the home or temporary folders.
// Then a copy named as the relay serves it joins with nothing typed, and
// a wrong key exits with status 1 and the reason.
func TestWindowUnderX(t *testing.T) {
	for _, tool := range []string{"xdotool", "xwd"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing", tool)
			}
			t.Skipf("no %s", tool)
		}
	}
	x := captest.StartX(t, 640, 400)
	j := newJoinStandIn(t)
	bin := buildAgent(t, t.TempDir())
	home, tmp := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := func(bin string, args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.CommandContext(ctx, bin, args...)
		// A hung program dumps its goroutines (SIGQUIT) before it is killed.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
		cmd.WaitDelay = 10 * time.Second
		cmd.Env = append(x.Env(), "HOME="+home, "TMPDIR="+tmp, "XDG_CONFIG_HOME=", "XDG_CACHE_HOME=", "XDG_DATA_HOME=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		return cmd, &out
	}
	xdo := func(args ...string) {
		t.Helper()
		if out, err := x.Command(ctx, "xdotool", args...).CombinedOutput(); err != nil {
			t.Fatalf("xdotool %v: %v %s", args, err, out)
		}
	}

	cmd, out := start(bin, "--relay", j.srv.URL, "--ice-loopback")
	win, err := x.WaitWindow(ctx, "Tandem OnDemand")
	if err != nil {
		t.Fatalf("no window: %v\n%s", err, out)
	}
	// The key entry: a drawn window, no status dot yet.
	d := screenUntil(t, ctx, x, "entry", func(d *captest.XWD) bool { return windowPixels(d) > 50000 })
	if n := dotPixels(d); n != 0 {
		t.Fatalf("%d status-dot pixels before connecting", n)
	}
	xdo("windowfocus", "--sync", win)
	xdo("type", "--delay", "20", "613 220 463")
	xdo("key", "Return")
	screenUntil(t, ctx, x, "waiting", func(d *captest.XWD) bool { return dotPixels(d) > 60 })
	reqs := j.joined()
	if len(reqs) != 1 || reqs[0].Key != "613220463" || reqs[0].Inventory == nil || reqs[0].Inventory.Hostname == "" {
		t.Fatalf("joins %+v", reqs)
	}

	// The hotkey, whatever has the focus: leaves the queue at once.
	xdo("key", "ctrl+shift+x")
	screenUntil(t, ctx, x, "ended", func(d *captest.XWD) bool { return dotPixels(d) == 0 && windowPixels(d) > 50000 })
	xdo("windowfocus", "--sync", win)
	xdo("key", "space") // Close has the focus
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	nothingLeft(t, out, home, tmp)

	// Served under its link's name: relay and key come from the name.
	name, err := setupname.OnDemandName(j.srv.URL, "111222333", "")
	if err != nil {
		t.Fatal(err)
	}
	named := filepath.Join(filepath.Dir(bin), name)
	if err := os.Rename(bin, named); err != nil {
		t.Fatal(err)
	}
	cmd, out = start(named, "--ice-loopback")
	screenUntil(t, ctx, x, "named", func(d *captest.XWD) bool { return dotPixels(d) > 60 })
	if reqs := j.joined(); len(reqs) != 2 || reqs[1].Key != "111222333" {
		t.Fatalf("joins %+v", reqs)
	}
	// SIGTERM ends it like Disconnect: status 0.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, out)
	}
	nothingLeft(t, out, home, tmp)

	// A wrong key: the window says so; closing it then exits with status
	// 1 and the reason.
	cmd, out = start(named, "--ice-loopback", "--key", "999 999 999")
	screenUntil(t, ctx, x, "wrong-key", func(d *captest.XWD) bool { return redPixels(d) > 50 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out.String(), "does not know this session key") {
		t.Fatalf("wrong key: exit %v\n%s", err, out)
	}
	nothingLeft(t, out, home, tmp)
}
