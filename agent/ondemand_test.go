package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestNormalizeOnDemandKey(t *testing.T) {
	for in, want := range map[string]string{
		"613220463": "613220463", " 613 220 463 ": "613220463", "613-220-463": "613220463", "613.220.463": "613220463",
	} {
		if got, err := NormalizeOnDemandKey(in); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "61322046", "6132204631", "61322046x", "ABCD-EFGH", "613/220/463"} {
		if got, err := NormalizeOnDemandKey(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

// joinStandIn stands in for the relay's POST /api/v1/ondemand/join only
// (the relay side is built separately; the end-to-end test runs both). It
// answers with status and body, and keeps what the agent sent.
type joinStandIn struct {
	srv    *httptest.Server
	got    atomic.Pointer[wire.OnDemandJoinRequest]
	calls  atomic.Int32
	status int
	body   any
}

func newJoinStandIn(t *testing.T, status int, body any) *joinStandIn {
	j := &joinStandIn{status: status, body: body}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	j.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/ondemand/join" {
			http.NotFound(w, r)
			return
		}
		var req wire.OnDemandJoinRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		j.got.Store(&req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(j.status)
		_ = json.NewEncoder(w).Encode(j.body)
	})}}
	j.srv.Start()
	t.Cleanup(j.srv.Close)
	return j
}

func apiErr(code, msg string) wire.APIError {
	return wire.APIError{Error: wire.APIErrorBody{Code: code, Message: msg}}
}

func TestJoinOnDemand(t *testing.T) {
	relayPub, _, _ := ed25519.GenerateKey(rand.Reader)
	exp := time.Now().Add(time.Hour).Unix()
	j := newJoinStandIn(t, http.StatusOK, wire.OnDemandJoinResponse{DeviceID: "od-1", AccountID: "acct",
		RelayPublicKey: base64.StdEncoding.EncodeToString(relayPub), ExpiresAt: exp, Technician: "Tess Tech"})
	inv := &wire.Inventory{Hostname: "pc", OS: "linux", User: "ann"}
	id, err := JoinOnDemand(context.Background(), nil, j.srv.URL+"/", "613 220-463", inv)
	if err != nil {
		t.Fatal(err)
	}
	req := j.got.Load()
	if req.Key != "613220463" || req.Inventory == nil || req.Inventory.User != "ann" {
		t.Fatalf("request %+v", req)
	}
	// The key pair is this run's: the relay got the public half of the key
	// the identity signs with.
	pub, _ := base64.StdEncoding.DecodeString(req.PublicKey)
	if !ed25519.PublicKey(pub).Equal(id.PrivateKey.Public()) {
		t.Fatal("the public key sent is not the identity's")
	}
	if id.DeviceID != "od-1" || !id.RelayKey.Equal(relayPub) || id.Technician != "Tess Tech" ||
		id.ExpiresAt.Unix() != exp || id.RelayURL != j.srv.URL || id.Key != "613220463" {
		t.Fatalf("identity %+v", id)
	}
	// Each join makes a new identity.
	id2, err := JoinOnDemand(context.Background(), nil, j.srv.URL, "613220463", inv)
	if err != nil || id2.PrivateKey.Equal(id.PrivateKey) {
		t.Fatalf("second join: %v, same key %v", err, id2 != nil && id2.PrivateKey.Equal(id.PrivateKey))
	}
}

func TestJoinOnDemandRefused(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   any
		want   error
		text   string
	}{
		{"wrong key", http.StatusNotFound, apiErr("invalid_key", "no such session key"), ErrOnDemandKey, "no such session key"},
		{"dead key", http.StatusGone, apiErr(wire.CodeOnDemandOver, "this session was rejected"), ErrOnDemandOver, "rejected"},
		{"dead key by code", http.StatusForbidden, apiErr(wire.CodeOnDemandOver, "expired"), ErrOnDemandOver, "expired"},
		{"throttled", http.StatusTooManyRequests, apiErr("throttled", "slow down"), ErrThrottled, "slow down"},
		{"other", http.StatusInternalServerError, apiErr("internal", "database down"), nil, "database down"},
		{"not json", http.StatusBadGateway, "<html>", nil, "502"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := newJoinStandIn(t, c.status, c.body)
			_, err := JoinOnDemand(context.Background(), nil, j.srv.URL, "613220463", nil)
			var je *JoinError
			if !errors.As(err, &je) || je.Status != c.status {
				t.Fatalf("err %v, want a JoinError %d", err, c.status)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			for _, s := range []error{ErrOnDemandKey, ErrOnDemandOver, ErrThrottled} {
				if s != c.want && errors.Is(err, s) {
					t.Fatalf("err %v is also %v", err, s)
				}
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Fatalf("err %q does not say %q", err, c.text)
			}
		})
	}
	t.Run("incomplete answer", func(t *testing.T) {
		j := newJoinStandIn(t, http.StatusOK, wire.OnDemandJoinResponse{DeviceID: "od-1", RelayPublicKey: "c2hvcnQ="})
		if _, err := JoinOnDemand(context.Background(), nil, j.srv.URL, "613220463", nil); err == nil || !strings.Contains(err.Error(), "incomplete") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("bad input asks nothing", func(t *testing.T) {
		j := newJoinStandIn(t, http.StatusOK, nil)
		for _, c := range [][2]string{{j.srv.URL, "12345"}, {"ftp://x", "613220463"}, {"relay.example.com", "613220463"}} {
			if _, err := JoinOnDemand(context.Background(), nil, c[0], c[1], nil); err == nil {
				t.Fatalf("%v accepted", c)
			}
		}
		if n := j.calls.Load(); n != 0 {
			t.Fatalf("%d requests for bad input", n)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		if _, err := JoinOnDemand(context.Background(), nil, "http://"+addr, "613220463", nil); err == nil || !strings.Contains(err.Error(), "cannot reach") {
			t.Fatalf("err %v", err)
		}
	})
}

// runOnDemand starts a host against the fake relay and returns Run's
// result channel.
func runOnDemand(t *testing.T, onDemand bool, opt func(*Options)) (*fakeRelay, *Host, *eventLog, chan error) {
	t.Helper()
	_, devKey, _ := ed25519.GenerateKey(rand.Reader)
	f := newFakeRelay(t, "od-1", devKey.Public().(ed25519.PublicKey))
	events := &eventLog{}
	o := Options{RelayURL: f.srv.URL, DeviceID: "od-1", Key: devKey, RelayKey: f.key.Public().(ed25519.PublicKey),
		OnDemand: onDemand, OnEvent: events.add,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Transport: transport.Config{Loopback: true},
		Capture:   func() (capture.Capturer, error) { return newFakeCapturer(), nil },
		Input:     func() (input.Injector, error) { return &recordingInjector{}, nil }}
	if opt != nil {
		opt(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(context.Background()) }()
	t.Cleanup(func() {
		h.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	select {
	case <-f.ready:
	case <-time.After(20 * time.Second):
		t.Fatal("host did not authenticate")
	}
	return f, h, events, done
}

func runResult(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// TestOnDemandOverEndsRun: once the relay says the key is dead, Run returns
// ErrOnDemandOver instead of reconnecting; a Host ignores that code.
func TestOnDemandOverEndsRun(t *testing.T) {
	f, _, _, done := runOnDemand(t, true, nil)
	f.push(&wire.Signal{Type: wire.SigError, Code: wire.CodeOnDemandOver, Message: "a technician rejected this session"})
	if err := runResult(t, done); !errors.Is(err, ErrOnDemandOver) || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("Run = %v, want ErrOnDemandOver", err)
	}

	f, _, _, done = runOnDemand(t, false, nil)
	f.push(&wire.Signal{Type: wire.SigError, Code: wire.CodeOnDemandOver, Message: "not for a host"})
	// Still serving: a grant after it starts a session.
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "s1", Grant: f.grant(t, "s1", "od-1",
		[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
	_, chans := guestPeer(t, f, "s1")
	recvType[*wire.SessionInfo](t, chans[wire.ChannelControl])
	select {
	case err := <-done:
		t.Fatalf("host Run returned %v", err)
	default:
	}
}

// TestOnDemandRefusedAtHandshake: a relay that refuses the identity
// (the key died while the agent was away) ends Run at once.
func TestOnDemandRefusedAtHandshake(t *testing.T) {
	for _, c := range []struct {
		code string
		want error
	}{{wire.CodeOnDemandOver, ErrOnDemandOver}, {"unknown_device", ErrOnDemandOver}} {
		// The relay proves its key, then refuses the identity.
		relayPub, relayKey, _ := ed25519.GenerateKey(rand.Reader)
		si := newStandIn(t, func(hello *wire.Signal, write func(*wire.Signal), read func() *wire.Signal) {
			n := challenge(write, relayKey, helloNonce(hello))
			if s := read(); s == nil || s.Type != wire.SigAuth {
				return
			}
			refusal(write, relayKey, helloNonce(hello), n, c.code)
		})
		_, devKey, _ := ed25519.GenerateKey(rand.Reader)
		h, err := New(Options{RelayURL: si.srv.URL, DeviceID: "od-1", Key: devKey, RelayKey: relayPub, OnDemand: true,
			Logger:  slog.New(slog.DiscardHandler),
			Capture: func() (capture.Capturer, error) { return newFakeCapturer(), nil },
			Input:   func() (input.Injector, error) { return &recordingInjector{}, nil }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = h.Run(ctx)
		cancel()
		conns := &si.conns
		if !errors.Is(err, c.want) {
			t.Fatalf("%s: Run = %v, want %v", c.code, err, c.want)
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("%s: %d connections, want 1 (no retry)", c.code, n)
		}
	}
}

// TestOnDemandDisconnect: the local user's Disconnect ends the session at
// once (bye to the guest and to the relay) and with it the OnDemand run.
func TestOnDemandDisconnect(t *testing.T) {
	f, h, events, done := runOnDemand(t, true, nil)
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "s1", Grant: f.grant(t, "s1", "od-1",
		[]string{string(policy.ViewScreen), string(policy.KeyboardMouse)}, time.Now().Add(time.Minute), f.key)})
	p, chans := guestPeer(t, f, "s1")
	recvType[*wire.SessionInfo](t, chans[wire.ChannelControl])
	route := f.route("s1") // connected: the relay's view of the session from here on

	h.Disconnect()
	if bye := recvType[*wire.Bye](t, chans[wire.ChannelControl]); bye.Reason != ReasonLocalDisconnect {
		t.Fatalf("guest told %q", bye.Reason)
	}
	waitSignal(t, route, wire.SigBye)
	if err := runResult(t, done); err != nil {
		t.Fatalf("Run = %v, want nil after the session", err)
	}
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the guest's connection did not end")
	}
	if events.count("session_started") != 1 || events.count("session_ended") != 1 {
		t.Fatalf("events: %d started, %d ended", events.count("session_started"), events.count("session_ended"))
	}
	for _, e := range events.all() {
		if e.Kind == "session_started" && e.Detail != "view_screen keyboard_mouse" {
			t.Fatalf("session_started tells permissions %q", e.Detail)
		}
		if e.Kind == "session_ended" && e.Detail != ReasonLocalDisconnect {
			t.Fatalf("session_ended tells %q", e.Detail)
		}
	}
}

// waitSignal waits for a signal of type ty on a session's route.
func waitSignal(t *testing.T, route chan *wire.Signal, ty string) *wire.Signal {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case s := <-route:
			if s.Type == ty {
				return s
			}
		case <-timeout:
			t.Fatalf("no %s signal", ty)
		}
	}
}

// TestOnDemandEndsAfterSession: the technician leaving ends the run too;
// so does Disconnect while still waiting in the queue.
func TestOnDemandEndsAfterSession(t *testing.T) {
	f, _, _, done := runOnDemand(t, true, nil)
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "s1", Grant: f.grant(t, "s1", "od-1",
		[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
	_, chans := guestPeer(t, f, "s1")
	recvType[*wire.SessionInfo](t, chans[wire.ChannelControl])
	if err := chans[wire.ChannelControl].Send(&wire.Bye{Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	if err := runResult(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}

	_, h, _, done := runOnDemand(t, true, nil)
	h.Disconnect()
	if err := runResult(t, done); err != nil {
		t.Fatalf("Run after leaving the queue = %v", err)
	}
}

// TestOnDemandConsent: the start's grant asks the local user; a denial
// ends the session and the run, nothing was shown.
func TestOnDemandConsent(t *testing.T) {
	ui := &scriptedConfirm{asked: make(chan ConfirmRequest, 1), answers: make(chan bool, 1)}
	f, _, events, done := runOnDemand(t, true, func(o *Options) { o.Confirm = ui })
	fh := &featureHost{f: f, dev: "od-1"}
	route := fh.confirmGrant(t, "s1")
	r := <-ui.asked
	if !strings.Contains(r.Technician, "Tess Tech") {
		t.Fatalf("asked %+v", r)
	}
	ui.answers <- false
	waitBye(t, route, "denied")
	if err := runResult(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if events.count("confirm_denied") != 1 || events.count("session_started") != 0 {
		t.Fatal("denial not reported, or a session started")
	}
}

// TestHostDisconnectKeepsServing: on a Host, Disconnect ends the sessions
// but not the service.
func TestHostDisconnectKeepsServing(t *testing.T) {
	f, h, _, done := runOnDemand(t, false, nil)
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "s1", Grant: f.grant(t, "s1", "od-1",
		[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
	_, chans := guestPeer(t, f, "s1")
	recvType[*wire.SessionInfo](t, chans[wire.ChannelControl])
	h.Disconnect()
	if bye := recvType[*wire.Bye](t, chans[wire.ChannelControl]); bye.Reason != ReasonLocalDisconnect {
		t.Fatalf("guest told %q", bye.Reason)
	}
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "s2", Grant: f.grant(t, "s2", "od-1",
		[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
	_, chans = guestPeer(t, f, "s2")
	recvType[*wire.SessionInfo](t, chans[wire.ChannelControl])
	select {
	case err := <-done:
		t.Fatalf("host Run returned %v", err)
	default:
	}
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.ev...)
}

// TestOnDemandDisconnectDuringConsent: Ctrl+Shift+X while the prompt is
// up: the prompt goes away unanswered, nothing starts, the run ends.
func TestOnDemandDisconnectDuringConsent(t *testing.T) {
	ui := &scriptedConfirm{asked: make(chan ConfirmRequest, 1), answers: make(chan bool)}
	f, h, events, done := runOnDemand(t, true, func(o *Options) { o.Confirm = ui })
	fh := &featureHost{f: f, dev: "od-1"}
	route := fh.confirmGrant(t, "s1")
	<-ui.asked
	h.Disconnect()
	waitBye(t, route, "")
	if err := runResult(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if events.count("session_started") != 0 || events.count("confirm_allowed") != 0 {
		t.Fatal("a session started after Disconnect")
	}
}

// TestOnDemandOverAfterSession: the relay ending the key right after the
// session (before the engine noticed its end) is still a normal end.
func TestOnDemandOverAfterSession(t *testing.T) {
	f, _, _, done := runOnDemand(t, true, nil)
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "s1", Grant: f.grant(t, "s1", "od-1",
		[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
	_, chans := guestPeer(t, f, "s1")
	recvType[*wire.SessionInfo](t, chans[wire.ChannelControl])
	f.push(&wire.Signal{Type: wire.SigRevoked, Code: wire.CodeOnDemandOver, Message: "this OnDemand session is over"})
	if err := runResult(t, done); err != nil {
		t.Fatalf("Run = %v, want nil after a session", err)
	}
}
