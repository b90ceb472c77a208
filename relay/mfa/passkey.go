package mfa

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Passkeys (WebAuthn) as a second factor: the relay is the relying party
// of the origin clients reach it at; its host name is the RP ID (a
// browser only offers a credential on that site, which is what makes
// passkeys phishing-resistant).

// ErrPasskey: the browser's answer did not prove possession of a
// registered credential for this ceremony (wrong challenge, origin, RP,
// signature, or a cloned authenticator's counter).
var ErrPasskey = errors.New("the passkey answer was not valid for this sign-in")

// ErrNoDomain: browsers bind passkeys to a domain name, never to an IP
// address.
var ErrNoDomain = errors.New("passkeys need the relay to be reached by a domain name (like relay.example.com or localhost), not an IP address")

// MaxPasskeys a user may register: bounds the work of each sign-in.
const MaxPasskeys = 10

// PasskeyUser is the WebAuthn view of a relay user.
type PasskeyUser struct {
	ID          string // the relay's user id: the credential's user handle
	Email       string
	Name        string
	Credentials []webauthn.Credential
}

func (u PasskeyUser) WebAuthnID() []byte                         { return []byte(u.ID) }
func (u PasskeyUser) WebAuthnName() string                       { return u.Email }
func (u PasskeyUser) WebAuthnDisplayName() string                { return u.Name }
func (u PasskeyUser) WebAuthnCredentials() []webauthn.Credential { return u.Credentials }

// RelyingParty is the WebAuthn relying party for base, the relay's URL as
// the browser sees it (scheme://host[:port]).
func RelyingParty(base string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(base)
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("passkeys need the relay's URL, not %q", base)
	}
	if _, err := netip.ParseAddr(u.Hostname()); err == nil {
		return nil, ErrNoDomain
	}
	return webauthn.New(&webauthn.Config{RPID: u.Hostname(), RPDisplayName: "Tandem", RPOrigins: []string{u.Scheme + "://" + u.Host}})
}

// BeginRegistration asks the browser for a new credential of u's
// (resident if it can, user verification preferred), excluding the ones u
// has. It returns the options for navigator.credentials.create and the
// ceremony's state to keep until FinishRegistration.
func BeginRegistration(rp *webauthn.WebAuthn, u PasskeyUser) (options, state []byte, err error) {
	var excl []protocol.CredentialDescriptor
	for _, c := range u.Credentials {
		excl = append(excl, c.Descriptor())
	}
	creation, session, err := rp.BeginRegistration(u, webauthn.WithExclusions(excl),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return nil, nil, fmt.Errorf("starting passkey registration: %w", err)
	}
	return marshalCeremony(creation, session)
}

// FinishRegistration checks the browser's answer (JSON of the
// PublicKeyCredential) against the ceremony's state.
func FinishRegistration(rp *webauthn.WebAuthn, u PasskeyUser, state, answer []byte) (*webauthn.Credential, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return nil, fmt.Errorf("reading a passkey ceremony: %w", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(answer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskey, err)
	}
	c, err := rp.CreateCredential(u, session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskey, err)
	}
	return c, nil
}

// BeginLogin asks the browser to sign a challenge with one of u's
// credentials.
func BeginLogin(rp *webauthn.WebAuthn, u PasskeyUser) (options, state []byte, err error) {
	assertion, session, err := rp.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, fmt.Errorf("starting a passkey sign-in: %w", err)
	}
	return marshalCeremony(assertion, session)
}

// FinishLogin checks the browser's assertion and returns the credential
// with its new signature counter, to store. A counter that went backwards
// (a cloned authenticator) is refused.
func FinishLogin(rp *webauthn.WebAuthn, u PasskeyUser, state, answer []byte) (*webauthn.Credential, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return nil, fmt.Errorf("reading a passkey ceremony: %w", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskey, err)
	}
	c, err := rp.ValidateLogin(u, session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskey, err)
	}
	if c.Authenticator.CloneWarning {
		return nil, fmt.Errorf("%w: its signature counter went backwards (a cloned authenticator?)", ErrPasskey)
	}
	return c, nil
}

func marshalCeremony(options any, session *webauthn.SessionData) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, err
	}
	s, err := json.Marshal(session)
	return o, s, err
}

// BeginPasswordless asks the browser for any passkey of this relay's
// (discoverable credentials), with the user verified by the authenticator
// (PIN or biometrics): possession and verification, two factors in one.
func BeginPasswordless(rp *webauthn.WebAuthn) (options, state []byte, err error) {
	assertion, session, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, fmt.Errorf("starting a passkey sign-in: %w", err)
	}
	return marshalCeremony(assertion, session)
}

// Challenge is a ceremony state's challenge (what makes its answer
// single-use).
func Challenge(state []byte) (string, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return "", fmt.Errorf("reading a passkey ceremony: %w", err)
	}
	return session.Challenge, nil
}

// FinishPasswordless checks a discoverable assertion: lookup gives the
// user of the credential's user handle (the relay's user id). It returns
// that user id and the credential with its new counter.
func FinishPasswordless(rp *webauthn.WebAuthn, state, answer []byte, lookup func(userID string) (PasskeyUser, error)) (string, *webauthn.Credential, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return "", nil, fmt.Errorf("reading a passkey ceremony: %w", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrPasskey, err)
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return "", nil, fmt.Errorf("%w: the authenticator did not verify the user", ErrPasskey)
	}
	user, c, err := rp.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
		u, err := lookup(string(handle))
		if err != nil {
			return nil, err
		}
		return u, nil
	}, session, parsed)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrPasskey, err)
	}
	if c.Authenticator.CloneWarning {
		return "", nil, fmt.Errorf("%w: its signature counter went backwards (a cloned authenticator?)", ErrPasskey)
	}
	return string(user.WebAuthnID()), c, nil
}
