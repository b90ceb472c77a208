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
	acct, err := st.AccountByName(ctx, "Acme IT")
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := secret.HashPassword(ownerPassword)
	u, err := st.CreateUser(ctx, store.User{Email: "viewer@example.com", PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Member}); err != nil {
		t.Fatal(err)
	}
	g, _ := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "Viewers", Kind: policy.GroupUser, Active: true})
	if err := st.AddGroupMember(ctx, g.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	view, _ := policy.NewSet(policy.ViewScreen)
	role, err := st.CreateRole(ctx, store.RoleRow{AccountID: acct.ID, Role: policy.Role{Name: "View", Type: policy.RoleDevice,
		Enabled: true, Permissions: view, ClientType: policy.ClientAny}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAssignment(ctx, acct.ID, policy.Assignment{Name: "Viewers view", Active: true, RoleID: role.Role.ID,
		UserGroupIDs: []string{g.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything}}); err != nil {
		t.Fatal(err)
	}

	c, err := guest.NewClient(fe.env.url, "")
	if err != nil {
		t.Fatal(err)
	}
	c.Logger = fe.env.log
	if _, err := c.Login(ctx, "viewer@example.com", ownerPassword); err != nil {
		t.Fatal(err)
	}
	s, err := c.Connect(ctx, fe.host.hostname, guest.ConnectOptions{Transport: transport.Config{Loopback: true, Logger: fe.env.log}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Perms; len(got) != 1 || got[0] != string(policy.ViewScreen) {
		t.Fatalf("session permissions %v, want view_screen only", got)
	}

	src := filepath.Join(fe.local, "x.bin")
	randomFile(t, src, 1000)
	_, err = s.Files().Put(ctx, src, "x.bin", guest.TransferOptions{})
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
		evs, err := st.Audit(ctx, store.AuditFilter{Event: "session.refused", UserID: u.ID})
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
