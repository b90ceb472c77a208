package relay

import (
	"context"
	"fmt"
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

// TestRankMatrix: every kind of caller × every kind of target × the three
// ways to touch a user (their rights, their membership, their groups),
// written out rather than derived from the rules under test.
func TestRankMatrix(t *testing.T) {
	e := newEnv(t, withMail(&mailbox{}))
	ctx := context.Background()
	acme := e.acme().ID
	owner, err := e.srv.Store().UserByEmail(ctx, ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	actorIDs := map[string]string{"owner": owner.ID}
	tokens := map[string]string{"owner": e.token(owner.ID)}
	for _, a := range []struct {
		name string
		typ  store.MemberType
	}{{"admin", store.Admin}, {"gm", store.GroupManager}, {"user", store.Member}} {
		u, tok := e.member(acme, a.name+"@example.com", a.typ)
		actorIDs[a.name], tokens[a.name] = u.ID, tok
	}
	targets := []string{"owner", "admin", "gm", "user", "self"}
	typeOf := map[string]store.MemberType{"admin": store.Admin, "gm": store.GroupManager, "user": store.Member}
	//                               target: owner admin gm   user  self
	matrix := map[string]map[string][5]int{
		"rights": {
			"owner": {200, 200, 200, 200, 200},
			"admin": {403, 403, 200, 200, 200},
			"gm":    {403, 403, 403, 200, 403},
			"user":  {403, 403, 403, 403, 403},
		},
		"remove": {
			"owner": {403, 204, 204, 204, 403},
			"admin": {403, 403, 204, 204, 403},
			"gm":    {403, 403, 403, 204, 403},
			"user":  {403, 403, 403, 403, 403},
		},
		"regroup": {
			"owner": {204, 204, 204, 204, 204},
			"admin": {403, 403, 204, 204, 403},
			"gm":    {403, 403, 403, 403, 403},
			"user":  {403, 403, 403, 403, 403},
		},
	}
	n := 0
	for op, rows := range matrix {
		for actor, row := range rows {
			for i, target := range targets {
				id := actorIDs[actor]
				switch target {
				case "owner":
					id = owner.ID
				case "self":
				default: // a fresh user of that type for every cell
					n++
					u, _ := e.member(acme, fmt.Sprintf("t%d@example.com", n), typeOf[target])
					id = u.ID
				}
				var status int
				var body []byte
				switch op {
				case "rights":
					// Everyone starts with the OnDemand right: this takes it (a
					// change, so checked), and a success gives it back.
					status, body = e.do("PATCH", "/api/v1/accounts/"+acme+"/users/"+id, tokens[actor], wire.MemberUpdate{OnDemand: boolp(false)})
					if status == 200 {
						e.do("PATCH", "/api/v1/accounts/"+acme+"/users/"+id, tokens["owner"], wire.MemberUpdate{OnDemand: boolp(true)})
					}
				case "remove":
					status, body = e.do("DELETE", "/api/v1/accounts/"+acme+"/users/"+id, tokens[actor], nil)
				case "regroup":
					path := "/api/v1/accounts/" + acme + "/groups/" + store.AdministratorsGroupID(acme) + "/members/" + id
					method := "PUT"
					if id == owner.ID {
						method = "DELETE" // the owner is in it: taking them out is the attack
					}
					status, body = e.do(method, path, tokens[actor], nil)
					if status == 204 && method == "DELETE" {
						e.do("PUT", path, tokens["owner"], nil)
					}
				}
				if status != row[i] {
					t.Errorf("%s: %s on %s: %d %s, want %d", op, actor, target, status, body, row[i])
				}
			}
		}
	}
}
