package portal_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// getPage fetches path with session cookie c: status and body.
func getPage(t *testing.T, base string, c *http.Cookie, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFormsByRole: a group manager's Groups page does not even carry the
// Create group form (only administrators create groups), an
// administrator's does; an administrator's Account configuration carries
// no logo upload form (the owner's alone).
func TestFormsByRole(t *testing.T) {
	r, st, acct, _ := manageFixture(t, "pc-1")
	_, gm := addMember(t, st, acct.ID, "gm@example.com", store.GroupManager)
	_, owner := signInPost(t, r.URL, "/")
	for _, c := range []struct {
		who  string
		c    *http.Cookie
		form bool
	}{{"group manager", gm, false}, {"owner", owner, true}} {
		status, body := getPage(t, r.URL, c.c, "/groups")
		if status != http.StatusOK {
			t.Fatalf("%s: %d", c.who, status)
		}
		for _, mark := range []string{`id="group-dialog"`, `<form method="post" action="/groups" novalidate>`, `name="kind"`} {
			if strings.Contains(body, mark) != c.form {
				t.Errorf("%s: %s present %v, want %v", c.who, mark, !c.form, c.form)
			}
		}
	}
	_, admin := addMember(t, st, acct.ID, "admin@example.com", store.Admin)
	for _, c := range []struct {
		who  string
		c    *http.Cookie
		form bool
	}{{"administrator", admin, false}, {"owner", owner, true}} {
		status, body := getPage(t, r.URL, c.c, "/configuration")
		if status != http.StatusOK || strings.Contains(body, `action="/configuration/logo/rect"`) != c.form {
			t.Errorf("%s: configuration %d, logo form present %v", c.who, status, !c.form)
		}
	}
}

// TestPagesShowAuthorsAndPresence: the user, device, role and role
// assignment pages show "Created by" and "Modified by" from the audit log
// ("-" where it does not tell), the user page Online/Offline/Inactive,
// and a group manager's Dashboard shows the counted figures.
func TestPagesShowAuthorsAndPresence(t *testing.T) {
	r, st, acct, en := manageFixture(t, "pc-1")
	ctx := context.Background()
	plain, _ := addMember(t, st, acct.ID, "plain@example.com", store.Member) // signed in: a live session
	idle, err := st.CreateUser(ctx, store.User{Email: "idle@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: idle.ID, Type: store.Member, RCAction: store.RCBrowser}); err != nil {
		t.Fatal(err)
	}
	_, gm := addMember(t, st, acct.ID, "gm@example.com", store.GroupManager)
	_, owner := signInPost(t, r.URL, "/")
	ou, err := st.UserByEmail(ctx, relaytest.OwnerEmail)
	if err != nil {
		t.Fatal(err)
	}
	ownerName := ou.Name
	if ownerName == "" {
		ownerName = ou.Email
	}
	api := r.URL + "/api/v1/accounts/" + acct.ID
	name := "Pat Plain"
	if s := apiCall(t, "PATCH", api+"/users/"+plain.ID, owner.Value, wire.MemberUpdate{Name: &name}, nil); s != http.StatusOK {
		t.Fatalf("patch user: %d", s)
	}
	var role wire.RoleInfo
	if s := apiCall(t, "POST", api+"/roles", owner.Value, wire.RoleInfo{Name: "Helpdesk", Type: "device", Enabled: true,
		Permissions: []string{"view_screen"}}, &role); s != http.StatusCreated {
		t.Fatalf("create role: %d", s)
	}
	var as wire.Assignment
	if s := apiCall(t, "POST", api+"/assignments", owner.Value, wire.Assignment{Name: "Helpdesk everywhere", Active: true, RoleID: role.ID,
		UserGroups: []string{"everyone"}, DeviceGroups: []string{"everything"}}, &as); s != http.StatusCreated {
		t.Fatalf("create assignment: %d", s)
	}

	for _, c := range []struct{ path, want string }{
		{"/users/" + plain.ID, `id="user-created-by">-<`},
		{"/users/" + plain.ID, `id="user-modified-by">` + ownerName + `<`},
		{"/users/" + plain.ID, `<span class="badge ok">Online</span> <span class="muted">for `},
		{"/users/" + idle.ID, `<span class="badge off">Offline</span>`},
		{"/devices/" + en.Device.ID, `id="device-created-by">package test machines<`}, // enrolment has no acting user
		{"/devices/" + en.Device.ID, `id="device-modified-by">-<`},
		{"/roles?view=" + role.ID, `id="role-created-by">` + ownerName + `<`},
		{"/roles?view=" + role.ID, `id="role-modified-by">-<`},
		{"/assignments", `Created by ` + ownerName + ` · Modified by -`},
	} {
		status, body := getPage(t, r.URL, owner, c.path)
		if status != http.StatusOK || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, no %q", c.path, status, c.want)
		}
	}
	off := true
	if s := apiCall(t, "PATCH", api+"/users/"+plain.ID, owner.Value, wire.MemberUpdate{Disabled: &off}, nil); s != http.StatusOK {
		t.Fatalf("disable: %d", s)
	}
	if _, body := getPage(t, r.URL, owner, "/users/"+plain.ID); !strings.Contains(body, `<span class="badge off">Inactive</span>`) {
		t.Errorf("a disabled user is not Inactive")
	}

	// The Dashboard: 1 device (pending 0, offline), 4 users, the stored
	// Administrators group.
	status, body := getPage(t, r.URL, gm, "/")
	for _, want := range []string{`<dt>Total devices</dt><dd><a href="/devices">1</a></dd>`, `<dt>Online devices</dt><dd>0</dd>`,
		`<dt>Total users</dt><dd><a href="/users">4</a></dd>`} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("dashboard: %d, no %q", status, want)
		}
	}
}
