package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// xtermGreen is the test xterm's background, to find it on screen.
var xtermGreen = color.RGBA{0x1f, 0x8f, 0x3f, 0xff}

// countColour counts the pixels of img within 8 per channel of c.
func countColour(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d > -8 && d < 8 }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, c.R) && near(g, c.G) && near(bl, c.B) {
				n++
			}
		}
	}
	return n
}

// at is the view position that maps to the centre of remote pixel p.
func at(v *screenView, p image.Point) fyne.Position {
	m := v.mapping()
	pos, size := m.imageRect()
	sx := size.Width / float32(m.screen.Dx())
	sy := size.Height / float32(m.screen.Dy())
	return fyne.NewPos(pos.X+(float32(p.X-m.origin.X)+0.5)*sx, pos.Y+(float32(p.Y-m.origin.Y)+0.5)*sy)
}

// TestWindowDrivesARealHost opens the window on a session with a real
// relay and a real Host on Xvfb: the view shows the host's screen, mouse
// and keys given to the view's handlers arrive at the host's X server, and
// the toolbar's clipboard, chat, files and the end-of-session notice work.
func TestWindowDrivesARealHost(t *testing.T) {
	x := captest.StartX(t, 800, 600)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	typed := filepath.Join(t.TempDir(), "typed.txt")
	if _, err := x.Run(ctx, "xterm", "-geometry", "50x8+40+40", "-bg", "#1f8f3f", "-fg", "white", "-title", "tandem-console",
		"-e", "sh", "-c", `printf 'READY\n'; IFS= read -r line; printf '%s' "$line" > `+typed+`; sleep 600`); err != nil {
		t.Fatal(err)
	}
	if _, err := x.WaitWindow(ctx, "tandem-console"); err != nil {
		t.Fatal(err)
	}
	captest.SplitScreen(t, x.Display, 800, 600)
	log := testLogger()
	srv, url, enrollKey := startRelay(t, log)
	h := startHost(t, log, url, enrollKey, x.Display)
	cctx, ccancel := context.WithTimeout(ctx, 45*time.Second)
	s, err := login(t, log, url).Connect(cctx, h.hostname, guest.ConnectOptions{Transport: transport.Config{Loopback: true, Logger: log}})
	ccancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	a := test.NewTempApp(t)
	q := newUIQueue()
	var closed []error
	w := newWindow(a, s, Options{Title: "console-test", Logger: log, do: q.do,
		OnClosed: func(err error) { closed = append(closed, err) }})
	w.win.Show()
	v := w.view
	if !v.control {
		t.Fatal("the owner's session is view-only")
	}

	// 1. The view shows the host's screen: its buffer is the session's
	// screen, the xterm's green is in it and in the rendered window.
	q.until(t, "the xterm in the view", func() bool { return v.buf != nil && countColour(v.buf, xtermGreen) > 20000 })
	q.until(t, "the view to equal the session's screen", func() bool {
		q.pump()
		snap, origin, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The view draws the host's pointer over the screen.
		if c, ok := s.Cursor(); ok {
			guest.DrawCursor(snap, origin, c)
		}
		return origin == v.origin && snap.Bounds() == v.buf.Bounds() && bytes.Equal(snap.Pix, v.buf.Pix)
	})
	if v.buf.Bounds().Size() != image.Pt(800, 600) || v.img.Image != v.buf {
		t.Fatalf("view draws %v (image %p, buffer %p)", v.buf.Bounds(), v.img.Image, v.buf)
	}
	shot := w.win.Canvas().Capture()
	if n := countColour(shot, xtermGreen); n < 5000 {
		t.Fatalf("the rendered window has %d xterm-green pixels", n)
	}

	// 2. Fit To Screen: a hover and a click land on the host where they
	// were made on the scaled image.
	target := image.Pt(150, 80)
	v.MouseMoved(mouse(at(v, target), 0))
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := captest.Pointer(t, x); got != target {
		t.Fatalf("host pointer at %v after hovering over %v (fit)", got, target)
	}
	// The host reports its pointer there, and the view draws it there: the
	// pixels around the target differ from the frame's.
	q.until(t, "the host's pointer drawn at the target", func() bool {
		q.pump()
		c, ok := s.Cursor()
		if !ok || c.Pos != target || c.Image == nil {
			return false
		}
		snap, _, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drawn := 0
		for y := target.Y - c.HotY; y < target.Y-c.HotY+c.Image.Bounds().Dy(); y++ {
			for x := target.X - c.HotX; x < target.X-c.HotX+c.Image.Bounds().Dx(); x++ {
				if v.buf.RGBAAt(x, y) != snap.RGBAAt(x, y) {
					drawn++
				}
			}
		}
		return drawn > 10
	})
	v.MouseDown(mouse(at(v, target), desktop.MouseButtonPrimary))
	v.MouseUp(mouse(at(v, target), desktop.MouseButtonPrimary))

	// 3. Keys: Shift from the toolbar for one key, then plain keys: "Hi".
	w.modBtns[ModShift].Tapped(&fyne.PointEvent{})
	if w.in.mods.State(ModShift) != Once || w.modBtns[ModShift].Importance != widget.HighImportance {
		t.Fatal("toolbar shift is not on")
	}
	if w.win.Canvas().Focused() != v {
		t.Fatal("the view lost the keyboard to the toolbar")
	}
	for _, k := range []fyne.KeyName{fyne.KeyH, fyne.KeyI, fyne.KeyReturn} {
		v.KeyDown(key(k))
		v.KeyUp(key(k))
	}
	if w.in.mods.State(ModShift) != Off || w.modBtns[ModShift].Importance != widget.MediumImportance {
		t.Fatal("toolbar shift stayed on after a key")
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	q.until(t, "the xterm's program to read a line", func() bool {
		b, _ := os.ReadFile(typed)
		return len(b) > 0
	})
	if b, _ := os.ReadFile(typed); string(b) != "Hi" {
		t.Fatalf("the xterm's program read %q, want Hi", b)
	}

	// 4. Actual Size: one remote pixel per unit, in a scroller.
	w.modeSel.SetSelected("Actual Size")
	if v.mode != ActualSize || v.MinSize() != fyne.NewSize(800, 600) || w.area.Objects[0] != w.scroll {
		t.Fatalf("actual size: mode %v, min size %v", v.mode, v.MinSize())
	}
	target = image.Pt(700, 500)
	if p := at(v, target); p != fyne.NewPos(700.5, 500.5) {
		t.Fatalf("actual size maps %v from %v", target, p)
	}
	v.MouseMoved(mouse(at(v, target), 0))
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := captest.Pointer(t, x); got != target {
		t.Fatalf("host pointer at %v after hovering over %v (actual)", got, target)
	}

	// 5. Monitors: the picker offers all and each; RIGHT streams the right
	// half, and positions on it map to the host's root coordinates.
	if w.monSel == nil || len(w.monSel.Options) != 3 || w.monSel.Selected != "All monitors" {
		t.Fatalf("monitor picker: %+v", w.monSel)
	}
	right := slices.IndexFunc(w.monSel.Options, func(o string) bool { return strings.Contains(o, "RIGHT") })
	w.monSel.SetSelectedIndex(right)
	q.until(t, "the right monitor in the view", func() bool {
		return v.origin == image.Pt(400, 0) && v.buf.Bounds().Size() == image.Pt(400, 600)
	})
	target = image.Pt(650, 420)
	v.MouseMoved(mouse(at(v, target), 0))
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := captest.Pointer(t, x); got != target {
		t.Fatalf("host pointer at %v after hovering over %v (right monitor)", got, target)
	}
	w.monSel.SetSelected("All monitors")
	q.until(t, "all monitors in the view", func() bool { return v.origin == image.Pt(0, 0) && v.buf.Bounds().Size() == image.Pt(800, 600) })

	// 6. A refusal shows as a notice and the window goes on.
	w.selectMonitor(40)
	q.until(t, "the refusal notice", func() bool {
		return w.bannerB.Visible() && strings.Contains(w.banner.Text, "refused the monitor switch")
	})

	// 7. Clipboard both ways.
	a.Clipboard().SetContent("from the console")
	w.clipBtn.OnTapped()
	q.until(t, "the clipboard sent", func() bool { return strings.Contains(w.banner.Text, "clipboard") })
	if !strings.Contains(w.banner.Text, "on the host's clipboard") {
		t.Fatalf("clipboard sync: %q (permissions %v)", w.banner.Text, w.perms)
	}
	if got, ok := captest.Paste(t, x); !ok || got != "from the console" {
		t.Fatalf("the host pastes %q (%v)", got, ok)
	}
	captest.Copy(t, x, "copied on the host")
	q.until(t, "the host's copy on the local clipboard", func() bool { return a.Clipboard().Content() == "copied on the host" })

	// 8. Chat both ways.
	w.chatBtn.OnTapped()
	w.chat.entry.SetText("Hello from IT")
	w.chat.send.OnTapped()
	q.until(t, "the host's user to see the message", func() bool { return slices.Contains(h.chat.texts(), "Hello from IT") })
	if err := h.h.SendChat(s.ID, "Thanks!"); err != nil {
		t.Fatal(err)
	}
	q.until(t, "the user's answer in the chat panel", func() bool {
		for _, o := range w.chat.lines.Objects {
			if strings.HasSuffix(o.(*widget.Label).Text, "User: Thanks!") {
				return true
			}
		}
		return false
	})

	// 9. Files: the listing, a download and an upload with progress.
	if err := os.WriteFile(filepath.Join(h.files, "report.txt"), []byte("quarterly numbers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.filesBtn.OnTapped()
	if w.side.Objects[0] != w.files.root {
		t.Fatal("the files panel did not replace the chat")
	}
	q.until(t, "report.txt listed", func() bool {
		return slices.ContainsFunc(w.files.entries, func(e wire.FileEntry) bool { return e.Name == "report.txt" })
	})
	local := filepath.Join(t.TempDir(), "report.txt")
	waitRow(t, q, w.files.fetch("report.txt", local, false))
	if b, err := os.ReadFile(local); err != nil || string(b) != "quarterly numbers\n" {
		t.Fatalf("downloaded %q, %v", b, err)
	}
	big := make([]byte, 3<<20)
	rand.Read(big)
	src := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(src, big, 0o600); err != nil {
		t.Fatal(err)
	}
	row := w.files.upload(src, "upload.bin", false)
	waitRow(t, q, row)
	if b, err := os.ReadFile(filepath.Join(h.files, "upload.bin")); err != nil || !bytes.Equal(b, big) {
		t.Fatalf("the host has %d bytes (%v), want %d", len(b), err, len(big))
	}
	if row.bar.Value != 1 || !strings.HasSuffix(row.label.Text, "done") {
		t.Fatalf("upload row: %v %q", row.bar.Value, row.label.Text)
	}
	q.until(t, "upload.bin listed after the upload", func() bool {
		return slices.ContainsFunc(w.files.entries, func(e wire.FileEntry) bool { return e.Name == "upload.bin" })
	})
	// Existing destinations are replaced only when the technician says so.
	if err := os.WriteFile(local, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if w.files.fetch("report.txt", local, false) != nil {
		t.Fatal("a download over an existing file started without asking")
	}
	pressDialogButton(t, w, "No")
	if b, _ := os.ReadFile(local); string(b) != "mine" {
		t.Fatalf("declining replaced the file: %q", b)
	}
	w.files.fetch("report.txt", local, false)
	pressDialogButton(t, w, "Yes")
	q.until(t, "the replacing download", func() bool { b, _ := os.ReadFile(local); return string(b) == "quarterly numbers\n" })
	if err := os.WriteFile(src, []byte("new version"), 0o600); err != nil {
		t.Fatal(err)
	}
	row = w.files.upload(src, "upload.bin", false)
	q.until(t, "the host's refusal to overwrite", func() bool { return strings.HasSuffix(row.label.Text, "not replaced") })
	pressDialogButton(t, w, "Yes")
	q.until(t, "the replacing upload", func() bool {
		b, _ := os.ReadFile(filepath.Join(h.files, "upload.bin"))
		return string(b) == "new version"
	})

	// 10. Power: lock and log out at once; restart only after the
	// confirmation. Each step waits for the host to record as many actions
	// as expected, then compares them all, so an unconfirmed restart shows.
	powered := func(want ...agent.PowerAction) {
		t.Helper()
		q.until(t, "the power actions", func() bool { return len(h.power.list()) >= len(want) })
		if got := h.power.list(); !slices.Equal(got, want) {
			t.Fatalf("the host carried out %v, want %v", got, want)
		}
	}
	w.power("lock", false)
	powered(agent.PowerLock)
	w.power("restart", true)
	pressDialogButton(t, w, "No")
	w.power("logout", false)
	powered(agent.PowerLock, agent.PowerLogout)
	w.power("restart", true)
	pressDialogButton(t, w, "Yes")
	powered(agent.PowerLock, agent.PowerLogout, agent.PowerRestart)
	w.power("lock", false)
	powered(agent.PowerLock, agent.PowerLogout, agent.PowerRestart, agent.PowerLock)

	// 11. Lock input: the check asks the host, which reports the lock.
	w.lockChk.SetChecked(true)
	q.until(t, "the host's input locked", func() bool { return s.LocalState()&wire.LocalInputLocked != 0 })
	w.lockChk.SetChecked(false)
	q.until(t, "the host's input unlocked", func() bool { return s.LocalState()&wire.LocalInputLocked == 0 })

	// 12. Disconnect closes the session on the host and calls OnClosed
	// once, with nil. (One session at a time: the host's X connections of
	// two sessions race inside xgb's extension registry, see the report.)
	w.discBtn.OnTapped()
	if len(closed) != 1 || closed[0] != nil {
		t.Fatalf("Disconnect: OnClosed got %v", closed)
	}
	q.until(t, "the host to end the session", func() bool { return len(h.h.Sessions()) == 0 })
	q.pump()
	if len(closed) != 1 {
		t.Fatalf("OnClosed called %d times", len(closed))
	}

	// 13. A member whose role gives view_screen only: the window says view
	// only, its modifiers are disabled, and hovering and typing send nothing
	// (the host pointer stays where the last session left it).
	left := captest.Pointer(t, x)
	cctx, ccancel = context.WithTimeout(ctx, 45*time.Second)
	sv, err := memberWith(t, srv, log, url, "viewer@example.com", policy.ViewScreen).Connect(cctx, h.hostname,
		guest.ConnectOptions{Transport: transport.Config{Loopback: true, Logger: log}})
	ccancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sv.Close() })
	wv := newWindow(a, sv, Options{Title: "viewer", Logger: log, do: q.do})
	wv.win.Show()
	q.until(t, "the viewer's first frame", func() bool { return wv.frameShown > 0 })
	if wv.view.control || !wv.modBtns[ModCtrl].Disabled() || !strings.HasPrefix(wv.status.Text, "View only") {
		t.Fatalf("view-only window: control %v, status %q", wv.view.control, wv.status.Text)
	}
	for _, o := range []fyne.CanvasObject{wv.clipBtn, wv.powerBtn, wv.lockChk, wv.blankChk, wv.filesBtn, wv.chatBtn} {
		if slices.Contains(wv.tools.Objects, o) {
			t.Fatalf("the toolbar offers %T without its permission", o)
		}
	}
	if !slices.Contains(w.tools.Objects, fyne.CanvasObject(w.clipBtn)) {
		t.Fatal("the owner's toolbar has no clipboard button")
	}
	wv.view.MouseMoved(mouse(at(wv.view, image.Pt(20, 500)), 0))
	wv.view.MouseDown(mouse(at(wv.view, image.Pt(20, 500)), desktop.MouseButtonPrimary))
	wv.view.MouseUp(mouse(at(wv.view, image.Pt(20, 500)), desktop.MouseButtonPrimary))
	wv.view.KeyDown(key(fyne.KeyA))
	wv.view.KeyUp(key(fyne.KeyA))
	if err := sv.Sync(ctx); err != nil {
		t.Fatalf("the view-only window sent input the host refused: %v", err)
	}
	if got := captest.Pointer(t, x); got != left {
		t.Fatalf("the host pointer moved from %v to %v under a view-only window", left, got)
	}
	wv.win.Close()
	q.until(t, "the host to end the viewer's session", func() bool { return len(h.h.Sessions()) == 0 })

	// 14. A second window, opened on its chat panel; the host ends the
	// session: the notice, OnClosed once with the reason, no more control;
	// closing the window later adds nothing.
	cctx, ccancel = context.WithTimeout(ctx, 45*time.Second)
	s2, err := login(t, log, url).Connect(cctx, h.hostname, guest.ConnectOptions{Transport: transport.Config{Loopback: true, Logger: log}})
	ccancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	var closed2 []error
	w2 := newWindow(a, s2, Options{Title: "second", Logger: log, do: q.do, Panel: "chat",
		OnClosed: func(err error) { closed2 = append(closed2, err) }})
	w2.win.Show()
	if w2.panel != "chat" || w2.side.Objects[0] != w2.chat.root {
		t.Fatal("Options.Panel did not open the chat panel")
	}
	q.until(t, "the second window's first frame", func() bool { return w2.frameShown > 0 })
	if err := h.h.Close(); err != nil {
		t.Fatal(err)
	}
	q.until(t, "the session-ended notice", func() bool { return w2.ended })
	if len(closed2) != 1 || closed2[0] == nil || !strings.Contains(w2.status.Text, "Session ended") {
		t.Fatalf("OnClosed got %v; status %q", closed2, w2.status.Text)
	}
	if w2.view.control || w2.discBtn.Text != "Close" || w2.win.Canvas().Overlays().Top() == nil {
		t.Fatal("the window still offers control of an ended session, or shows no notice")
	}
	w2.view.MouseMoved(mouse(fyne.NewPos(10, 10), 0)) // nothing to send to: no panic, no error
	w2.win.Close()
	if len(closed2) != 1 || len(closed) != 1 {
		t.Fatalf("OnClosed calls: %v, %v", closed, closed2)
	}
}

// waitRow runs the UI until a transfer ends and fails on its error.
func waitRow(t *testing.T, q *uiQueue, row *transferRow) {
	t.Helper()
	var err error
	finished := false
	q.until(t, "the transfer", func() bool {
		select {
		case err = <-row.done:
			finished = true
		default:
		}
		return finished
	})
	q.pump()
	if err != nil {
		t.Fatalf("transfer %q: %v", row.label.Text, err)
	}
}
