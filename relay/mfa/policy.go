package mfa

import (
	"fmt"
	"slices"
	"strings"
)

// Factor is a second factor a sign-in may use.
type Factor string

const (
	Email    Factor = "email"    // a 6-digit code mailed at sign-in
	TOTP     Factor = "totp"     // an authenticator app (RFC 6238)
	WebAuthn Factor = "webauthn" // a passkey or security key
	SMS      Factor = "sms"      // a 6-digit code texted to a verified phone (seed 000)
	Recovery Factor = "recovery" // a one-time recovery code: always allowed, never listed in a policy
)

// Configurable lists the factors an account policy may allow, in the
// order sign-in offers them.
var Configurable = []Factor{TOTP, WebAuthn, SMS, Email}

// ParseFactors reads a policy's factor list (names, any order, no
// repeats, recovery excluded: it is the way back in, not a choice).
func ParseFactors(names []string) ([]Factor, error) {
	var out []Factor
	for _, n := range names {
		f := Factor(strings.TrimSpace(n))
		if !slices.Contains(Configurable, f) {
			return nil, fmt.Errorf("unknown factor %q (one of totp, webauthn, sms, email)", n)
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("factor %q listed twice", n)
		}
		out = append(out, f)
	}
	return order(out), nil
}

func order(fs []Factor) []Factor {
	var out []Factor
	for _, f := range Configurable {
		if slices.Contains(fs, f) {
			out = append(out, f)
		}
	}
	return out
}

// Membership is what the decision needs of one of the user's enabled
// accounts: whether it asks this user for a second factor (its email MFA
// setting and the user's toggle) and which factors it allows.
type Membership struct {
	Required bool
	Allowed  []Factor
}

// Decision says whether a sign-in needs a second factor and which ones
// the user may pick from (recovery codes come on top when the user has
// any left).
type Decision struct {
	Required bool
	Factors  []Factor
	// Unusable: a second factor is required but the user has none of the
	// allowed ones set up (and email cannot be sent): the sign-in is
	// refused rather than let through.
	Unusable bool
}

// Allowed is what every one of the user's accounts allows: a factor one
// account forbids is not used to reach any of them (one token opens all).
func Allowed(ms []Membership) []Factor {
	out := slices.Clone(Configurable)
	for _, m := range ms {
		out = slices.DeleteFunc(out, func(f Factor) bool { return !slices.Contains(m.Allowed, f) })
	}
	return out
}

// Decide answers for a user with enabled memberships ms and the factors
// they set up (enrolled: totp, webauthn), when email can be sent or not.
// A user who set up an allowed factor is asked for it even where no
// account requires it: they chose it.
func Decide(ms []Membership, enrolled []Factor, mailOK bool) Decision {
	allowed := Allowed(ms)
	var d Decision
	for _, f := range allowed {
		if f != Email && slices.Contains(enrolled, f) {
			d.Factors = append(d.Factors, f)
		}
	}
	d.Required = len(d.Factors) > 0 || slices.ContainsFunc(ms, func(m Membership) bool { return m.Required })
	if !d.Required {
		return Decision{}
	}
	if mailOK && slices.Contains(allowed, Email) {
		d.Factors = append(d.Factors, Email)
	}
	d.Unusable = len(d.Factors) == 0
	return d
}
