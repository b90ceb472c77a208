package relay

import (
	"context"
	"net/http"
	"testing"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestAccountCountsAPI: the Dashboard's figures come counted, this
// account's only (another account's online Host and devices are not
// counted), OnDemand machines left out, for group managers and up.
func TestAccountCountsAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.srv.Store()
	tok := e.login(ownerEmail, ownerPass)
	acct := e.acme()
	_, key := e.pkg(PackageSpec{Name: "P"})
	up := e.enroll(key, "up")
	e.enroll(key, "down")
	_, pendingKey := e.pkg(PackageSpec{Name: "Review", Pending: true})
	e.enroll(pendingKey, "new-pc")
	e.online(up)
	e.memberOf("other@example.com", store.Admin, "Other")
	_, otherKey := e.pkg(PackageSpec{Account: "Other", Name: "O"})
	e.online(e.enroll(otherKey, "elsewhere"))
	if _, err := st.CreateUser(ctx, store.User{Email: "dir@example.com", Auth: "ldap"}); err != nil {
		t.Fatal(err)
	}
	dirUser, _ := st.UserByEmail(ctx, "dir@example.com")
	if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: dirUser.ID, Type: store.Member}); err != nil {
		t.Fatal(err)
	}
	_, gm := e.member(acct.ID, "gm@example.com", store.GroupManager)
	_, plain := e.member(acct.ID, "plain@example.com", store.Member)
	for _, g := range []store.Group{{Name: "Kiosks", Kind: policy.GroupDevice}, {Name: "Support", Kind: policy.GroupUser},
		{Name: "CN=Staff", Kind: policy.GroupLDAP}} {
		g.AccountID, g.Active = acct.ID, true
		if _, err := st.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	groups, err := st.Groups(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	userGroups := len(groups) - 1 // every stored group but Kiosks (the Administrators group is one)

	want := wire.AccountCounts{Devices: 3, OnlineDevices: 1, PendingDevices: 1, DeviceGroups: 1,
		Users: 4, LDAPUsers: 1, UserGroups: userGroups, LDAPGroups: 1}
	for _, who := range []string{tok, gm} {
		status, body := e.do("GET", "/api/v1/accounts/Acme/counts", who, nil)
		var got wire.AccountCounts
		if decode(t, body, &got); status != http.StatusOK || got != want {
			t.Fatalf("counts: %d %+v, want %+v", status, got, want)
		}
	}
	status, body := e.do("GET", "/api/v1/accounts/Acme/counts", plain, nil)
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
}
