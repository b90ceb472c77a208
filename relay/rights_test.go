package relay

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestAdminRights: the user administrator and user creator rights of
// roles document 002 through the real API on SQLite: each allows what the
// document says and nothing more, and only holders may give them.
func TestAdminRights(t *testing.T) {
	e := newEnv(t, withMail(&mailbox{}))
	owner := e.login(ownerEmail, ownerPass)
	acct := e.acme().ID
	with := func(f func(*store.Membership)) func(*store.Membership) { return f }
	uaU, ua := e.member(acct, "ua@example.com", store.Member, with(func(m *store.Membership) { m.UserAdmin, m.API = true, true }))
	_, uc := e.member(acct, "uc@example.com", store.Member, with(func(m *store.Membership) { m.UserCreator = true }))
	laU, la := e.member(acct, "la@example.com", store.Member, with(func(m *store.Membership) { m.LogAdmin = true }))
	plainU, plain := e.member(acct, "plain@example.com", store.Member)
	plain2U, _ := e.member(acct, "plain2@example.com", store.Member)
	gmU, gm := e.member(acct, "gm@example.com", store.GroupManager)
	users := "/api/v1/accounts/" + acct + "/users"
	invites := "/api/v1/accounts/" + acct + "/invites"
	groups := "/api/v1/accounts/" + acct + "/groups"
	ptr := func(v string) *string { return &v }
	invite := func(email, typ string, api bool) wire.InviteRequest {
		return wire.InviteRequest{Email: email, Type: typ, API: api}
	}
	rows := []struct {
		who, tok, method, path string
		body                   any
		want                   int
	}{
		// No rights: nothing of other users.
		{"plain", plain, "GET", users, nil, 403},
		{"plain", plain, "POST", invites, invite("n0@example.com", "user", false), 403},
		{"plain", plain, "DELETE", users + "/" + plain2U.ID, nil, 403},
		{"plain", plain, "PATCH", users + "/" + plain2U.ID, map[string]bool{"api": true}, 403},
		// User creator: creates (invites) plain users, gives no rights,
		// removes and edits nobody.
		{"uc", uc, "GET", users, nil, 200},
		{"uc", uc, "POST", invites, invite("n1@example.com", "user", false), 201},
		{"uc", uc, "POST", invites, invite("n2@example.com", "group_manager", false), 403},
		{"uc", uc, "POST", invites, invite("n3@example.com", "user", true), 403},
		{"uc", uc, "DELETE", users + "/" + plain2U.ID, nil, 403},
		{"uc", uc, "PATCH", users + "/" + plain2U.ID, map[string]bool{"api": true}, 403},
		{"uc", uc, "PATCH", users + "/" + plain2U.ID, map[string]bool{"user_creator": true}, 403},
		// User administrator (holding API): invites, gives the rights it
		// holds, removes plain users holding no more than it does; never
		// the email, name, type or state, nor anyone above.
		{"ua", ua, "GET", users, nil, 200},
		{"ua", ua, "POST", invites, invite("n4@example.com", "user", true), 201},
		{"ua", ua, "POST", invites, invite("n5@example.com", "group_manager", false), 403},
		{"ua", ua, "PATCH", users + "/" + plainU.ID, map[string]bool{"api": true}, 200},
		{"ua", ua, "PATCH", users + "/" + plainU.ID, map[string]bool{"user_admin": true}, 200},
		{"ua", ua, "PATCH", users + "/" + plainU.ID, map[string]bool{"log_admin": true}, 403},
		{"ua", ua, "PATCH", users + "/" + plainU.ID, map[string]bool{"user_creator": true}, 403},
		{"ua", ua, "PATCH", users + "/" + plainU.ID, map[string]string{"name": "Renamed"}, 403},
		{"ua", ua, "PATCH", users + "/" + plainU.ID, map[string]string{"type": "group_manager"}, 403},
		{"ua", ua, "PATCH", users + "/" + plainU.ID, map[string]bool{"disabled": true}, 403},
		{"ua", ua, "PATCH", users + "/" + laU.ID, map[string]bool{"api": true}, 403},
		{"ua", ua, "PATCH", users + "/" + gmU.ID, map[string]bool{"api": true}, 403},
		{"ua", ua, "PATCH", users + "/" + uaU.ID, map[string]bool{"user_admin": false}, 403},
		{"ua", ua, "DELETE", users + "/" + laU.ID, nil, 403},
		{"ua", ua, "DELETE", users + "/" + gmU.ID, nil, 403},
		{"ua", ua, "DELETE", users + "/" + uaU.ID, nil, 403},
		{"ua", ua, "DELETE", users + "/" + plain2U.ID, nil, 204},
		// Both create user groups, never device groups; no right, no group.
		{"uc", uc, "POST", groups, wire.GroupRequest{Kind: "user", Name: ptr("Made by uc")}, 201},
		{"uc", uc, "POST", groups, wire.GroupRequest{Kind: "device", Name: ptr("Devices by uc")}, 403},
		{"ua", ua, "POST", groups, wire.GroupRequest{Kind: "user", Name: ptr("Made by ua")}, 201},
		{"ua", ua, "POST", groups, wire.GroupRequest{Kind: "device", Name: ptr("Devices by ua")}, 403},
		{"la", la, "POST", groups, wire.GroupRequest{Kind: "user", Name: ptr("Made by la")}, 403},
		// A group manager without the right gives none of them.
		{"gm", gm, "PATCH", users + "/" + laU.ID, map[string]bool{"user_admin": true}, 403},
		{"gm", gm, "PATCH", users + "/" + laU.ID, map[string]bool{"user_creator": true}, 403},
		// The owner gives any.
		{"owner", owner, "PATCH", users + "/" + laU.ID, map[string]bool{"user_creator": true}, 200},
	}
	for i, r := range rows {
		if status, body := e.do(r.method, r.path, r.tok, r.body); status != r.want {
			t.Errorf("row %d: %s %s %s %v: %d, want %d: %s", i, r.who, r.method, r.path, r.body, status, r.want, body)
		}
	}
	// Given rights show in the API and are audited with who gave them.
	_, body := e.do("GET", users+"/"+plainU.ID, owner, nil)
	var m wire.Member
	if decode(t, body, &m); !m.API || !m.UserAdmin || m.LogAdmin || m.UserCreator {
		t.Fatalf("plain's rights: %+v", m)
	}
	found := 0
	for _, ev := range e.events("/api/v1/accounts/"+acct+"/audit?limit=1000&event="+EvUserUpdated, owner) {
		if ev.UserID == uaU.ID && strings.Contains(string(ev.Detail), `"user_admin":true`) {
			found++
		}
	}
	if found != 1 {
		t.Fatalf("%d audited grants of user_admin by the user administrator", found)
	}
}

// TestAdminRightsConcurrentRefusals: 100 concurrent forbidden actions by a
// user creator (removing a user, giving a right it cannot give) are all
// refused and change nothing.
func TestAdminRightsConcurrentRefusals(t *testing.T) {
	e := newEnv(t, withMail(&mailbox{}))
	acct := e.acme().ID
	_, uc := e.member(acct, "uc@example.com", store.Member, func(m *store.Membership) { m.UserCreator = true })
	victim, _ := e.member(acct, "victim@example.com", store.Member)
	path := "/api/v1/accounts/" + acct + "/users/" + victim.ID
	before := e.snapshot()
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method, body := "DELETE", any(nil)
			switch i % 3 {
			case 1:
				method, body = "PATCH", map[string]bool{"user_admin": true}
			case 2:
				method, body = "PATCH", map[string]bool{"user_creator": true}
			}
			if status, b := e.do(method, path, uc, body); status != http.StatusForbidden {
				errs <- fmt.Sprintf("%s %v: %d %s", method, body, status, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("refused requests changed the store:\n%s\nvs\n%s", before, after)
	}
}
