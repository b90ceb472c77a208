package relay

import (
	"context"
	"net/http"
	"testing"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestRankRulesAPI: nobody changes the groups, type or rights of a user at or
// above their own type (the owner excepted), and the API right is an
// administrator's to give. Each refused request writes nothing.
func TestRankRulesAPI(t *testing.T) {
	e := newEnv(t, withMail(&mailbox{}))
	ctx := context.Background()
	st := e.srv.Store()
	acme := e.acme()
	owner, err := st.UserByEmail(ctx, ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	ownerTok := e.token(owner.ID)
	admin, adminTok := e.member(acme.ID, "admin@example.com", store.Admin)
	peer, _ := e.member(acme.ID, "peer@example.com", store.Admin)
	gm, gmTok := e.member(acme.ID, "gm@example.com", store.GroupManager)
	gm2, _ := e.member(acme.ID, "gm2@example.com", store.GroupManager)
	user, _ := e.member(acme.ID, "user@example.com", store.Member)
	users := "/api/v1/accounts/" + acme.ID + "/users/"
	groups := "/api/v1/accounts/" + acme.ID + "/groups/"
	admins := store.AdministratorsGroupID(acme.ID)
	yes, no := true, false
	adminT := "admin"
	userT := "user"

	refused := []struct {
		name, method, path, tok string
		body                    any
	}{
		{"admin takes the owner out of Administrators", "DELETE", groups + admins + "/members/" + owner.ID, adminTok, nil},
		{"admin deletes the group holding the owner", "DELETE", groups + admins, adminTok, nil},
		{"admin adds a peer to a group", "PUT", groups + admins + "/members/" + peer.ID, adminTok, nil},
		{"admin demotes a peer", "PATCH", users + peer.ID, adminTok, wire.MemberUpdate{Type: &userT}},
		{"admin disables a peer", "PATCH", users + peer.ID, adminTok, wire.MemberUpdate{Disabled: &yes}},
		{"admin takes a peer's API right", "PATCH", users + peer.ID, adminTok, wire.MemberUpdate{OnDemand: &no}},
		{"admin removes a peer", "DELETE", users + peer.ID, adminTok, nil},
		{"group manager gives themself the API right", "PATCH", users + gm.ID, gmTok, wire.MemberUpdate{API: &yes}},
		{"group manager gives a user the API right", "PATCH", users + user.ID, gmTok, wire.MemberUpdate{API: &yes}},
		{"group manager invites with the API right", "POST", "/api/v1/accounts/" + acme.ID + "/invites", gmTok,
			wire.InviteRequest{Email: "new@example.com", API: true}},
		{"group manager changes their own rights", "PATCH", users + gm.ID, gmTok, wire.MemberUpdate{OnDemand: &no}},
		{"group manager edits a peer", "PATCH", users + gm2.ID, gmTok, wire.MemberUpdate{OnDemand: &no}},
	}
	for _, c := range refused {
		before := e.snapshot()
		status, body := e.do(c.method, c.path, c.tok, c.body)
		if status != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", c.name, status, body)
			continue
		}
		if after := e.snapshot(); after != before {
			t.Errorf("%s: the refused request wrote something", c.name)
		}
	}
	if g, err := st.GroupMembers(ctx, admins); err != nil || len(g) != 1 || g[0] != owner.ID {
		t.Fatalf("Administrators: %v %v, want only the owner", g, err)
	}

	allowed := []struct {
		name, method, path, tok string
		body                    any
		want                    int
	}{
		{"admin gives a user the API right", "PATCH", users + user.ID, adminTok, wire.MemberUpdate{API: &yes}, 200},
		{"admin gives themself the API right", "PATCH", users + admin.ID, adminTok, wire.MemberUpdate{API: &yes}, 200},
		{"admin puts a group manager in a group", "PUT", groups + admins + "/members/" + gm.ID, adminTok, nil, 204},
		{"group manager changes a user's rights", "PATCH", users + user.ID, gmTok, wire.MemberUpdate{OnDemand: &no}, 200},
		{"owner adds a peer admin to Administrators", "PUT", groups + admins + "/members/" + peer.ID, ownerTok, nil, 204},
		{"owner promotes the group manager", "PATCH", users + gm2.ID, ownerTok, wire.MemberUpdate{Type: &adminT}, 200},
		{"owner demotes an admin", "PATCH", users + peer.ID, ownerTok, wire.MemberUpdate{Type: &userT}, 200},
		{"owner removes them", "DELETE", users + peer.ID, ownerTok, nil, 204},
		{"owner changes their own rights", "PATCH", users + owner.ID, ownerTok, wire.MemberUpdate{API: &yes}, 200},
	}
	for _, c := range allowed {
		if status, body := e.do(c.method, c.path, c.tok, c.body); status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.want)
		}
	}
}
