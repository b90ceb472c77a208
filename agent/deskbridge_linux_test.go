package agent

import (
	"bytes"
	"context"
	"errors"
	"image"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/captest"
)

// TestHelperBridge: the Windows service's link to its console helper,
// with the helper serving a real X capture and real input: the service's
// grabs are the screen's pixels, its pointer moves reach the X server, and
// a connection without the secret is dropped.
func TestHelperBridge(t *testing.T) {
	x := captest.StartX(t, 320, 240)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := x.Command(ctx, "xsetroot", "-solid", "#3366cc").CombinedOutput(); err != nil {
		t.Fatalf("xsetroot: %v %s", err, out)
	}
	log := slog.New(slog.DiscardHandler)
	openCapture := func() (capture.Capturer, error) {
		return capture.Open(capture.Options{Display: x.Display, Logger: log})
	}
	openInput := func() (input.Injector, error) { return input.Open(input.Options{Display: x.Display, Logger: log}) }
	spawned := 0
	helperDone := make(chan error, 4)
	b, err := NewHelperBridge(log, func(addr string, secret []byte) error {
		spawned++
		go func() { helperDone <- RunDesktopHelper(ctx, addr, secret, openCapture, openInput, log) }()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	defer b.Close()

	// An impostor without the secret is dropped and serves nothing.
	imp, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = imp.Write(bytes.Repeat([]byte{7}, HelperSecretSize))
	_ = imp.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := imp.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !strings.Contains(errString(err), "reset") {
		t.Fatalf("impostor connection: %v", err)
	}
	imp.Close()

	c, err := b.OpenCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Bounds() != image.Rect(0, 0, 320, 240) || spawned != 1 {
		t.Fatalf("bounds %v, %d helpers", c.Bounds(), spawned)
	}
	direct, err := openCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	r := image.Rect(10, 20, 110, 70)
	want, err := direct.Grab(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Grab(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != 100 || got.Height != 50 || !bytes.Equal(got.Pix, want.Pix) || bytes.Count(got.Pix, []byte{0}) == len(got.Pix) {
		t.Fatalf("frame %dx%d differs from the screen", got.Width, got.Height)
	}
	if _, err := c.Grab(image.Rect(1000, 1000, 1010, 1010), nil); !errors.Is(err, capture.ErrEmptyRect) {
		t.Fatalf("off-screen grab: %v", err)
	}

	inj, err := b.OpenInput()
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.MoveMouse(123, 45); err != nil {
		t.Fatal(err)
	}
	if p := captest.Pointer(t, x); p != image.Pt(123, 45) {
		t.Fatalf("pointer at %v, want (123,45)", p)
	}
	if err := inj.Close(); err != nil {
		t.Fatal(err)
	}

	// The console's user changed: the old helper is dropped and exits, the
	// next capture starts a new one.
	b.Drop()
	waitHelper := func() {
		t.Helper()
		select {
		case err := <-helperDone:
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("the helper outlived its connection")
		}
	}
	waitHelper()
	c2, err := b.OpenCapture()
	if err != nil || spawned != 2 {
		t.Fatalf("after drop: %v, %d helpers", err, spawned)
	}
	c2.Close()

	// The service hangs up (Close): the helper ends cleanly.
	b.Close()
	waitHelper()
}
