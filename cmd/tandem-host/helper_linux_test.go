package main

import (
	"context"
	"encoding/hex"
	"image"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/internal/captest"
)

// TestDesktopHelperCommand: the real `tandem-host desktop-helper` (what a
// Windows service starts in the console session) takes its secret on
// standard input and serves its desktop to the service's bridge; without
// the secret it refuses to start.
func TestDesktopHelperCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	x := captest.StartX(t, 400, 300)
	bin := buildHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	out, err := exec.CommandContext(ctx, bin, "desktop-helper", "--connect", "127.0.0.1:1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "secret is missing") {
		t.Fatalf("without a secret: %v %s", err, out)
	}

	var helper *exec.Cmd
	b, err := agent.NewHelperBridge(slog.New(slog.DiscardHandler), func(addr string, secret []byte) error {
		helper = exec.CommandContext(ctx, bin, "desktop-helper", "--connect", addr)
		helper.Env = append(os.Environ(), "DISPLAY="+x.Display)
		helper.Stdin = strings.NewReader(hex.EncodeToString(secret) + "\n")
		return helper.Start()
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	c, err := b.OpenCapture()
	if err != nil {
		t.Fatal(err)
	}
	if c.Bounds() != image.Rect(0, 0, 400, 300) {
		t.Fatalf("bounds %v", c.Bounds())
	}
	if f, err := c.Grab(image.Rect(0, 0, 40, 30), nil); err != nil || f.Width != 40 || len(f.Pix) != 40*30*4 {
		t.Fatalf("grab: %v", err)
	}
	b.Close() // the service goes: the helper exits by itself
	if err := helper.Wait(); err != nil {
		t.Fatalf("helper exit: %v", err)
	}
}
