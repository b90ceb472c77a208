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
