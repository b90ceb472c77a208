package portal_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
)

// TestPortalGroupsListing: the groups page is the generic listing (spec
// 2.2.1): a value filter and Blanks at once, shown as chips, sorting by
// member count and paging, all answered by the store; a row's Remove.
func TestPortalGroupsListing(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	st := r.Srv.Store()
	now := time.Now()
	var first store.Group
	for i := range 30 {
		kind := policy.GroupUser
		if i%3 == 0 {
			kind = policy.GroupDevice
		}
		desc := ""
		if i%2 == 0 {
			desc = "Described"
		}
		g, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: fmt.Sprintf("Team %02d", i), Description: desc, Kind: kind, Active: true, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		if i == 7 {
			first = g
		}
	}
	owner, err := st.UserByEmail(ctx, relaytest.OwnerEmail)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddGroupMember(ctx, first.ID, owner.ID); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.URL)
	b.open("/groups")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if p := b.path(); p != "/groups" {
		t.Fatalf("at %s", p)
	}
	total := b.text(".pager .range")
	if !strings.HasPrefix(total, "1–25 of ") {
		t.Fatalf("first page: %q", total)
	}
	// Page size 10, then the next page.
	b.submit(".pager .sizes a[href*='size=10']")
	b.submit(".pager a[rel=next]")
	if got := b.text(".pager .range"); !strings.HasPrefix(got, "11–20 of ") || !strings.Contains(b.path(), "page=2") {
		t.Fatalf("page 2: %q at %s", got, b.path())
	}
	// Device groups without a description: the odd device teams and the
	// built-in Everything.
	b.click("th details.filter summary[aria-label='Filter Type']")
	b.click("th details[open] input[value=device]")
	b.submit("th details[open] button[type=submit]")
	b.click("th details.filter summary[aria-label='Filter Description']")
	b.click("th details[open] input[name='v.description'][value='']")
	b.submit("th details[open] button[type=submit]")
	names := b.texts("#groups-listing tbody td:nth-child(2)")
	if want := []string{"Everything", "Team 03", "Team 09", "Team 15", "Team 21", "Team 27"}; !slices.Equal(names, want) {
		t.Fatalf("blank device groups: %q", names)
	}
	chips := b.texts(".chips .chip span:first-child")
	if want := []string{"Type: Device group", "Description: (Blanks)"}; !slices.Equal(chips, want) {
		t.Fatalf("chips %q", chips)
	}
	// Remove the type chip: every blank description remains.
	b.submit(".chips a.chip:nth-of-type(1)")
	if names := b.texts("#groups-listing tbody td:nth-child(5)"); slices.ContainsFunc(names, func(s string) bool { return s != "" }) {
		t.Fatalf("a described group among blanks: %q", names)
	}
	// Sort by members, descending on the second click: Team 07 (the owner)
	// comes right after the built-ins that count everyone.
	b.submit("#groups-reload")
	b.submit("th a.sort[href*='sort=members']")
	b.submit("th a.sort[href*='sort=-members']")
	rows := b.texts("#groups-listing tbody td:nth-child(2)")
	if i := slices.Index(rows, "Team 07"); i < 0 || i > 3 {
		t.Fatalf("descending by members: %q", rows)
	}
	if got := b.texts("#groups-listing tbody td:nth-child(6)")[slices.Index(rows, "Team 07")]; got != "1" {
		t.Fatalf("Team 07 members %q", got)
	}
	b.screenshot("groups-listing")
	// A row's own Remove button.
	b.submit("#groups-listing button[aria-label='Remove Team 07']")
	if msg := b.text(".flash"); msg != "The group is removed." {
		t.Fatalf("remove: %q", msg)
	}
	if slices.Contains(b.texts("#groups-listing tbody td:nth-child(2)"), "Team 07") {
		t.Fatal("Team 07 still listed")
	}
}

// TestPortalRolesListing: the roles page is the generic listing: the
// predefined roles among the custom ones in the store's answer, a value
// filter and Blanks at once as chips, sorting and paging; a row's Enable
// and the details dialog still work.
func TestPortalRolesListing(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	st := r.Srv.Store()
	// 22 custom roles: odd ones disabled and undescribed, every third OnDemand.
	for i := range 22 {
		typ, perms := policy.RoleDevice, policy.FullSet()
		if i%3 == 0 {
			typ, perms = policy.RoleOnDemand, policy.OnDemandPermissions()
		}
		desc := ""
		if i%2 == 0 {
			desc = "Described"
		}
		ro := policy.Role{Name: fmt.Sprintf("Role %02d", i), Description: desc, Type: typ, Enabled: i%2 == 0, Permissions: perms}
		if typ == policy.RoleDevice {
			ro.ClientType = policy.ClientAny
		}
		if _, err := st.CreateRole(ctx, store.RoleRow{AccountID: acct.ID, Role: ro, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, r.URL)
	b.open("/roles")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if got := b.text(".pager .range"); !strings.HasPrefix(got, "1–25 of 26") {
		t.Fatalf("first page: %q", got)
	}
	b.submit(".pager .sizes a[href*='size=10']")
	b.submit(".pager a[rel=next]")
	if got := b.text(".pager .range"); !strings.HasPrefix(got, "11–20 of 26") || !strings.Contains(b.path(), "page=2") {
		t.Fatalf("page 2: %q at %s", got, b.path())
	}
	// OnDemand roles without a description: the odd OnDemand ones (the
	// predefined Full Access is described).
	b.click("th details.filter summary[aria-label='Filter Role type']")
	b.click("th details[open] input[value=ondemand]")
	b.submit("th details[open] button[type=submit]")
	b.click("th details.filter summary[aria-label='Filter Description']")
	b.click("th details[open] input[name='v.description'][value='']")
	b.submit("th details[open] button[type=submit]")
	names := b.texts("#roles-listing tbody td:nth-child(1)")
	if want := []string{"Role 03", "Role 09", "Role 15", "Role 21"}; !slices.Equal(names, want) {
		t.Fatalf("blank OnDemand roles: %q", names)
	}
	chips := b.texts(".chips .chip span:first-child")
	if want := []string{"Role type: OnDemand", "Description: (Blanks)"}; !slices.Equal(chips, want) {
		t.Fatalf("chips %q", chips)
	}
	// Descending by name: the predefined Web Support first, then Role 21.
	b.submit("#roles-reload")
	b.submit("th a.sort[href*='sort=name']")
	b.submit("th a.sort[href*='sort=-name']")
	rows := b.texts("#roles-listing tbody td:nth-child(1)")
	if len(rows) < 2 || rows[0] != "Web Support" || rows[1] != "Role 21" {
		t.Fatalf("descending by name: %q", rows)
	}
	b.screenshot("roles-listing")
	// A row's own Enable, then the details dialog from a row's name.
	b.submit("#roles-listing button[aria-label='Enable Role 21']")
	if msg := b.text(".flash"); msg != "The role “Role 21” is enabled." {
		t.Fatalf("enable: %q", msg)
	}
	b.open("/roles?f.name=21") // the 26th row: the next page by default
	if row := b.rowText("role", "Role 21"); !strings.Contains(row, "Enabled") {
		t.Fatalf("enabled role: %q", row)
	}
	b.open("/roles")
	b.openDialog("tr[data-role='Role 03'] a[href^='/roles?view=']", "#view-dialog")
	if got := b.text("#view-h"); got != "Role 03" {
		t.Fatalf("details of %q", got)
	}
}

// TestPortalApplicationsListing: the applications catalog is the generic
// listing: Blanks with a value filter, sorting and paging from the store;
// Edit opens for an application on another page.
func TestPortalApplicationsListing(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	st := r.Srv.Store()
	// 12 applications: odd ones disabled and without a path.
	var last policy.App
	for i := range 12 {
		app := policy.App{Name: fmt.Sprintf("App %02d", i), Enabled: i%2 == 0, Executable: fmt.Sprintf("x%d.exe", i%3)}
		if i%2 == 0 {
			app.Path = `C:\Tools`
		}
		a, err := st.CreateApp(ctx, acct.ID, app)
		if err != nil {
			t.Fatal(err)
		}
		last = a
	}
	b := newBrowser(t, r.URL)
	b.open("/applications")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	b.submit(".pager .sizes a[href*='size=10']")
	b.submit(".pager a[rel=next]")
	if got := b.texts("#applications-listing tbody td:nth-child(2)"); !slices.Equal(got, []string{"App 10", "App 11"}) {
		t.Fatalf("page 2: %q", got)
	}
	// Disabled ones without a path: the odd ones.
	b.click("th details.filter summary[aria-label='Filter Status']")
	b.click("th details[open] input[value=no]")
	b.submit("th details[open] button[type=submit]")
	b.click("th details.filter summary[aria-label='Filter Path']")
	b.click("th details[open] input[name='v.path'][value='']")
	b.submit("th details[open] button[type=submit]")
	b.submit("th a.sort[href*='sort=executable']")
	names := b.texts("#applications-listing tbody td:nth-child(2)")
	if want := []string{"App 03", "App 09", "App 01", "App 07", "App 05", "App 11"}; !slices.Equal(names, want) {
		t.Fatalf("disabled without a path, by executable: %q", names)
	}
	if chips := b.texts(".chips .chip span:first-child"); !slices.Equal(chips, []string{"Status: Disabled", "Path: (Blanks)"}) {
		t.Fatalf("chips %q", chips)
	}
	b.screenshot("applications-listing")
	// Edit from a link to an application that is not on the first page.
	b.open("/applications?edit=" + last.ID)
	if v := b.evalString(`document.querySelector('#app-name').value`); v != "App 11" {
		t.Fatalf("edit dialog for %q", v)
	}
}
