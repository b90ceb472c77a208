package mfa

import (
	"bytes"
	"image/png"
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestTOTPEnrolment(t *testing.T) {
	e, err := NewTOTP("Tandem (relay.example)", "ana@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(e.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("uri %q: %v", e.URI, err)
	}
	q := u.Query()
	if q.Get("secret") != e.Secret || q.Get("issuer") != "Tandem (relay.example)" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Fatalf("uri %q", e.URI)
	}
	if len(e.Secret) != 32 { // 20 bytes in base32, no padding
		t.Fatalf("secret %q", e.Secret)
	}
	img, err := png.Decode(bytes.NewReader(e.QRPNG))
	if err != nil || img.Bounds().Dx() != qrSize {
		t.Fatalf("qr: %v", err)
	}
	e2, _ := NewTOTP("x", "y")
	if e2.Secret == e.Secret {
		t.Fatal("two enrolments share a secret")
	}
}

// RFC 6238 appendix B's SHA-1 vectors (8 digits there; the last 6 here).
func TestTOTPRFCVectors(t *testing.T) {
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	for _, v := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		got, err := Code(secret, Step(time.Unix(v.unix, 0)))
		if err != nil || got != v.want {
			t.Errorf("at %d: %q %v, want %q", v.unix, got, err, v.want)
		}
	}
}

func TestTOTPVerify(t *testing.T) {
	e, err := NewTOTP("T", "a")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_015, 0) // mid-step
	cur := Step(now)
	code := func(step int64) string {
		c, err := Code(e.Secret, step)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		code     string
		lastUsed int64
		want     int64
		ok       bool
	}{
		{"now", code(cur), 0, cur, true},
		{"one step back", code(cur - 1), 0, cur - 1, true},
		{"one step ahead", code(cur + 1), 0, cur + 1, true},
		{"two steps back", code(cur - 2), 0, 0, false},
		{"two steps ahead", code(cur + 2), 0, 0, false},
		{"reused", code(cur), cur, 0, false},
		{"older than the last used", code(cur - 1), cur, 0, false},
		{"after the last used", code(cur + 1), cur, cur + 1, true},
	} {
		step, ok, err := Verify(e.Secret, tc.code, now, tc.lastUsed)
		if err != nil || ok != tc.ok || step != tc.want {
			t.Errorf("%s: step %d ok %v err %v, want %d %v", tc.name, step, ok, err, tc.want, tc.ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", " 123456", "１２３４５６"} {
		if _, ok, err := Verify(e.Secret, bad, now, 0); ok || err != ErrBadCode {
			t.Errorf("%q: ok %v err %v", bad, ok, err)
		}
	}
}

func TestPolicy(t *testing.T) {
	all := Configurable
	if _, err := ParseFactors([]string{"totp", "fax"}); err == nil {
		t.Error("unknown factor accepted")
	}
	if _, err := ParseFactors([]string{"totp", "totp"}); err == nil {
		t.Error("repeated factor accepted")
	}
	if _, err := ParseFactors([]string{"recovery"}); err == nil {
		t.Error("recovery accepted as a policy factor")
	}
	if fs, err := ParseFactors([]string{"email", "totp"}); err != nil || !slices.Equal(fs, []Factor{TOTP, Email}) {
		t.Errorf("parse: %v %v", fs, err)
	}
	for _, tc := range []struct {
		name     string
		ms       []Membership
		enrolled []Factor
		mail     bool
		want     Decision
	}{
		{"nothing asked, nothing set up", []Membership{{Allowed: all}}, nil, true, Decision{}},
		{"email required", []Membership{{Required: true, Allowed: all}}, nil, true, Decision{Required: true, Factors: []Factor{Email}}},
		{"totp set up: asked even if not required", []Membership{{Allowed: all}}, []Factor{TOTP}, true,
			Decision{Required: true, Factors: []Factor{TOTP, Email}}},
		{"totp and passkey: user chooses", []Membership{{Required: true, Allowed: all}}, []Factor{WebAuthn, TOTP}, false,
			Decision{Required: true, Factors: []Factor{TOTP, WebAuthn}}},
		{"one account forbids email", []Membership{{Allowed: all}, {Required: true, Allowed: []Factor{TOTP}}}, []Factor{TOTP}, true,
			Decision{Required: true, Factors: []Factor{TOTP}}},
		{"totp set up but forbidden, nothing required", []Membership{{Allowed: []Factor{Email}}}, []Factor{TOTP}, true, Decision{}},
		{"required, only totp allowed, none set up", []Membership{{Required: true, Allowed: []Factor{TOTP}}}, nil, true,
			Decision{Required: true, Unusable: true}},
		{"required, email only, no mail", []Membership{{Required: true, Allowed: all}}, nil, false,
			Decision{Required: true, Unusable: true}},
	} {
		got := Decide(tc.ms, tc.enrolled, tc.mail)
		if got.Required != tc.want.Required || got.Unusable != tc.want.Unusable || !slices.Equal(got.Factors, tc.want.Factors) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
