// Package secret makes and checks the relay's secrets: argon2id password
// hashes, opaque bearer tokens and enrollment keys. Only hashes of these are
// ever stored; the clear values are shown once to whoever they belong to.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/crypto/argon2"
)

// Password rules (Connect Portal user guide, "Change password").
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024 // bytes; bounds hashing work on hostile input
)

// ErrWeakPassword is wrapped by ValidatePassword's errors.
var ErrWeakPassword = errors.New("password too weak")

// ValidatePassword checks the spec's rules: at least 8 characters, an
// upper-case letter, a lower-case letter and a digit.
func ValidatePassword(pw string) error {
	var upper, lower, digit bool
	n := 0
	for _, r := range pw {
		n++
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	var missing []string
	if n < MinPasswordLen {
		missing = append(missing, fmt.Sprintf("at least %d characters", MinPasswordLen))
	}
	if !upper {
		missing = append(missing, "an upper-case letter")
	}
	if !lower {
		missing = append(missing, "a lower-case letter")
	}
	if !digit {
		missing = append(missing, "a digit")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: it needs %s", ErrWeakPassword, strings.Join(missing, ", "))
	}
	if len(pw) > MaxPasswordLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrWeakPassword, MaxPasswordLen)
	}
	return nil
}

// argon2id parameters for new hashes (OWASP: m=19 MiB, t=2, p=1). Old
// hashes keep the parameters encoded in them.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword returns a PHC-style argon2id string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (base64 without padding).
func HashPassword(pw string) (string, error) {
	if len(pw) > MaxPasswordLen {
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// ErrBadHash is returned for a stored hash that does not parse.
var ErrBadHash = errors.New("secret: malformed password hash")

// CheckPassword reports whether pw matches the encoded hash, comparing in
// constant time.
func CheckPassword(encoded, pw string) (bool, error) {
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, ErrBadHash
	}
	// Bound the work a corrupted or planted row can cause.
	if m < 8 || m > 1<<20 || t < 1 || t > 16 || p < 1 || p > 16 {
		return false, ErrBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, ErrBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, ErrBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var dummy struct {
	once sync.Once
	hash string
}

// DummyCheck spends the time of one CheckPassword, so "no such user" takes
// as long as "wrong password".
func DummyCheck(pw string) {
	dummy.once.Do(func() {
		dummy.hash, _ = HashPassword("tandem-dummy-password")
	})
	CheckPassword(dummy.hash, pw)
}

// Hash returns the hex SHA-256 of a token or key; that is what the store
// keeps.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// NewToken returns an opaque bearer token: 32 random bytes, base64url.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Enrollment keys: 160 random bits in base32 (RFC 4648 alphabet), shown
// in 8 groups of 4 characters: "ABCD-EFGH-...". Input is read
// case-insensitively, ignoring dashes and spaces.
const (
	enrollKeyBytes = 20
	enrollKeyChars = 32 // base32 of 20 bytes, no padding
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewEnrollmentKey returns a new key for people and its hash for the store.
func NewEnrollmentKey() (key, hash string) {
	raw := make([]byte, enrollKeyBytes)
	rand.Read(raw)
	s := b32.EncodeToString(raw)
	return group(s), Hash(s)
}

// group writes a key's characters in dash-separated groups of four.
func group(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// EnrollmentKeyHash normalizes a presented key and returns its hash; ok is
// false when it cannot be a key at all.
func EnrollmentKeyHash(key string) (hash string, ok bool) {
	s, ok := normalizeKey(key)
	if !ok {
		return "", false
	}
	return Hash(s), true
}

// CanonicalEnrollmentKey returns a presented key (any case, with or without
// dashes and spaces) as it was issued.
func CanonicalEnrollmentKey(key string) (string, bool) {
	s, ok := normalizeKey(key)
	if !ok {
		return "", false
	}
	return group(s), true
}

func normalizeKey(key string) (string, bool) {
	if len(key) > 128 {
		return "", false
	}
	var b strings.Builder
	for _, r := range key {
		switch {
		case r == '-' || r == ' ':
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) != enrollKeyChars {
		return "", false
	}
	if raw, err := b32.DecodeString(s); err != nil || len(raw) != enrollKeyBytes {
		return "", false
	}
	return s, true
}
