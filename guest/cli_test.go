package guest

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

func TestInputMessages(t *testing.T) {
	got, err := inputMessages("10, 20", "right", "hé", "Ctrl+Shift+KeyT")
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.Message{
		&wire.MouseMove{X: 10, Y: 20},
		&wire.MouseButton{Button: 3, Down: true}, &wire.MouseButton{Button: 3, Down: false},
		&wire.Text{Text: "hé"},
		&wire.KeyTap{Code: "KeyT", Mods: 1 | 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	for _, bad := range [][4]string{
		{"", "", "", ""},
		{"10", "", "", ""},
		{"-1,5", "", "", ""},
		{"a,b", "", "", ""},
		{"", "thumb", "", ""},
		{"", "", strings.Repeat("x", wire.MaxText+1), ""},
		{"", "", "", "Hyper+KeyA"},
		{"", "", "", "Ctrl+"},
	} {
		if _, err := inputMessages(bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadState(dir); err != ErrUnauthorized {
		t.Fatalf("empty state: %v", err)
	}
	if err := SaveState(dir, &State{Relay: "http://r", Email: "a@b", Token: "t", ExpiresAt: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired state accepted: %v", err)
	}
	if err := SaveState(dir, &State{Relay: "http://r", Email: "a@b", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	if s, err := LoadState(dir); err != nil || s.Token != "t" {
		t.Fatalf("state %+v, %v", s, err)
	}
}

func TestPrintListing(t *testing.T) {
	var b strings.Builder
	err := printListing(&b, &wire.FileListing{Truncated: true, Entries: []wire.FileEntry{
		{Name: "docs", Mode: wire.FileModeDir | 0o755},
		{Name: "a.txt", Size: 12, Mode: 0o640},
		{Name: "l", Mode: wire.FileModeSymlink | 0o777},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"drwxr-xr-x", "docs/", "-rw-r-----  12", "lrwxrwxrwx", "more than 3 entries"} {
		if !strings.Contains(out, want) {
			t.Errorf("listing lacks %q:\n%s", want, out)
		}
	}
	if got := human(3 << 20); got != "3.0 MiB" {
		t.Errorf("human = %q", got)
	}
}

func TestChatLineAndExitCode(t *testing.T) {
	if got := chatLine("a\tb\r"); got != "a    b" {
		t.Errorf("chatLine = %q", got)
	}
	for _, c := range []struct {
		r    ExecResult
		want int
	}{
		{ExecResult{Status: wire.ExecExited, Code: 3}, 3},
		{ExecResult{Status: wire.ExecKilled, Code: 9}, 137},
		{ExecResult{Status: wire.ExecTimedOut, Code: -1}, 124},
		{ExecResult{Status: wire.ExecCancelled, Code: -1}, 130},
		{ExecResult{Status: wire.ExecFailed, Code: -1}, 255},
	} {
		if got := c.r.ExitCode(); got != c.want {
			t.Errorf("%+v: exit code %d, want %d", c.r, got, c.want)
		}
	}
}

// Bad clipboard text is refused before any connection is made.
func TestClipboardSetRefusesBadText(t *testing.T) {
	for name, in := range map[string]string{
		"over 1 MiB": strings.Repeat("x", wire.MaxClipboard+1),
		"not UTF-8":  "caf\xe9",
	} {
		cmd := clipboardCommand(func(context.Context, string) (*Session, error) {
			t.Fatalf("%s: connected anyway", name)
			return nil, nil
		}, func() time.Duration { return time.Second })
		cmd.SetArgs([]string{"set", "dev"})
		cmd.SetIn(strings.NewReader(in))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "nothing was sent") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
