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
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/transport/wire"
)

// standIn is whoever answers the relay URL in these tests: a WebSocket
// server speaking the wire protocol, whose handshake the test scripts
// (an impostor, or the pinned relay itself), and an /api/v1/enroll that
// counts what it was sent and answers with enrollKey as the relay key.
type standIn struct {
	srv       *httptest.Server
	conns     atomic.Int32 // agent connections
	auths     atomic.Int32 // auth signals received: signatures the Host gave away
	enrolls   atomic.Int32 // enrollment requests (each carries the package key)
	enrollKey ed25519.PublicKey
}

// handshake is a stand-in's script after the agent's hello: it writes what
// it wants and may read more with read.
type handshake func(hello *wire.Signal, write func(*wire.Signal), read func() *wire.Signal)

func newStandIn(t *testing.T, script handshake) *standIn {
	t.Helper()
	si := &standIn{}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/agent/connect", func(w http.ResponseWriter, r *http.Request) {
		si.conns.Add(1)
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		read := func() *wire.Signal {
			_, b, err := c.Read(r.Context())
			if err != nil {
				return nil
			}
			s, err := wire.DecodeSignal(b)
			if err != nil {
				return nil
			}
			if s.Type == wire.SigAuth {
				si.auths.Add(1)
			}
			return s
		}
		write := func(s *wire.Signal) {
			b, _ := wire.EncodeSignal(s)
			_ = c.Write(r.Context(), websocket.MessageText, b)
		}
		hello := read()
		if hello == nil {
			return
		}
		script(hello, write, read)
		for read() != nil { // until the agent hangs up
		}
	})
	mux.HandleFunc("/api/v1/enroll", func(w http.ResponseWriter, r *http.Request) {
		si.enrolls.Add(1)
		var req wire.EnrollRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		_ = json.NewEncoder(w).Encode(wire.EnrollResponse{DeviceID: "dev-again", AccountID: "a", State: "enrolled",
			RelayPublicKey: base64.StdEncoding.EncodeToString(si.enrollKey)})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	si.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	si.srv.Start()
	t.Cleanup(si.srv.Close)
	return si
}

// challenge writes a challenge signed with key over agentNonce (the
// agent's, or another one for a replayed proof); nil key: no proof.
func challenge(write func(*wire.Signal), key ed25519.PrivateKey, agentNonce []byte) []byte {
	nonce := make([]byte, wire.NonceSize)
	rand.Read(nonce)
	ch := &wire.Signal{Type: wire.SigChallenge, Version: wire.Version, Nonce: base64.StdEncoding.EncodeToString(nonce)}
	if key != nil {
		ch.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, wire.RelayProofMessage(wire.Version, agentNonce, nonce)))
	}
	write(ch)
	return nonce
}

// refusal writes the refusal code signed by key for the handshake of
// these nonces (nil key: unsigned).
func refusal(write func(*wire.Signal), key ed25519.PrivateKey, agentNonce, relayNonce []byte, code string) {
	s := &wire.Signal{Type: wire.SigError, Code: code, Message: "enroll again"}
	if key != nil {
		s.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, wire.VerdictMessage(agentNonce, relayNonce, code)))
	}
	write(s)
}

func helloNonce(hello *wire.Signal) []byte {
	b, _ := base64.StdEncoding.DecodeString(hello.Nonce)
	return b
}

// enrolledHost is a Host with identity files in dir, as tandem-host keeps
// them (package key included), pinned to relayPub, at the stand-in's URL.
type enrolledHost struct {
	dir    string
	h      *Host
	events *eventLog
	done   chan error
}

func startEnrolledHost(t *testing.T, url string, relayPub ed25519.PublicKey, onDemand bool) *enrolledHost {
	t.Helper()
	_, devKey, _ := ed25519.GenerateKey(rand.Reader)
	eh := &enrolledHost{dir: t.TempDir(), events: &eventLog{}, done: make(chan error, 1)}
	c := &installer.Config{RelayURL: url, DeviceID: "dev-1", AccountID: "a", State: "enrolled",
		RelayPublicKey: base64.StdEncoding.EncodeToString(relayPub), EnrollmentKey: "PACKAGE-KEY", Key: devKey}
	if err := installer.Save(eh.dir, c); err != nil {
		t.Fatal(err)
	}
	o := Options{RelayURL: url, DeviceID: c.DeviceID, Key: devKey, RelayKey: relayPub, OnDemand: onDemand,
		OnEvent: eh.events.add, OnRelayKeyRotated: installer.RePinner(eh.dir), Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Capture: func() (capture.Capturer, error) { return newFakeCapturer(), nil },
		Input:   func() (input.Injector, error) { return &recordingInjector{}, nil }}
	if !onDemand {
		o.ReEnroll = installer.ReEnroller(eh.dir, nil, func() *wire.Inventory { return &wire.Inventory{Hostname: "pc", OS: "linux"} })
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	eh.h = h
	ctx, cancel := context.WithCancel(context.Background())
	go func() { eh.done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		h.Close()
		select {
		case <-eh.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return eh
}

func (eh *enrolledHost) files(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range []string{installer.ConfigFile, installer.KeyFile, installer.StateFile} {
		b, err := os.ReadFile(filepath.Join(eh.dir, f))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		m[f] = string(b)
	}
	return m
}

// waitConns waits until the stand-in saw n connections (the Host retried).
func waitConns(t *testing.T, si *standIn, eh *enrolledHost, n int32) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for si.conns.Load() < n {
		select {
		case err := <-eh.done:
			eh.done <- err
			t.Fatalf("Run returned %v after %d connections: the Host acted on what an unproven peer said", err, si.conns.Load())
		case <-deadline:
			t.Fatalf("only %d connections", si.conns.Load())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestImpostorRelayNotActedOn: whoever answers the relay URL without
// proving the pinned key gets no signature from the Host, and nothing it
// says (unknown device, revoked, pending, OnDemand over) makes the Host
// enroll again (sending the package key), stop or touch its identity: the
// Host retries as after a network failure. The same holds for refusals
// the relay did not sign for the handshake, even after a valid proof (as
// someone in the middle who relays the proof would send them).
func TestImpostorRelayNotActedOn(t *testing.T) {
	pinnedPub, pinned, _ := ed25519.GenerateKey(rand.Reader)
	_, impostorKey, _ := ed25519.GenerateKey(rand.Reader)
	refuse := func(typ, code string) handshake {
		return func(_ *wire.Signal, write func(*wire.Signal), _ func() *wire.Signal) {
			write(&wire.Signal{Type: typ, Code: code, Message: "enroll again"})
		}
	}
	// The impostor's challenge, then its refusal of whatever comes back.
	challengeThen := func(key ed25519.PrivateKey, replay bool) handshake {
		return func(hello *wire.Signal, write func(*wire.Signal), read func() *wire.Signal) {
			n := helloNonce(hello)
			if replay { // a proof the pinned relay once gave for another nonce
				n = make([]byte, wire.NonceSize)
			}
			challenge(write, key, n)
			write(&wire.Signal{Type: wire.SigError, Code: "unknown_device", Message: "enroll again"})
		}
	}
	// The pinned relay's proof (as relayed by someone in the middle), then a
	// refusal it did not sign for this handshake.
	provenThen := func(verdict func(write func(*wire.Signal), agentNonce, relayNonce []byte)) handshake {
		return func(hello *wire.Signal, write func(*wire.Signal), read func() *wire.Signal) {
			n := challenge(write, pinned, helloNonce(hello))
			if s := read(); s == nil || s.Type != wire.SigAuth {
				return
			}
			verdict(write, helloNonce(hello), n)
		}
	}
	cases := []struct {
		name     string
		script   handshake
		onDemand bool
		proven   bool // the pinned relay's proof came first: the Host signed
	}{
		{"error unknown_device first", refuse(wire.SigError, "unknown_device"), false, false},
		{"revoked unknown_device first", refuse(wire.SigRevoked, "unknown_device"), false, false},
		{"revoked first", refuse(wire.SigError, "revoked"), false, false},
		{"unauthorized first", refuse(wire.SigError, "unauthorized"), false, false},
		{"pending first", refuse(wire.SigError, "pending"), false, false},
		{"challenge without proof", challengeThen(nil, false), false, false},
		{"challenge signed by another key", challengeThen(impostorKey, false), false, false},
		{"replayed proof", challengeThen(pinned, true), false, false},
		{"unsigned unknown_device after proof", provenThen(func(write func(*wire.Signal), an, rn []byte) {
			refusal(write, nil, an, rn, "unknown_device")
		}), false, true},
		{"unknown_device signed by another key", provenThen(func(write func(*wire.Signal), an, rn []byte) {
			refusal(write, impostorKey, an, rn, "unknown_device")
		}), false, true},
		{"verdict of another handshake", provenThen(func(write func(*wire.Signal), an, rn []byte) {
			refusal(write, pinned, an, make([]byte, wire.NonceSize), "unknown_device")
		}), false, true},
		{"verdict of another code", provenThen(func(write func(*wire.Signal), an, rn []byte) {
			s := &wire.Signal{Type: wire.SigError, Code: "unknown_device",
				Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(pinned, wire.VerdictMessage(an, rn, "pending")))}
			write(s)
		}), false, true},
		{"revoked unknown_device after ready", provenThen(func(write func(*wire.Signal), an, rn []byte) {
			write(&wire.Signal{Type: wire.SigReady})
			write(&wire.Signal{Type: wire.SigRevoked, Code: "unknown_device", Message: "removed"})
		}), false, true},
		{"revoked after ready", provenThen(func(write func(*wire.Signal), an, rn []byte) {
			write(&wire.Signal{Type: wire.SigReady})
			write(&wire.Signal{Type: wire.SigRevoked, Code: "revoked", Message: "revoked"})
		}), false, true},
		{"ondemand over first", refuse(wire.SigError, wire.CodeOnDemandOver), true, false},
		{"ondemand unknown_device first", refuse(wire.SigRevoked, "unknown_device"), true, false},
		{"ondemand challenge without proof", challengeThen(nil, false), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			si := newStandIn(t, tc.script)
			si.enrollKey = impostorKey.Public().(ed25519.PublicKey)
			eh := startEnrolledHost(t, si.srv.URL, pinnedPub, tc.onDemand)
			before := eh.files(t)
			waitConns(t, si, eh, 2) // a retry: the first answer was a network failure
			if n := si.auths.Load(); n != 0 && !tc.proven {
				t.Fatalf("the Host signed %d auth answers for an unproven relay", n)
			}
			if n := si.enrolls.Load(); n != 0 {
				t.Fatalf("the impostor received %d enrollment requests (with the package key)", n)
			}
			if after := eh.files(t); !reflect.DeepEqual(before, after) {
				t.Fatalf("identity files changed:\n%v\n%v", before, after)
			}
			for _, k := range []string{"re_enrolled", "re_enroll_refused"} {
				if eh.events.count(k) != 0 {
					t.Fatalf("%s event after an unproven peer: %+v", k, eh.events.all())
				}
			}
		})
	}
}

// TestReEnrollAnotherRelayKeyRefused: the pinned relay (it proves its key)
// says this device is unknown, but the enrollment answer carries another
// relay key: refused, the identity files stay as they were, and the Host
// stops with ErrRelayKeyChanged (its service status shows why), not as
// revoked.
func TestReEnrollAnotherRelayKeyRefused(t *testing.T) {
	pinnedPub, pinned, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	si := newStandIn(t, func(hello *wire.Signal, write func(*wire.Signal), read func() *wire.Signal) {
		n := challenge(write, pinned, helloNonce(hello))
		if s := read(); s == nil || s.Type != wire.SigAuth {
			return
		}
		refusal(write, pinned, helloNonce(hello), n, "unknown_device")
	})
	si.enrollKey = otherPub
	eh := startEnrolledHost(t, si.srv.URL, pinnedPub, false)
	before := eh.files(t)
	var err error
	select {
	case err = <-eh.done:
		eh.done <- err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}
	if !errors.Is(err, ErrRelayKeyChanged) || errors.Is(err, ErrRevoked) {
		t.Fatalf("Run = %v, want ErrRelayKeyChanged", err)
	}
	if si.enrolls.Load() != 1 || si.auths.Load() != 1 {
		t.Fatalf("%d enrollments, %d auths; want 1 and 1", si.enrolls.Load(), si.auths.Load())
	}
	if after := eh.files(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("identity files changed:\n%v\n%v", before, after)
	}
	if eh.events.count("re_enroll_refused") != 1 || eh.events.count("re_enrolled") != 0 {
		t.Fatalf("events: %+v", eh.events.all())
	}
}
