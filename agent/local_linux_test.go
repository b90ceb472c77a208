//go:build linux

package agent

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/dpms"
	"github.com/jezek/xgb/xproto"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xext"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

func needTool(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (scripts/deps.sh test)", tool)
		}
		t.Skipf("skipping: %s not installed (scripts/deps.sh test)", tool)
	}
}

type deskHost struct {
	x      *xvfb.Server
	f      *fakeRelay
	dev    string
	events *eventLog
}

// startDeskHost runs a host whose clipboard, input lock, blanking and (with
// realInput) input injection work on a private Xvfb.
func startDeskHost(t *testing.T, realInput bool) *deskHost {
	t.Helper()
	needTool(t, "xclip")
	d := &deskHost{x: captest.StartX(t, 320, 240), events: &eventLog{}}
	local := LocalOptions{Display: d.x.Display}
	d.f, _, d.dev = startHostWith(t, &recordingInjector{}, func(o *Options) {
		o.Clipboard = func() (Clipboard, error) { return OpenClipboard(local) }
		o.InputLock = func() (InputLocker, error) { return OpenInputLocker(local) }
		o.ScreenBlank = func() (ScreenBlanker, error) { return OpenScreenBlanker(local) }
		o.OnEvent = d.events.add
		if realInput {
			o.Input = func() (input.Injector, error) { return input.Open(input.Options{Display: d.x.Display}) }
		}
	})
	return d
}

// session starts a session granted perms; it returns the guest's peer and
// control channel once the host has described the session.
func (d *deskHost) session(t *testing.T, sid string, perms ...policy.Permission) (*transport.Peer, *transport.Channel) {
	t.Helper()
	p, chans := d.sessionChans(t, sid, perms...)
	return p, chans[wire.ChannelControl]
}

func (d *deskHost) sessionChans(t *testing.T, sid string, perms ...policy.Permission) (*transport.Peer, map[string]*transport.Channel) {
	t.Helper()
	var names []string
	for _, p := range perms {
		names = append(names, string(p))
	}
	d.f.push(&wire.Signal{Type: wire.SigGrant, Session: sid, Grant: d.f.grant(t, sid, d.dev, names, time.Now().Add(time.Minute), d.f.key)})
	p, chans := guestPeer(t, d.f, sid, wire.CapScreenTiles, wire.CapInput, wire.CapFragments, wire.CapClipboard)
	recvType[*wire.SessionInfo](t, chans[wire.ChannelControl])
	return p, chans
}

// barrier returns once the host has handled everything sent on ch before
// it, failing on any refusal in between.
func barrier(t *testing.T, ch *transport.Channel) {
	t.Helper()
	if r := call(t, ch, &wire.Ping{ID: 77}); r.Type() != wire.TypePong {
		t.Fatalf("before the pong: %#v", r)
	}
}

// nextClip returns the next clipboard text the host sends on ch.
func nextClip(t *testing.T, ch *transport.Channel) string {
	t.Helper()
	return recvType[*wire.ClipboardText](t, ch).Text
}

func TestClipboardBothWays(t *testing.T) {
	d := startDeskHost(t, false)
	_, ctrl := d.session(t, "clip", policy.Clipboard)

	// Guest → host: local applications paste the technician's text.
	want := "héllo from the technician ✓\nline 2"
	if err := ctrl.Send(&wire.ClipboardText{Text: want}); err != nil {
		t.Fatal(err)
	}
	barrier(t, ctrl)
	if got, ok := captest.Paste(t, d.x); !ok || got != want {
		t.Fatalf("local paste = %q (%v), want %q", got, ok, want)
	}
	if got := nextClip(t, callNoReply(t, ctrl, &wire.ClipboardGet{})); got != want {
		t.Fatalf("ClipboardGet while the session owns it = %q", got)
	}

	// Host → guest: what a local application copies reaches the guest.
	captest.Copy(t, d.x, "copied locally ✓")
	if got := nextClip(t, ctrl); got != "copied locally ✓" {
		t.Fatalf("pushed %q", got)
	}
	// Many reads in a row (each leaves property events behind) do not
	// disturb the large read below.
	for i := 0; i < 40; i++ {
		if got := nextClip(t, callNoReply(t, ctrl, &wire.ClipboardGet{})); got != "copied locally ✓" {
			t.Fatalf("ClipboardGet %d = %q", i, got)
		}
	}

	// Large text both ways: more than one property write (INCR).
	big := strings.Repeat("0123456789abcdé\n", 40000) // 680 000 bytes
	if err := ctrl.Send(&wire.ClipboardText{Text: big}); err != nil {
		t.Fatal(err)
	}
	barrier(t, ctrl)
	if got, ok := captest.Paste(t, d.x); !ok || got != big {
		t.Fatalf("large local paste: %d bytes (%v), want %d", len(got), ok, len(big))
	}
	big2 := strings.Repeat("ABCDEFGHIJ\n", 70000)
	captest.Copy(t, d.x, big2)
	if got := nextClip(t, ctrl); got != big2 {
		t.Fatalf("large local copy reached the guest as %d bytes, want %d", len(got), len(big2))
	}

	// Bad input: text that is not UTF-8 is refused (the wire decoder
	// refuses it, and over-long text, before the host sees it); the
	// clipboard keeps its text.
	wantError(t, call(t, ctrl, &wire.ClipboardText{Text: "bad \xff"}), wire.ErrCodeBadRequest, 0, "UTF-8")
	if got, _ := captest.Paste(t, d.x); got != big2 {
		t.Fatal("the refused text changed the clipboard")
	}
}

// callNoReply sends m and returns ch for reading the reply with recvType.
func callNoReply(t *testing.T, ch *transport.Channel, m wire.Message) *transport.Channel {
	t.Helper()
	if err := ch.Send(m); err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestClipboardNotLeakedBetweenSessions(t *testing.T) {
	d := startDeskHost(t, false)
	pa, a := d.session(t, "tech-a", policy.Clipboard)
	_, b := d.session(t, "tech-b", policy.Clipboard)

	if err := a.Send(&wire.ClipboardText{Text: "secret of A"}); err != nil {
		t.Fatal(err)
	}
	barrier(t, a)
	if got, _ := captest.Paste(t, d.x); got != "secret of A" {
		t.Fatalf("local paste = %q", got)
	}
	// B neither reads A's text nor is sent it.
	if got := nextClip(t, callNoReply(t, b, &wire.ClipboardGet{})); got != "" {
		t.Fatalf("session B read %q from the clipboard", got)
	}

	// A ends: its text leaves the machine's clipboard.
	pa.Close()
	waitEvent(t, d.events, "session_ended", 1)
	if got, ok := captest.Paste(t, d.x); ok {
		t.Fatalf("after A ended the clipboard still holds %q", got)
	}
	if got := nextClip(t, callNoReply(t, b, &wire.ClipboardGet{})); got != "" {
		t.Fatalf("session B read %q after A ended", got)
	}
	// The first text B is ever sent is the local one, never A's.
	captest.Copy(t, d.x, "local text")
	if got := nextClip(t, b); got != "local text" {
		t.Fatalf("session B was sent %q", got)
	}
}

func waitEvent(t *testing.T, l *eventLog, kind string, n int) {
	t.Helper()
	for i := 0; l.count(kind) < n; i++ {
		if i == 800 {
			t.Fatalf("no %d %q events", n, kind)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Each permission: a grant with everything else and a guest that sends the
// message anyway is refused, audited, and nothing changes on the desktop.
func TestLocalDeskRefusedWithoutPermission(t *testing.T) {
	d := startDeskHost(t, false)
	captest.Copy(t, d.x, "untouched")
	cases := []struct {
		perm policy.Permission
		msgs []wire.Message
	}{
		{policy.Clipboard, []wire.Message{&wire.ClipboardText{Text: "from guest"}, &wire.ClipboardGet{}}},
		{policy.LockInput, []wire.Message{&wire.InputLock{Lock: true}, &wire.InputLock{}}},
		{policy.BlankScreen, []wire.Message{&wire.ScreenBlank{Blank: true}, &wire.ScreenBlank{}}},
	}
	refused := 0
	for _, c := range cases {
		var perms []policy.Permission
		for _, p := range policy.AllPermissions {
			if p != c.perm {
				perms = append(perms, p)
			}
		}
		_, ctrl := d.session(t, "no-"+string(c.perm), perms...)
		for _, m := range c.msgs {
			wantError(t, call(t, ctrl, m), wire.ErrCodeDenied, m.Type(), string(c.perm))
			refused++
		}
		// A guest never sends LocalState.
		wantError(t, call(t, ctrl, &wire.LocalState{Flags: wire.LocalInputLocked}), wire.ErrCodeBadRequest, wire.TypeLocalState, "")
	}
	if n := d.events.count("refused"); n != refused {
		t.Fatalf("%d refusals audited, want %d", n, refused)
	}
	if got, _ := captest.Paste(t, d.x); got != "untouched" {
		t.Fatalf("the local clipboard changed to %q", got)
	}
	// Nobody holds the keyboard: a local client can still grab it.
	conn := xconn(t, d.x)
	root := xproto.Setup(conn).DefaultScreen(conn).Root
	r, err := xproto.GrabKeyboard(conn, false, root, xproto.TimeCurrentTime, xproto.GrabModeAsync, xproto.GrabModeAsync).Reply()
	if err != nil || r.Status != xproto.GrabStatusSuccess {
		t.Fatalf("the keyboard is grabbed by someone: %v %+v", err, r)
	}
	xproto.UngrabKeyboard(conn, xproto.TimeCurrentTime)
	if d.events.count("input_lock")+d.events.count("screen_blank") != 0 {
		t.Fatal("a refused request changed the desktop")
	}
}

func xconn(t *testing.T, x *xvfb.Server) *xgb.Conn {
	t.Helper()
	conn, err := xext.Dial(x.Display)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// keyWindow is a local application: a focused window that records the
// keycodes it receives.
type keyWindow struct {
	keys chan xproto.Keycode
}

func newKeyWindow(t *testing.T, x *xvfb.Server) *keyWindow {
	t.Helper()
	conn := xconn(t, x)
	screen := xproto.Setup(conn).DefaultScreen(conn)
	win, err := xproto.NewWindowId(conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := xproto.CreateWindowChecked(conn, screen.RootDepth, win, screen.Root, 0, 0, 320, 240, 0,
		xproto.WindowClassInputOutput, screen.RootVisual, xproto.CwEventMask,
		[]uint32{xproto.EventMaskKeyPress | xproto.EventMaskStructureNotify}).Check(); err != nil {
		t.Fatal(err)
	}
	w := &keyWindow{keys: make(chan xproto.Keycode, 64)}
	mapped := make(chan struct{})
	go func() {
		for {
			ev, err := conn.WaitForEvent()
			if ev == nil && err == nil {
				return
			}
			switch e := ev.(type) {
			case xproto.MapNotifyEvent:
				close(mapped)
			case xproto.KeyPressEvent:
				w.keys <- e.Detail
			}
		}
	}()
	xproto.MapWindow(conn, win)
	<-mapped
	if err := xproto.SetInputFocusChecked(conn, xproto.InputFocusPointerRoot, win, xproto.TimeCurrentTime).Check(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *keyWindow) next(t *testing.T) xproto.Keycode {
	t.Helper()
	select {
	case k := <-w.keys:
		return k
	case <-time.After(20 * time.Second):
		t.Fatal("the window received no key")
		return 0
	}
}

// localKey types key as the local user: xdotool through XTest on its own
// connection (xdotool syncs before it exits, so the server has handled it).
func localKey(t *testing.T, x *xvfb.Server, key string) {
	t.Helper()
	if out, err := x.Command(context.Background(), "xdotool", "key", key).CombinedOutput(); err != nil {
		t.Fatalf("xdotool key %s: %v: %s", key, err, out)
	}
}

// pointerFree reports whether a local client could grab the pointer (it
// cannot while a session locks input).
func pointerFree(t *testing.T, conn *xgb.Conn) bool {
	t.Helper()
	root := xproto.Setup(conn).DefaultScreen(conn).Root
	r, err := xproto.GrabPointer(conn, false, root, xproto.EventMaskButtonPress, xproto.GrabModeAsync, xproto.GrabModeAsync,
		xproto.WindowNone, xproto.CursorNone, xproto.TimeCurrentTime).Reply()
	if err != nil {
		t.Fatal(err)
	}
	if r.Status == xproto.GrabStatusSuccess {
		xproto.UngrabPointer(conn, xproto.TimeCurrentTime)
		_, _ = xproto.GetInputFocus(conn).Reply()
		return true
	}
	return false
}

func pointerAt(t *testing.T, conn *xgb.Conn) (int16, int16) {
	t.Helper()
	r, err := xproto.QueryPointer(conn, xproto.Setup(conn).DefaultScreen(conn).Root).Reply()
	if err != nil {
		t.Fatal(err)
	}
	return r.RootX, r.RootY
}

func TestInputLock(t *testing.T) {
	needTool(t, "xdotool")
	d := startDeskHost(t, true)
	w := newKeyWindow(t, d.x)
	local := xconn(t, d.x)
	localKey(t, d.x, "b")
	kb := w.next(t) // unlocked: the local user's key reaches the window

	p, chans := d.sessionChans(t, "lock", policy.ViewScreen, policy.KeyboardMouse, policy.LockInput)
	ctrl, in := chans[wire.ChannelControl], chans[wire.ChannelInput]
	lock := func(on bool, want uint8) {
		t.Helper()
		if st := recvType[*wire.LocalState](t, callNoReply(t, ctrl, &wire.InputLock{Lock: on})); st.Flags != want {
			t.Fatalf("state after lock=%v: %+v", on, st)
		}
	}
	lock(true, wire.LocalInputLocked)
	if pointerFree(t, local) {
		t.Fatal("locked, yet a local client could grab the pointer")
	}
	// Locked: the local key is swallowed, the technician's key arrives.
	localKey(t, d.x, "b")
	if err := in.Send(&wire.KeyTap{Code: "KeyC"}); err != nil {
		t.Fatal(err)
	}
	barrier(t, in)
	if k := w.next(t); k == kb {
		t.Fatal("the local key reached the window while input was locked")
	}
	if pointerFree(t, local) {
		t.Fatal("the lock did not survive the technician's injection")
	}
	// The technician moves the pointer; the local mouse cannot.
	if err := in.Send(&wire.MouseMove{X: 100, Y: 80}); err != nil {
		t.Fatal(err)
	}
	barrier(t, in)
	if x, y := pointerAt(t, local); x != 100 || y != 80 {
		t.Fatalf("the technician's move left the pointer at %d,%d", x, y)
	}
	if out, err := d.x.Command(context.Background(), "xdotool", "mousemove", "5", "5").CombinedOutput(); err != nil {
		t.Fatalf("xdotool mousemove: %v: %s", err, out)
	}
	for i := 0; ; i++ { // the host puts it back when it sees the motion
		if x, y := pointerAt(t, local); x == 100 && y == 80 {
			break
		} else if i == 800 {
			t.Fatalf("the local mouse moved the locked pointer to %d,%d", x, y)
		}
		time.Sleep(25 * time.Millisecond)
	}

	// Unlocked: local keys arrive again.
	lock(false, 0)
	localKey(t, d.x, "b")
	if k := w.next(t); k != kb {
		t.Fatalf("after unlock the window got keycode %d, want %d", k, kb)
	}

	// A session that ends while locked releases the lock.
	lock(true, wire.LocalInputLocked)
	p.Close()
	waitEvent(t, d.events, "session_ended", 1)
	if !pointerFree(t, local) {
		t.Fatal("the pointer stayed grabbed after the session ended")
	}
	localKey(t, d.x, "b")
	if k := w.next(t); k != kb {
		t.Fatalf("after the session ended the window got keycode %d, want %d", k, kb)
	}
	if n := d.events.count("input_lock"); n != 3 {
		t.Fatalf("%d lock changes audited, want 3", n)
	}
}

// The screen blanks through DPMS where the display has it; elsewhere the
// guest is told the host cannot.
func TestScreenBlank(t *testing.T) {
	d := startDeskHost(t, false)
	p, ctrl := d.session(t, "blank", policy.ViewScreen, policy.BlankScreen)
	b, err := OpenScreenBlanker(LocalOptions{Display: d.x.Display})
	if errors.Is(err, errors.ErrUnsupported) {
		wantError(t, call(t, ctrl, &wire.ScreenBlank{Blank: true}), wire.ErrCodeUnsupported, wire.TypeScreenBlank, "cannot blank")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	conn := xconn(t, d.x)
	if err := dpms.Init(conn); err != nil {
		t.Fatal(err)
	}
	level := func() uint16 {
		t.Helper()
		r, err := dpms.Info(conn).Reply()
		if err != nil {
			t.Fatal(err)
		}
		return r.PowerLevel
	}
	if st := recvType[*wire.LocalState](t, callNoReply(t, ctrl, &wire.ScreenBlank{Blank: true})); st.Flags != wire.LocalScreenBlanked {
		t.Fatalf("state after blank: %+v", st)
	}
	if l := level(); l != dpms.DPMSModeOff {
		t.Fatalf("DPMS level %d while blanked", l)
	}
	if st := recvType[*wire.LocalState](t, callNoReply(t, ctrl, &wire.ScreenBlank{})); st.Flags != 0 {
		t.Fatalf("state after restore: %+v", st)
	}
	if l := level(); l != dpms.DPMSModeOn {
		t.Fatalf("DPMS level %d after restore", l)
	}
	// Ending the session restores the screen.
	recvType[*wire.LocalState](t, callNoReply(t, ctrl, &wire.ScreenBlank{Blank: true}))
	p.Close()
	waitEvent(t, d.events, "session_ended", 1)
	if l := level(); l != dpms.DPMSModeOn {
		t.Fatalf("DPMS level %d after the session ended", l)
	}
}

// The INCR reader against the INCR writer (xclip writes large text in one
// property where the server allows it, so it never sends INCR): a clipboard
// that does not count as a session reads another's large text exactly,
// also after many small reads.
func TestX11ClipboardINCR(t *testing.T) {
	x := captest.StartX(t, 64, 64)
	open := func() *x11Clipboard {
		c, err := OpenClipboard(LocalOptions{Display: x.Display})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*x11Clipboard)
	}
	a, b := open(), open()
	tandemOwners.Delete(a.ownerKey(a.win)) // a plays a local application
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Set("small"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if got, err := b.Get(ctx); err != nil || got != "small" {
			t.Fatalf("read %d: %q, %v", i, got, err)
		}
	}
	big := strings.Repeat("0123456789abcdé\n", 60000) // 1 020 000 bytes, 16 chunks
	if err := a.Set(big); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if got, err := b.Get(ctx); err != nil || got != big {
			t.Fatalf("large read %d: %d bytes, %v", i, len(got), err)
		}
	}
	if err := a.Set(big + strings.Repeat("x", MaxClipboard)); !errors.Is(err, ErrClipboardTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if err := a.Set("bad \xff"); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
	if got, err := b.Get(ctx); err != nil || got != big {
		t.Fatalf("a refused Set changed the clipboard: %d bytes, %v", len(got), err)
	}
}

// A paste asked for just as the session ends is answered (refused), never
// left waiting: the request is already queued at the owner when Close runs
// (the requestor's round trip makes sure the server passed it on).
func TestClipboardCloseAnswersQueuedRequests(t *testing.T) {
	x := captest.StartX(t, 64, 64)
	req := xconn(t, x)
	win, err := xproto.NewWindowId(req)
	if err != nil {
		t.Fatal(err)
	}
	root := xproto.Setup(req).DefaultScreen(req).Root
	if err := xproto.CreateWindowChecked(req, 0, win, root, 0, 0, 1, 1, 0, xproto.WindowClassInputOnly, 0, 0, nil).Check(); err != nil {
		t.Fatal(err)
	}
	atom := func(name string) xproto.Atom {
		r, err := xproto.InternAtom(req, false, uint16(len(name)), name).Reply()
		if err != nil {
			t.Fatal(err)
		}
		return r.Atom
	}
	clip, utf8, prop := atom("CLIPBOARD"), atom("UTF8_STRING"), atom("TANDEM_TEST_PASTE")
	for i := 0; i < 30; i++ {
		c, err := OpenClipboard(LocalOptions{Display: x.Display})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Set("session text"); err != nil {
			t.Fatal(err)
		}
		xproto.ConvertSelection(req, win, clip, utf8, prop, xproto.TimeCurrentTime)
		if _, err := xproto.GetInputFocus(req).Reply(); err != nil {
			t.Fatal(err)
		}
		c.Close()
		got := make(chan xproto.SelectionNotifyEvent, 1)
		go func() {
			for {
				ev, err := req.WaitForEvent()
				if ev == nil && err == nil {
					return
				}
				if e, ok := ev.(xproto.SelectionNotifyEvent); ok {
					got <- e
					return
				}
			}
		}()
		select {
		case <-got:
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: the paste asked before Close was never answered", i)
		}
	}
}
