// Package mfa holds the second factors' logic without I/O: TOTP (RFC 6238)
// enrolment and checks, and the account policy that decides which factors
// a sign-in may use. The relay stores and audits; this package decides.
package mfa

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: what every authenticator app reads from an otpauth URI
// without asking (SHA-1, 6 digits, 30 s).
const (
	Period     = 30
	Digits     = 6
	secretSize = 20 // 160 bits, RFC 4226's recommendation
	qrSize     = 256
)

// Skew is how many steps either side of now a code may come from: ±1
// step absorbs a clock off by up to 30 s and a code typed at a step's end.
const Skew = 1

// ErrBadCode: the code is not 6 digits.
var ErrBadCode = errors.New("a TOTP code is 6 digits")

// Enrolment is a new TOTP secret as the user sees it once: the base32
// secret, its otpauth:// URI and the URI as a QR code (PNG).
type Enrolment struct {
	Secret string
	URI    string
	QRPNG  []byte
}

// NewTOTP makes a random secret for account (shown as the label in the
// app) under issuer.
func NewTOTP(issuer, account string) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: Period,
		SecretSize: secretSize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader})
	if err != nil {
		return Enrolment{}, fmt.Errorf("generating a TOTP secret: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return Enrolment{}, fmt.Errorf("drawing the TOTP QR code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return Enrolment{}, fmt.Errorf("encoding the TOTP QR code: %w", err)
	}
	return Enrolment{Secret: key.Secret(), URI: key.URL(), QRPNG: b.Bytes()}, nil
}

// Step is the RFC 6238 time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// Code is the code of secret at step (for tests and for the Portal's
// own checks; the relay never sends codes).
func Code(secret string, step int64) (string, error) {
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// ValidCode reports whether code has the form of a TOTP code.
func ValidCode(code string) bool {
	return len(code) == Digits && strings.Trim(code, "0123456789") == ""
}

// Verify checks code against secret at now, within ±Skew steps, and only
// for steps after lastUsed: a code once accepted (or any older one) never
// works again. It returns the step that matched, which the caller must
// record as the new lastUsed in the same write that accepts the login
// (conditionally on it still being newer, so concurrent uses of one code
// cannot both pass).
func Verify(secret, code string, now time.Time, lastUsed int64) (int64, bool, error) {
	if !ValidCode(code) {
		return 0, false, ErrBadCode
	}
	cur := Step(now)
	opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	// Every candidate step is computed (constant work whatever matches).
	var match int64
	found := false
	for step := cur - Skew; step <= cur+Skew; step++ {
		ok, err := hotp.ValidateCustom(code, uint64(step), secret, opts)
		if err != nil {
			return 0, false, fmt.Errorf("checking a TOTP code: %w", err)
		}
		if ok && step > lastUsed && !found {
			match, found = step, true
		}
	}
	return match, found, nil
}
