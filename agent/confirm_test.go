package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport/wire"
)

// scriptedConfirm answers with what the test sends on answers (the local
// user, scripted); it records what was asked.
type scriptedConfirm struct {
	asked   chan ConfirmRequest
	answers chan bool
}

func (c *scriptedConfirm) Ask(ctx context.Context, r ConfirmRequest) (bool, error) {
	c.asked <- r
	select {
	case ok := <-c.answers:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// confirmGrant pushes a grant that asks for the local user's confirmation.
func (fh *featureHost) confirmGrant(t *testing.T, sid string) chan *wire.Signal {
	return fh.confirmGrantEmail(t, sid, false)
}

// confirmGrantEmail pushes a grant that asks for the local user's
// confirmation and, with email, for an emailed one too (whichever answers
// first decides).
func (fh *featureHost) confirmGrantEmail(t *testing.T, sid string, email bool) chan *wire.Signal {
	t.Helper()
	route := fh.f.route(sid)
	tok, err := policy.Sign(&policy.Grant{Version: policy.GrantVersion, SessionID: sid, AccountID: "acct", DeviceID: fh.dev,
		User: policy.GrantUser{ID: "u1", Email: "tech@example.com", Name: "Tess Tech"}, Permissions: []string{"view_screen"},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Minute).Unix(), ConfirmLocal: true, ConfirmEmail: email}, fh.f.key)
	if err != nil {
		t.Fatal(err)
	}
	fh.f.push(&wire.Signal{Type: wire.SigGrant, Session: sid, Grant: tok})
	return route
}

func waitBye(t *testing.T, route chan *wire.Signal, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case s := <-route:
			if s.Type == wire.SigBye {
				if !strings.Contains(s.Message, want) {
					t.Fatalf("bye %q, want %q", s.Message, want)
				}
				return
			}
		case <-timeout:
			t.Fatalf("no bye (%s)", want)
		}
	}
}

func TestConfirmLocal(t *testing.T) {
	ui := &scriptedConfirm{asked: make(chan ConfirmRequest, 4), answers: make(chan bool, 4)}
	fh := startFeatureHost(t, func(o *Options) { o.Confirm = ui; o.ConfirmTimeout = 2 * time.Second })

	// Allowed: the session runs, and the local user was told who and what.
	ui.answers <- true
	route := fh.confirmGrant(t, "allowed")
	if r := <-ui.asked; !strings.Contains(r.Technician, "Tess Tech") || len(r.Permissions) != 1 || r.Permissions[0] != "view_screen" {
		t.Fatalf("asked %+v", r)
	}
	_, chans := guestPeer(t, fh.f, "allowed")
	if m := recvType[*wire.SessionInfo](t, chans[wire.ChannelControl]); m == nil {
		t.Fatal("no session after allow")
	}
	select {
	case s := <-route:
		if s.Type == wire.SigBye {
			t.Fatalf("allowed session ended: %q", s.Message)
		}
	default:
	}

	// Denied: nothing runs; the relay (and the guest) hear why.
	ui.answers <- false
	route = fh.confirmGrant(t, "denied")
	<-ui.asked
	waitBye(t, route, "denied access")

	// No answer: denied when the time is up.
	route = fh.confirmGrant(t, "silent")
	<-ui.asked
	waitBye(t, route, "did not answer")
	for _, k := range []string{"confirm_allowed", "confirm_denied", "confirm_timeout"} {
		if fh.events.count(k) != 1 {
			t.Errorf("%d %s events", fh.events.count(k), k)
		}
	}
}

// TestConfirmWithoutUI: a host that cannot ask refuses such sessions.
func TestConfirmWithoutUI(t *testing.T) {
	fh := startFeatureHost(t, nil)
	waitBye(t, fh.confirmGrant(t, "s1"), "cannot ask")
}

// TestConfirmEmailFirst: while the local prompt waits, the relay passes on
// an emailed answer: allowed starts the session (the prompt goes away),
// denied refuses it.
func TestConfirmEmailFirst(t *testing.T) {
	ui := &scriptedConfirm{asked: make(chan ConfirmRequest, 4), answers: make(chan bool)}
	fh := startFeatureHost(t, func(o *Options) { o.Confirm = ui; o.ConfirmTimeout = time.Minute })

	fh.confirmGrantEmail(t, "by-email", true)
	<-ui.asked
	fh.f.push(&wire.Signal{Type: wire.SigConfirm, Session: "by-email", Code: "allowed"})
	_, chans := guestPeer(t, fh.f, "by-email")
	if m := recvType[*wire.SessionInfo](t, chans[wire.ChannelControl]); m == nil {
		t.Fatal("no session after an emailed allow")
	}

	route := fh.confirmGrantEmail(t, "denied-by-email", true)
	<-ui.asked
	fh.f.push(&wire.Signal{Type: wire.SigConfirm, Session: "denied-by-email", Code: "denied"})
	waitBye(t, route, "denied access")
	if fh.events.count("confirm_allowed") != 1 || fh.events.count("confirm_denied") != 1 {
		t.Fatal("email answers not reported")
	}
}

// TestConfirmEmailNotAsked: a grant that asks only the local user ignores
// an emailed "allowed" answer arriving over the relay connection: the
// prompt still decides (here: denied), and nothing runs before it.
func TestConfirmEmailNotAsked(t *testing.T) {
	ui := &scriptedConfirm{asked: make(chan ConfirmRequest, 4), answers: make(chan bool)}
	fh := startFeatureHost(t, func(o *Options) { o.Confirm = ui; o.ConfirmTimeout = time.Minute })

	route := fh.confirmGrant(t, "local-only")
	<-ui.asked
	fh.f.push(&wire.Signal{Type: wire.SigConfirm, Session: "local-only", Code: "allowed"})
	if !fh.events.reaches("confirm_email_ignored", 1) {
		t.Fatalf("the emailed answer was not ignored: %+v", fh.events.all())
	}
	if n := fh.events.count("confirm_allowed"); n != 0 {
		t.Fatalf("an emailed answer the grant did not ask for allowed the session (%d events)", n)
	}
	select {
	case ui.answers <- false: // the prompt is still there, and decides
	case <-time.After(20 * time.Second):
		t.Fatal("the local prompt went away after an emailed answer the grant did not ask for")
	}
	waitBye(t, route, "denied access")
	if fh.events.count("confirm_allowed") != 0 || fh.events.count("confirm_denied") != 1 {
		t.Fatalf("events: %+v", fh.events.all())
	}
}
