package captest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/xvfb"
)

// Paste is what a local application pastes from the CLIPBOARD selection
// (xclip, Debian's xclip); ok is false when the clipboard has no owner.
func Paste(tb testing.TB, x *xvfb.Server) (string, bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := x.Command(ctx, "xclip", "-o", "-selection", "clipboard").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ctx.Err() == nil {
			return "", false
		}
		tb.Fatalf("xclip -o: %v", err)
	}
	return string(out), true
}

// Copy copies text like a local application and waits until it owns the
// clipboard; the xclip serving it runs until another owner takes over.
func Copy(tb testing.TB, x *xvfb.Server, text string) {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), "clip.txt")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	if _, err := x.Run(context.Background(), "xclip", "-i", "-quiet", "-selection", "clipboard", file); err != nil {
		tb.Fatal(err)
	}
	for i := 0; ; i++ {
		if got, _ := Paste(tb, x); got == text {
			return
		}
		if i == 200 {
			tb.Fatal("xclip never owned the clipboard")
		}
		time.Sleep(25 * time.Millisecond)
	}
}
