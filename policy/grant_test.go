package policy

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Deterministic keys so seeds and failures reproduce.
var (
	relayPriv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	relayPub  = relayPriv.Public().(ed25519.PublicKey)
	otherPriv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	otherPub  = otherPriv.Public().(ed25519.PublicKey)
)

var t0 = time.Unix(1_800_000_000, 0)

func testGrant() *Grant {
	return &Grant{
		Version:     GrantVersion,
		SessionID:   "sess-1",
		AccountID:   "acct-1",
		DeviceID:    "dev-1",
		User:        GrantUser{ID: "u-1", Email: "ann@example.com", Name: "Ann"},
		Action:      "remote_control",
		Permissions: []string{string(ViewScreen), string(KeyboardMouse)},
		IssuedAt:    t0.Unix(),
		ExpiresAt:   t0.Add(5 * time.Minute).Unix(),
		ICEServers:  []ICEServer{{URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: "1800000600:u-1", Credential: "c"}},
	}
}

func mustSign(t testing.TB, g *Grant, key ed25519.PrivateKey) string {
	t.Helper()
	tok, err := Sign(g, key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signRaw signs an arbitrary payload the way Sign does, so tests can produce
// correctly signed tokens carrying payloads Sign would never write.
func signRaw(payload []byte, key ed25519.PrivateKey) string {
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(grantContext+p)))
}

func TestSignVerifyRoundTrip(t *testing.T) {
	g := testGrant()
	tok := mustSign(t, g, relayPriv)
	p, s, ok := strings.Cut(tok, ".")
	if !ok || strings.ContainsAny(tok, "=+/") || strings.Count(tok, ".") != 1 {
		t.Fatalf("token is not base64url(payload).base64url(sig): %q", tok)
	}
	if sig, err := base64.RawURLEncoding.DecodeString(s); err != nil || len(sig) != ed25519.SignatureSize {
		t.Fatalf("signature part: %v", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		t.Fatal(err)
	}
	// The payload's JSON names are the wire format: pin them.
	var fields map[string]any
	if err := json.Unmarshal(payload, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "sid", "acct", "dev", "user", "action", "perms", "iat", "exp", "ice"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("payload lacks %q: %s", k, payload)
		}
	}

	for _, now := range []time.Time{t0, t0.Add(-ClockSkew + time.Second), t0.Add(5*time.Minute + ClockSkew - time.Second)} {
		got, err := Verify(tok, relayPub, "dev-1", now)
		if err != nil {
			t.Fatalf("Verify at %v: %v", now.Sub(t0), err)
		}
		if !reflect.DeepEqual(got, g) {
			t.Fatalf("Verify = %#v, want %#v", got, g)
		}
	}
	got, _ := Verify(tok, relayPub, "dev-1", t0)
	want, _ := NewSet(ViewScreen, KeyboardMouse)
	if got.Set() != want {
		t.Fatalf("Set() = %v, want %v", got.Set().List(), want.List())
	}
}

func TestVerifyErrors(t *testing.T) {
	good := mustSign(t, testGrant(), relayPriv)
	p, s, _ := strings.Cut(good, ".")

	with := func(f func(*Grant)) string {
		g := testGrant()
		f(g)
		b, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		return signRaw(b, relayPriv)
	}
	flip := func(s string, i int) string { // change one base64 character
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tamperedPayload := func() string {
		payload, _ := base64.RawURLEncoding.DecodeString(p)
		payload = bytes.Replace(payload, []byte(`"view_screen"`), []byte(`"execute_command"`), 1)
		return base64.RawURLEncoding.EncodeToString(payload) + "." + s
	}()

	tests := []struct {
		name   string
		token  string
		key    ed25519.PublicKey
		device string
		now    time.Time
		want   error
	}{
		{"tampered payload (more permissions)", tamperedPayload, relayPub, "dev-1", t0, ErrGrantSignature},
		{"tampered payload byte", flip(good, 5), relayPub, "dev-1", t0, ErrGrantSignature},
		{"tampered signature", flip(good, len(p)+10), relayPub, "dev-1", t0, ErrGrantSignature},
		{"signature of another payload", p + "." + strings.SplitN(with(func(g *Grant) { g.SessionID = "x" }), ".", 2)[1], relayPub, "dev-1", t0, ErrGrantSignature},
		{"signed by another key", mustSign(t, testGrant(), otherPriv), relayPub, "dev-1", t0, ErrGrantSignature},
		{"verified with another key", good, otherPub, "dev-1", t0, ErrGrantSignature},
		{"no pinned key", good, nil, "dev-1", t0, ErrGrantSignature},
		{"short pinned key", good, relayPub[:16], "dev-1", t0, ErrGrantSignature},
		{"context-free signature", p + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(relayPriv, []byte(p))), relayPub, "dev-1", t0, ErrGrantSignature},

		{"wrong device", good, relayPub, "dev-2", t0, ErrGrantWrongDevice},
		{"empty device", good, relayPub, "", t0, ErrGrantWrongDevice},

		{"expired beyond skew", good, relayPub, "dev-1", t0.Add(5*time.Minute + ClockSkew), ErrGrantExpired},
		{"long expired", good, relayPub, "dev-1", t0.Add(24 * time.Hour), ErrGrantExpired},
		{"not yet valid beyond skew", good, relayPub, "dev-1", t0.Add(-ClockSkew - time.Second), ErrGrantNotYetValid},

		{"unknown permission", with(func(g *Grant) { g.Permissions = append(g.Permissions, "root_shell") }), relayPub, "dev-1", t0, ErrGrantMalformed},
		{"wrong version", with(func(g *Grant) { g.Version = 2 }), relayPub, "dev-1", t0, ErrGrantMalformed},
		{"version 0", with(func(g *Grant) { g.Version = 0 }), relayPub, "dev-1", t0, ErrGrantMalformed},
		{"no session", with(func(g *Grant) { g.SessionID = "" }), relayPub, "dev-1", t0, ErrGrantMalformed},
		{"no user", with(func(g *Grant) { g.User.ID = "" }), relayPub, "dev-1", t0, ErrGrantMalformed},
		{"no device", with(func(g *Grant) { g.DeviceID = "" }), relayPub, "", t0, ErrGrantMalformed},
		{"signed non-JSON", signRaw([]byte("not json"), relayPriv), relayPub, "dev-1", t0, ErrGrantMalformed},
		{"signed JSON array", signRaw([]byte(`[1]`), relayPriv), relayPub, "dev-1", t0, ErrGrantMalformed},
		{"signed wrong field type", signRaw([]byte(`{"v":"1"}`), relayPriv), relayPub, "dev-1", t0, ErrGrantMalformed},

		{"oversized token", strings.Repeat("A", MaxGrantSize) + "." + s, relayPub, "dev-1", t0, ErrGrantMalformed},
		{"empty", "", relayPub, "dev-1", t0, ErrGrantMalformed},
		{"no dot", p, relayPub, "dev-1", t0, ErrGrantMalformed},
		{"empty payload", "." + s, relayPub, "dev-1", t0, ErrGrantMalformed},
		{"empty signature", p + ".", relayPub, "dev-1", t0, ErrGrantMalformed},
		{"signature not base64", p + "." + strings.Repeat("*", 86), relayPub, "dev-1", t0, ErrGrantMalformed},
		{"short signature", p + "." + s[:40], relayPub, "dev-1", t0, ErrGrantMalformed},
		{"padded signature", p + "." + s + "==", relayPub, "dev-1", t0, ErrGrantMalformed},
		{"second dot", good + ".x", relayPub, "dev-1", t0, ErrGrantMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Verify(tc.token, tc.key, tc.device, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v; want %v", err, tc.want)
			}
			if g != nil {
				t.Fatal("grant returned with an error")
			}
		})
	}
}

// A token exactly at MaxGrantSize is parsed (and fails on its signature, not its size).
func TestVerifySizeBoundary(t *testing.T) {
	good := mustSign(t, testGrant(), relayPriv)
	_, s, _ := strings.Cut(good, ".")
	at := strings.Repeat("A", MaxGrantSize-len(s)-1) + "." + s
	if len(at) != MaxGrantSize {
		t.Fatal("bad test setup")
	}
	if _, err := Verify(at, relayPub, "dev-1", t0); !errors.Is(err, ErrGrantSignature) {
		t.Fatalf("token of MaxGrantSize: %v", err)
	}
}

func TestVerifySkewBoundaries(t *testing.T) {
	tok := mustSign(t, testGrant(), relayPriv)
	exp := t0.Add(5 * time.Minute)
	// Valid while now - skew < exp.
	if _, err := Verify(tok, relayPub, "dev-1", exp.Add(ClockSkew-time.Second)); err != nil {
		t.Errorf("one second before expiry+skew: %v", err)
	}
	if _, err := Verify(tok, relayPub, "dev-1", exp.Add(ClockSkew)); !errors.Is(err, ErrGrantExpired) {
		t.Errorf("at expiry+skew: %v", err)
	}
	// Valid once now + skew >= iat.
	if _, err := Verify(tok, relayPub, "dev-1", t0.Add(-ClockSkew)); err != nil {
		t.Errorf("at issue-skew: %v", err)
	}
	if _, err := Verify(tok, relayPub, "dev-1", t0.Add(-ClockSkew-time.Second)); !errors.Is(err, ErrGrantNotYetValid) {
		t.Errorf("before issue-skew: %v", err)
	}
}

func TestSignErrors(t *testing.T) {
	if _, err := Sign(testGrant(), nil); err == nil {
		t.Error("signed with no key")
	}
	if _, err := Sign(testGrant(), relayPriv[:32]); err == nil {
		t.Error("signed with a short key")
	}
	g := testGrant()
	g.Permissions = []string{"view_screen", "bogus"}
	if _, err := Sign(g, relayPriv); err == nil {
		t.Error("signed an unknown permission")
	}
}

// The signature part must be the one canonical encoding of the signature:
// base64 ignores CR/LF and (non-strict) the unused low bits of the last
// character, so without a canonical check one grant has many token strings.
func TestVerifyRejectsNonCanonicalSignature(t *testing.T) {
	good := mustSign(t, testGrant(), relayPriv)
	p, s, _ := strings.Cut(good, ".")
	// 64 bytes take 86 characters; the last one carries 2 bits and 4 unused ones.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	alt := alphabet[strings.IndexByte(alphabet, s[len(s)-1])^1]
	for _, tok := range []string{
		p + "." + s[:len(s)-1] + string(alt), // unused trailing bits set
		p + "." + s[:10] + "\n" + s[10:],     // ignored newline
		p + "." + s[:10] + "\r" + s[10:],
	} {
		if _, err := Verify(tok, relayPub, "dev-1", t0); !errors.Is(err, ErrGrantMalformed) {
			t.Errorf("non-canonical signature %q accepted: %v", tok[len(p):], err)
		}
	}
}

// FuzzVerifyGrant: Verify never panics, and whatever it accepts carries a
// payload this test signed with the relay key, unchanged (the fuzzer cannot
// forge Ed25519, so every acceptance must trace back to a seed).
func FuzzVerifyGrant(f *testing.F) {
	signed := map[string]bool{} // payload parts we signed
	add := func(tok string) {
		p, _, _ := strings.Cut(tok, ".")
		signed[p] = true
		f.Add(tok, "dev-1", int64(0))
	}
	add(mustSign(f, testGrant(), relayPriv))
	g := testGrant()
	g.Permissions = FullSet().Strings()
	g.ICEServers = nil
	add(mustSign(f, g, relayPriv))
	add(signRaw([]byte(`{"v":1,"sid":"s","dev":"dev-1","user":{"id":"u"},"perms":[],"iat":1800000000,"exp":1800000300}`), relayPriv))
	add(signRaw([]byte(`{"v":1,"sid":"s","dev":"dev-1","user":{"id":"u"},"perms":["view_screen"],"iat":1800000000,"exp":1800000300}trailing`), relayPriv))
	add(signRaw([]byte(`{"v":1,"sid":"s","dev":"dev-1","user":{"id":"u"},"perms":["nope"],"iat":1800000000,"exp":1800000300}`), relayPriv))
	f.Add(mustSign(f, testGrant(), otherPriv), "dev-1", int64(0))
	f.Add("e30.AAAA", "dev-1", int64(0))
	f.Add("", "", int64(-1))

	f.Fuzz(func(t *testing.T, token, device string, offset int64) {
		now := t0.Add(time.Duration(offset % int64(24*time.Hour)))
		got, err := Verify(token, relayPub, device, now)
		if err != nil {
			if got != nil {
				t.Fatal("grant with error")
			}
			if !errors.Is(err, ErrGrantMalformed) && !errors.Is(err, ErrGrantSignature) && !errors.Is(err, ErrGrantExpired) &&
				!errors.Is(err, ErrGrantNotYetValid) && !errors.Is(err, ErrGrantWrongDevice) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		p, s, _ := strings.Cut(token, ".")
		if !signed[p] {
			t.Fatalf("accepted a payload nobody signed: %q", token)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(s)
		if !ed25519.Verify(relayPub, []byte(grantContext+p), sig) {
			t.Fatalf("accepted a token whose signature does not verify: %q", token)
		}
		if _, err := Verify(token, otherPub, device, now); err == nil {
			t.Fatal("the same token verifies under another key")
		}
		if got.DeviceID != device || got.Version != GrantVersion || got.SessionID == "" || got.User.ID == "" {
			t.Fatalf("accepted an invalid grant: %#v", got)
		}
		if now.Add(-ClockSkew).Unix() >= got.ExpiresAt || now.Add(ClockSkew).Unix() < got.IssuedAt {
			t.Fatalf("accepted a grant outside its validity at %v: %#v", now, got)
		}
		for _, n := range got.Permissions {
			if !Permission(n).Valid() {
				t.Fatalf("accepted unknown permission %q", n)
			}
		}
	})
}

func TestGrantWhitelist(t *testing.T) {
	// A grant without a whitelist has no "wl" key: grants signed before the
	// field existed (and by relays that never set it) verify unchanged.
	old := mustSign(t, testGrant(), relayPriv)
	payload, _ := base64.RawURLEncoding.DecodeString(strings.SplitN(old, ".", 2)[0])
	if bytes.Contains(payload, []byte(`"wl"`)) {
		t.Fatalf("unrestricted grant carries a whitelist key: %s", payload)
	}
	if g, err := Verify(old, relayPub, "dev-1", t0); err != nil || g.Whitelist != nil {
		t.Fatalf("Verify = %+v, %v; want no whitelist", g, err)
	}

	g := testGrant()
	g.Whitelist = GrantWhitelist([]App{{Name: "Terminal", Executable: "xterm", Path: "$HOME/bin"},
		{Name: "Notepad", Executable: "notepad.exe", Path: `%windir%\system32`}})
	tok := mustSign(t, g, relayPriv)
	got, err := Verify(tok, relayPub, "dev-1", t0)
	if err != nil || !reflect.DeepEqual(got.Whitelist, g.Whitelist) {
		t.Fatalf("Verify = %+v, %v; want whitelist %+v", got, err, g.Whitelist)
	}
	p, s, _ := strings.Cut(tok, ".")
	payload, _ = base64.RawURLEncoding.DecodeString(p)
	if !bytes.Contains(payload, []byte(`"wl":[{"name":"Terminal","exe":"xterm","path":"$HOME/bin"}`)) {
		t.Fatalf("whitelist wire form changed: %s", payload)
	}
	// Tampering with the whitelist (widening it, or dropping it) breaks the signature.
	for name, edit := range map[string]func([]byte) []byte{
		"widened":  func(b []byte) []byte { return bytes.Replace(b, []byte(`"exe":"xterm"`), []byte(`"exe":"bash"`), 1) },
		"path cut": func(b []byte) []byte { return bytes.Replace(b, []byte(`,"path":"$HOME/bin"`), nil, 1) },
		"dropped": func(b []byte) []byte {
			i := bytes.Index(b, []byte(`,"wl":`))
			return append(append([]byte(nil), b[:i]...), '}')
		},
	} {
		forged := base64.RawURLEncoding.EncodeToString(edit(payload)) + "." + s
		if forged == tok {
			t.Fatalf("%s: edit did not change the payload", name)
		}
		if _, err := Verify(forged, relayPub, "dev-1", t0); !errors.Is(err, ErrGrantSignature) {
			t.Errorf("%s whitelist: Verify = %v, want ErrGrantSignature", name, err)
		}
	}

	// Present but empty, or entries without a usable executable, are
	// refused when signing and, if signed anyway, when verifying.
	bad := map[string][]GrantApp{
		"empty":         {},
		"no executable": {{Name: "x", Path: "/usr/bin"}},
		"blank":         {{Executable: "  "}},
		"path in name":  {{Executable: "/usr/bin/xterm"}},
		"backslash":     {{Executable: `bin\xterm`}},
	}
	for name, w := range bad {
		g := testGrant()
		g.Whitelist = w
		if _, err := Sign(g, relayPriv); err == nil {
			t.Errorf("%s: signed", name)
		}
		b, _ := json.Marshal(g)
		if len(w) == 0 {
			b = bytes.Replace(b, []byte(`}]}`), []byte(`}],"wl":[]}`), 1)
			if !bytes.Contains(b, []byte(`"wl":[]`)) {
				t.Fatalf("could not build an empty whitelist payload: %s", b)
			}
		}
		if _, err := Verify(signRaw(b, relayPriv), relayPub, "dev-1", t0); !errors.Is(err, ErrGrantMalformed) {
			t.Errorf("%s: Verify = %v, want ErrGrantMalformed", name, err)
		}
	}
	if GrantWhitelist(nil) != nil {
		t.Error("GrantWhitelist(nil) is a restriction")
	}
}
