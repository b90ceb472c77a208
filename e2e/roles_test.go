package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestRoleWithoutFileTransfer: a technician whose role assignment gives
// only view_screen gets a grant without file_transfer; a guest that sends
// file messages anyway is refused by the Host itself, and nothing reaches
// its disk.
func TestRoleWithoutFileTransfer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fe := newFileEnv(t)
	st := fe.env.srv.Store()
	uid, s := fe.env.roleSession(t, ctx, "viewer@example.com", fe.host.hostname, policy.ViewScreen)
	if got := s.Perms; len(got) != 1 || got[0] != string(policy.ViewScreen) {
		t.Fatalf("session permissions %v, want view_screen only", got)
	}

	src := filepath.Join(fe.local, "x.bin")
	randomFile(t, src, 1000)
	_, err := s.Files().Put(ctx, src, "x.bin", guest.TransferOptions{})
	if wireCode(err) != wire.ErrCodeDenied {
		t.Fatalf("put without file_transfer: %v, want denied", err)
	}
	if _, err := s.Files().List(ctx, ""); wireCode(err) != wire.ErrCodeDenied {
		t.Fatalf("list without file_transfer: %v, want denied", err)
	}
	if ents, _ := os.ReadDir(fe.root); len(ents) != 0 {
		t.Fatalf("the transfer folder has %d entries", len(ents))
	}
	// The host reported its refusals to the relay: they are in the
	// account's audit log, under the technician who tried.
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs, err := st.Audit(ctx, store.AuditFilter{Event: "session.refused", UserID: uid})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refusals in the relay's audit log, want 2", len(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// roleSession logs in as a new member of the account whose only role
// assignment gives perms on every device, and connects to device.
func (e *env) roleSession(t *testing.T, ctx context.Context, email, device string, perms ...policy.Permission) (userID string, s *guest.Session) {
	t.Helper()
	userID, c := e.roleClient(t, ctx, email, perms...)
	s, err := c.Connect(ctx, device, guest.ConnectOptions{Transport: transport.Config{Loopback: true, Logger: e.log}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return userID, s
}

// roleClient logs in as a new member of the account whose only role
// assignment gives perms on every device.
func (e *env) roleClient(t *testing.T, ctx context.Context, email string, perms ...policy.Permission) (string, *guest.Client) {
	t.Helper()
	st := e.srv.Store()
	acct, err := st.AccountByName(ctx, "Acme IT")
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := secret.HashPassword(ownerPassword)
	u, err := st.CreateUser(ctx, store.User{Email: email, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Member}); err != nil {
		t.Fatal(err)
	}
	g, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "group of " + email, Kind: policy.GroupUser, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddGroupMember(ctx, g.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(perms...)
	if err != nil {
		t.Fatal(err)
	}
	role, err := st.CreateRole(ctx, store.RoleRow{AccountID: acct.ID, Role: policy.Role{Name: "role of " + email, Type: policy.RoleDevice,
		Enabled: true, Permissions: set, ClientType: policy.ClientAny}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAssignment(ctx, acct.ID, policy.Assignment{Name: "assignment of " + email, Active: true, RoleID: role.Role.ID,
		UserGroupIDs: []string{g.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything}}); err != nil {
		t.Fatal(err)
	}
	c, err := guest.NewClient(e.url, "")
	if err != nil {
		t.Fatal(err)
	}
	c.Logger = e.log
	if _, err := c.Login(ctx, email, ownerPassword); err != nil {
		t.Fatal(err)
	}
	return u.ID, c
}
