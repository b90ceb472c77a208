package portal_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
)

// TestPortalAssignmentsListing: the Role assignments page is the generic
// listing (spec 2.2.1, 4.4.6): filters by role and by user group (a name
// with quotes and LIKE wildcards), Blanks (no user group) chosen with the
// keyboard, chips, sorting by role, paging, Choose columns kept for the
// next visit, and two removed at once by multi-select. Roles and groups
// show by name.
func TestPortalAssignmentsListing(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	st := r.Srv.Store()
	now := time.Now()
	const hostile = `O'Brien "100%" _ü`
	group := func(name string, kind policy.GroupKind) string {
		t.Helper()
		g, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: name, Kind: kind, Active: true, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		return g.ID
	}
	night, odd, lab := group("Night shift", policy.GroupUser), group(hostile, policy.GroupUser), group("Lab", policy.GroupDevice)
	helpdesk, err := st.CreateRole(ctx, store.RoleRow{AccountID: acct.ID, Role: policy.Role{Name: "Helpdesk", Type: policy.RoleDevice, Enabled: true,
		Permissions: policy.FullSet(), ClientType: policy.ClientAny}, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	// Duty 00..Duty 27 beside the account's "Administrators: full access":
	// Helpdesk for even ones, Web Support for odd; user groups by i%3:
	// Night shift, the hostile one, none.
	for i := range 28 {
		a := policy.Assignment{Name: fmt.Sprintf("Duty %02d", i), Active: true, RoleID: []string{helpdesk.Role.ID, policy.RoleIDWebSupport}[i%2],
			UserGroupIDs: [][]string{{night}, {odd}, {}}[i%3], DeviceGroupIDs: []string{lab}}
		if _, err := st.CreateAssignment(ctx, acct.ID, a); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, r.URL)
	b.open("/assignments")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if p := b.path(); p != "/assignments" {
		t.Fatalf("at %s", p)
	}
	if got := b.text(".pager .range"); got != "1–25 of 29" {
		t.Fatalf("first page: %q", got)
	}
	rows := func() []string {
		t.Helper()
		return b.evalStrings(`Array.from(document.querySelectorAll('#assignments-listing tbody tr[data-assignment]'), tr => tr.dataset.assignment)`)
	}
	// Names, not ids.
	if row := b.rowText("assignment", "Duty 01"); !strings.Contains(row, hostile) || !strings.Contains(row, "Web Support") || !strings.Contains(row, "Lab") ||
		strings.Contains(row, odd) || strings.Contains(row, lab) {
		t.Fatalf("Duty 01's row: %q", row)
	}

	// Page size 10, then the next page.
	b.submit(".pager .sizes a[href*='size=10']")
	b.submit(".pager a[rel=next]")
	if got := b.text(".pager .range"); got != "11–20 of 29" || !strings.Contains(b.path(), "page=2") {
		t.Fatalf("page 2: %q at %s", got, b.path())
	}
	if got := rows(); !slices.Equal(got, []string{"Duty 09", "Duty 10", "Duty 11", "Duty 12", "Duty 13", "Duty 14", "Duty 15", "Duty 16", "Duty 17", "Duty 18"}) {
		t.Fatalf("page 2 rows %q", got)
	}

	// By role, then by the hostile user group as well.
	b.click("th details.filter summary[aria-label='Filter Role']")
	b.click("th details[open] input[name='v.role'][value='Helpdesk']")
	b.submit("th details[open] button[type=submit]")
	if got := b.text(".pager .range"); got != "1–10 of 14" {
		t.Fatalf("Helpdesk: %q", got)
	}
	b.click("th details.filter summary[aria-label='Filter User groups']")
	b.click("th details[open] input[name='v.user_groups'][value=" + jsString(hostile) + "]")
	b.submit("th details[open] button[type=submit]")
	if got := rows(); !slices.Equal(got, []string{"Duty 04", "Duty 10", "Duty 16", "Duty 22"}) {
		t.Fatalf("Helpdesk for %s: %q", hostile, got)
	}
	if chips := b.texts(".chips .chip span:first-child"); !slices.Equal(chips, []string{"Role: Helpdesk", "User groups: " + hostile}) {
		t.Fatalf("chips %q", chips)
	}
	b.screenshot("assignments-filtered")
	// Remove the role chip: the hostile group's assignments of any role.
	b.submit(".chips a.chip:nth-of-type(1)")
	if got := b.text(".pager .range"); got != "1–9 of 9" {
		t.Fatalf("the hostile group alone: %q", got)
	}

	// Blanks, with the keyboard only: open the filter, tick (Blanks), send.
	b.submit("#assignments-reload")
	b.do(chromedp.Focus(chromedp.CSS("th details.filter summary[aria-label='Filter User groups']")), chromedp.KeyEvent("\r"))
	b.waitJS(`document.querySelector("th details.filter[open] input[name='v.user_groups'][value='']") !== null`)
	b.do(chromedp.Focus(chromedp.CSS("th details[open] input[name='v.user_groups'][value='']")), chromedp.KeyEvent(" "))
	b.waitJS(`document.querySelector("th details[open] input[name='v.user_groups'][value='']").checked`)
	b.do(chromedp.Focus(chromedp.CSS("th details[open] button[type=submit]")))
	b.pressEnter()
	want := []string{"Duty 02", "Duty 05", "Duty 08", "Duty 11", "Duty 14", "Duty 17", "Duty 20", "Duty 23", "Duty 26"}
	if got := rows(); !slices.Equal(got, want) {
		t.Fatalf("no user group: %q", got)
	}
	if chips := b.texts(".chips .chip span:first-child"); !slices.Equal(chips, []string{"User groups: (Blanks)"}) {
		t.Fatalf("chips %q", chips)
	}

	// Sort by role, descending on the second click: Web Support first,
	// Administrator last.
	b.submit("#assignments-reload")
	b.submit("th a.sort[href*='sort=role']")
	if got := rows(); got[0] != "Administrators: full access" {
		t.Fatalf("ascending by role: %q", got)
	}
	b.submit("th a.sort[href*='sort=-role']")
	if got := rows(); got[0] != "Duty 01" || b.texts("#assignments-listing tbody td:nth-child(3)")[0] != "Web Support" {
		t.Fatalf("descending by role: %q", got)
	}
	b.submit(".pager a[rel=next]")
	b.submit(".pager a[rel=next]")
	// Rows 21–29: the last Helpdesk ones by name, then Administrator.
	if got := rows(); !slices.Equal(got, []string{"Duty 12", "Duty 14", "Duty 16", "Duty 18", "Duty 20", "Duty 22", "Duty 24", "Duty 26", "Administrators: full access"}) {
		t.Fatalf("last page by role: %q", got)
	}

	// Choose columns: drop Schedule, add Description; kept for the next visit.
	b.click("details.columns summary")
	b.click("details.columns input[value=schedule]")
	b.click("details.columns input[value=description]")
	b.submit("details.columns button[type=submit]")
	b.open("/assignments")
	heads := b.texts("#assignments-listing thead th .th > :first-child")
	if want := []string{"Name", "Role", "User groups", "Device groups", "Status", "Description"}; !slices.Equal(heads, want) {
		t.Fatalf("chosen columns %q", heads)
	}

	// Multi-select remove: two at once.
	b.click("input[aria-label='Select Duty 02']")
	b.click("input[aria-label='Select Duty 05']")
	b.openDialog("[data-open=remove-many-dialog]", "#remove-many-dialog")
	b.screenshot("assignments-remove")
	b.submit("#remove-many-dialog button[value=remove_many]")
	if msg := b.text(".flash"); msg != "2 role assignments are removed." {
		t.Fatalf("remove: %q", msg)
	}
	if got := b.text(".pager .range"); got != "1–25 of 27" {
		t.Fatalf("after removing: %q", got)
	}
	if got := rows(); slices.Contains(got, "Duty 02") || slices.Contains(got, "Duty 05") || !slices.Contains(got, "Duty 08") {
		t.Fatalf("after removing: %q", got)
	}
	b.screenshot("assignments-listing")
}

// evalStrings evaluates a JavaScript expression giving strings.
func (b *browser) evalStrings(js string) []string {
	b.t.Helper()
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](js))
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

// pressEnter presses Enter on the focused element and waits for the page
// it leads to.
func (b *browser) pressEnter() {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.tandemOldPage = true`)); err != nil {
		b.t.Fatal(err)
	}
	b.do(chromedp.KeyEvent("\r"))
	b.waitJS(`!window.tandemOldPage && document.readyState === 'complete'`)
}
