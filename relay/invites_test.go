package relay

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestInvite(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb))
	acme := e.acme().ID
	gm, gmTok := e.member(acme, "gm@example.com", store.GroupManager)
	invites := "/api/v1/accounts/" + acme + "/invites"

	// Group managers invite up to their own type, without the API right (an administrator's to give).
	status, body := e.do("POST", invites, gmTok, wire.InviteRequest{Email: "new@example.com", Type: "admin"})
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	status, body = e.do("POST", invites, gmTok, wire.InviteRequest{Email: "New@Example.com", Name: "Nia", Type: "group_manager", RCAction: "guest"})
	var inv wire.Invite
	decode(t, body, &inv)
	if status != http.StatusCreated || inv.Email != "new@example.com" || inv.Type != "group_manager" ||
		inv.ExpiresAt != e.clock.Now().Add(7*24*time.Hour).Unix() {
		t.Fatalf("invite: %d %s", status, body)
	}
	msgs := mb.to("new@example.com")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Acme") {
		t.Fatalf("invitation emails: %+v", msgs)
	}
	tok := secretOf(t, msgs[0])
	status, body = e.do("POST", invites, gmTok, wire.InviteRequest{Email: "new@example.com"})
	wantError(t, status, body, http.StatusConflict, api.CodeConflict)
	status, body = e.do("POST", invites, gmTok, wire.InviteRequest{Email: ownerEmail})
	wantError(t, status, body, http.StatusConflict, api.CodeConflict)

	// A weak password is refused and writes nothing; the token still works.
	before := e.snapshot()
	status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: tok, Password: "password"})
	wantError(t, status, body, http.StatusBadRequest, api.CodeWeakPassword)
	if e.snapshot() != before {
		t.Fatal("refused acceptance wrote")
	}
	status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: tok, Password: "N3wPassword"})
	if status != http.StatusCreated {
		t.Fatalf("accept: %d %s", status, body)
	}
	au := e.accountUser(acme, "new@example.com")
	if au.Type != store.GroupManager || au.User.Name != "Nia" || au.RCAction != "guest" || au.API || !au.OnDemand {
		t.Fatalf("accepted member %+v", au)
	}
	e.login("new@example.com", "N3wPassword")
	status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: tok, Password: "N3wPassword"})
	wantError(t, status, body, http.StatusBadRequest, api.CodeInvalidToken)
	for _, ev := range []string{EvInviteSent, EvInviteAccepted, EvUserCreated} {
		if len(e.audit(ev)) == 0 {
			t.Errorf("%s not audited", ev)
		}
	}

	// Valid 7 days: a second before works... expiry is exact.
	status, body = e.do("POST", invites, gmTok, wire.InviteRequest{Email: "late@example.com"})
	decode(t, body, &inv)
	tok = mb.lastSecret(t, "late@example.com")
	e.clock.Advance(7 * 24 * time.Hour)
	status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: tok, Password: "N3wPassword"})
	wantError(t, status, body, http.StatusGone, api.CodeTokenExpired)
	gmTok = e.token(gm.ID) // the 12 h login expired meanwhile

	// Resend: a new token, valid 7 days again, the old one dead; 5 times.
	var tokens []string
	for i := 1; i <= 5; i++ {
		e.clock.Advance(time.Hour)
		status, body = e.do("POST", invites+"/"+inv.ID+"/resend", gmTok, nil)
		var r wire.Invite
		decode(t, body, &r)
		if status != 200 || r.Resends != i || r.ExpiresAt != e.clock.Now().Add(7*24*time.Hour).Unix() || r.Expired {
			t.Fatalf("resend %d: %d %s", i, status, body)
		}
		tokens = append(tokens, mb.lastSecret(t, "late@example.com"))
	}
	status, body = e.do("POST", invites+"/"+inv.ID+"/resend", gmTok, nil)
	wantError(t, status, body, http.StatusConflict, api.CodeLimit)
	if n := len(mb.to("late@example.com")); n != 6 {
		t.Fatalf("%d emails, want 6", n)
	}
	status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: tokens[3], Password: "N3wPassword"})
	wantError(t, status, body, http.StatusBadRequest, api.CodeInvalidToken)
	e.clock.Advance(7*24*time.Hour - time.Second)
	gmTok = e.token(gm.ID)
	status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: tokens[4], Password: "Late1234", Name: "Lee"})
	if status != http.StatusCreated {
		t.Fatalf("accept resent invite a second before expiry: %d %s", status, body)
	}
	if n := len(e.audit(EvInviteResent)); n != 5 {
		t.Fatalf("%d resends audited", n)
	}

	// An existing user joins a second account with their own password.
	other, err := e.srv.Store().CreateAccount(context.Background(), store.Account{Name: "Other", CreatedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, boss := e.member(other.ID, "boss@other.example", store.Owner)
	status, body = e.do("POST", "/api/v1/accounts/"+other.ID+"/invites", boss, wire.InviteRequest{Email: "new@example.com"})
	if status != http.StatusCreated {
		t.Fatalf("invite existing user: %d %s", status, body)
	}
	tok = mb.lastSecret(t, "new@example.com")
	status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: tok, Password: "Wr0ngPassword"})
	wantError(t, status, body, http.StatusUnauthorized, api.CodeBadCredentials)
	status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: tok, Password: "N3wPassword"})
	var u wire.User
	decode(t, body, &u)
	if status != http.StatusCreated || len(u.Accounts) != 2 {
		t.Fatalf("second account: %d %s", status, body)
	}
	if e.accountUser(other.ID, "new@example.com").Type != store.Member {
		t.Fatal("second membership has the wrong type")
	}

	// Withdrawn invitation: the token dies.
	e.do("POST", invites, gmTok, wire.InviteRequest{Email: "gone@example.com"})
	tok = mb.lastSecret(t, "gone@example.com")
	var list []wire.Invite
	_, body = e.do("GET", invites, gmTok, nil)
	decode(t, body, &list)
	id := ""
	for _, in := range list {
		if in.Email == "gone@example.com" {
			id = in.ID
		}
	}
	if status, _ = e.do("DELETE", invites+"/"+id, gmTok, nil); status != 204 {
		t.Fatalf("withdraw: %d", status)
	}
	status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: tok, Password: "G0nePassword"})
	wantError(t, status, body, http.StatusBadRequest, api.CodeInvalidToken)

	// The mail server failing: a clear 503, no invitation left behind,
	// and the log says it was withdrawn (its sent event committed first).
	mb.setFail(errors.New("smtp down"))
	pending, _ := e.srv.Store().Invites(context.Background(), acme)
	status, body = e.do("POST", invites, gmTok, wire.InviteRequest{Email: "nomail@example.com"})
	wantError(t, status, body, http.StatusServiceUnavailable, api.CodeMailUnavailable)
	if after, _ := e.srv.Store().Invites(context.Background(), acme); len(after) != len(pending) {
		t.Fatal("unsent invitation left behind")
	}
	logged := false
	for _, ev := range e.audit(EvInviteWithdrawn) {
		logged = logged || strings.Contains(string(ev.Detail), "mail_failed")
	}
	if !logged {
		t.Fatal("the unsent invitation's withdrawal was not logged")
	}
}

func (e *env) accountUser(account, email string) store.AccountUser {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.srv.Store().UserByEmail(ctx, email)
	if err != nil {
		e.t.Fatal(err)
	}
	au, err := e.srv.Store().AccountUser(ctx, account, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return au
}
