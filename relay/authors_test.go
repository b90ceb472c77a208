package relay

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestAuthorsFromAudit: "Created by" and "Modified by" of roles, role
// assignments, users and devices are the names of the actors of the
// creating and the latest changing audit event; absent when the log says
// nothing (logging off, or a change made outside the API).
func TestAuthorsFromAudit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.srv.Store()
	acct := e.acme()
	owner := e.login(ownerEmail, ownerPass)
	admin, adminTok := e.member(acct.ID, "ada@example.com", store.Admin)
	if err := st.SetUserName(ctx, admin.ID, "Ada Lovelace"); err != nil {
		t.Fatal(err)
	}
	ou, err := st.UserByEmail(ctx, ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	ownerName := ou.Name
	if ownerName == "" {
		ownerName = ownerEmail
	}
	roleID := func(body []byte) string {
		var ro wire.RoleInfo
		decode(t, body, &ro)
		return ro.ID
	}
	status, body := e.do("POST", "/api/v1/accounts/"+acct.ID+"/roles", owner, wire.RoleInfo{Name: "Helpdesk", Type: "device", Enabled: true, Permissions: []string{"view_screen"}})
	if status != http.StatusCreated {
		t.Fatalf("create role: %d %s", status, body)
	}
	helpdesk := roleID(body)
	// A second role, changed twice: the latest change names its actor.
	_, body = e.do("POST", "/api/v1/accounts/"+acct.ID+"/roles", adminTok, wire.RoleInfo{Name: "Support", Type: "device", Enabled: true, Permissions: []string{"view_screen"}})
	support := roleID(body)
	for _, tok := range []string{owner, adminTok} {
		if status, body := e.do("PUT", "/api/v1/accounts/"+acct.ID+"/roles/"+support, tok, wire.RoleInfo{Name: "Support", Type: "device", Enabled: false, Permissions: []string{"view_screen"}}); status != http.StatusOK {
			t.Fatalf("update role: %d %s", status, body)
		}
		e.clock.Advance(time.Second)
	}
	// Logging off: the third role's authors are unknown.
	if err := st.SetAccountAudit(ctx, acct.ID, false); err != nil {
		t.Fatal(err)
	}
	_, body = e.do("POST", "/api/v1/accounts/"+acct.ID+"/roles", owner, wire.RoleInfo{Name: "Quiet", Type: "device", Enabled: true, Permissions: []string{"view_screen"}})
	quiet := roleID(body)
	if err := st.SetAccountAudit(ctx, acct.ID, true); err != nil {
		t.Fatal(err)
	}
	var roles []wire.RoleInfo
	_, body = e.do("GET", "/api/v1/accounts/"+acct.ID+"/roles", owner, nil)
	decode(t, body, &roles)
	got := map[string][2]string{}
	for _, ro := range roles {
		got[ro.ID] = [2]string{ro.CreatedBy, ro.ModifiedBy}
	}
	for id, want := range map[string][2]string{helpdesk: {ownerName, ""}, support: {"Ada Lovelace", "Ada Lovelace"}, quiet: {"", ""}} {
		if got[id] != want {
			t.Errorf("role %s: authors %q, want %q", id, got[id], want)
		}
	}

	// A user: created outside the API (unknown), changed by the owner.
	plain, _ := e.member(acct.ID, "plain@example.com", store.Member)
	name := "Plain User"
	if status, body := e.do("PATCH", "/api/v1/accounts/"+acct.ID+"/users/"+plain.ID, owner, wire.MemberUpdate{Name: &name}); status != http.StatusOK {
		t.Fatalf("patch user: %d %s", status, body)
	}
	var m wire.Member
	_, body = e.do("GET", "/api/v1/accounts/"+acct.ID+"/users/"+plain.ID, adminTok, nil)
	if decode(t, body, &m); m.CreatedBy != "" || m.ModifiedBy != ownerName {
		t.Errorf("user authors: %q %q, want \"\" %q", m.CreatedBy, m.ModifiedBy, ownerName)
	}

	// A device: enrolled by its package (no user acted), then renamed by the admin.
	_, key := e.pkg(PackageSpec{Name: "P"})
	d := e.enroll(key, "pc-1")
	alias := "Front desk"
	if status, body := e.do("PATCH", "/api/v1/accounts/"+acct.ID+"/devices/"+d.id, adminTok, wire.DeviceUpdate{Alias: &alias}); status != http.StatusOK {
		t.Fatalf("patch device: %d %s", status, body)
	}
	var dev wire.Device
	_, body = e.do("GET", "/api/v1/accounts/"+acct.ID+"/devices/"+d.id, owner, nil)
	if decode(t, body, &dev); dev.CreatedBy != "package P" || dev.ModifiedBy != "Ada Lovelace" {
		t.Errorf("device authors: %q %q", dev.CreatedBy, dev.ModifiedBy)
	}
}

// TestUserPresence: online while a login session is live (since it
// began), offline once it is gone, inactive when disabled.
func TestUserPresence(t *testing.T) {
	e := newEnv(t)
	acct := e.acme()
	owner := e.login(ownerEmail, ownerPass)
	u, tok := e.member(acct.ID, "tech@example.com", store.Member)
	get := func() wire.Member {
		t.Helper()
		var m wire.Member
		status, body := e.do("GET", "/api/v1/accounts/"+acct.ID+"/users/"+u.ID, owner, nil)
		if decode(t, body, &m); status != http.StatusOK {
			t.Fatalf("get user: %d %s", status, body)
		}
		return m
	}
	if m := get(); m.Presence != "online" || m.PresenceSince != e.clock.Now().Unix() {
		t.Fatalf("with a live session: %q since %d, want online since %d", m.Presence, m.PresenceSince, e.clock.Now().Unix())
	}
	if status, body := e.do("POST", "/api/v1/logout", tok, nil); status >= 300 {
		t.Fatalf("logout: %d %s", status, body)
	}
	if m := get(); m.Presence != "offline" {
		t.Fatalf("logged off: %q", m.Presence)
	}
	off := true
	if status, body := e.do("PATCH", "/api/v1/accounts/"+acct.ID+"/users/"+u.ID, owner, wire.MemberUpdate{Disabled: &off}); status != http.StatusOK {
		t.Fatalf("disable: %d %s", status, body)
	}
	if m := get(); m.Presence != "inactive" {
		t.Fatalf("disabled: %q", m.Presence)
	}
}
