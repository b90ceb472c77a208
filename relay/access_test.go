package relay

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestSessionsFollowRoleAssignments: sessions are decided by the account's
// role assignments, deny by default, and a grant carries exactly what they
// give.
func TestSessionsFollowRoleAssignments(t *testing.T) {
	e := newSessionEnv(t)
	ctx := context.Background()
	st := e.srv.Store()
	acct := e.dev.resp.AccountID
	techID, tech := e.memberOf("tech@example.com", store.Member, "Acme")
	ask := func() (int, []byte) {
		return e.do("POST", "/api/v1/sessions", tech, wire.SessionRequest{Device: e.dev.id})
	}

	// A member with no role assignment: denied, and the denial is audited.
	status, body := ask()
	ae := wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	if !strings.Contains(ae.Error.Message, "no role assignment") {
		t.Fatalf("denial %q", ae.Error.Message)
	}
	if evs := e.audit(EvSessionDenied); len(evs) != 1 || evs[0].ActorUserID != techID {
		t.Fatalf("denials audited: %+v", evs)
	}

	// A view-only role for the helpdesk group on the office devices.
	users, err := st.CreateGroup(ctx, store.Group{AccountID: acct, Name: "Helpdesk", Kind: policy.GroupUser, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	devs, err := st.CreateGroup(ctx, store.Group{AccountID: acct, Name: "Office", Kind: policy.GroupDevice, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	view, _ := policy.NewSet(policy.ViewScreen)
	role, err := st.CreateRole(ctx, store.RoleRow{AccountID: acct, Role: policy.Role{Name: "Watch", Type: policy.RoleDevice,
		Enabled: true, Permissions: view, ClientType: policy.ClientAny}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAssignment(ctx, acct, policy.Assignment{Name: "Helpdesk watches the office", Active: true,
		RoleID: role.Role.ID, UserGroupIDs: []string{users.ID}, DeviceGroupIDs: []string{devs.ID}}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddGroupMember(ctx, users.ID, techID); err != nil {
		t.Fatal(err)
	}
	// Still denied: the device is not in the office group.
	status, body = ask()
	ae = wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	if !strings.Contains(ae.Error.Message, "device is in none of the device groups") {
		t.Fatalf("denial %q", ae.Error.Message)
	}
	if err := st.AddGroupMember(ctx, devs.ID, e.dev.id); err != nil {
		t.Fatal(err)
	}
	status, body = ask()
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	var sr wire.SessionResponse
	decode(t, body, &sr)
	g := e.agent.expect(wire.SigGrant)
	grant, err := policy.Verify(g.Grant, e.srv.PublicKey(), e.dev.id, e.clock.Now())
	if err != nil || grant.Set() != view || !slices.Equal(sr.Permissions, []string{"view_screen"}) {
		t.Fatalf("grant %+v (%v), response %v: want view_screen only", grant, err, sr.Permissions)
	}
	// An action the role doesn't cover.
	status, body = e.do("POST", "/api/v1/sessions", tech, wire.SessionRequest{Device: e.dev.id, Action: ActionFileTransfer})
	ae = wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	if !strings.Contains(ae.Error.Message, "file_transfer") {
		t.Fatalf("denial %q", ae.Error.Message)
	}

	// Confirm access applies to the helpdesk: the grant tells the Host to
	// ask its local user first.
	confirm, err := st.CreateRole(ctx, store.RoleRow{AccountID: acct, Role: policy.Role{Name: "Ask first",
		Type: policy.RoleConfirmAccess, Enabled: true, Confirm: policy.ConfirmRules{Local: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAssignment(ctx, acct, policy.Assignment{Name: "Helpdesk asks", Active: true,
		RoleID: confirm.Role.ID, UserGroupIDs: []string{users.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything}}); err != nil {
		t.Fatal(err)
	}
	status, body = ask()
	if status != http.StatusCreated {
		t.Fatalf("with local confirmation: %d %s", status, body)
	}
	g = e.agent.expect(wire.SigGrant)
	if grant, err := policy.Verify(g.Grant, e.srv.PublicKey(), e.dev.id, e.clock.Now()); err != nil || !grant.ConfirmLocal {
		t.Fatalf("grant %+v (%v): want ConfirmLocal", grant, err)
	}
	// The owner (Administrators: full access, no confirmation) is unaffected.
	if sr, _ := e.open(); len(sr.Permissions) != len(policy.AllPermissions) {
		t.Fatalf("owner permissions %v", sr.Permissions)
	}
}

// TestCheckPermissions: the API view of the evaluator, with schedules in a
// time zone and the reasons for denials.
func TestCheckPermissions(t *testing.T) {
	e := newSessionEnv(t)
	ctx := context.Background()
	st := e.srv.Store()
	acct := e.dev.resp.AccountID
	techID, tech := e.memberOf("tech@example.com", store.Member, "Acme")
	_, stranger := e.memberOf("other@example.com", store.Owner, "Other Co")
	users, _ := st.CreateGroup(ctx, store.Group{AccountID: acct, Name: "Helpdesk", Kind: policy.GroupUser, Active: true})
	st.AddGroupMember(ctx, users.ID, techID)
	// Web Support on weekdays, 09:00–17:00 Bucharest time.
	if _, err := st.CreateAssignment(ctx, acct, policy.Assignment{Name: "Office hours", Active: true,
		RoleID: policy.RoleIDAdministrator, UserGroupIDs: []string{users.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything},
		Schedule: &policy.Schedule{StartDate: policy.Date{Year: 2026, Month: 1, Day: 1},
			StartTime: policy.TimeOfDay{Hour: 9}, EndTime: policy.TimeOfDay{Hour: 17}, TimeZone: "Europe/Bucharest",
			Recurrence: policy.Recurrence{Kind: policy.RecurDaily, Daily: policy.DailyWeekdays}}}); err != nil {
		t.Fatal(err)
	}
	check := func(tok, query string) (int, wire.CheckResult, []byte) {
		t.Helper()
		status, body := e.do("GET", "/api/v1/accounts/Acme/check?"+query, tok, nil)
		var res wire.CheckResult
		if status == 200 {
			decode(t, body, &res)
		}
		return status, res, body
	}
	base := "user=tech@example.com&device=pc-1&timezone=Europe/Bucharest"
	// Monday 2026-11-23 10:00 in Bucharest: inside the window.
	status, res, body := check(e.tok, base+"&date=2026-11-23&time=10:00")
	if status != 200 || !res.Allowed || len(res.Permissions) != len(policy.AllPermissions) ||
		len(res.Contributing) != 1 || res.Contributing[0].Name != "Office hours" || !res.At.Equal(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("monday: %d %s", status, body)
	}
	// 17:30 the same day, and Saturday: outside, with the reason.
	for _, q := range []string{"&date=2026-11-23&time=17:30", "&date=2026-11-28&time=10:00"} {
		status, res, body = check(e.tok, base+q)
		if status != 200 || res.Allowed || len(res.Permissions) != 0 || !strings.Contains(strings.Join(res.Reasons, "\n"), "outside the schedule") {
			t.Fatalf("%s: %d %s", q, status, body)
		}
	}
	// Explain: the owner's own assignment is listed for a user outside its group.
	_, res, _ = check(e.tok, base+"&date=2026-11-28&time=10:00")
	if !strings.Contains(strings.Join(res.Reasons, "\n"), "the user is in none of the user groups") {
		t.Fatalf("reasons %q", res.Reasons)
	}
	// Only administrators, only their account; bad input is a 400.
	if status, _, _ := check(tech, base); status != http.StatusForbidden {
		t.Fatalf("a member checked permissions: %d", status)
	}
	if status, _, _ := check(stranger, base); status != http.StatusNotFound {
		t.Fatalf("another account's owner: %d", status)
	}
	for _, q := range []string{"device=pc-1", "user=tech@example.com", base + "&date=2026-11-23", base + "&date=23.11.2026&time=10:00",
		"user=tech@example.com&device=pc-1&timezone=Mars/Olympus", "user=tech@example.com&device=pc-1&timezone=../../etc/passwd",
		base + "&client=tablet"} {
		status, _, body := check(e.tok, q)
		if status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", q, status, body)
		}
	}
	for _, q := range []string{"user=nobody@example.com&device=pc-1", "user=tech@example.com&device=no-such-pc"} {
		if status, _, _ := check(e.tok, q); status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", q, status)
		}
	}
}

// TestModelCache: decisions reuse the account's indexed model; this
// relay's own writes take effect at once, another process's writes once the
// model is older than ModelTTL.
func TestModelCache(t *testing.T) {
	e := newSessionEnv(t, func(c *Config) { c.ModelTTL = time.Minute })
	ctx := context.Background()
	st := e.srv.Store()
	acct := e.dev.resp.AccountID
	techID, tech := e.memberOf("tech@example.com", store.Member, "Acme")
	ask := func() int {
		status, _ := e.do("POST", "/api/v1/sessions", tech, wire.SessionRequest{Device: e.dev.id})
		if status == http.StatusCreated {
			e.agent.expect(wire.SigGrant)
		}
		return status
	}
	if st := ask(); st != http.StatusForbidden {
		t.Fatalf("before any assignment: %d", st)
	}
	// Another process gives tech access: not seen while the model is fresh...
	g, _ := st.CreateGroup(ctx, store.Group{AccountID: acct, Name: "Techs", Kind: policy.GroupUser, Active: true})
	st.AddGroupMember(ctx, g.ID, techID)
	if _, err := st.CreateAssignment(ctx, acct, policy.Assignment{Name: "all", Active: true, RoleID: policy.RoleIDAdministrator,
		UserGroupIDs: []string{g.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything}}); err != nil {
		t.Fatal(err)
	}
	if st := ask(); st != http.StatusForbidden {
		t.Fatalf("a fresh cached model was not used: %d", st)
	}
	// ...and seen once it is older than the TTL.
	e.clock.Advance(time.Minute + time.Second)
	if st := ask(); st != http.StatusCreated {
		t.Fatalf("after the TTL: %d", st)
	}
	// This relay's own write (the group turned inactive) counts at once.
	inactive := false
	if status, body := e.do("PATCH", "/api/v1/accounts/Acme/groups/"+g.ID, e.tok, wire.GroupRequest{Active: &inactive}); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if st := ask(); st != http.StatusForbidden {
		t.Fatalf("after the API write: %d", st)
	}
}
