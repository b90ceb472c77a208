package relay

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestRankRules(t *testing.T) {
	const (
		O = store.Owner
		A = store.Admin
		G = store.GroupManager
		U = store.Member
		X = store.MemberType("boss")
	)
	tests := []struct {
		actor, target                        store.MemberType
		manage, edit, assign, remove, change bool
	}{
		{O, O, true, true, false, false, true},
		{O, A, true, true, true, true, true},
		{O, G, true, true, true, true, true},
		{O, U, true, true, true, true, true},
		{A, O, true, false, false, false, false},
		{A, A, true, true, true, false, false},
		{A, G, true, true, true, true, true},
		{A, U, true, true, true, true, true},
		{G, O, true, false, false, false, false},
		{G, A, true, false, false, false, false},
		{G, G, true, true, true, false, false},
		{G, U, true, true, true, true, true},
		{U, O, false, false, false, false, false},
		{U, A, false, false, false, false, false},
		{U, G, false, false, false, false, false},
		{U, U, false, false, false, false, false},
		{A, X, true, false, false, false, false},
		{X, U, false, false, false, false, false},
	}
	for _, tc := range tests {
		if got := canManageUsers(tc.actor); got != tc.manage {
			t.Errorf("canManageUsers(%s) = %v", tc.actor, got)
		}
		if got := canEdit(tc.actor, tc.target); got != tc.edit {
			t.Errorf("canEdit(%s, %s) = %v", tc.actor, tc.target, got)
		}
		if got := canAssign(tc.actor, tc.target); got != tc.assign {
			t.Errorf("canAssign(%s, %s) = %v", tc.actor, tc.target, got)
		}
		if got := canRemove(tc.actor, tc.target); got != tc.remove {
			t.Errorf("canRemove(%s, %s) = %v", tc.actor, tc.target, got)
		}
		if got := mayChange(tc.actor, tc.target, false); got != tc.change {
			t.Errorf("mayChange(%s, %s) = %v", tc.actor, tc.target, got)
		}
		if got := mayChange(tc.actor, tc.target, true); got != (tc.actor == O) {
			t.Errorf("mayChange(%s, self) = %v", tc.actor, got)
		}
	}
}

func strp(s string) *string { return &s }
func boolp(b bool) *bool    { return &b }

// The rank rules through the API: nobody edits, promotes or removes above
// their own type; the owner stays; other accounts' users are invisible.
func TestManageUsers(t *testing.T) {
	e := newEnv(t)
	acme := e.acme().ID
	gm, gmTok := e.member(acme, "gm@example.com", store.GroupManager)
	admin, adminTok := e.member(acme, "admin@example.com", store.Admin)
	u, uTok := e.member(acme, "u@example.com", store.Member)
	owner, _ := e.srv.Store().UserByEmail(context.Background(), ownerEmail)
	users := "/api/v1/accounts/" + acme + "/users/"

	patch := func(tok, id string, body wire.MemberUpdate) (int, []byte) { return e.do("PATCH", users+id, tok, body) }
	for _, tc := range []struct {
		name, tok, id string
		body          wire.MemberUpdate
		status        int
		code          string
	}{
		{"gm edits admin", gmTok, admin.ID, wire.MemberUpdate{Name: strp("x")}, 403, api.CodeForbidden},
		{"gm promotes user to admin", gmTok, u.ID, wire.MemberUpdate{Type: strp("admin")}, 403, api.CodeForbidden},
		{"admin makes an owner", adminTok, u.ID, wire.MemberUpdate{Type: strp("owner")}, 403, api.CodeForbidden},
		{"admin demotes the owner", adminTok, owner.ID, wire.MemberUpdate{Type: strp("user")}, 403, api.CodeForbidden},
		{"admin disables the owner", adminTok, owner.ID, wire.MemberUpdate{Disabled: boolp(true)}, 403, api.CodeForbidden},
		{"admin changes own type", adminTok, admin.ID, wire.MemberUpdate{Type: strp("user")}, 403, api.CodeForbidden},
		{"admin disables self", adminTok, admin.ID, wire.MemberUpdate{Disabled: boolp(true)}, 403, api.CodeForbidden},
		{"unknown type", adminTok, u.ID, wire.MemberUpdate{Type: strp("boss")}, 400, api.CodeBadRequest},
		{"unknown action", adminTok, u.ID, wire.MemberUpdate{RCAction: strp("teleport")}, 400, api.CodeBadRequest},
		{"unknown user", adminTok, "nope", wire.MemberUpdate{Name: strp("x")}, 404, api.CodeNotFound},
	} {
		before := e.snapshot()
		status, body := patch(tc.tok, tc.id, tc.body)
		wantError(t, status, body, tc.status, tc.code)
		if e.snapshot() != before {
			t.Errorf("%s: refused but wrote", tc.name)
		}
	}

	// Allowed: gm promotes a user to gm, admin sets everything.
	status, body := patch(gmTok, u.ID, wire.MemberUpdate{Type: strp("group_manager")})
	var m wire.Member
	decode(t, body, &m)
	if status != 200 || m.Type != "group_manager" {
		t.Fatalf("gm promotes to gm: %d %s", status, body)
	}
	status, body = patch(adminTok, u.ID, wire.MemberUpdate{Type: strp("user"), Name: strp("Una"), RCAction: strp("guest"),
		OnDemand: boolp(false), API: boolp(true), MFA: boolp(true)})
	decode(t, body, &m)
	if status != 200 || m.Type != "user" || m.Name != "Una" || m.RCAction != "guest" || m.OnDemand || !m.API || !m.MFA {
		t.Fatalf("admin edits: %d %s", status, body)
	}
	if len(e.audit(EvUserUpdated)) != 2 || len(e.audit(EvUserMFAChanged)) != 1 {
		t.Fatal("edits not audited")
	}

	// Disabled in the account: no access there, no login (its only one),
	// no API keys.
	_, key := e.apiKey(acme, u.ID)
	if status, body = patch(adminTok, u.ID, wire.MemberUpdate{Disabled: boolp(true)}); status != 200 {
		t.Fatalf("disable: %d %s", status, body)
	}
	status, body = e.do("GET", users+u.ID, uTok, nil)
	wantError(t, status, body, 403, api.CodeForbidden)
	status, body = e.do("GET", "/api/v1/me", key, nil)
	wantError(t, status, body, 401, api.CodeUnauthorized)
	status, body = e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: "u@example.com", Password: memberPass})
	wantError(t, status, body, 401, api.CodeBadCredentials)
	if len(e.audit(EvUserDisabled)) != 1 {
		t.Fatal("disable not audited")
	}

	// A user sees only themself; lists are for managers.
	status, body = e.do("GET", "/api/v1/accounts/"+acme+"/users", gmTok, nil)
	var list []wire.Member
	decode(t, body, &list)
	if status != 200 || len(list) != 4 || strings.Contains(string(body), "argon2") {
		t.Fatalf("list: %d %s", status, body)
	}

	// Removal: strictly below one's own type.
	status, body = e.do("DELETE", users+admin.ID, adminTok, nil)
	wantError(t, status, body, 403, api.CodeForbidden)
	status, body = e.do("DELETE", users+owner.ID, adminTok, nil)
	wantError(t, status, body, 403, api.CodeForbidden)
	_, gm2Tok := e.member(acme, "gm2@example.com", store.GroupManager)
	status, body = e.do("DELETE", users+gm.ID, gm2Tok, nil)
	wantError(t, status, body, 403, api.CodeForbidden)
	if status, _ = e.do("DELETE", users+gm.ID, adminTok, nil); status != 204 {
		t.Fatalf("admin removes gm: %d", status)
	}
	if _, err := e.srv.Store().User(context.Background(), gm.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removed from its only account, the user stays: %v", err)
	}
	if evs := e.audit(EvUserRemoved); len(evs) != 1 {
		t.Fatal("removal not audited")
	}

	// No mail sender: email MFA cannot be turned on.
	status, body = e.do("PUT", "/api/v1/accounts/"+acme+"/security", adminTok, wire.Security{MFA: "enforced"})
	wantError(t, status, body, http.StatusConflict, api.CodeMailUnavailable)

	// Another account's owner sees nothing of this one.
	other, err := e.srv.Store().CreateAccount(context.Background(), store.Account{Name: "Other", CreatedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, otherTok := e.member(other.ID, "boss@other.example", store.Owner)
	status, body = e.do("GET", users+u.ID, otherTok, nil)
	wantError(t, status, body, 404, api.CodeNotFound)
	status, body = e.do("GET", "/api/v1/accounts/"+other.ID+"/users/"+u.ID, otherTok, nil)
	wantError(t, status, body, 404, api.CodeNotFound)
}

// Several accounts: separate types and settings, an alias each.
func TestMultipleAccounts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acme := e.acme().ID
	other, err := e.srv.Store().CreateAccount(ctx, store.Account{Name: "Other", CreatedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, tok := e.member(acme, "two@example.com", store.Admin)
	e.member(other.ID, "two@example.com", store.Member)
	status, body := e.do("PATCH", "/api/v1/me/accounts/"+other.ID, tok, wire.MembershipUpdate{Alias: strp("Side job"), RCAction: strp("guest")})
	if status != 200 {
		t.Fatalf("alias: %d %s", status, body)
	}
	status, body = e.do("GET", "/api/v1/me", tok, nil)
	var me wire.User
	decode(t, body, &me)
	if status != 200 || len(me.Accounts) != 2 {
		t.Fatalf("me: %s", body)
	}
	names := me.Accounts[0].Name + "," + me.Accounts[1].Name
	if names != "Acme,Side job" {
		t.Fatalf("account names %q", names)
	}
	// Admin in Acme, user in Other: no managing there.
	status, body = e.do("GET", "/api/v1/accounts/"+other.ID+"/users", tok, nil)
	wantError(t, status, body, 403, api.CodeForbidden)
	if status, _ = e.do("GET", "/api/v1/accounts/"+acme+"/users", tok, nil); status != 200 {
		t.Fatalf("list as admin: %d", status)
	}
	status, body = e.do("PATCH", "/api/v1/me/accounts/"+other.ID, tok, wire.MembershipUpdate{Alias: strp(strings.Repeat("a", 200))})
	wantError(t, status, body, 400, api.CodeBadRequest)
}

func TestProfile(t *testing.T) {
	e := newEnv(t)
	_, tok := e.member(e.acme().ID, "p@example.com", store.Member)
	status, body := e.do("PATCH", "/api/v1/me", tok, wire.ProfileUpdate{Name: strp("Pat Doe")})
	var me wire.User
	decode(t, body, &me)
	if status != 200 || me.Name != "Pat Doe" {
		t.Fatalf("profile: %d %s", status, body)
	}
	status, body = e.do("PATCH", "/api/v1/me", tok, []byte(`{"name":"a\u0000b"}`))
	wantError(t, status, body, 400, api.CodeBadRequest)
	status, body = e.do("PATCH", "/api/v1/me", tok, []byte(`{"name":7}`))
	wantError(t, status, body, 400, api.CodeBadRequest)
}

// The owner type moves only by the owner handing it over.
func TestChangeOwner(t *testing.T) {
	e := newEnv(t)
	acme := e.acme().ID
	owner, _ := e.srv.Store().UserByEmail(context.Background(), ownerEmail)
	ownerTok := e.token(owner.ID)
	admin, adminTok := e.member(acme, "admin@example.com", store.Admin)
	path := "/api/v1/accounts/" + acme + "/owner"
	status, body := e.do("PUT", path, adminTok, wire.OwnerChange{User: admin.ID, Password: memberPass})
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	status, body = e.do("PUT", path, ownerTok, wire.OwnerChange{User: admin.ID, Password: ownerPass})
	var m wire.Member
	decode(t, body, &m)
	if status != 200 || m.Type != "owner" {
		t.Fatalf("change owner: %d %s", status, body)
	}
	if got := e.accountUser(acme, ownerEmail).Type; got != store.Admin {
		t.Fatalf("old owner is %s, want admin", got)
	}
	// The new owner may now remove the old one (an admin, below them).
	if status, _ = e.do("DELETE", "/api/v1/accounts/"+acme+"/users/"+owner.ID, adminTok, nil); status != 204 {
		t.Fatalf("new owner removes old: %d", status)
	}
	if len(e.audit(EvOwnerChanged)) != 1 {
		t.Fatal("owner change not audited")
	}
}
