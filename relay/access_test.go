package relay

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/policy"
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
	techID, tech := e.member("tech@example.com", store.Member, "Acme")
	ask := func() (int, []byte) {
		return e.do("POST", "/api/v1/sessions", tech, wire.SessionRequest{Device: e.dev.id})
	}

	// A member with no role assignment: denied, and the denial is audited.
	status, body := ask()
	ae := wantError(t, status, body, http.StatusForbidden, CodeForbidden)
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
	ae = wantError(t, status, body, http.StatusForbidden, CodeForbidden)
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
	ae = wantError(t, status, body, http.StatusForbidden, CodeForbidden)
	if !strings.Contains(ae.Error.Message, "file_transfer") {
		t.Fatalf("denial %q", ae.Error.Message)
	}

	// Confirm access applies to the helpdesk: Hosts can't prompt yet, so the
	// session is refused rather than started without the confirmation.
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
	ae = wantError(t, status, body, http.StatusForbidden, CodeForbidden)
	if !strings.Contains(ae.Error.Message, "confirmation") {
		t.Fatalf("denial %q", ae.Error.Message)
	}
	// The owner (Administrators: full access, no confirmation) is unaffected.
	if sr, _ := e.open(); len(sr.Permissions) != len(policy.AllPermissions) {
		t.Fatalf("owner permissions %v", sr.Permissions)
	}
}
