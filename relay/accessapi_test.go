package relay

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/manage"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestAccessAPI drives the access model through the API the way an
// administrator does, and checks that sessions follow each change.
func TestAccessAPI(t *testing.T) {
	e := newSessionEnv(t)
	_, tech := e.memberOf("tech@example.com", store.Member, "Acme")
	base := "/api/v1/accounts/Acme"
	call := func(method, path string, body any, want int, out any) {
		t.Helper()
		status, b := e.do(method, base+path, e.tok, body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
		}
		if out != nil {
			decode(t, b, out)
		}
	}
	session := func() (int, wire.SessionResponse) {
		t.Helper()
		status, b := e.do("POST", "/api/v1/sessions", tech, wire.SessionRequest{Device: "pc-1"})
		var sr wire.SessionResponse
		if status == http.StatusCreated {
			decode(t, b, &sr)
			e.agent.expect(wire.SigGrant)
		}
		return status, sr
	}
	str := func(s string) *string { return &s }

	var helpdesk, office wire.Group
	call("POST", "/groups", wire.GroupRequest{Name: str("Helpdesk"), Kind: "user"}, 201, &helpdesk)
	call("POST", "/groups", wire.GroupRequest{Name: str("Office"), Kind: "device", Description: str("Front office PCs")}, 201, &office)
	call("PUT", "/groups/"+helpdesk.ID+"/members/tech@example.com", nil, 204, nil)
	call("PUT", "/groups/"+office.ID+"/members/pc-1", nil, 204, nil)
	var got wire.Group
	call("GET", "/groups/"+office.ID, nil, 200, &got)
	if !slices.Equal(got.Members, []string{e.dev.id}) || got.Description != "Front office PCs" {
		t.Fatalf("office group %+v", got)
	}
	var groups []wire.Group
	call("GET", "/groups", nil, 200, &groups)
	if len(groups) != 5 || !groups[0].Builtin || groups[0].Name != "Everyone" || groups[1].Name != "Everything" {
		t.Fatalf("groups %+v", groups) // Everyone, Everything, Administrators, Helpdesk, Office
	}

	var role wire.RoleInfo
	call("POST", "/roles", wire.RoleInfo{Name: "View only", Type: "device", Enabled: true, Permissions: []string{"view_screen"}}, 201, &role)
	// Copies: of a predefined role (to start from it) and of a custom one.
	var cp wire.RoleInfo
	call("POST", "/roles/"+policy.RoleIDWebSupport+"/copy", map[string]string{"name": "Browser only"}, 201, &cp)
	if cp.Predefined || cp.ClientType != "browser" || len(cp.Permissions) != len(policy.AllPermissions) || cp.ID == policy.RoleIDWebSupport {
		t.Fatalf("copy of Web Support %+v", cp)
	}
	call("POST", "/roles/"+role.ID+"/copy", map[string]string{"name": "View only"}, 409, nil)
	call("POST", "/roles/"+role.ID+"/copy", map[string]string{"name": "Administrator"}, 409, nil)
	call("POST", "/roles/nope/copy", map[string]string{"name": "X"}, 404, nil)
	call("DELETE", "/roles/"+cp.ID, nil, 200, nil)
	var roles []wire.RoleInfo
	call("GET", "/roles", nil, 200, &roles)
	if len(roles) != 5 || !roles[0].Predefined || roles[4].ID != role.ID || roles[4].ClientType != "any" {
		t.Fatalf("roles %+v", roles)
	}

	if status, _ := session(); status != http.StatusForbidden {
		t.Fatalf("before any assignment: %d", status)
	}
	var asg wire.Assignment
	req := wire.Assignment{Name: "Helpdesk watches", Active: true, RoleID: role.ID,
		UserGroups: []string{helpdesk.ID}, DeviceGroups: []string{office.ID}}
	call("POST", "/assignments", req, 201, &asg)
	status, sr := session()
	if status != http.StatusCreated || !slices.Equal(sr.Permissions, []string{"view_screen"}) {
		t.Fatalf("after the assignment: %d %v", status, sr.Permissions)
	}

	// Upgrade the role: the next session carries the new permissions.
	call("PUT", "/roles/"+role.ID, wire.RoleInfo{Name: "View and chat", Type: "device", Enabled: true,
		Permissions: []string{"view_screen", "chat"}}, 200, nil)
	if _, sr = session(); !slices.Equal(sr.Permissions, []string{"view_screen", "chat"}) {
		t.Fatalf("after the role change: %v", sr.Permissions)
	}

	// A schedule that starts in 2099: the assignment is listed inactive due
	// to its schedule and gives nothing now.
	req.Schedule = &wire.Schedule{StartDate: "2099-01-01", AllDay: true, TimeZone: "Europe/Bucharest",
		Recurrence: wire.Recurrence{Kind: "weekly", Weekdays: []string{"monday", "friday"}}}
	call("PUT", "/assignments/"+asg.ID, req, 200, nil)
	var list []wire.Assignment
	call("GET", "/assignments", nil, 200, &list)
	i := slices.IndexFunc(list, func(a wire.Assignment) bool { return a.ID == asg.ID })
	if i < 0 || list[i].Status != "inactive_due_to_schedule" || list[i].Schedule == nil ||
		!slices.Equal(list[i].Schedule.Recurrence.Weekdays, []string{"monday", "friday"}) {
		t.Fatalf("assignments %+v", list)
	}
	if status, _ := session(); status != http.StatusForbidden {
		t.Fatalf("outside the schedule: %d", status)
	}
	req.Schedule = nil
	call("PUT", "/assignments/"+asg.ID, req, 200, nil)

	// An inactive user group stops its assignments.
	call("PATCH", "/groups/"+helpdesk.ID, wire.GroupRequest{Active: new(bool)}, 200, nil)
	if status, _ := session(); status != http.StatusForbidden {
		t.Fatalf("inactive group: %d", status)
	}
	yes := true
	call("PATCH", "/groups/"+helpdesk.ID, wire.GroupRequest{Active: &yes}, 200, nil)

	// Removing the role disables its assignments and says which.
	var del wire.RoleDeleted
	call("DELETE", "/roles/"+role.ID, nil, 200, &del)
	if !slices.Equal(del.DisabledAssignments, []string{asg.ID}) {
		t.Fatalf("disabled %v", del.DisabledAssignments)
	}
	call("GET", "/assignments", nil, 200, &list)
	if i := slices.IndexFunc(list, func(a wire.Assignment) bool { return a.ID == asg.ID }); list[i].Active || list[i].Status != "inactive" {
		t.Fatalf("assignment after its role went: %+v", list[i])
	}
	if status, _ := session(); status != http.StatusForbidden {
		t.Fatalf("after removing the role: %d", status)
	}

	// Removing a group takes it out of the assignments naming it.
	call("DELETE", "/groups/"+office.ID, nil, 204, nil)
	call("GET", "/assignments", nil, 200, &list)
	if i := slices.IndexFunc(list, func(a wire.Assignment) bool { return a.ID == asg.ID }); len(list[i].DeviceGroups) != 0 {
		t.Fatalf("the removed group is still named: %+v", list[i])
	}
	call("DELETE", "/assignments/"+asg.ID, nil, 204, nil)
	call("DELETE", "/assignments/"+asg.ID, nil, 404, nil)
	call("DELETE", "/groups/"+helpdesk.ID+"/members/tech@example.com", nil, 204, nil)
	call("DELETE", "/groups/"+helpdesk.ID+"/members/tech@example.com", nil, 404, nil)

	for _, ev := range []string{EvGroupCreated, EvGroupMemberAdded, EvRoleCreated, EvRoleUpdated, EvRoleDeleted,
		EvAssignmentCreated, EvAssignmentUpdated, EvAssignmentDeleted, EvGroupUpdated, EvGroupDeleted, EvGroupMemberRemove} {
		if len(e.audit(ev)) == 0 {
			t.Errorf("%s not audited", ev)
		}
	}
}

// TestAccessAPIRefusals: bad input on every write route is a clear 4xx and
// writes nothing; built-ins and predefined roles are read-only.
func TestAccessAPIRefusals(t *testing.T) {
	e := newSessionEnv(t)
	ctx := context.Background()
	st := e.srv.Store()
	acct := e.dev.resp.AccountID
	users, _ := st.CreateGroup(ctx, store.Group{AccountID: acct, Name: "Users", Kind: policy.GroupUser, Active: true})
	devs, _ := st.CreateGroup(ctx, store.Group{AccountID: acct, Name: "Devices", Kind: policy.GroupDevice, Active: true})
	base := "/api/v1/accounts/Acme"
	counts := func() [3]int {
		gs, _ := st.Groups(ctx, acct)
		rs, _ := st.Roles(ctx, acct)
		as, _ := st.Assignments(ctx, acct)
		return [3]int{len(gs), len(rs), len(as)}
	}
	before := counts()
	long := strings.Repeat("x", 200)
	okAsg := func(mod func(*wire.Assignment)) wire.Assignment {
		a := wire.Assignment{Name: "A", Active: true, RoleID: policy.RoleIDAdministrator,
			UserGroups: []string{users.ID}, DeviceGroups: []string{devs.ID}}
		mod(&a)
		return a
	}
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/groups", []byte(`{"kind":"user"}`), 400},
		{"POST", "/groups", []byte(`{"name":"` + long + `","kind":"user"}`), 400},
		{"POST", "/groups", []byte(`{"name":"G","kind":"robots"}`), 400},
		{"POST", "/groups", []byte(`{"name":"G","kind":"ldap_user"}`), 400},
		{"POST", "/groups", []byte(`{"name":"G","kind":"user","active":"yes"}`), 400},
		{"POST", "/groups", []byte(`{"name":"G","kind":"user","extra":1}`), 400},
		{"POST", "/groups", []byte(`{"name":"Users","kind":"user"}`), 409},
		{"POST", "/groups", []byte(`{"name":"everyone","kind":"user"}`), 409},
		{"PATCH", "/groups/" + users.ID, []byte(`{"kind":"device"}`), 400},
		{"PATCH", "/groups/" + users.ID, []byte(`{"name":" padded "}`), 400},
		{"PATCH", "/groups/everyone", []byte(`{"active":false}`), 409},
		{"DELETE", "/groups/everything", nil, 409},
		{"PATCH", "/groups/nope", []byte(`{"active":false}`), 404},
		{"PUT", "/groups/" + users.ID + "/members/nobody@example.com", nil, 404},
		{"PUT", "/groups/" + devs.ID + "/members/no-such-pc", nil, 404},
		{"PUT", "/groups/" + users.ID + "/members/pc-1", nil, 404}, // a device in a user group
		{"POST", "/roles", wire.RoleInfo{Name: "R", Type: "device", Permissions: []string{"fly"}}, 400},
		{"POST", "/roles", wire.RoleInfo{Name: "R", Type: "ondemand", Permissions: []string{"file_transfer"}}, 400},
		{"POST", "/roles", wire.RoleInfo{Name: "R", Type: "device", ClientType: "telnet"}, 400},
		{"POST", "/roles", wire.RoleInfo{Name: "R", Type: "confirm_access"}, 400},
		{"POST", "/roles", wire.RoleInfo{Name: "R", Type: "confirm_access", ConfirmEmailGroups: []string{devs.ID}}, 400},
		{"POST", "/roles", wire.RoleInfo{Name: "R", Type: "confirm_access", ConfirmLocal: true, Permissions: []string{"chat"}}, 400},
		{"POST", "/roles", wire.RoleInfo{Name: "R", Type: "superuser"}, 400},
		{"POST", "/roles", wire.RoleInfo{Name: "Administrator", Type: "device"}, 409},
		{"POST", "/roles", wire.RoleInfo{ID: "mine", Name: "R", Type: "device"}, 400},
		{"PUT", "/roles/" + policy.RoleIDAdministrator, wire.RoleInfo{Name: "Mine", Type: "device"}, 409},
		{"DELETE", "/roles/" + policy.RoleIDWebSupport, nil, 409},
		{"DELETE", "/roles/nope", nil, 404},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) { a.Name = "" }), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) { a.RoleID = "nope" }), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) { a.UserGroups = nil }), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) { a.UserGroups = []string{devs.ID} }), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) { a.DeviceGroups = []string{users.ID} }), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) { a.DeviceGroups = []string{"ghost"} }), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) { a.DeviceGroups = nil }), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) { a.RoleID = policy.RoleIDFullAccessOnDemand }), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) { a.Status = "active" }), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) {
			a.Schedule = &wire.Schedule{StartDate: "2026-01-01", StartTime: "09:00", EndTime: "09:00", Recurrence: wire.Recurrence{Kind: "daily"}}
		}), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) {
			a.Schedule = &wire.Schedule{StartDate: "2026-01-01", AllDay: true, TimeZone: "Nowhere/Atlantis"}
		}), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) {
			a.Schedule = &wire.Schedule{StartDate: "01/01/2026", AllDay: true}
		}), 400},
		{"POST", "/assignments", okAsg(func(a *wire.Assignment) {
			a.Schedule = &wire.Schedule{StartDate: "2026-01-01", AllDay: true, Recurrence: wire.Recurrence{Kind: "weekly", Weekdays: []string{"someday"}}}
		}), 400},
		{"PUT", "/assignments/nope", okAsg(func(*wire.Assignment) {}), 404},
	} {
		status, body := e.do(c.method, base+c.path, e.tok, c.body)
		if status != c.status || !strings.Contains(string(body), `"code"`) {
			t.Errorf("%s %s %v: %d %s, want %d", c.method, c.path, c.body, status, body, c.status)
		}
	}
	if after := counts(); after != before {
		t.Fatalf("refused requests wrote: %v → %v", before, after)
	}
}

// TestAccessAPIAuthorization: only the account's administrators and owner,
// on every access-model route.
func TestAccessAPIAuthorization(t *testing.T) {
	e := newSessionEnv(t)
	_, member := e.memberOf("tech@example.com", store.Member, "Acme")
	_, admin := e.memberOf("admin@example.com", store.Admin, "Acme")
	_, stranger := e.memberOf("other@example.com", store.Owner, "Other Co")
	users := map[string]bool{} // the users routes have their own matrix (TestUserRoutesAuthorization)
	for _, rt := range e.srv.userRoutes() {
		users[rt.method+" "+rt.path] = true
	}
	for _, rt := range e.srv.mg.Routes() { // and the logos (TestLogoAPI)
		if strings.Contains(rt.Path, "/logos") {
			users[rt.Method+" "+rt.Path] = true
		}
	}
	var n int
	for _, rt := range e.srv.routeTable() {
		if !strings.Contains(rt.path, "/accounts/{account}/") || strings.Contains(rt.path, "/audit") || users[rt.method+" "+rt.path] {
			continue
		}
		n++
		path := strings.NewReplacer("{account}", "Acme", "{id}", "x", "{member}", "y").Replace(rt.path)
		for tok, want := range map[string]int{"": 401, member: 403, stranger: 404} {
			if status, body := e.do(rt.method, path, tok, []byte(`{}`)); status != want {
				t.Errorf("%s %s as %q: %d %s, want %d", rt.method, path, tok, status, body, want)
			}
		}
		// Administrators get past authorization (to a 2xx, 400, 404 or 409),
		// except on the owner's routes.
		status, body := e.do(rt.method, path, admin, []byte(`{}`))
		if owner := apiDocs[rt.method+" "+rt.path].auth == "owner"; owner != (status == 403) || status == 401 {
			t.Errorf("%s %s as an administrator: %d %s (owner-only route: %v)", rt.method, path, status, body, owner)
		}
	}
	if n < 15 {
		t.Fatalf("only %d access routes checked", n)
	}
}

// TestApplicationsAndWhitelistRoles: the catalog, whitelist roles built on
// it, and the rules that tie them (disabled apps, removal).
func TestApplicationsAndWhitelistRoles(t *testing.T) {
	e := newSessionEnv(t)
	base := "/api/v1/accounts/Acme"
	call := func(method, path string, body any, want int, out any) {
		t.Helper()
		status, b := e.do(method, base+path, e.tok, body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
		}
		if out != nil {
			decode(t, b, out)
		}
	}
	for _, bad := range []wire.Application{
		{Name: "", Executable: "notepad.exe"}, {Name: "N", Executable: ""}, {Name: "N", Executable: `C:\Windows\notepad.exe`},
		{Name: "N", Executable: "../bin/sh"}, {Name: "N", Executable: "a\x00b"}, {Name: "N", Executable: "x", Path: strings.Repeat("p", 2000)},
	} {
		call("POST", "/applications", bad, 400, nil)
	}
	var np wire.Application
	call("POST", "/applications", wire.Application{Name: "Notepad", Enabled: true, Path: `%windir%\system32`, Executable: "notepad.exe"}, 201, &np)
	call("POST", "/applications", wire.Application{Name: "Notepad", Executable: "other.exe"}, 409, nil)
	call("POST", "/roles", wire.RoleInfo{Name: "W", Type: "whitelisted_apps", Enabled: true, AppIDs: []string{"ghost"}}, 400, nil)
	call("POST", "/roles", wire.RoleInfo{Name: "W", Type: "whitelisted_apps", Enabled: true}, 400, nil)
	call("POST", "/roles", wire.RoleInfo{Name: "D", Type: "device", Enabled: true, AppIDs: []string{np.ID}}, 400, nil)
	var wl wire.RoleInfo
	call("POST", "/roles", wire.RoleInfo{Name: "Only Notepad", Type: "whitelisted_apps", Enabled: true, AppIDs: []string{np.ID, np.ID},
		ExceptLocked: true}, 201, &wl)
	if !slices.Equal(wl.AppIDs, []string{np.ID}) || !wl.ExceptLocked {
		t.Fatalf("role %+v", wl)
	}
	var asg wire.Assignment
	call("POST", "/assignments", wire.Assignment{Name: "Everyone: only Notepad", Active: true, RoleID: wl.ID,
		UserGroups: []string{policy.GroupIDEveryone}, DeviceGroups: []string{policy.GroupIDEverything}}, 201, &asg)
	// The whitelist rides in the signed grant, for the Host to enforce.
	_, g := e.open()
	grant, err := policy.Verify(g.Grant, e.srv.PublicKey(), e.dev.id, e.clock.Now())
	if err != nil || len(grant.Whitelist) != 1 || grant.Whitelist[0].Executable != "notepad.exe" || grant.Whitelist[0].Path != `%windir%\system32` {
		t.Fatalf("grant whitelist %+v (%v)", grant.Whitelist, err)
	}
	// Every application of the role disabled: its assignment is inactive
	// and the owner's grants are unrestricted again.
	call("PUT", "/applications/"+np.ID, wire.Application{Name: "Notepad", Enabled: false, Executable: "notepad.exe"}, 200, nil)
	var list []wire.Assignment
	call("GET", "/assignments", nil, 200, &list)
	if i := slices.IndexFunc(list, func(a wire.Assignment) bool { return a.ID == asg.ID }); list[i].Status != "inactive" {
		t.Fatalf("assignment with every app disabled: %+v", list[i])
	}
	_, g = e.open()
	if grant, err = policy.Verify(g.Grant, e.srv.PublicKey(), e.dev.id, e.clock.Now()); err != nil || grant.Whitelist != nil {
		t.Fatalf("grant whitelist after disabling %+v (%v)", grant.Whitelist, err)
	}
	call("DELETE", "/applications/"+np.ID, nil, 409, nil)
	call("DELETE", "/roles/"+wl.ID, nil, 200, nil)
	call("DELETE", "/applications/"+np.ID, nil, 204, nil)
	var apps []wire.Application
	call("GET", "/applications", nil, 200, &apps)
	if len(apps) != 0 {
		t.Fatalf("apps %+v", apps)
	}
}

// TestDevicesAPI: "My devices" follows role assignments; administrators
// rename, enroll, revoke (typed confirmation) and remove devices.
func TestDevicesAPI(t *testing.T) {
	e := newSessionEnv(t)
	_, tech := e.memberOf("tech@example.com", store.Member, "Acme")
	mine := func(tok string) []wire.Device {
		t.Helper()
		status, body := e.do("GET", "/api/v1/devices", tok, nil)
		var ds []wire.Device
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		decode(t, body, &ds)
		return ds
	}
	if ds := mine(tech); len(ds) != 0 {
		t.Fatalf("a member without assignments sees %d devices", len(ds))
	}
	if ds := mine(e.tok); len(ds) != 1 {
		t.Fatalf("the owner sees %d devices", len(ds))
	}
	base := "/api/v1/accounts/Acme/devices"
	if status, _ := e.do("GET", base, tech, nil); status != http.StatusForbidden {
		t.Fatalf("a member listed the account's devices: %d", status)
	}
	if status, body := e.do("POST", "/api/v1/accounts/Acme/assignments", e.tok, wire.Assignment{Name: "All view", Active: true,
		RoleID: policy.RoleIDAdministrator, UserGroups: []string{policy.GroupIDEveryone}, DeviceGroups: []string{policy.GroupIDEverything}}); status != 201 {
		t.Fatalf("%d %s", status, body)
	}
	if ds := mine(tech); len(ds) != 1 || ds[0].ID != e.dev.id {
		t.Fatalf("with an assignment the member sees %+v", ds)
	}

	// Favorites are the caller's own and come first.
	p2 := e.enroll(e.key, "pc-2")
	if status, _ := e.do("PUT", "/api/v1/me/favorites/pc-2", tech, nil); status != 204 {
		t.Fatalf("favorite: %d", status)
	}
	if ds := mine(tech); len(ds) != 2 || ds[0].ID != p2.id || !ds[0].Favorite || ds[1].Favorite {
		t.Fatalf("tech's devices %+v", ds)
	}
	if ds := mine(e.tok); ds[0].Favorite || ds[1].Favorite {
		t.Fatalf("another user's favorite shows: %+v", ds)
	}
	if status, _ := e.do("PUT", "/api/v1/me/favorites/no-such-pc", tech, nil); status != 404 {
		t.Fatalf("favorite of a missing device: %d", status)
	}
	e.do("DELETE", "/api/v1/me/favorites/pc-2", tech, nil)
	if ds := mine(tech); ds[0].Favorite || ds[1].Favorite {
		t.Fatalf("unfavorited: %+v", ds)
	}

	alias, note := "Reception PC", "Front desk, left"
	status, body := e.do("PATCH", base+"/"+e.dev.id, e.tok, wire.DeviceUpdate{Alias: &alias, Description: &note})
	var d wire.Device
	if decode(t, body, &d); status != 200 || d.Name != alias || d.Description != note {
		t.Fatalf("rename: %d %s", status, body)
	}
	bad := strings.Repeat("x", 300)
	if status, _ := e.do("PATCH", base+"/"+e.dev.id, e.tok, wire.DeviceUpdate{Alias: &bad}); status != 400 {
		t.Fatalf("long alias: %d", status)
	}
	// Revoke: only with the typed word; the Host is told and disconnected.
	for _, c := range []string{`{}`, `{"confirm":"yes"}`, `{"confirm":"REVOKE!"}`} {
		if status, _ := e.do("POST", base+"/"+e.dev.id+"/revoke", e.tok, []byte(c)); status != 400 {
			t.Fatalf("revoke with %s: %d", c, status)
		}
	}
	status, body = e.do("POST", base+"/"+e.dev.id+"/revoke", e.tok, wire.Confirm{Confirm: "revoke"})
	if decode(t, body, &d); status != 200 || d.State != "revoked" {
		t.Fatalf("revoke: %d %s", status, body)
	}
	e.agent.expect(wire.SigRevoked)
	if status, _ := e.do("POST", base+"/"+e.dev.id+"/enroll", e.tok, nil); status != http.StatusConflict {
		t.Fatalf("enrolling a revoked device: %d", status)
	}
	if ds := mine(tech); len(ds) != 1 || ds[0].ID != p2.id {
		t.Fatalf("a revoked device is still among the member's devices: %+v", ds)
	}

	// A pending device: listed for administrators, enrolled by one.
	_, key := e.pkg(PackageSpec{Name: "Review", Pending: true})
	p := e.enroll(key, "new-pc")
	status, body = e.do("POST", base+"/"+p.id+"/enroll", e.tok, nil)
	if decode(t, body, &d); status != 200 || d.State != "enrolled" {
		t.Fatalf("enroll pending: %d %s", status, body)
	}
	status, _ = e.do("DELETE", base+"/"+p.id, e.tok, nil)
	if status != http.StatusNoContent {
		t.Fatalf("remove: %d", status)
	}
	if status, _ := e.do("DELETE", base+"/"+p.id, e.tok, nil); status != http.StatusNotFound {
		t.Fatalf("removing twice: %d", status)
	}
	for _, ev := range []string{EvDeviceUpdated, EvDeviceRevoked, EvDeviceApproved, EvDeviceRemoved} {
		if len(e.audit(ev)) == 0 {
			t.Errorf("%s not audited", ev)
		}
	}
}

// TestPackagesAPI: create (key and link once), new devices join the
// package's device group, disable stops enrollments only, revoke takes the
// devices with it, remove only when revoked or empty.
func TestPackagesAPI(t *testing.T) {
	e := newSessionEnv(t)
	base := "/api/v1/accounts/Acme/packages"
	var grp wire.Group
	name := "Kiosks"
	status, body := e.do("POST", "/api/v1/accounts/Acme/groups", e.tok, wire.GroupRequest{Name: &name, Kind: "device"})
	decode(t, body, &grp)
	for _, bad := range []wire.Package{
		{Name: ""}, {Name: "P", ValidFrom: "tomorrow"}, {Name: "P", ValidFrom: "2026-05-01", ValidTo: "2026-04-01"},
		{Name: "P", MaxDevices: -1}, {Name: "P", DeviceGroup: "ghost"}, {Name: "P", Key: "mine"}, {Name: "P", Devices: 3},
	} {
		if status, body := e.do("POST", base, e.tok, bad); status != 400 {
			t.Errorf("%+v: %d %s", bad, status, body)
		}
	}
	var p wire.Package
	status, body = e.do("POST", base, e.tok, wire.Package{Name: "Kiosk rollout", MaxDevices: 5, LicenseKey: "LIC-1", DeviceGroup: grp.ID})
	if decode(t, body, &p); status != 201 || p.Key == "" || !strings.HasSuffix(p.InstallLink, "/d/"+p.Key) || !p.Active {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, _ := e.do("POST", base, e.tok, wire.Package{Name: "Kiosk rollout"}); status != 409 {
		t.Fatalf("same name: %d", status)
	}
	var list []wire.Package
	status, body = e.do("GET", base, e.tok, nil)
	if decode(t, body, &list); status != 200 || strings.Contains(string(body), p.Key) {
		t.Fatalf("list shows the key: %s", body)
	}

	// A device enrolled with it lands in the Kiosks group.
	k := e.enroll(p.Key, "kiosk-1")
	var g wire.Group
	_, body = e.do("GET", "/api/v1/accounts/Acme/groups/"+grp.ID, e.tok, nil)
	if decode(t, body, &g); len(g.Members) != 1 || g.Members[0] != k.id {
		t.Fatalf("device group after enrollment: %+v", g)
	}
	// Disabled: no new enrollments, the enrolled device stays.
	upd := wire.Package{Name: "Kiosk rollout", Active: false, MaxDevices: 5}
	if status, body := e.do("PUT", base+"/"+p.ID, e.tok, upd); status != 200 {
		t.Fatalf("disable: %d %s", status, body)
	}
	status, body = e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: p.Key, PublicKey: pubB64(newKey(t)), Inventory: &wire.Inventory{Hostname: "kiosk-2"}})
	wantError(t, status, body, http.StatusForbidden, api.CodePackageInactive)
	if status, _ := e.do("PUT", base+"/"+p.ID, e.tok, wire.Package{Name: "Renamed"}); status != 400 {
		t.Fatalf("rename: %d", status)
	}
	// Remove refused while it has devices; revoke needs the word.
	if status, _ := e.do("DELETE", base+"/"+p.ID, e.tok, nil); status != 409 {
		t.Fatalf("remove with devices: %d", status)
	}
	if status, _ := e.do("POST", base+"/"+p.ID+"/revoke", e.tok, wire.Confirm{Confirm: "ok"}); status != 400 {
		t.Fatalf("revoke without the word: %d", status)
	}
	var rv wire.PackageRevoked
	status, body = e.do("POST", base+"/"+p.ID+"/revoke", e.tok, wire.Confirm{Confirm: "revoke"})
	if decode(t, body, &rv); status != 200 || len(rv.RevokedDevices) != 1 || rv.RevokedDevices[0] != k.id {
		t.Fatalf("revoke: %d %s", status, body)
	}
	d, _ := e.srv.Store().Device(context.Background(), k.id)
	if d.State != store.Revoked {
		t.Fatalf("device state %s", d.State)
	}
	// Its link is gone too, and it can't be turned back on.
	if resp, _ := e.get("/d/"+p.Key, uaLinux); resp.StatusCode != http.StatusGone {
		t.Fatalf("install page of a revoked package: %d", resp.StatusCode)
	}
	upd.Active = true
	if status, _ := e.do("PUT", base+"/"+p.ID, e.tok, upd); status != 409 {
		t.Fatalf("re-enabling a revoked package: %d", status)
	}
	if status, _ := e.do("DELETE", base+"/"+p.ID, e.tok, nil); status != 204 {
		t.Fatalf("remove revoked: %d", status)
	}
	for _, ev := range []string{EvPackageCreated, EvPackageUpdated, EvPackageRevoked, EvPackageRemoved} {
		if len(e.audit(ev)) == 0 {
			t.Errorf("%s not audited", ev)
		}
	}
}

// TestAccountConfig: administrators read the account's details, only the
// owner changes them, and bad values change nothing.
func TestAccountConfig(t *testing.T) {
	e := newSessionEnv(t)
	_, admin := e.memberOf("admin@example.com", store.Admin, "Acme")
	path := "/api/v1/accounts/Acme/config"
	var c wire.AccountConfig
	status, body := e.do("GET", path, admin, nil)
	if decode(t, body, &c); status != 200 || c.Owner != ownerEmail || c.TimeZone != "UTC" || c.RCAction != "browser" ||
		len(c.Administrators) != 1 || c.Administrators[0].Name != "admin@example.com" {
		t.Fatalf("config: %d %s", status, body)
	}
	good := wire.AccountConfig{Company: "Acme Ltd", Contact: "it@acme.example, +40 21 000 0000", TimeZone: "Europe/Bucharest", RCAction: "guest"}
	if status, _ := e.do("PUT", path, admin, good); status != http.StatusForbidden {
		t.Fatalf("an administrator changed the configuration: %d", status)
	}
	for _, bad := range []wire.AccountConfig{
		{TimeZone: "Mars/Olympus", RCAction: "guest"}, {TimeZone: "Local", RCAction: "guest"}, {TimeZone: "UTC", RCAction: "telepathy"},
		{TimeZone: "UTC", RCAction: "guest", Company: strings.Repeat("c", 200)}, {TimeZone: "UTC", RCAction: "guest", Owner: "me@example.com"},
		{Name: "Renamed", TimeZone: "UTC", RCAction: "guest"},
	} {
		if status, body := e.do("PUT", path, e.tok, bad); status != 400 {
			t.Errorf("%+v: %d %s", bad, status, body)
		}
	}
	status, body = e.do("PUT", path, e.tok, good)
	if decode(t, body, &c); status != 200 || c.Company != "Acme Ltd" || c.TimeZone != "Europe/Bucharest" || c.RCAction != "guest" {
		t.Fatalf("owner's change: %d %s", status, body)
	}
	if len(e.audit(manage.EvAccountUpdated)) != 1 {
		t.Fatal("not audited")
	}
}
