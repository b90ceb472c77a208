package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// signalVectors pin the exact JSON of every signal type (field order is the
// struct's; empty fields are omitted).
var signalVectors = []struct {
	name string
	sig  Signal
	json string
}{
	{"hello", Signal{Type: SigHello, Version: 1, Caps: []string{CapFragments, CapInput}, Role: "agent"},
		`{"type":"hello","version":1,"caps":["frag.v1","input.v1"],"role":"agent"}`},
	{"hello/relay proof", Signal{Type: SigHello, Version: 2, Caps: []string{CapRelayProof}, Role: "agent", Nonce: "AAEC"},
		`{"type":"hello","version":2,"caps":["relay-proof.v1"],"role":"agent","nonce":"AAEC"}`},
	{"challenge", Signal{Type: SigChallenge, Nonce: "AAEC"},
		`{"type":"challenge","nonce":"AAEC"}`},
	{"challenge/relay proof", Signal{Type: SigChallenge, Version: 2, Nonce: "AAEC", Signature: "c2ln"},
		`{"type":"challenge","version":2,"nonce":"AAEC","signature":"c2ln"}`},
	{"challenge/handovers", Signal{Type: SigChallenge, Version: 2, Nonce: "AAEC", Signature: "c2ln",
		Handovers: []KeyHandover{{Old: "b2xk", New: "bmV3", NotBefore: 1, NotAfter: 2, Signature: "c2ln"}}},
		`{"type":"challenge","version":2,"nonce":"AAEC","signature":"c2ln","handovers":[{"old":"b2xk","new":"bmV3","not_before":1,"not_after":2,"signature":"c2ln"}]}`},
	{"auth", Signal{Type: SigAuth, DeviceID: "dev-1", Signature: "c2ln"},
		`{"type":"auth","device_id":"dev-1","signature":"c2ln"}`},
	{"ready", Signal{Type: SigReady},
		`{"type":"ready"}`},
	{"inventory", Signal{Type: SigInventory, Inventory: &Inventory{
		Hostname: "pc1", OS: "linux", Arch: "amd64", Version: "0.1.0", User: "ann", Locked: true,
		Monitors: []MonitorInfo{{Name: "DP-1", X: -1920, Y: 0, Width: 1920, Height: 1080, Primary: true}, {X: 0, Y: 0, Width: 800, Height: 600}},
		OnDemand: true,
	}}, `{"type":"inventory","inventory":{"hostname":"pc1","os":"linux","arch":"amd64","version":"0.1.0","user":"ann","locked":true,` +
		`"monitors":[{"name":"DP-1","x":-1920,"y":0,"width":1920,"height":1080,"primary":true},{"x":0,"y":0,"width":800,"height":600}],"ondemand":true}}`},
	{"inventory/minimal", Signal{Type: SigInventory, Inventory: &Inventory{}},
		`{"type":"inventory","inventory":{"hostname":"","os":""}}`},
	{"grant", Signal{Type: SigGrant, Session: "s1", Grant: "eyJ2IjoxfQ.c2ln"},
		`{"type":"grant","session":"s1","grant":"eyJ2IjoxfQ.c2ln"}`},
	{"offer", Signal{Type: SigOffer, Session: "s1", SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"},
		`{"type":"offer","session":"s1","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`},
	{"answer", Signal{Type: SigAnswer, Session: "s1", SDP: "v=0\r\n"},
		`{"type":"answer","session":"s1","sdp":"v=0\r\n"}`},
	{"candidate", Signal{Type: SigCandidate, Session: "s1",
		Candidate: json.RawMessage(`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}`)},
		`{"type":"candidate","session":"s1","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`},
	{"bye", Signal{Type: SigBye, Session: "s1", Code: "closed", Message: "user ended the session"},
		`{"type":"bye","session":"s1","code":"closed","message":"user ended the session"}`},
	{"error", Signal{Type: SigError, Code: "unauthorized", Message: "bad token"},
		`{"type":"error","code":"unauthorized","message":"bad token"}`},
	{"error/verdict", Signal{Type: SigError, Signature: "c2ln", Code: "unknown_device", Message: "enroll again"},
		`{"type":"error","signature":"c2ln","code":"unknown_device","message":"enroll again"}`},
	{"revoked", Signal{Type: SigRevoked, Message: "device removed"},
		`{"type":"revoked","message":"device removed"}`},
	{"confirm", Signal{Type: SigConfirm, Session: "s1", Code: "allowed"},
		`{"type":"confirm","session":"s1","code":"allowed"}`},
	{"audit", Signal{Type: SigAudit, Session: "s1", Code: "file_received", Message: "inbox/report.pdf"},
		`{"type":"audit","session":"s1","code":"file_received","message":"inbox/report.pdf"}`},
	{"escaping", Signal{Type: SigBye, Message: "a<b&c>\"d\"\u2028é"},
		`{"type":"bye","message":"a\u003cb\u0026c\u003e\"d\"\u2028é"}`},
}

func TestEncodeSignalVectors(t *testing.T) {
	for _, v := range signalVectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := EncodeSignal(&v.sig)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v.json {
				t.Fatalf("EncodeSignal\n got %s\nwant %s", got, v.json)
			}
		})
	}
}

func TestDecodeSignalVectors(t *testing.T) {
	for _, v := range signalVectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := DecodeSignal([]byte(v.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, v.sig) {
				t.Fatalf("DecodeSignal\n got %#v\nwant %#v", *got, v.sig)
			}
		})
	}
}

// Unknown fields are ignored so new relays can talk to old agents.
func TestDecodeSignalIgnoresUnknownFields(t *testing.T) {
	got, err := DecodeSignal([]byte(`{"type":"ready","future":{"x":[1,2]},"session":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, Signal{Type: SigReady, Session: "s"}) {
		t.Fatalf("got %#v", *got)
	}
}

func TestDecodeSignalErrors(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ``},
		{"not JSON", `hello`},
		{"truncated", `{"type":"hello"`},
		{"array", `[{"type":"hello"}]`},
		{"string", `"hello"`},
		{"null", `null`},
		{"no type", `{}`},
		{"empty type", `{"type":""}`},
		{"type not a string", `{"type":1}`},
		{"version not a number", `{"type":"hello","version":"1"}`},
		{"version fractional", `{"type":"hello","version":1.5}`},
		{"caps not a list", `{"type":"hello","caps":"a"}`},
		{"inventory not an object", `{"type":"inventory","inventory":[]}`},
		{"monitor x overflows int32", `{"type":"inventory","inventory":{"monitors":[{"x":4294967296}]}}`},
		{"bad candidate", `{"type":"candidate","candidate":{"a":}}`},
		{"trailing garbage", `{"type":"ready"} x`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeSignal([]byte(tc.in))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeSignal(%s) = %#v, %v; want ErrMalformed", tc.in, s, err)
			}
		})
	}
}

func TestSignalSizeLimit(t *testing.T) {
	// Exactly MaxSignalSize is accepted, one byte more is refused unread.
	prefix, suffix := `{"type":"offer","sdp":"`, `"}`
	fill := MaxSignalSize - len(prefix) - len(suffix)
	at := prefix + strings.Repeat("a", fill) + suffix
	if len(at) != MaxSignalSize {
		t.Fatal("bad test setup")
	}
	if _, err := DecodeSignal([]byte(at)); err != nil {
		t.Fatalf("signal of MaxSignalSize: %v", err)
	}
	over := prefix + strings.Repeat("a", fill+1) + suffix
	if _, err := DecodeSignal([]byte(over)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("signal over MaxSignalSize: %v", err)
	}
	// Garbage over the limit is refused by size, before the JSON parser sees it.
	if _, err := DecodeSignal(bytes.Repeat([]byte{'x'}, MaxSignalSize+1)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized garbage: %v", err)
	}

	// The encoder refuses what the decoder would refuse.
	s := &Signal{Type: SigOffer, SDP: strings.Repeat("a", fill)}
	if b, err := EncodeSignal(s); err != nil || len(b) != MaxSignalSize {
		t.Fatalf("encode at limit: %d bytes, %v", len(b), err)
	}
	s.SDP += "a"
	if _, err := EncodeSignal(s); !errors.Is(err, ErrMalformed) {
		t.Fatalf("encode over limit: %v", err)
	}
}

func TestEncodeSignalErrors(t *testing.T) {
	if _, err := EncodeSignal(&Signal{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty type: %v", err)
	}
	if _, err := EncodeSignal(&Signal{Type: SigCandidate, Candidate: json.RawMessage(`{bad`)}); err == nil {
		t.Fatal("invalid candidate JSON encoded")
	}
}

func TestAuthMessage(t *testing.T) {
	got := AuthMessage([]byte{1, 2}, "dev", []byte{0xff})
	want := append([]byte("tandem-agent-auth-v1\x00"), 1, 2, 0, 'd', 'e', 'v', 0, 0xff)
	if !bytes.Equal(got, want) {
		t.Fatalf("AuthMessage = %q, want %q", got, want)
	}
	// The separators keep fields from sliding into each other.
	if bytes.Equal(AuthMessage([]byte("a"), "bc", nil), AuthMessage([]byte("ab"), "c", nil)) {
		t.Fatal("AuthMessage is ambiguous")
	}
}

func TestRelayProofMessage(t *testing.T) {
	got := RelayProofMessage(2, []byte{1, 2}, []byte{3})
	want := append([]byte("tandem-relay-proof-v1\x00"), 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 3)
	if !bytes.Equal(got, want) {
		t.Fatalf("RelayProofMessage = %x, want %x", got, want)
	}
	// Length prefixes keep the nonces from sliding into each other, and
	// the version and the order of the nonces count.
	distinct := [][]byte{
		RelayProofMessage(2, []byte{1}, []byte{2, 3}),
		RelayProofMessage(2, []byte{1, 2}, []byte{3}),
		RelayProofMessage(2, []byte{2, 3}, []byte{1}),
		RelayProofMessage(3, []byte{1}, []byte{2, 3}),
		AuthMessageV2([]byte{1}, []byte{2, 3}, "", nil),
		VerdictMessage([]byte{1}, []byte{2, 3}, ""),
	}
	for i := range distinct {
		for j := i + 1; j < len(distinct); j++ {
			if bytes.Equal(distinct[i], distinct[j]) {
				t.Fatalf("messages %d and %d are equal: %x", i, j, distinct[i])
			}
		}
	}
}

func TestAuthMessageV2(t *testing.T) {
	got := AuthMessageV2([]byte{1}, []byte{2, 3}, "dev", []byte{0xff})
	want := append([]byte("tandem-agent-auth-v2\x00"),
		0, 0, 0, 1, 1,
		0, 0, 0, 2, 2, 3,
		0, 0, 0, 3, 'd', 'e', 'v',
		0, 0, 0, 1, 0xff)
	if !bytes.Equal(got, want) {
		t.Fatalf("AuthMessageV2 = %x, want %x", got, want)
	}
	if bytes.Equal(AuthMessageV2(nil, nil, "a", []byte("bc")), AuthMessageV2(nil, nil, "ab", []byte("c"))) {
		t.Fatal("AuthMessageV2 is ambiguous")
	}
	// A version-1 answer never verifies as a version-2 one.
	if bytes.Equal(AuthMessage([]byte{1}, "dev", nil), AuthMessageV2([]byte{1}, nil, "dev", nil)) {
		t.Fatal("AuthMessage and AuthMessageV2 collide")
	}
}

func TestHasCap(t *testing.T) {
	s := &Signal{Type: SigHello, Caps: []string{CapFragments, CapRelayProof}}
	if !s.HasCap(CapRelayProof) || s.HasCap(CapInput) || (&Signal{}).HasCap(CapRelayProof) {
		t.Fatal("HasCap")
	}
}

func TestVerdictMessage(t *testing.T) {
	got := VerdictMessage([]byte{1}, []byte{2}, "pending")
	want := append([]byte("tandem-relay-verdict-v1\x00"), 0, 0, 0, 1, 1, 0, 0, 0, 1, 2, 0, 0, 0, 7)
	want = append(want, "pending"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("VerdictMessage = %x, want %x", got, want)
	}
	if bytes.Equal(VerdictMessage([]byte{1}, []byte{2}, "revoked"), VerdictMessage([]byte{1}, []byte{2}, "unknown_device")) {
		t.Fatal("the code is not bound")
	}
}

func TestHandoverMessage(t *testing.T) {
	got := HandoverMessage([]byte{1}, []byte{2, 3}, 4, 5)
	want := append([]byte("tandem-relay-key-handover-v1\x00"), 0, 0, 0, 1, 1, 0, 0, 0, 2, 2, 3,
		0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5)
	if !bytes.Equal(got, want) {
		t.Fatalf("HandoverMessage = %x, want %x", got, want)
	}
	// The validity is bound, and no other message of the relay's key reads
	// as a hand-over.
	if bytes.Equal(HandoverMessage([]byte{1}, []byte{2}, 4, 5), HandoverMessage([]byte{1}, []byte{2}, 4, 6)) {
		t.Fatal("the validity is not bound")
	}
	if bytes.HasPrefix(HandoverMessage(nil, nil, 0, 0), []byte("tandem-relay-proof")) {
		t.Fatal("domain collides")
	}
}
