package guest_test

import (
	"context"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/apiclient"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/mfa"
	"github.com/tandem-rc/tandem/transport/wire"
)

// A user with an authenticator app logs in from the Guest with the app's
// code: the client tells the relay it is a TOTP code (no email was sent).
func TestGuestLoginWithTOTP(t *testing.T) {
	r := relaytest.Start(t, nil, relaytest.Outbox(t, t.TempDir()))
	ctx := context.Background()
	c, err := guest.NewClient(r.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, relaytest.OwnerEmail, relaytest.OwnerPassword); err != nil || c.Token == "" {
		t.Fatalf("login: %v", err)
	}
	tok := c.Token
	var en wire.TOTPEnrolment
	if err := apiclient.Call(ctx, nil, "POST", r.URL, "/api/v1/me/totp", tok, nil, &en); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code, _ := mfa.Code(en.Secret, mfa.Step(now))
	if err := apiclient.Call(ctx, nil, "POST", r.URL, "/api/v1/me/totp/confirm", tok, wire.TOTPCode{Code: code}, nil); err != nil {
		t.Fatal(err)
	}

	c, _ = guest.NewClient(r.URL, "")
	lr, err := c.Login(ctx, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if err != nil || !lr.MFARequired || len(lr.Factors) == 0 || lr.Factors[0] != "totp" {
		t.Fatalf("login step 1: %+v %v", lr, err)
	}
	code, _ = mfa.Code(en.Secret, mfa.Step(now)+1) // the next step: this one confirmed the app
	if lr, err = c.LoginMFA(ctx, lr.Challenge, code); err != nil || lr.Token == "" {
		t.Fatalf("login with the app's code: %+v %v", lr, err)
	}
}
