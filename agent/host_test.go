package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// fakeRelay is the smallest relay a host can talk to: it authenticates the
// agent like the real one and lets the test push signals and read replies.
// It stands in for the relay so these tests exercise the host's own checks
// (the real relay is in the e2e tests).
type fakeRelay struct {
	t        *testing.T
	key      ed25519.PrivateKey
	devKey   ed25519.PublicKey
	deviceID string
	srv      *httptest.Server

	mu     sync.Mutex
	conn   *websocket.Conn
	ready  chan struct{}
	fromAg chan *wire.Signal            // signals of sessions without a route
	routes map[string]chan *wire.Signal // session id → its guest peer
}

// route delivers the agent's signals for session sid to their own channel.
func (f *fakeRelay) route(sid string) chan *wire.Signal {
	c := make(chan *wire.Signal, 64)
	f.mu.Lock()
	f.routes[sid] = c
	f.mu.Unlock()
	return c
}

func newFakeRelay(t *testing.T, deviceID string, devKey ed25519.PublicKey) *fakeRelay {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	f := &fakeRelay{t: t, key: key, devKey: devKey, deviceID: deviceID, ready: make(chan struct{}), fromAg: make(chan *wire.Signal, 64),
		routes: map[string]chan *wire.Signal{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(f.serve)}}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRelay) serve(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ctx := r.Context()
	read := func() *wire.Signal {
		_, b, err := c.Read(ctx)
		if err != nil {
			return nil
		}
		s, err := wire.DecodeSignal(b)
		if err != nil {
			f.t.Errorf("agent sent malformed signal: %v", err)
			return nil
		}
		return s
	}
	hello := read()
	if hello == nil || hello.Type != wire.SigHello {
		f.t.Errorf("first message is not hello: %+v", hello)
		return
	}
	agentNonce, _ := base64.StdEncoding.DecodeString(hello.Nonce)
	nonce := make([]byte, wire.NonceSize)
	rand.Read(nonce)
	proof := ed25519.Sign(f.key, wire.RelayProofMessage(wire.Version, agentNonce, nonce))
	f.write(c, &wire.Signal{Type: wire.SigChallenge, Version: wire.Version, Nonce: base64.StdEncoding.EncodeToString(nonce),
		Signature: base64.StdEncoding.EncodeToString(proof)})
	s := read()
	if s == nil {
		return
	}
	sig, _ := base64.StdEncoding.DecodeString(s.Signature)
	if s.DeviceID != f.deviceID || !ed25519.Verify(f.devKey, wire.AuthMessageV2(agentNonce, nonce, f.deviceID, f.key.Public().(ed25519.PublicKey)), sig) {
		f.write(c, &wire.Signal{Type: wire.SigError, Code: "unauthorized", Message: "bad signature",
			Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(f.key, wire.VerdictMessage(agentNonce, nonce, "unauthorized")))})
		c.Close(websocket.StatusPolicyViolation, "unauthorized")
		return
	}
	f.write(c, &wire.Signal{Type: wire.SigReady})
	f.mu.Lock()
	f.conn = c
	f.mu.Unlock()
	close(f.ready)
	for {
		s := read()
		if s == nil {
			return
		}
		if s.Type == wire.SigInventory {
			continue
		}
		f.mu.Lock()
		c := f.routes[s.Session]
		f.mu.Unlock()
		if c == nil || s.Type == wire.SigError {
			c = f.fromAg
		}
		c <- s
	}
}

func (f *fakeRelay) write(c *websocket.Conn, s *wire.Signal) {
	b, err := wire.EncodeSignal(s)
	if err != nil {
		f.t.Fatal(err)
	}
	_ = c.Write(context.Background(), websocket.MessageText, b)
}

func (f *fakeRelay) push(s *wire.Signal) {
	f.mu.Lock()
	c := f.conn
	f.mu.Unlock()
	f.write(c, s)
}

// next returns the next signal from the agent of one of the given types.
func (f *fakeRelay) next(t *testing.T, types ...string) *wire.Signal {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case s := <-f.fromAg:
			for _, ty := range types {
				if s.Type == ty {
					return s
				}
			}
		case <-timeout:
			t.Fatalf("agent sent no %v", types)
		}
	}
}

func (f *fakeRelay) grant(t *testing.T, sid, device string, perms []string, exp time.Time, key ed25519.PrivateKey) string {
	t.Helper()
	tok, err := policy.Sign(&policy.Grant{Version: policy.GrantVersion, SessionID: sid, AccountID: "acct", DeviceID: device,
		User: policy.GrantUser{ID: "u1", Email: "tech@example.com", Name: "Tess Tech"}, Permissions: perms,
		IssuedAt: time.Now().Unix(), ExpiresAt: exp.Unix()}, key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// fakeCapturer serves a synthetic 256×128 screen; real X capture is tested
// in capture/ and end to end in e2e/.
type fakeCapturer struct{ img *capture.Frame }

func newFakeCapturer() *fakeCapturer {
	f := &capture.Frame{Width: 256, Height: 128, Stride: 256 * 4, Pix: make([]byte, 256*128*4)}
	for i := range f.Pix {
		f.Pix[i] = byte(i * 7)
	}
	return &fakeCapturer{img: f}
}
func (c *fakeCapturer) Bounds() image.Rectangle { return image.Rect(0, 0, 256, 128) }
func (c *fakeCapturer) Monitors() ([]capture.Monitor, error) {
	return []capture.Monitor{{Name: "fake", Width: 256, Height: 128, Primary: true}}, nil
}
func (c *fakeCapturer) Grab(r image.Rectangle, dst *capture.Frame) (*capture.Frame, error) {
	cp := *c.img
	cp.Pix = append([]byte(nil), c.img.Pix...)
	return &cp, nil
}
func (c *fakeCapturer) Close() error { return nil }

// recordingInjector records what the host injected (the negative tests need
// to prove nothing was).
type recordingInjector struct {
	mu     sync.Mutex
	events []string
}

func (r *recordingInjector) add(s string) error {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
	return nil
}
func (r *recordingInjector) MoveMouse(x, y int) error             { return r.add("move") }
func (r *recordingInjector) MouseButton(input.Button, bool) error { return r.add("button") }
func (r *recordingInjector) Wheel(int, int) error                 { return r.add("wheel") }
func (r *recordingInjector) Key(string, bool) error               { return r.add("key") }
func (r *recordingInjector) Tap(string, input.Modifiers) error    { return r.add("tap") }
func (r *recordingInjector) Type(string) error                    { return r.add("type") }
func (r *recordingInjector) ReleaseAll() error                    { return nil }
func (r *recordingInjector) Close() error                         { return nil }
func (r *recordingInjector) count() int                           { r.mu.Lock(); defer r.mu.Unlock(); return len(r.events) }

func startHost(t *testing.T, inj *recordingInjector) (*fakeRelay, *Host, string) {
	t.Helper()
	return startHostWith(t, inj, nil)
}

// startHostWith is startHost with options adjusted by opt.
func startHostWith(t *testing.T, inj *recordingInjector, opt func(*Options)) (*fakeRelay, *Host, string) {
	t.Helper()
	_, devKey, _ := ed25519.GenerateKey(rand.Reader)
	deviceID := "dev-1"
	f := newFakeRelay(t, deviceID, devKey.Public().(ed25519.PublicKey))
	o := Options{
		RelayURL: f.srv.URL, DeviceID: deviceID, Key: devKey, RelayKey: f.key.Public().(ed25519.PublicKey),
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Transport: transport.Config{Loopback: true},
		Capture:   func() (capture.Capturer, error) { return newFakeCapturer(), nil },
		Input:     func() (input.Injector, error) { return inj, nil },
	}
	if opt != nil {
		opt(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		h.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-f.ready:
	case <-time.After(20 * time.Second):
		t.Fatal("host did not authenticate")
	}
	return f, h, deviceID
}

func TestHostRefusesBadGrants(t *testing.T) {
	f, _, dev := startHost(t, &recordingInjector{})
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	full := policy.FullSet().Strings()
	future := time.Now().Add(time.Minute)

	valid := f.grant(t, "s-ok", dev, full, future, f.key)
	tampered := valid
	// Flip a character in the payload: the signature no longer matches.
	if tampered[5] == 'A' {
		tampered = tampered[:5] + "B" + tampered[6:]
	} else {
		tampered = tampered[:5] + "A" + tampered[6:]
	}

	cases := []struct {
		name, sid, grant string
		want             string
	}{
		{"signed by another key", "s1", f.grant(t, "s1", dev, full, future, otherKey), "bad signature"},
		{"tampered", "s-ok", tampered, "grant"},
		{"expired", "s2", f.grant(t, "s2", dev, full, time.Now().Add(-time.Hour), f.key), "expired"},
		{"another device", "s3", f.grant(t, "s3", "dev-2", full, future, f.key), "another device"},
		{"unsigned", "s4", "eyJ2IjoxfQ", "malformed"},
		{"session id mismatch", "other", f.grant(t, "s5", dev, full, future, f.key), "not other"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.push(&wire.Signal{Type: wire.SigGrant, Session: c.sid, Grant: c.grant})
			s := f.next(t, wire.SigError)
			if s.Code != "grant_refused" || s.Session != c.sid {
				t.Fatalf("got %+v, want grant_refused for %s", s, c.sid)
			}
			if !strings.Contains(s.Message, c.want) {
				t.Fatalf("reason %q does not mention %q", s.Message, c.want)
			}
		})
	}

	// A valid grant is accepted once; the same grant again is a replay.
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "s-ok", Grant: valid})
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "s-ok", Grant: valid})
	s := f.next(t, wire.SigError)
	if s.Code != "grant_refused" || !strings.Contains(s.Message, "replay") {
		t.Fatalf("replayed grant not refused: %+v", s)
	}
}

// guestPeer connects a real pion guest to the host through the fake relay.
func guestPeer(t *testing.T, f *fakeRelay, sid string, caps ...string) (*transport.Peer, map[string]*transport.Channel) {
	t.Helper()
	p, err := transport.NewPeer(transport.Config{Loopback: true}, wire.RoleGuest, func(s *wire.Signal) error {
		s.Session = sid
		f.push(s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	sigs := f.route(sid)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s.Type == wire.SigAnswer || s.Type == wire.SigCandidate {
					_ = p.HandleSignal(s)
				}
			case <-p.Done():
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	chans := map[string]*transport.Channel{}
	for _, l := range transport.Labels {
		ch, err := p.Channel(ctx, l)
		if err != nil {
			t.Fatalf("channel %s: %v", l, err)
		}
		chans[l] = ch
	}
	if caps == nil {
		caps = []string{wire.CapScreenTiles, wire.CapScreenTilesV2, wire.CapInput, wire.CapFragments}
	}
	if err := chans[wire.ChannelControl].Send(&wire.Hello{Version: wire.Version, Role: wire.RoleGuest, Caps: caps}); err != nil {
		t.Fatal(err)
	}
	return p, chans
}

// The host streams the newest screen format the guest announced, and the
// oldest to a guest that announces only that.
func TestScreenFormatNegotiated(t *testing.T) {
	f, _, dev := startHost(t, &recordingInjector{})
	for i, c := range []struct {
		caps []string
		want uint8
	}{
		{[]string{wire.CapScreenTiles, wire.CapScreenTilesV2}, wire.CodecTilesV2},
		{[]string{wire.CapScreenTiles}, wire.CodecTilesV1},
	} {
		sid := fmt.Sprintf("fmt-%d", i)
		f.push(&wire.Signal{Type: wire.SigGrant, Session: sid, Grant: f.grant(t, sid, dev,
			[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
		p, chans := guestPeer(t, f, sid, c.caps...)
		if fr := recvType[*wire.ScreenFrame](t, chans[wire.ChannelScreen]); fr.Codec != c.want {
			t.Fatalf("caps %v: frame codec %d, want %d", c.caps, fr.Codec, c.want)
		}
		p.Close()
	}
}

func recvType[T wire.Message](t *testing.T, ch *transport.Channel) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		m, err := ch.Recv(ctx)
		if err != nil {
			t.Fatalf("recv on %s: %v", ch.Label(), err)
		}
		if v, ok := m.(T); ok {
			return v
		}
	}
}

func TestPermissionsEnforcedOnHost(t *testing.T) {
	inj := &recordingInjector{}
	f, _, dev := startHost(t, inj)
	// View only: no keyboard_mouse.
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "view", Grant: f.grant(t, "view", dev,
		[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
	_, chans := guestPeer(t, f, "view")

	info := recvType[*wire.SessionInfo](t, chans[wire.ChannelControl])
	if len(info.Permissions) != 1 || info.Permissions[0] != string(policy.ViewScreen) || info.Technician == "" {
		t.Fatalf("session info %+v", info)
	}
	// The screen arrives (view_screen granted).
	fr := recvType[*wire.ScreenFrame](t, chans[wire.ChannelScreen])
	if fr.Codec != wire.CodecTilesV2 || len(fr.Data) == 0 {
		t.Fatalf("frame %+v", fr)
	}
	// Every kind of input is refused on the host, and nothing is injected.
	in := chans[wire.ChannelInput]
	msgs := []wire.Message{&wire.MouseMove{X: 1, Y: 1}, &wire.MouseButton{Button: 1, Down: true},
		&wire.MouseWheel{DY: 1}, &wire.Key{Code: "KeyA", Down: true}, &wire.KeyTap{Code: "Enter"}, &wire.Text{Text: "rm -rf /"}}
	for _, m := range msgs {
		if err := in.Send(m); err != nil {
			t.Fatal(err)
		}
		e := recvType[*wire.Error](t, in)
		if e.Code != wire.ErrCodeDenied || e.Ref != m.Type() || !strings.Contains(e.Message, "keyboard_mouse") {
			t.Fatalf("refusal for 0x%02x: %+v", m.Type(), e)
		}
	}
	if err := in.Send(&wire.Ping{ID: 9}); err != nil {
		t.Fatal(err)
	}
	if p := recvType[*wire.Pong](t, in); p.ID != 9 {
		t.Fatalf("pong %+v", p)
	}
	if n := inj.count(); n != 0 {
		t.Fatalf("host injected %d events without keyboard_mouse", n)
	}
}

func TestInputAppliedWhenGranted(t *testing.T) {
	inj := &recordingInjector{}
	f, _, dev := startHost(t, inj)
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "full", Grant: f.grant(t, "full", dev,
		policy.FullSet().Strings(), time.Now().Add(time.Minute), f.key)})
	_, chans := guestPeer(t, f, "full")
	in := chans[wire.ChannelInput]
	for _, m := range []wire.Message{&wire.MouseMove{X: 10, Y: 10}, &wire.Text{Text: "hi"}, &wire.Ping{ID: 1}} {
		if err := in.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	recvType[*wire.Pong](t, in)
	if n := inj.count(); n != 2 {
		t.Fatalf("injected %d events, want 2", n)
	}
}

func TestHostStopsWhenRevoked(t *testing.T) {
	_, devKey, _ := ed25519.GenerateKey(rand.Reader)
	_, otherDev, _ := ed25519.GenerateKey(rand.Reader)
	// The relay knows another key for this device id: authentication fails
	// the way it does for a revoked or removed device.
	f := newFakeRelay(t, "dev-1", otherDev.Public().(ed25519.PublicKey))
	h, err := New(Options{RelayURL: f.srv.URL, DeviceID: "dev-1", Key: devKey, RelayKey: f.key.Public().(ed25519.PublicKey),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Capture: func() (capture.Capturer, error) { return newFakeCapturer(), nil },
		Input:   func() (input.Injector, error) { return &recordingInjector{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Run(ctx); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Run = %v, want ErrRevoked", err)
	}
}
