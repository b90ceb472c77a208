package relay

import (
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// One user's page (spec 4.1.4) shows when the membership last changed,
// the last login and the user groups; in another account the same user
// has that account's type and groups only (4.1.3).
func TestUserViewFields(t *testing.T) {
	e := newEnv(t)
	acme := e.acme().ID
	_, adminTok := e.member(acme, "admin@example.com", store.Admin)
	u, _ := e.member(acme, "u@example.com", store.Member)
	users := "/api/v1/accounts/" + acme + "/users/"
	get := func(tok, path string) wire.Member {
		t.Helper()
		status, body := e.do("GET", path, tok, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var m wire.Member
		decode(t, body, &m)
		return m
	}
	m := get(adminTok, users+u.ID)
	if m.LastLogin != 0 || m.ModifiedAt != m.CreatedAt || len(m.Groups) != 0 {
		t.Fatalf("before any login: %+v", m)
	}
	e.clock.Advance(time.Hour)
	e.login("u@example.com", memberPass)
	loggedIn := e.clock.Now().Unix()
	e.clock.Advance(time.Hour)
	if status, body := e.do("PATCH", users+u.ID, adminTok, wire.MemberUpdate{Name: strp("Una")}); status != 200 {
		t.Fatalf("patch: %d %s", status, body)
	}
	var g wire.Group
	status, body := e.do("POST", "/api/v1/accounts/"+acme+"/groups", adminTok, wire.GroupRequest{Name: strp("Support"), Kind: "user"})
	decode(t, body, &g)
	if status != 201 {
		t.Fatalf("group: %d %s", status, body)
	}
	if status, body := e.do("PUT", "/api/v1/accounts/"+acme+"/groups/"+g.ID+"/members/"+u.ID, adminTok, nil); status != 204 {
		t.Fatalf("attach: %d %s", status, body)
	}
	m = get(adminTok, users+u.ID)
	if m.LastLogin != loggedIn || m.ModifiedAt != e.clock.Now().Unix() || m.Name != "Una" || len(m.Groups) != 1 || m.Groups[0] != "Support" {
		t.Fatalf("after login and edit: %+v (login %d)", m, loggedIn)
	}

	// The same user, an admin in another account: that account's type, no
	// Acme groups.
	other, err := e.srv.Store().CreateAccount(t.Context(), store.Account{Name: "Other", CreatedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, bossTok := e.member(other.ID, "boss@other.example", store.Owner)
	e.member(other.ID, "u@example.com", store.Admin)
	m = get(bossTok, "/api/v1/accounts/"+other.ID+"/users/"+u.ID)
	if m.Type != "admin" || len(m.Groups) != 0 {
		t.Fatalf("in the other account: %+v", m)
	}
	if m = get(adminTok, users+u.ID); m.Type != "user" {
		t.Fatalf("back in Acme: %+v", m)
	}
}

// GET one device: managers of its account only; other accounts' devices
// and OnDemand ones are 404.
func TestAccountDeviceGet(t *testing.T) {
	e := newEnv(t)
	acme := e.acme().ID
	_, gmTok := e.member(acme, "gm@example.com", store.GroupManager)
	_, uTok := e.member(acme, "u@example.com", store.Member)
	_, key := e.pkg(PackageSpec{Name: "Office"})
	dev := e.enroll(key, "pc-1")
	path := "/api/v1/accounts/" + acme + "/devices/" + dev.id
	if status, body := e.do("PATCH", path, gmTok, wire.DeviceUpdate{Alias: strp("Front desk")}); status != 200 {
		t.Fatalf("alias: %d %s", status, body)
	}
	status, body := e.do("GET", path, gmTok, nil)
	var d wire.Device
	decode(t, body, &d)
	if status != 200 || d.ID != dev.id || d.Name != "Front desk" || d.Hostname != "pc-1" || d.OS != "linux" || d.Favorite {
		t.Fatalf("get: %d %s", status, body)
	}
	if status, body := e.do("PUT", "/api/v1/me/favorites/"+dev.id, gmTok, nil); status != 204 {
		t.Fatalf("favorite: %d %s", status, body)
	}
	_, body = e.do("GET", path, gmTok, nil)
	if decode(t, body, &d); !d.Favorite {
		t.Fatalf("the caller's favorite is not marked: %s", body)
	}
	status, body = e.do("GET", path, uTok, nil)
	wantError(t, status, body, 403, api.CodeForbidden)
	status, body = e.do("GET", "/api/v1/accounts/"+acme+"/devices/nope", gmTok, nil)
	wantError(t, status, body, 404, api.CodeNotFound)
	other, err := e.srv.Store().CreateAccount(t.Context(), store.Account{Name: "Other", CreatedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, bossTok := e.member(other.ID, "boss@other.example", store.Owner)
	status, body = e.do("GET", "/api/v1/accounts/"+other.ID+"/devices/"+dev.id, bossTok, nil)
	wantError(t, status, body, 404, api.CodeNotFound)
}
