package agent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
)

// TestDesktopConfirmUI: the real zenity question on an X display, answered
// with the keyboard: Enter allows, Escape denies.
func TestDesktopConfirmUI(t *testing.T) {
	needTool(t, "zenity")
	x := captest.StartX(t, 800, 600)
	ui := DesktopConfirmUI(slog.New(slog.DiscardHandler), x.Display)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []struct {
		key, tech string
		want      bool
	}{{"Return", "Tess_T <t@x>", true}, {"Escape", "Other Tech", false}} {
		res := make(chan bool, 1)
		go func() {
			ok, err := ui.Ask(ctx, ConfirmRequest{Technician: c.tech, Permissions: []string{"view_screen", "keyboard_mouse"}})
			if err != nil {
				t.Error(err)
			}
			res <- ok
		}()
		win, err := x.WaitWindow(ctx, "Tandem: allow remote access for "+c.tech+"?")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := x.Command(ctx, "xdotool", "windowfocus", "--sync", win).CombinedOutput(); err != nil {
			t.Fatalf("focus: %v %s", err, out)
		}
		if out, err := x.Command(ctx, "xdotool", "key", c.key).CombinedOutput(); err != nil {
			t.Fatalf("xdotool: %v %s", err, out)
		}
		if got := <-res; got != c.want {
			t.Fatalf("%s: allowed %v, want %v", c.key, got, c.want)
		}
	}
	// Unanswered past its context: an error, never an allow.
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	if ok, err := ui.Ask(sctx, ConfirmRequest{Technician: "x"}); ok || err == nil {
		t.Fatalf("unanswered: %v %v", ok, err)
	}
}
