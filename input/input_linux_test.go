//go:build linux && cgo

package input

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xvfb"
)

const (
	screenW, screenH = 640, 480
	waitFor          = 20 * time.Second // deadline for anything a test polls for
)

// skipOrFail skips outside CI and fails in CI (CI must run these tests).
func skipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "" {
		tb.Skipf(format, args...)
	}
	tb.Fatalf(format, args...)
}

func needTools(tb testing.TB, tools ...string) {
	tb.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(tb, "%s not installed", tool)
		}
	}
}

func startX(tb testing.TB) *xvfb.Server {
	tb.Helper()
	s, err := xvfb.Start(screenW, screenH)
	if errors.Is(err, xvfb.ErrUnavailable) {
		skipOrFail(tb, "%v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func testLogger(tb testing.TB) *slog.Logger {
	if _, bench := tb.(*testing.B); bench {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openX opens an injector on s; it is closed before s (cleanups run LIFO).
func openX(tb testing.TB, s *xvfb.Server) *injector {
	tb.Helper()
	inj, err := Open(Options{Display: s.Display, Logger: testLogger(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := inj.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return inj.(*injector)
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	tb.Cleanup(cancel)
	return ctx
}

func pointer(tb testing.TB, s *xvfb.Server) (x, y int) {
	tb.Helper()
	p := captest.Pointer(tb, s)
	return p.X, p.Y
}

func shellVars(s string) map[string]int {
	v := map[string]int{}
	for _, line := range strings.Split(s, "\n") {
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(val)); err == nil {
			v[k] = n
		}
	}
	return v
}

var windowSeq atomic.Int64

// startWindow runs an X client whose window is titled with a unique name,
// waits for it and points the mouse at its centre: without a window manager
// the keyboard focus follows the pointer (PointerRoot).
func startWindow(t *testing.T, s *xvfb.Server, inj *injector, run func(title string) error) {
	t.Helper()
	title := fmt.Sprintf("tandem-test-%d", windowSeq.Add(1))
	if err := run(title); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	wid, err := s.WaitWindow(ctx, "^"+title+"$")
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Command(ctx, "xdotool", "getwindowgeometry", "--shell", wid).Output()
	if err != nil {
		t.Fatalf("xdotool getwindowgeometry: %v", err)
	}
	g := shellVars(string(out))
	cx, cy := g["X"]+g["WIDTH"]/2, g["Y"]+g["HEIGHT"]/2
	must(t, inj.MoveMouse(cx, cy))
	if x, y := pointer(t, s); x != cx || y != cy {
		t.Fatalf("pointer at (%d,%d), want (%d,%d)", x, y, cx, cy)
	}
}

// startReader starts an xterm that saves the first line typed into it to a
// file and returns that file's path.
func startReader(t *testing.T, s *xvfb.Server, inj *injector) string {
	t.Helper()
	needTools(t, "xterm", "xdotool")
	out := filepath.Join(t.TempDir(), "line.txt")
	startWindow(t, s, inj, func(title string) error {
		_, err := s.Run(context.Background(), "xterm", "-u8", "-T", title, "-geometry", "60x5+10+10",
			"-e", "sh", "-c", `IFS= read -r line; printf "%s" "$line" > "$0"; sleep 30`, out)
		return err
	})
	return out
}

// waitLine polls the reader's file until the line arrives and compares it.
func waitLine(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			if got := string(b); got != want {
				t.Fatalf("typed line:\n got  %q\n want %q", got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line within %v (want %q)", waitFor, want)
		}
		<-tick.C
	}
}

func xb(t *testing.T, inj *injector) *x11Backend {
	t.Helper()
	return inj.b.(*x11Backend)
}

// expectNoKeysDown checks the server's own key state (XQueryKeymap).
func expectNoKeysDown(t *testing.T, inj *injector) {
	t.Helper()
	down, err := xb(t, inj).pressedKeycodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(down) > 0 {
		t.Fatalf("keycodes still down: %v", down)
	}
}

func TestTypeText(t *testing.T) {
	s := startX(t)
	inj := openX(t, s)
	line := startReader(t, s, inj)
	const text = "Hello, Tandem 123 é€"
	must(t, inj.Type(text))
	must(t, inj.Tap("Enter", 0))
	waitLine(t, line, text)
	expectNoKeysDown(t, inj)
}

func TestTypeUnicode(t *testing.T) {
	s := startX(t)
	inj := openX(t, s)
	line := startReader(t, s, inj)
	// ASCII punctuation needing Shift, Latin-1, Latin Extended, Greek,
	// Cyrillic, CJK, an emoji outside the BMP, and more distinct off-layout
	// characters than there are spare keycodes (forces rebinding).
	text := `~!@#$%^&*()_+{}|:"<>? ß÷ÿ ĳœŁ Ωλ жЯ 中文 😀 ‽` + " àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþ"
	must(t, inj.Type(text+"\n"))
	waitLine(t, line, text)
	expectNoKeysDown(t, inj)
}

func TestTapAndKeys(t *testing.T) {
	s := startX(t)
	inj := openX(t, s)
	line := startReader(t, s, inj)

	must(t, inj.Tap("KeyA", ModShift))   // A
	must(t, inj.Tap("Digit1", ModShift)) // !
	must(t, inj.Key("KeyB", true))       // b
	must(t, inj.Key("KeyB", false))

	// ReleaseAll lifts a held Shift: the next letter is lower case.
	must(t, inj.Key("ShiftLeft", true))
	must(t, inj.ReleaseAll())
	expectNoKeysDown(t, inj)
	must(t, inj.Tap("KeyC", 0)) // c

	// Unknown codes: an error, and nothing pressed.
	if err := inj.Tap("NoSuchKey", ModShift|ModCtrl); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Tap(NoSuchKey) = %v, want ErrUnknownKey", err)
	}
	if err := inj.Tap("NumpadClear", ModShift); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Tap(NumpadClear) = %v, want ErrUnknownKey on X11", err)
	}
	expectNoKeysDown(t, inj)

	// Physical keys robotgo cannot press correctly on X11.
	must(t, inj.Tap("IntlBackslash", 0)) // < (the ISO key on a US layout)
	must(t, inj.Tap("NumpadAdd", 0))     // + (robotgo types 'n')
	must(t, inj.Tap("Quote", ModShift))  // "

	// Held Shift is kept by Tap, lifted by Type and restored afterwards.
	must(t, inj.Key("ShiftRight", true))
	must(t, inj.Tap("KeyD", ModShift)) // D
	must(t, inj.Tap("KeyE", 0))        // E
	must(t, inj.Type("fg"))            // fg
	must(t, inj.Tap("KeyH", 0))        // H
	down, err := xb(t, inj).pressedKeycodes()
	must(t, err)
	if want := int(xb(t, inj).keycodes["ShiftRight"]); !slices.Equal(down, []int{want}) {
		t.Fatalf("keys down %v, want only ShiftRight (%d)", down, want)
	}
	must(t, inj.ReleaseAll())
	expectNoKeysDown(t, inj)

	must(t, inj.Tap("Enter", 0))
	waitLine(t, line, `A!bc<+"DEfgH`)
}

// On a German layout the codes still name US positions: KeyZ is the key
// labelled Y there, and Type still produces the text as given.
func TestPhysicalKeysOnGermanLayout(t *testing.T) {
	needTools(t, "setxkbmap")
	s := startX(t)
	if out, err := s.Command(testCtx(t), "setxkbmap", "de").CombinedOutput(); err != nil {
		skipOrFail(t, "setxkbmap de: %v: %s", err, out)
	}
	inj := openX(t, s)
	line := startReader(t, s, inj)
	must(t, inj.Tap("KeyZ", 0))          // y
	must(t, inj.Tap("KeyY", 0))          // z
	must(t, inj.Tap("Minus", 0))         // ß
	must(t, inj.Tap("Semicolon", 0))     // ö
	must(t, inj.Tap("Digit7", ModShift)) // /
	must(t, inj.Type("zy-/@€ä"))         // @ and € are AltGr (level 3) on de
	must(t, inj.Tap("Enter", 0))
	waitLine(t, line, "yzßö/zy-/@€ä")
}

// Close gives back the spare keycodes Type bound; the keymap is as before.
func TestCloseUnbindsSpareKeycodes(t *testing.T) {
	s := startX(t)
	inj, err := Open(Options{Display: s.Display, Logger: testLogger(t)})
	must(t, err)
	t.Cleanup(func() { _ = inj.Close() }) // idempotent; normally closed below
	be := inj.(*injector).b.(*x11Backend)
	spare := len(be.slots)
	must(t, inj.Type("é€ж"))
	var bound []int
	for _, sl := range be.slots {
		if sl.sym != 0 {
			bound = append(bound, int(sl.kc))
		}
	}
	if len(bound) != 3 {
		t.Fatalf("bound keycodes %v, want 3", bound)
	}
	must(t, inj.Close())

	again := openX(t, s)
	m, err := xb(t, again).fetchKeymap()
	must(t, err)
	for _, kc := range bound {
		if !m.holdsOnly(kc, 0) {
			t.Errorf("keycode %d still bound after Close", kc)
		}
	}
	if n := len(xb(t, again).slots); n != spare {
		t.Errorf("%d spare keycodes after Close, want %d", n, spare)
	}
}

func TestCapsLockDoesNotChangeTypedText(t *testing.T) {
	s := startX(t)
	inj := openX(t, s)
	line := startReader(t, s, inj)
	must(t, inj.Tap("CapsLock", 0))
	must(t, inj.Tap("KeyA", 0)) // A (caps lock on)
	must(t, inj.Type("aB é"))   // typed as given
	must(t, inj.Tap("KeyB", 0)) // B: caps lock is on again
	must(t, inj.Tap("CapsLock", 0))
	must(t, inj.Tap("Enter", 0))
	waitLine(t, line, "AaB éB")
}

func TestMoveMouse(t *testing.T) {
	needTools(t, "xdotool")
	s := startX(t)
	inj := openX(t, s)
	for _, p := range [][2]int{
		{0, 0}, {screenW - 1, screenH - 1}, {screenW - 1, 0}, {0, screenH - 1},
		{screenW / 2, screenH / 2}, {1, 1}, {123, 456},
	} {
		must(t, inj.MoveMouse(p[0], p[1]))
		if x, y := pointer(t, s); x != p[0] || y != p[1] {
			t.Errorf("MoveMouse(%d,%d): pointer at (%d,%d)", p[0], p[1], x, y)
		}
	}
	// Outside the screen the X server confines the pointer to the edge.
	must(t, inj.MoveMouse(-50, screenH+50))
	if x, y := pointer(t, s); x != 0 || y != screenH-1 {
		t.Errorf("MoveMouse(-50,%d): pointer at (%d,%d), want (0,%d)", screenH+50, x, y, screenH-1)
	}
}

// xevButtons runs xev on a new window and collects button events as
// "press 1", "release 1", ...
type xevButtons struct {
	mu     sync.Mutex
	events []string
}

var xevButton = regexp.MustCompile(`^\s*state 0x[0-9a-f]+, button (\d+),`)

func startXev(t *testing.T, s *xvfb.Server, inj *injector) *xevButtons {
	t.Helper()
	needTools(t, "xev", "xdotool")
	rec := &xevButtons{}
	startWindow(t, s, inj, func(title string) error {
		cmd := s.Command(context.Background(), "xev", "-name", title, "-geometry", "200x200+100+100",
			"-event", "button")
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		go func() {
			sc := bufio.NewScanner(out)
			kind := ""
			for sc.Scan() {
				l := sc.Text()
				switch {
				case strings.HasPrefix(l, "ButtonPress event"):
					kind = "press"
				case strings.HasPrefix(l, "ButtonRelease event"):
					kind = "release"
				}
				if m := xevButton.FindStringSubmatch(l); m != nil && kind != "" {
					rec.mu.Lock()
					rec.events = append(rec.events, kind+" "+m[1])
					rec.mu.Unlock()
					kind = ""
				}
			}
		}()
		return nil
	})
	return rec
}

// wait polls until n events arrived and returns them.
func (r *xevButtons) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		r.mu.Lock()
		ev := slices.Clone(r.events)
		r.mu.Unlock()
		if len(ev) >= n || time.Now().After(deadline) {
			return ev
		}
		<-tick.C
	}
}

func TestMouseButtonsAndWheel(t *testing.T) {
	s := startX(t)
	inj := openX(t, s)
	rec := startXev(t, s, inj)

	for _, b := range []Button{ButtonLeft, ButtonMiddle, ButtonRight, ButtonBack, ButtonForward} {
		must(t, inj.MouseButton(b, true))
		must(t, inj.MouseButton(b, false))
	}
	must(t, inj.Wheel(0, 2))  // down: 5 5
	must(t, inj.Wheel(0, -1)) // up: 4
	must(t, inj.Wheel(1, 0))  // right: 7
	must(t, inj.Wheel(-1, 0)) // left: 6
	must(t, inj.MouseButton(ButtonRight, true))
	must(t, inj.ReleaseAll()) // releases 3

	want := []string{
		"press 1", "release 1", "press 2", "release 2", "press 3", "release 3",
		"press 8", "release 8", "press 9", "release 9",
		"press 5", "release 5", "press 5", "release 5", "press 4", "release 4",
		"press 7", "release 7", "press 6", "release 6",
		"press 3", "release 3",
	}
	if got := rec.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("xev saw:\n %q\nwant:\n %q", got, want)
	}
}

func TestDisplayOption(t *testing.T) {
	needTools(t, "xdotool")
	s1 := startX(t)
	s2 := startX(t)
	t.Setenv("DISPLAY", "") // Options.Display alone must be enough
	a := openX(t, s1)
	b := openX(t, s2)
	// Interleave: robotgo's single connection has to follow each injector.
	must(t, a.MoveMouse(11, 12))
	must(t, b.MoveMouse(21, 22))
	must(t, a.MoveMouse(13, 14))
	if x, y := pointer(t, s1); x != 13 || y != 14 {
		t.Errorf("display %s: pointer at (%d,%d), want (13,14)", s1.Display, x, y)
	}
	if x, y := pointer(t, s2); x != 21 || y != 22 {
		t.Errorf("display %s: pointer at (%d,%d), want (21,22)", s2.Display, x, y)
	}

	if _, err := Open(Options{Display: ":399"}); err == nil {
		t.Error("Open on a display without a server succeeded")
	}
	if _, err := Open(Options{}); err == nil {
		t.Error("Open without any display succeeded")
	}
}

func TestServerGoneIsAnError(t *testing.T) {
	s := startX(t)
	inj := openX(t, s)
	must(t, inj.MoveMouse(5, 5))
	must(t, inj.Key("ShiftLeft", true))
	must(t, s.Close())
	// Xlib's default would exit the process here.
	if err := inj.Tap("KeyA", 0); err == nil {
		t.Error("Tap after the server died succeeded")
	}
	if err := inj.MoveMouse(6, 6); err == nil {
		t.Error("MoveMouse after the server died succeeded")
	}
	if err := inj.Type("x"); err == nil {
		t.Error("Type after the server died succeeded")
	}
	// Close (via cleanup) must not exit either; ReleaseAll reports the loss.
	if err := inj.ReleaseAll(); err == nil {
		t.Error("ReleaseAll after the server died succeeded")
	}
}

// Calls from many goroutines and two injectors are serialised (run with
// -race); every call must still succeed.
func TestConcurrentUse(t *testing.T) {
	s := startX(t)
	a, b := openX(t, s), openX(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g, inj := range []*injector{a, b, a, b} {
		wg.Go(func() {
			for i := range 50 {
				var err error
				switch i % 4 {
				case 0:
					err = inj.MoveMouse(g*10+i, i)
				case 1:
					err = inj.Tap("KeyX", ModShift)
				case 2:
					err = inj.Wheel(0, 1)
				case 3:
					err = inj.Type("é")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	expectNoKeysDown(t, a)
}

func BenchmarkMove(b *testing.B) {
	s := startX(b)
	inj := openX(b, s)
	i := 0
	for b.Loop() {
		i++
		if err := inj.MoveMouse(i%screenW, (i*7)%screenH); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTap(b *testing.B) {
	s := startX(b)
	inj := openX(b, s)
	for b.Loop() {
		if err := inj.Tap("KeyA", ModShift); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkType(b *testing.B) {
	s := startX(b)
	inj := openX(b, s)
	const text = "Hello, Tandem é€"
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if err := inj.Type(text); err != nil {
			b.Fatal(err)
		}
	}
}
