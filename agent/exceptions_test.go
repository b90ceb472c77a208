package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport/wire"
)

// stateDesk is the machine's session state as the tests set it: logind
// cannot run in this container, so lock and logon are driven here; the
// real discovery is tested in desktop_linux_test.go.
type stateDesk struct {
	mu     sync.Mutex
	locked bool
	noUser bool
	err    error
}

func (d *stateDesk) set(locked, noUser bool) {
	d.mu.Lock()
	d.locked, d.noUser = locked, noUser
	d.mu.Unlock()
}

func (d *stateDesk) Discover(context.Context) (*Desktop, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.err != nil:
		return nil, d.err
	case d.noUser:
		return nil, ErrNoDesktop
	}
	return &Desktop{Display: ":0", User: "alice", UID: 1000, GID: 1000, Locked: d.locked}, nil
}

// exceptGrant pushes a grant with confirm/whitelist exceptions.
func (fh *featureHost) exceptGrant(t *testing.T, sid string, mod func(*policy.Grant)) chan *wire.Signal {
	t.Helper()
	route := fh.f.route(sid)
	g := &policy.Grant{Version: policy.GrantVersion, SessionID: sid, AccountID: "acct", DeviceID: fh.dev,
		User: policy.GrantUser{ID: "u1", Email: "tech@example.com", Name: "Tess Tech"}, Permissions: []string{"view_screen"},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Minute).Unix()}
	mod(g)
	tok, err := policy.Sign(g, fh.f.key)
	if err != nil {
		t.Fatal(err)
	}
	fh.f.push(&wire.Signal{Type: wire.SigGrant, Session: sid, Grant: tok})
	return route
}

func (fh *featureHost) started(t *testing.T, sid string) {
	t.Helper()
	_, chans := guestPeer(t, fh.f, sid)
	if m := recvType[*wire.SessionInfo](t, chans[wire.ChannelControl]); m == nil {
		t.Fatalf("%s: no session", sid)
	}
}

// TestConfirmExceptions: "except when locked / no user is logged in"
// waives the prompt only in that state; otherwise the user is asked.
func TestConfirmExceptions(t *testing.T) {
	ui := &scriptedConfirm{asked: make(chan ConfirmRequest, 8), answers: make(chan bool, 8)}
	desk := &stateDesk{}
	fh := startFeatureHost(t, func(o *Options) { o.Confirm = ui; o.ConfirmTimeout = time.Minute; o.Desktop = desk })
	exceptLocked := func(g *policy.Grant) { g.ConfirmLocal, g.ConfirmExceptLocked = true, true }
	exceptNoUser := func(g *policy.Grant) { g.ConfirmLocal, g.ConfirmExceptNoUser = true, true }

	// Locked and excepted: no prompt, the session runs.
	desk.set(true, false)
	fh.exceptGrant(t, "locked", exceptLocked)
	fh.started(t, "locked")
	// Nobody logged in and excepted: likewise.
	desk.set(false, true)
	fh.exceptGrant(t, "nouser", exceptNoUser)
	fh.started(t, "nouser")
	select {
	case r := <-ui.asked:
		t.Fatalf("asked despite the exception: %+v", r)
	default:
	}
	if fh.events.count("confirm_waived") != 2 {
		t.Fatalf("%d confirm_waived events", fh.events.count("confirm_waived"))
	}

	// Unlocked, or the other state: the local user is asked, and decides.
	for _, c := range []struct {
		sid          string
		locked, none bool
		mod          func(*policy.Grant)
	}{{"unlocked", false, false, exceptLocked}, {"nouser-only-locked", false, true, exceptLocked}, {"locked-only-nouser", true, false, exceptNoUser}} {
		desk.set(c.locked, c.none)
		ui.answers <- false
		route := fh.exceptGrant(t, c.sid, c.mod)
		<-ui.asked
		waitBye(t, route, "denied access")
	}

	// A host that cannot tell its state applies no exception.
	desk.mu.Lock()
	desk.err = errors.New("no logind, no X")
	desk.mu.Unlock()
	ui.answers <- false
	route := fh.exceptGrant(t, "unknown", func(g *policy.Grant) { exceptLocked(g); exceptNoUser(g) })
	<-ui.asked
	waitBye(t, route, "denied access")
}

// TestConfirmWaivedStillEmail: with the prompt waived, the session still
// waits for the emailed confirmation the relay asked for.
func TestConfirmWaivedStillEmail(t *testing.T) {
	ui := &scriptedConfirm{asked: make(chan ConfirmRequest, 8), answers: make(chan bool, 8)}
	desk := &stateDesk{}
	desk.set(true, false)
	fh := startFeatureHost(t, func(o *Options) { o.Confirm = ui; o.Desktop = desk })
	email := func(g *policy.Grant) { g.ConfirmLocal, g.ConfirmExceptLocked, g.ConfirmEmail = true, true, true }

	route := fh.exceptGrant(t, "denied", email)
	fh.f.push(&wire.Signal{Type: wire.SigConfirm, Session: "denied", Code: "denied"})
	waitBye(t, route, "denied access")

	fh.exceptGrant(t, "allowed", email)
	fh.f.push(&wire.Signal{Type: wire.SigConfirm, Session: "allowed", Code: "allowed"})
	fh.started(t, "allowed")
	select {
	case r := <-ui.asked:
		t.Fatalf("asked locally despite the exception: %+v", r)
	default:
	}
}

// TestWhitelistExceptions: the whitelist is not enforced in an excepted
// state; otherwise it is (here it cannot be, so the grant is refused —
// which shows the guard was required).
func TestWhitelistExceptions(t *testing.T) {
	desk := &stateDesk{}
	opened := make(chan struct{}, 8)
	fh := startFeatureHost(t, func(o *Options) {
		o.Desktop = desk
		o.Windows = func() (Windows, error) {
			opened <- struct{}{}
			return nil, errors.New("no window enumeration in this test")
		}
	})
	wl := func(locked, noUser bool) func(*policy.Grant) {
		return func(g *policy.Grant) {
			g.Whitelist = []policy.GrantApp{{Name: "Calculator", Executable: "xcalc"}}
			g.WhitelistExceptLocked, g.WhitelistExceptNoUser = locked, noUser
		}
	}
	desk.set(true, false)
	fh.exceptGrant(t, "locked", wl(true, false))
	fh.started(t, "locked")
	desk.set(false, true)
	fh.exceptGrant(t, "nouser", wl(false, true))
	fh.started(t, "nouser")
	if len(opened) != 0 || fh.events.count("whitelist_waived") != 2 {
		t.Fatalf("whitelist opened %d times, %d waived events", len(opened), fh.events.count("whitelist_waived"))
	}

	for _, c := range []struct {
		sid            string
		locked, noUser bool
		mod            func(*policy.Grant)
	}{{"unlocked", false, false, wl(true, true)}, {"locked-only-nouser", true, false, wl(false, true)}} {
		desk.set(c.locked, c.noUser)
		fh.f.route(c.sid)
		fh.exceptGrant(t, c.sid, c.mod)
		s := fh.f.next(t, wire.SigError)
		if s.Code != "grant_refused" || !strings.Contains(s.Message, "whitelist") {
			t.Fatalf("%s: %+v", c.sid, s)
		}
		<-opened
	}
}

// TestExecAsDesktopUser: with Exec.AsUser the command runs as the
// desktop's user, with its HOME, USER and DISPLAY; without a user it is
// refused rather than run as root.
func TestExecAsDesktopUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to another user")
	}
	var mu sync.Mutex
	desk := &Desktop{Display: ":42", User: "nobody", UID: 65534, GID: 65534, Home: "/nonexistent"}
	fh := startFeatureHost(t, func(o *Options) {
		o.Exec.AsUser = func() *Desktop {
			mu.Lock()
			defer mu.Unlock()
			if desk == nil {
				return nil
			}
			c := *desk
			return &c
		}
	})
	ex := fh.session(t, "asuser", policy.FullSet())[wire.ChannelExec]
	send(t, ex, &wire.ExecStart{ID: 1, Argv: []string{"sh", "-c", `echo "$(id -u):$(id -g) $HOME $USER $DISPLAY $(pwd)"`}})
	recvType[*wire.ExecStarted](t, ex)
	var out, errb bytes.Buffer
	if exit := collect(t, ex, 1, &out, &errb); exit.Code != 0 {
		t.Fatalf("exit %+v: %s", exit, errb.String())
	}
	if got := out.String(); got != "65534:65534 /nonexistent nobody :42 /\n" {
		t.Fatalf("ran as %q", got)
	}

	mu.Lock()
	desk = nil
	mu.Unlock()
	wantError(t, ask(t, ex, &wire.ExecStart{ID: 2, Argv: []string{"true"}}), wire.ErrCodeDenied, wire.TypeExecStart, "nobody is logged in")
}
