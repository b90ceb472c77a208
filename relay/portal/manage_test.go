package portal_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/portal"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// manageFixture is a relay with one enrolled device named hostname.
func manageFixture(t *testing.T, hostname string) (*relaytest.Relay, *store.Store, store.Account, store.EnrollResult) {
	t.Helper()
	r := relaytest.Start(t, nil)
	ctx := context.Background()
	st := r.Srv.Store()
	acct, err := st.AccountByName(ctx, relaytest.Account)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := secret.EnrollmentKeyHash(r.Key)
	en, err := st.Enroll(ctx, store.EnrollParams{KeyHash: hash, PublicKey: "PUB1", Now: time.Now(), Inventory: store.Inventory{Hostname: hostname, OS: "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	return r, st, acct, en
}

// addMember adds a user of type typ to the account, signed in: its
// session cookie.
func addMember(t *testing.T, st *store.Store, account, email string, typ store.MemberType) (store.User, *http.Cookie) {
	t.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, store.User{Email: email, PasswordHash: "x", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: account, UserID: u.ID, Type: typ, RCAction: store.RCBrowser, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tok := secret.NewToken()
	if err := st.CreateLoginToken(ctx, store.LoginToken{Hash: secret.Hash(tok), UserID: u.ID, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return u, &http.Cookie{Name: "__Host-tandem", Value: tok}
}

// TestManagePagesDefences: the MANAGE pages carry the CSP and no inline
// script; their forms refuse cross-origin posts and write nothing; an
// unknown id is the API's 404; an unknown form or too many selected rows
// change nothing.
func TestManagePagesDefences(t *testing.T) {
	r, st, acct, en := manageFixture(t, "pc-1")
	ctx := context.Background()
	u, _ := addMember(t, st, acct.ID, "u@example.com", store.Member)
	_, c := signInPost(t, r.URL, "/")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values, hdr map[string]string) (int, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, r.URL+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		req.AddCookie(c)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Content-Security-Policy") != portal.CSP {
			t.Errorf("%s %s: CSP %q", method, path, resp.Header.Get("Content-Security-Policy"))
		}
		return resp.StatusCode, string(b)
	}
	// A group with the user in it.
	g, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "Support", Kind: policy.GroupUser, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddGroupMember(ctx, g.ID, u.ID); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{"/users/" + u.ID, "/devices/" + en.Device.ID, "/groups/" + g.ID, "/applications"} {
		status, body := do("GET", p, nil, nil)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", p, status)
		}
		for _, bad := range []string{"<script>", "style=", " on" + "click=", "<style"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: page contains %q", p, bad)
			}
		}
	}
	for _, p := range []string{"/users/nope", "/devices/nope", "/groups/nope", "/users/" + strings.Repeat("a", 300)} {
		if status, _ := do("GET", p, nil, nil); status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, status)
		}
	}

	state := func() string {
		t.Helper()
		var b strings.Builder
		members, err := st.GroupMembers(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		gs, _ := st.Groups(ctx, acct.ID)
		apps, _ := st.Apps(ctx, acct.ID)
		d, _ := st.Device(ctx, en.Device.ID)
		au, err := st.AccountUser(ctx, acct.ID, u.ID)
		b.WriteString(strings.Join(members, ",") + "|" + d.Alias + "|" + string(d.State) + "|" + au.User.Name + "|" + string(au.Type))
		for _, x := range gs {
			b.WriteString("|" + x.ID)
		}
		for range apps {
			b.WriteString("|app")
		}
		if err != nil {
			b.WriteString("|gone")
		}
		return b.String()
	}
	before := state()
	cross := map[string]string{"Sec-Fetch-Site": "cross-site"}
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/users/" + u.ID, url.Values{"form": {"remove"}}},
		{"/users/" + u.ID, url.Values{"form": {"edit"}, "name": {"evil"}, "type": {"admin"}}},
		{"/users/attach", url.Values{"id": {u.ID}, "group": {g.ID}}},
		{"/devices/" + en.Device.ID, url.Values{"form": {"revoke"}, "confirm": {"revoke"}}},
		{"/devices/" + en.Device.ID, url.Values{"form": {"edit"}, "alias": {"evil"}}},
		{"/devices/attach", url.Values{"id": {en.Device.ID}, "group": {g.ID}}},
		{"/groups/" + g.ID, url.Values{"form": {"detach"}, "id": {u.ID}}},
		{"/groups/remove", url.Values{"id": {g.ID}}},
		{"/applications", url.Values{"form": {"save"}, "name": {"X"}, "executable": {"x.exe"}}},
	} {
		if status, _ := do("POST", f.path, f.form, cross); status != http.StatusForbidden {
			t.Errorf("cross-site POST %s %v: %d", f.path, f.form, status)
		}
	}
	if after := state(); after != before {
		t.Fatalf("refused cross-site posts wrote: %q → %q", before, after)
	}

	// Same site, but an unknown form or more rows than a form takes.
	same := map[string]string{"Sec-Fetch-Site": "same-origin"}
	if status, _ := do("POST", "/users/"+u.ID, url.Values{"form": {"bogus"}}, same); status != http.StatusBadRequest {
		t.Errorf("unknown form: %d", status)
	}
	many := url.Values{"group": {g.ID}}
	for range 101 {
		many.Add("id", u.ID)
	}
	if status, _ := do("POST", "/users/attach", many, same); status != http.StatusSeeOther {
		t.Errorf("101 rows: %d", status)
	}
	many.Set("form", "detach")
	do("POST", "/groups/"+g.ID, many, same)
	// Add to favorites from the listing: the signed-in owner's mark.
	if status, _ := do("POST", "/devices/action", url.Values{"action": {"favorite"}, "id": {en.Device.ID}, "back": {"/devices"}}, same); status != http.StatusSeeOther {
		t.Fatalf("favorite: %d", status)
	}
	ownerUser, _ := st.UserByEmail(ctx, relaytest.OwnerEmail)
	if favs, err := st.Favorites(ctx, ownerUser.ID); err != nil || !favs[en.Device.ID] {
		t.Fatalf("favorites %v %v", favs, err)
	}
	// Revoke from the device's page: a typo sends nothing.
	if status, body := do("POST", "/devices/"+en.Device.ID, url.Values{"form": {"revoke"}, "confirm": {"revok"}}, same); status != http.StatusBadRequest ||
		!strings.Contains(body, "Type revoke to confirm.") {
		t.Errorf("revoke with a typo: %d", status)
	}
	if after := state(); after != before {
		t.Fatalf("refused same-site posts wrote: %q → %q", before, after)
	}
	if status, _ := do("POST", "/devices/"+en.Device.ID, url.Values{"form": {"revoke"}, "confirm": {"revoke"}}, same); status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", status)
	}
	if d, _ := st.Device(ctx, en.Device.ID); d.State != store.Revoked {
		t.Fatalf("after revoke: %q", d.State)
	}
}

// TestManagePagesByRole: what each page offers follows the member's type
// (the API decides; the pages hide): a group manager edits a user but not
// their groups, sees a group without Attach and no Applications; an LDAP
// group's page keeps its name and offers no Attach; a device's page lists
// the whitelisted applications its groups' assignments give.
func TestManagePagesByRole(t *testing.T) {
	r, st, acct, en := manageFixture(t, "kiosk-1")
	ctx := context.Background()
	member := func(email string, typ store.MemberType) (store.User, *http.Cookie) {
		return addMember(t, st, acct.ID, email, typ)
	}
	plain, _ := member("plain@example.com", store.Member)
	_, gm := member("gm@example.com", store.GroupManager)
	_, owner := signInPost(t, r.URL, "/")
	page := func(c *http.Cookie, path string) (int, string) {
		t.Helper()
		return getPage(t, r.URL, c, path)
	}
	api := func(method, path string, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, r.URL+"/api/v1/accounts/"+acct.ID+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+owner.Value)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	support, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "Support", Kind: policy.GroupUser, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	kiosks, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "Kiosks", Kind: policy.GroupDevice, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	ldapGroup, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "CN=Staff", Kind: policy.GroupLDAP, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	api("PUT", "/groups/"+kiosks.ID+"/members/"+en.Device.ID, "")
	api("POST", "/applications", `{"id":"","name":"Till","enabled":true,"executable":"till.exe","path":"C:\\Till"}`)
	apps, err := st.Apps(ctx, acct.ID)
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps %v %v", apps, err)
	}
	api("POST", "/roles", `{"name":"Till only","type":"whitelisted_apps","enabled":true,"app_ids":["`+apps[0].ID+`"]}`)
	roles, err := st.Roles(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	var roleID string
	for _, ro := range roles {
		if ro.Role.Name == "Till only" {
			roleID = ro.Role.ID
		}
	}
	api("POST", "/assignments", `{"name":"Support on kiosks","active":true,"role_id":"`+roleID+`","user_groups":["`+support.ID+`"],"device_groups":["`+kiosks.ID+`"]}`)

	// The device's page: the whitelisted application, its role and
	// assignment.
	if status, body := page(owner, "/devices/"+en.Device.ID); status != 200 || !strings.Contains(body, "till.exe") ||
		!strings.Contains(body, "Till only") || !strings.Contains(body, "Support on kiosks") {
		t.Fatalf("device page: %d, no whitelisted application in %.2000s", status, body)
	}

	// A user of two accounts, an administrator in the other one: here
	// this account's type and groups.
	other, err := st.CreateAccount(ctx, store.Account{Name: "Other", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: other.ID, UserID: plain.ID, Type: store.Admin, RCAction: store.RCBrowser, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, body := page(owner, "/users/"+plain.ID); !strings.Contains(body, `id="user-type">User<`) || !strings.Contains(body, `id="user-groups">–<`) {
		t.Fatalf("a user of two accounts: %.3000s", body)
	}

	// A group manager: edits a plain user (no groups), not the owner; a
	// group without Attach; no Applications.
	status, body := page(gm, "/users/"+plain.ID)
	if status != 200 || !strings.Contains(body, `data-open="edit-dialog"`) || strings.Contains(body, `name="group"`) {
		t.Fatalf("gm on a user: %d %.1500s", status, body)
	}
	ownerUser, _ := st.UserByEmail(ctx, relaytest.OwnerEmail)
	if _, body = page(gm, "/users/"+ownerUser.ID); strings.Contains(body, `data-open="edit-dialog"`) || strings.Contains(body, `data-open="remove-dialog"`) {
		t.Fatal("a group manager is offered to edit or remove the owner")
	}
	if _, body = page(gm, "/groups/"+support.ID); strings.Contains(body, "attach-dialog") || strings.Contains(body, "edit-dialog") {
		t.Fatal("a group manager is offered to attach or edit")
	}
	if status, _ = page(gm, "/applications"); status != http.StatusForbidden {
		t.Fatalf("gm on Applications: %d", status)
	}
	// An LDAP group: the name is the directory's, members come from it.
	status, body = page(owner, "/groups/"+ldapGroup.ID)
	if status != 200 || strings.Contains(body, "attach-dialog") || !strings.Contains(body, `name="name" type="text" value="CN=Staff" readonly`) {
		t.Fatalf("LDAP group page: %d %.1500s", status, body)
	}
}
