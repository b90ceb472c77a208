package secret

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		ok   bool
		miss string
	}{
		{"Passw0rd", true, ""},
		{"Ünïcöde9x", true, ""},
		{"Pa1", false, "at least 8 characters"},
		{"password1", false, "upper-case"},
		{"PASSWORD1", false, "lower-case"},
		{"Password", false, "digit"},
		{"", false, "at least 8 characters"},
		{"Aa1" + strings.Repeat("x", MaxPasswordLen), false, "longer than"},
	} {
		err := ValidatePassword(tc.pw)
		if tc.ok != (err == nil) {
			t.Errorf("ValidatePassword(%.20q) = %v, want ok=%v", tc.pw, err, tc.ok)
			continue
		}
		if err != nil && (!errors.Is(err, ErrWeakPassword) || !strings.Contains(err.Error(), tc.miss)) {
			t.Errorf("ValidatePassword(%.20q) = %v, want it to mention %q", tc.pw, err, tc.miss)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("Correct1Horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	h2, _ := HashPassword("Correct1Horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	if ok, err := CheckPassword(h, "Correct1Horse"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, err := CheckPassword(h, "Correct1horse"); ok || err != nil {
		t.Fatalf("wrong password: %v %v", ok, err)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", strings.Replace(h, "$v=19", "$v=18", 1)} {
		if ok, err := CheckPassword(bad, "x"); ok || !errors.Is(err, ErrBadHash) {
			t.Errorf("CheckPassword(%q) = %v, %v; want ErrBadHash", bad, ok, err)
		}
	}
	DummyCheck("whatever") // must not panic
}

func TestEnrollmentKey(t *testing.T) {
	key, hash := NewEnrollmentKey()
	groups := strings.Split(key, "-")
	if len(groups) != 8 {
		t.Fatalf("key %q: want 8 groups", key)
	}
	for _, g := range groups {
		if len(g) != 4 || strings.Trim(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("key %q: group %q is not 4 base32 characters", key, g)
		}
	}
	for _, in := range []string{key, strings.ToLower(key), strings.ReplaceAll(key, "-", ""), " " + strings.ReplaceAll(key, "-", " ") + " "} {
		if h, ok := EnrollmentKeyHash(in); !ok || h != hash {
			t.Errorf("EnrollmentKeyHash(%q) = %q, %v; want the key's hash", in, h, ok)
		}
		if c, ok := CanonicalEnrollmentKey(in); !ok || c != key {
			t.Errorf("CanonicalEnrollmentKey(%q) = %q, %v; want %q", in, c, ok, key)
		}
	}
	for _, in := range []string{"", "ABCD", key + "A", strings.Replace(key, key[:1], "1", 1), strings.Repeat("A", 200)} {
		if _, ok := EnrollmentKeyHash(in); ok {
			t.Errorf("EnrollmentKeyHash(%q) accepted", in)
		}
		if _, ok := CanonicalEnrollmentKey(in); ok {
			t.Errorf("CanonicalEnrollmentKey(%q) accepted", in)
		}
	}
	if k2, _ := NewEnrollmentKey(); k2 == key {
		t.Fatal("two keys are equal")
	}
}

func TestToken(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Fatalf("tokens %q %q: want distinct 43-char base64url", a, b)
	}
	if Hash(a) == Hash(b) || len(Hash(a)) != 64 {
		t.Fatal("hash is not hex SHA-256")
	}
}
