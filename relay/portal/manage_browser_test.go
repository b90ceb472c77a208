package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// apiLogin is POST /api/v1/login's status for email and password.
func apiLogin(t *testing.T, base, email, password string) int {
	t.Helper()
	body, _ := json.Marshal(wire.LoginRequest{Email: email, Password: password})
	resp, err := http.Post(base+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPortalManagePages walks the MANAGE pages (spec 4.1–4.3.5) as an
// owner: create a user group and a device group, attach a user from the
// group's page and a device from the Devices listing, edit a device's
// alias (too long first: the API's message by the field, nothing
// changed), view a user locked by failed logins and unlock them, edit the
// user's groups (a bad name first changes nothing), resend an
// invitation, the applications catalog, remove groups several at once;
// then the locked-out-no-more user, a plain User, reaches none of these
// pages.
func TestPortalManagePages(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	st := r.Srv.Store()
	hash, _ := secret.EnrollmentKeyHash(r.Key)
	enrolled, err := st.Enroll(ctx, store.EnrollParams{KeyHash: hash, PublicKey: "PUB9", Now: time.Now(),
		Inventory: store.Inventory{Hostname: "desk-9", OS: "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	dev := enrolled.Device
	const tinaPass = "Tina-Password-1"
	pw, err := secret.HashPassword(tinaPass)
	if err != nil {
		t.Fatal(err)
	}
	tina, err := st.CreateUser(ctx, store.User{Email: "tina@example.com", Name: "Tina", PasswordHash: pw, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: tina.ID, Type: store.Member, RCAction: store.RCBrowser, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// Locked by failed logins, through the API as a guesser would.
	for range 5 {
		if s := apiLogin(t, r.URL, tina.Email, "Wrong-Password-1"); s == http.StatusOK {
			t.Fatal("a wrong password logged in")
		}
	}
	if s := apiLogin(t, r.URL, tina.Email, tinaPass); s == http.StatusOK {
		t.Fatal("not locked after 5 wrong passwords")
	}

	b := newBrowser(t, r.URL)
	b.open("/groups")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	for _, g := range []struct{ name, kind string }{{"Support", "user"}, {"Helpdesk", "user"}, {"Old team", "user"}, {"Kiosks", "device"}} {
		b.click("[data-open=group-dialog]")
		b.fill("#gr-name", g.name)
		b.do(chromedp.SetValue(chromedp.CSS("#gr-kind"), g.kind))
		b.submit("#group-dialog button[type=submit]")
		if msg := b.text(".flash"); !strings.Contains(msg, g.name) {
			t.Fatalf("create %s: %q", g.name, msg)
		}
	}

	// The user group's page: attach Tina (multi-select dialog).
	b.submit("tbody a[href='/groups/" + groupID(t, st, acct.ID, "Support") + "']")
	if got := b.text(".crumbs"); got != "Groups › Support" {
		t.Fatalf("group page %q", got)
	}
	b.screenshot("group-empty")
	b.click("[data-open=attach-dialog]")
	b.click("#attach-dialog input[type=checkbox][value='" + tina.ID + "']")
	b.screenshot("group-attach")
	b.submit("#attach-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "1 attached." {
		t.Fatalf("attach: %q", msg)
	}
	if got := b.texts("#group-members tbody td a"); !slices.Equal(got, []string{"Tina"}) {
		t.Fatalf("members %q", got)
	}
	b.screenshot("group")
	b.submit("#members-listing")
	if got := b.texts("tbody td:nth-child(3)"); b.path() != "/users?v.groups=Support" || !slices.Equal(got, []string{"tina@example.com"}) {
		t.Fatalf("members in Users: %q at %s", got, b.path())
	}

	// The device group from the Devices listing: select, Attach to group.
	b.open("/devices")
	b.click("input[aria-label='Select desk-9']")
	b.click("[data-open=attach-dialog]")
	b.do(chromedp.SetValue(chromedp.CSS("#attach-group"), groupID(t, st, acct.ID, "Kiosks")))
	b.submit("#attach-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "1 attached to the group." {
		t.Fatalf("attach device: %q", msg)
	}
	if got := b.texts("tbody .tag"); !slices.Equal(got, []string{"Kiosks"}) {
		t.Fatalf("device groups in the listing: %q", got)
	}

	// The device's page: a too-long alias shows the API's message and
	// changes nothing; then a good one.
	b.submit("tbody a[href='/devices/" + dev.ID + "']")
	b.screenshot("device")
	b.click("[data-open=edit-dialog]")
	b.fill("#dv-alias", strings.Repeat("x", 200))
	b.fill("#dv-desc", "by the door")
	b.submit("#edit-dialog button[type=submit]")
	if msg := b.text("#alias-error"); !strings.HasPrefix(msg, "Alias:") {
		t.Fatalf("long alias: %q", msg)
	}
	if d, _ := st.Device(ctx, dev.ID); d.Alias != "" || d.Description != "" {
		t.Fatalf("a refused edit wrote: %+v", d)
	}
	b.screenshot("device-edit-error")
	b.fill("#dv-alias", "Front desk")
	b.submit("#edit-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "The device is saved." {
		t.Fatalf("edit device: %q", msg)
	}
	if a, desc := b.text("#device-alias"), b.text("#device-description"); a != "Front desk" || desc != "by the door" {
		t.Fatalf("device page shows %q, %q", a, desc)
	}
	b.submit("#favorite")
	if got := b.text("#favorite"); got != "Remove from favorites" {
		t.Fatalf("after adding to favorites: %q", got)
	}

	// Tina's page: locked; Unlock lets her in again.
	b.open("/users")
	b.submit("tbody a[href='/users/" + tina.ID + "']")
	if got := b.text("#user-status"); !strings.HasPrefix(got, "Locked") {
		t.Fatalf("status %q", got)
	}
	if got := b.text("#user-groups"); got != "Support" {
		t.Fatalf("groups %q", got)
	}
	b.screenshot("user-locked")
	b.submit("#unlock")
	if msg := b.text(".flash"); !strings.Contains(msg, "unlocked") {
		t.Fatalf("unlock: %q", msg)
	}
	if got := b.text("#user-status"); !strings.HasPrefix(got, "Offline") {
		t.Fatalf("after unlock: %q", got)
	}
	if s := apiLogin(t, r.URL, tina.Email, tinaPass); s != http.StatusOK {
		t.Fatalf("login after unlock: %d", s)
	}
	// (Her login waits for its MFA code: no last login yet; the owner's
	// own page has one.)
	owner, err := st.UserByEmail(ctx, relaytest.OwnerEmail)
	if err != nil {
		t.Fatal(err)
	}
	b.open("/users/" + owner.ID)
	if got := b.text("#user-lastlogin"); got == "Never" || b.count("#unlock, [data-open=remove-dialog]") != 0 {
		t.Fatalf("the owner's own page: last login %q, or offers to unlock or remove", got)
	}
	b.open("/users/" + tina.ID)

	// Edit her groups: a bad name first changes nothing at all.
	b.click("[data-open=edit-dialog]")
	b.click("#edit-dialog input[name=group][value='" + groupID(t, st, acct.ID, "Support") + "']")
	b.click("#edit-dialog input[name=group][value='" + groupID(t, st, acct.ID, "Helpdesk") + "']")
	b.fill("#ed-name", strings.Repeat("n", 200))
	b.submit("#edit-dialog button[type=submit]")
	if msg := b.text("#name-error"); !strings.HasPrefix(msg, "Name:") {
		t.Fatalf("long name: %q", msg)
	}
	b.screenshot("user-edit-error")
	b.open("/users/" + tina.ID)
	if got := b.text("#user-groups"); got != "Support" {
		t.Fatalf("a refused edit changed the groups: %q", got)
	}
	b.click("[data-open=edit-dialog]")
	b.click("#edit-dialog input[name=group][value='" + groupID(t, st, acct.ID, "Support") + "']")
	b.click("#edit-dialog input[name=group][value='" + groupID(t, st, acct.ID, "Helpdesk") + "']")
	b.do(chromedp.SetValue(chromedp.CSS("#ed-type"), "group_manager"))
	b.submit("#edit-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "The user is saved." {
		t.Fatalf("edit user: %q", msg)
	}
	if g, ty := b.text("#user-groups"), b.text("#user-type"); g != "Helpdesk" || ty != "Group manager" {
		t.Fatalf("after edit: %q, %q", g, ty)
	}
	b.screenshot("user")
	// Back to User for the last part.
	b.click("[data-open=edit-dialog]")
	b.do(chromedp.SetValue(chromedp.CSS("#ed-type"), "user"))
	b.submit("#edit-dialog button[type=submit]")

	// The admin rights of roles document 002 are labelled checkboxes;
	// the owner gives her the user creator right, and only that.
	b.click("[data-open=edit-dialog]")
	if got := b.texts("#ed-rights label"); !slices.Equal(got, []string{"API user", "Log administrator", "User administrator", "User creator"}) {
		t.Fatalf("admin rights checkboxes: %q", got)
	}
	b.click("#ed-right-user_creator")
	b.submit("#edit-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "The user is saved." {
		t.Fatalf("give a right: %q", msg)
	}
	if m, err := st.AccountUser(ctx, acct.ID, tina.ID); err != nil || !m.UserCreator || m.UserAdmin || m.API || m.LogAdmin {
		t.Fatalf("after giving user creator: %+v %v", m.Membership, err)
	}
	b.click("[data-open=edit-dialog]")
	if b.count("#ed-right-user_creator:checked") != 1 || b.count("#ed-rights input:checked") != 1 {
		t.Fatal("the edit dialog does not show the right she holds")
	}

	// Pending invitations: resend one.
	b.open("/users")
	b.click("[data-open=invite-dialog]")
	b.fill("#emails", "newbie@example.com")
	b.submit("#invite-dialog button[type=submit]")
	b.submit("button[aria-label='Resend invite to newbie@example.com']")
	if msg := b.text(".flash"); msg != "The invitation is sent again." {
		t.Fatalf("resend: %q", msg)
	}
	waitLink(t, outbox, "newbie@example.com", "/invite", 1)
	b.screenshot("users-invitations")

	// Applications: a path in the executable is refused by the field.
	b.open("/applications?add=1")
	b.fill("#app-name", "Notepad")
	b.fill("#app-exe", `C:\Windows\notepad.exe`)
	b.submit("#app-dialog button[type=submit]")
	if msg := b.text("#executable-error"); !strings.HasPrefix(msg, "Executable:") {
		t.Fatalf("bad executable: %q", msg)
	}
	if b.count("#applications-listing tbody td:nth-child(2)") != 0 {
		t.Fatal("a refused application was added")
	}
	b.fill("#app-exe", "notepad.exe")
	b.fill("#app-path", `%windir%\system32`)
	b.submit("#app-dialog button[type=submit]")
	if got := b.texts("#applications-listing tbody td:nth-child(2)"); !slices.Equal(got, []string{"Notepad"}) {
		t.Fatalf("applications %q", got)
	}
	b.screenshot("applications")
	b.submit("a[aria-label='Edit Notepad']")
	b.click("#app-dialog input[name=enabled]")
	b.submit("#app-dialog button[type=submit]")
	if got := b.text("#applications-listing tbody .badge"); got != "Disabled" {
		t.Fatalf("after disabling: %q", got)
	}

	// Remove two groups at once from Groups.
	b.open("/groups")
	b.click("input[aria-label='Select Old team']")
	b.click("input[aria-label='Select Support']")
	b.click("[data-open=groups-remove-dialog]")
	b.submit("#groups-remove-dialog button[type=submit]")
	if msg := b.text(".flash"); !strings.HasPrefix(msg, "2 group(s) removed") {
		t.Fatalf("remove groups: %q", msg)
	}
	if got := b.texts("#groups-listing tbody td a"); slices.Contains(got, "Old team") || slices.Contains(got, "Support") {
		t.Fatalf("groups after removing: %q", got)
	}

	// Tina, a plain User: none of these pages, whatever the address.
	helpdesk := groupID(t, st, acct.ID, "Helpdesk")
	b.submit("form[action='/logoff'] button")
	b.signIn(outbox, tina.Email, tinaPass)
	for _, p := range []string{"/users/" + tina.ID, "/devices/" + dev.ID, "/groups/" + helpdesk, "/applications"} {
		b.open(p)
		if h := b.text(".card h1"); h != "Not allowed" {
			t.Fatalf("a plain user on %s: %q", p, h)
		}
	}
	if nav := b.texts(".sidebar .nav a"); slices.Contains(nav, "Applications") || slices.Contains(nav, "Groups") {
		t.Fatalf("a plain user's sidebar: %q", nav)
	}
}

// groupID is the id of the account's group named name.
func groupID(t *testing.T, st *store.Store, account, name string) string {
	t.Helper()
	gs, err := st.Groups(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Name == name {
			return g.ID
		}
	}
	t.Fatalf("no group %q", name)
	return ""
}
