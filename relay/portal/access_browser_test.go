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
	"github.com/tandem-rc/tandem/internal/slapdtest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// selectValues selects exactly values in a <select multiple> (or one
// value in a plain select).
func (b *browser) selectValues(sel string, values ...string) {
	b.t.Helper()
	js := `(() => { const want = ` + jsArray(values) + `; const s = document.querySelector(` + jsString(sel) + `);
		for (const o of s.options) o.selected = want.includes(o.value); s.dispatchEvent(new Event("change")); return true })()`
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js)); err != nil {
		b.t.Fatal(err)
	}
}

// check sets a checkbox or radio button.
func (b *browser) check(sel string, on bool) {
	b.t.Helper()
	js := `(() => { const c = document.querySelector(` + jsString(sel) + `); c.checked = ` + map[bool]string{true: "true", false: "false"}[on] +
		`; c.dispatchEvent(new Event("change")); return true })()`
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js)); err != nil {
		b.t.Fatal(err)
	}
}

func jsArray(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = jsString(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// openDialog clicks what opens a dialog and waits until it is open.
func (b *browser) openDialog(sel, dialog string) {
	b.t.Helper()
	b.click(sel)
	b.waitJS(`document.querySelector(` + jsString(dialog) + `)?.open === true`)
}

// rowText is the text of the listing row whose data-KIND attribute is name.
func (b *browser) rowText(kind, name string) string {
	b.t.Helper()
	return b.text(`tr[data-` + kind + `=` + jsString(name) + `]`)
}

// TestPortalRolesAssignmentsSchedule: a role added (after an empty name is
// refused by the field), an assignment of it to a user group on a device
// group, a weekly schedule in New York time (after a bad time zone that
// changes nothing), then Check permissions: allowed inside the window
// (also asked in Tokyo time), denied outside it with the reason; then the
// role edited, copied and disabled — and the check denies with that
// reason.
func TestPortalRolesAssignmentsSchedule(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	st := r.Srv.Store()
	hash, _ := secret.EnrollmentKeyHash(r.Key)
	dev, err := st.Enroll(ctx, store.EnrollParams{KeyHash: hash, PublicKey: "PUB0", Now: time.Now(),
		Inventory: store.Inventory{Hostname: "front-desk", OS: "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.User{Email: "night@example.com", PasswordHash: "x", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Member, RCAction: store.RCBrowser, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ug, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "Night shift", Kind: policy.GroupUser, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	dg, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "Reception PCs", Kind: policy.GroupDevice, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddGroupMember(ctx, ug.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.AddGroupMember(ctx, dg.ID, dev.Device.ID); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, r.URL)
	b.open("/roles")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	predefined := b.count("tbody tr")
	if predefined == 0 {
		t.Fatal("no predefined roles listed")
	}
	b.screenshot("roles-list")

	// Add role: an empty name is refused next to the field.
	b.openDialog("a[href='/roles?add=1']", "#role-dialog")
	if b.count("fieldset[data-role-type=ondemand]:not([hidden])") != 0 {
		t.Fatal("the OnDemand options show for a Device role")
	}
	b.check("input[name=perm][value=view_screen]", true)
	b.submit("#role-dialog button[type=submit]")
	if msg := b.text("#name-error"); !strings.Contains(strings.ToLower(msg), "name") {
		t.Fatalf("empty name: %q", msg)
	}
	if n := b.count("tbody tr"); n != predefined {
		t.Fatalf("a refused role was added: %d rows", n)
	}
	b.fill("#ro-name", "Helpdesk")
	b.fill("#ro-desc", "Looks and copies")
	b.check("input[name=perm][value=clipboard]", true)
	b.selectValues("#ro-client", "browser")
	b.screenshot("role-add")
	b.submit("#role-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "The role “Helpdesk” is added." {
		t.Fatalf("add role: %q", msg)
	}
	if row := b.rowText("role", "Helpdesk"); !strings.Contains(row, "View remote screen") || !strings.Contains(row, "Transfer clipboard") ||
		strings.Contains(row, "Execute command") || !strings.Contains(row, "Enabled") {
		t.Fatalf("the new role's row: %q", row)
	}

	// Role assignment: Helpdesk for Night shift on Reception PCs.
	b.open("/assignments")
	assignments := b.count("tr[data-assignment]")
	b.openDialog("a[href='/assignments?add=1']", "#assignment-dialog")
	b.fill("#as-name", "Helpdesk NY")
	roleID := b.evalString(`[...document.querySelectorAll('#as-role option')].find(o => o.textContent.startsWith('Helpdesk')).value`)
	b.selectValues("#as-role", roleID)
	b.selectValues("#as-users", ug.ID)
	b.selectValues("#as-devices") // none: refused
	b.submit("#assignment-dialog button[type=submit]")
	if msg := b.text("#as-devices-error"); !strings.Contains(msg, "device") {
		t.Fatalf("no device group: %q", msg)
	}
	if b.count("tr[data-assignment]") != assignments {
		t.Fatal("a refused assignment was created")
	}
	b.selectValues("#as-devices", dg.ID)
	b.screenshot("assignment-add")
	b.submit("#assignment-dialog button[type=submit]")
	if row := b.rowText("assignment", "Helpdesk NY"); !strings.Contains(row, "Night shift") || !strings.Contains(row, "Reception PCs") || !strings.Contains(row, "Active") {
		t.Fatalf("the new assignment's row: %q", row)
	}

	// Schedule: Mondays 09:00–17:00 New York time. A bad time zone first.
	weeklyMondays := func() {
		t.Helper()
		b.openDialog("tr[data-assignment='Helpdesk NY'] a[href^='/assignments?schedule=']", "#schedule-dialog")
		b.check("#sc-all-day", false)
		b.do(chromedp.SetValue(chromedp.CSS("#sc-start-date"), "2026-01-05"), chromedp.SetValue(chromedp.CSS("#sc-start-time"), "09:00"),
			chromedp.SetValue(chromedp.CSS("#sc-end-time"), "17:00"))
		b.selectValues("#sc-recurrence", "weekly")
	}
	weeklyMondays()
	if b.count("[data-recur=weekly]:not([hidden])") != 1 || b.count("[data-recur=daily]:not([hidden])") != 0 {
		t.Fatal("the weekly options do not show alone")
	}
	b.check("input[name=weekday][value=monday]", true)
	b.fill("#sc-tz", "Mars/Base")
	b.submit("#schedule-dialog button[type=submit]")
	b.screenshot("assignment-schedule-error")
	if msg := b.text("#sc-tz-error"); !strings.Contains(msg, "Mars/Base") {
		t.Fatalf("bad time zone: %q", msg)
	}
	b.open("/assignments")
	if row := b.rowText("assignment", "Helpdesk NY"); !strings.Contains(row, "None") {
		t.Fatalf("a refused schedule changed the assignment: %q", row)
	}
	weeklyMondays()
	b.check("input[name=weekday][value=monday]", true)
	b.fill("#sc-tz", "America/New_York")
	b.screenshot("assignment-schedule")
	b.submit("#schedule-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "The schedule was set for the following role assignment: Helpdesk NY" {
		t.Fatalf("schedule: %q", msg)
	}
	row := b.rowText("assignment", "Helpdesk NY")
	if !strings.Contains(row, "Monday") || !strings.Contains(row, "America/New_York") || !strings.Contains(row, "due to schedule") {
		t.Fatalf("the scheduled assignment's row: %q", row)
	}
	b.screenshot("assignments-list")

	check := func(date, clock, tz string) (decision string, reasons []string) {
		t.Helper()
		b.open("/assignments")
		b.click("[data-open=check-dialog]")
		b.selectValues("#ck-user", u.ID)
		b.selectValues("#ck-device", dev.Device.ID)
		b.selectValues("#ck-client", "browser")
		b.do(chromedp.SetValue(chromedp.CSS("#ck-date"), date), chromedp.SetValue(chromedp.CSS("#ck-time"), clock))
		b.fill("#ck-tz", tz)
		b.submit("#check-dialog button[type=submit]")
		return b.text("#check-decision"), b.texts("#check-reasons li")
	}
	// Monday 2026-03-02 10:00 in New York: inside.
	if got, why := check("2026-03-02", "10:00", "America/New_York"); got != "Allowed" {
		t.Fatalf("inside the window: %q %q", got, why)
	}
	if at := b.text("#check-valid-at"); at != "Granted permissions valid at 2026-03-02, 10:00 (America/New_York)" {
		t.Fatalf("valid at: %q", at)
	}
	if c := b.texts("#check-contributing li"); !slices.Equal(c, []string{"Helpdesk NY (Helpdesk)"}) {
		t.Fatalf("contributing: %q", c)
	}
	if p := b.texts(".perms li"); !slices.Equal(p, []string{"View remote screen: Yes", "Transfer clipboard: Yes"}) {
		t.Fatalf("permissions: %q", p)
	}
	b.screenshot("check-permissions-allowed")
	// Tuesday 00:30 in Tokyo is Monday 10:30 in New York: inside.
	if got, why := check("2026-03-03", "00:30", "Asia/Tokyo"); got != "Allowed" {
		t.Fatalf("inside the window, asked in Tokyo time: %q %q", got, why)
	}
	// Monday 18:00 in New York: outside, and says why.
	got, why := check("2026-03-02", "18:00", "America/New_York")
	if got != "Not allowed" || !slices.ContainsFunc(why, func(s string) bool { return strings.Contains(s, "Helpdesk NY") && strings.Contains(s, "schedule") }) {
		t.Fatalf("outside the window: %q %q", got, why)
	}
	b.screenshot("check-permissions-denied")

	// Edit the role: add Execute command.
	b.open("/roles")
	b.openDialog("tr[data-role='Helpdesk'] a[href^='/roles?edit=']", "#role-dialog")
	if b.count("#ro-type[disabled]") != 1 {
		t.Fatal("a role's type is editable; the API refuses that")
	}
	b.check("input[name=perm][value=execute_command]", true)
	b.screenshot("role-edit")
	b.submit("#role-dialog button[type=submit]")
	if row := b.rowText("role", "Helpdesk"); !strings.Contains(row, "Execute command") {
		t.Fatalf("edited role: %q", row)
	}
	// Its details list every permission of a Device role.
	b.openDialog("tr[data-role='Helpdesk'] a[href^='/roles?view=']", "#view-dialog")
	if rows := b.texts("#view-dialog tbody tr"); len(rows) != 9 || !slices.Contains(rows, "Execute commandYes") || !slices.Contains(rows, "ChatNo") {
		t.Fatalf("role details: %q", rows)
	}
	b.screenshot("role-details")
	b.open("/roles")
	// Copy it: the Add role dialog, prefilled; a taken name is refused.
	b.openDialog("tr[data-role='Helpdesk'] a[href^='/roles?copy=']", "#role-dialog")
	if v := b.evalString(`document.querySelector('#ro-name').value`); v != "Copy of Helpdesk" {
		t.Fatalf("copy dialog name %q", v)
	}
	b.fill("#ro-name", "Helpdesk")
	b.submit("#role-dialog button[type=submit]")
	if msg := b.text("#name-error"); !strings.Contains(msg, "Helpdesk") {
		t.Fatalf("copy under a taken name: %q", msg)
	}
	b.fill("#ro-name", "Helpdesk 2")
	b.submit("#role-dialog button[type=submit]")
	if row := b.rowText("role", "Helpdesk 2"); !strings.Contains(row, "Execute command") || !strings.Contains(row, "Transfer clipboard") {
		t.Fatalf("copied role: %q", row)
	}
	// Disable it: the check now denies, saying why.
	b.submit("tr[data-role='Helpdesk'] button[value=disable]")
	if row := b.rowText("role", "Helpdesk"); !strings.Contains(row, "Disabled") {
		t.Fatalf("disabled role: %q", row)
	}
	got, why = check("2026-03-02", "10:00", "America/New_York")
	if got != "Not allowed" || !slices.ContainsFunc(why, func(s string) bool { return strings.Contains(s, "disabled") }) {
		t.Fatalf("with the role disabled: %q %q", got, why)
	}
	// Remove the role: the dialog names the assignment it disables.
	b.open("/roles")
	b.click("tr[data-role='Helpdesk'] a[href^='/roles?remove=']")
	if got := b.text("#remove-assignments"); got != "Helpdesk NY" {
		t.Fatalf("remove dialog lists %q", got)
	}
	b.screenshot("role-remove")
	b.submit("#remove-dialog button[value=remove]")
	if msg := b.text(".flash"); !strings.Contains(msg, "1 role assignments are disabled") {
		t.Fatalf("remove: %q", msg)
	}
	if b.count("tr[data-role='Helpdesk']") != 0 {
		t.Fatal("the removed role is listed")
	}
	// Remove role assignments, several at once (spec 4.4.9).
	b.open("/assignments")
	b.check("input[data-select-all=assignments-remove]", true)
	b.openDialog("[data-open=remove-many-dialog]", "#remove-many-dialog")
	b.submit("#remove-many-dialog button[value=remove_many]")
	if msg := b.text(".flash"); msg != fmt.Sprintf("%d role assignments are removed.", assignments+1) {
		t.Fatalf("remove many: %q", msg)
	}
	if n := b.count("tr[data-assignment]"); n != 0 {
		t.Fatalf("%d assignments left", n)
	}
}

func (b *browser) evalString(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// TestPortalLDAP: Security > Authentication against a real slapd — Add
// LDAP (a bad URL refused next to its field, nothing saved), import the
// directory's group (a group it lacks refused next to the name), remove.
func TestPortalLDAP(t *testing.T) {
	const base = "dc=example,dc=org"
	dir := slapdtest.Start(t, slapdtest.Options{Suffix: base, LDIF: slapdtest.ExampleOrg()})
	r, outbox, acct := portalRelay(t)
	b := newBrowser(t, r.URL)
	b.open("/authentication")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	b.openDialog("a[href='/authentication?add=1']", "#ldap-dialog")
	b.fill("#ld-domain", "EXAMPLE")
	b.fill("#ld-url", "ftp://127.0.0.1")
	b.fill("#ld-base_dn", base)
	b.submit("#ldap-dialog button[type=submit]")
	if msg := b.text("#ld-url-error"); msg == "" {
		t.Fatal("a bad URL shows nothing by its field")
	}
	if ms, _ := r.Srv.Store().LDAPMethods(context.Background(), acct.ID); len(ms) != 0 {
		t.Fatal("a refused LDAP method was saved")
	}
	b.screenshot("ldap-add-error")
	b.fill("#ld-url", dir.URL)
	b.check("input[name=start_tls]", true)
	b.do(chromedp.SetValue(chromedp.CSS("#ld-root_cas"), string(dir.CAPEM)))
	b.fill("#ld-bind_dn", "uid=svc,ou=people,"+base)
	b.fill("#ld-bind_password", "svc-Secret-1")
	b.fill("#ld-group_base_dn", "ou=groups,"+base)
	b.submit("#ldap-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "The LDAP authentication method for EXAMPLE is saved." {
		t.Fatalf("add: %q", msg)
	}
	if row := b.rowText("ldap", "EXAMPLE"); !strings.Contains(row, dir.URL) || !strings.Contains(row, "Enabled") {
		t.Fatalf("row: %q", row)
	}
	// Test: the directory's groups.
	b.submit("tr[data-ldap=EXAMPLE] button[value=test]")
	if msg := b.text(".flash"); !strings.Contains(msg, "The test of EXAMPLE passed: 2 groups in the directory") {
		t.Fatalf("test: %q", msg)
	}
	// Edit: a wrong bind password (the others kept) fails the test with
	// the directory's reason; then the right one again.
	b.openDialog("tr[data-ldap=EXAMPLE] a[href^='/authentication?edit=']", "#ldap-dialog")
	if v := b.evalString(`document.querySelector('#ld-base_dn').value`); v != base {
		t.Fatalf("edit dialog base DN %q", v)
	}
	b.fill("#ld-bind_password", "not-the-password")
	b.submit("#ldap-dialog button[type=submit]")
	b.submit("tr[data-ldap=EXAMPLE] button[value=test]")
	if msg := b.text("#ldap-test-error"); !strings.Contains(msg, "EXAMPLE: The test failed") {
		t.Fatalf("test with a wrong password: %q", msg)
	}
	b.screenshot("ldap-test-error")
	b.openDialog("tr[data-ldap=EXAMPLE] a[href^='/authentication?edit=']", "#ldap-dialog")
	b.fill("#ld-bind_password", "svc-Secret-1")
	b.submit("#ldap-dialog button[type=submit]")

	b.click("tr[data-ldap=EXAMPLE] a[href^='/authentication?import=']")
	b.fill("#im-name", "nosuchgroup")
	b.submit("#import-dialog button[type=submit]")
	if msg := b.text("#import-error"); !strings.Contains(msg, "nosuchgroup") {
		t.Fatalf("a missing group: %q", msg)
	}
	b.fill("#im-name", "helpdesk")
	b.submit("#import-dialog button[type=submit]")
	if got := b.texts("[data-ldap-group]"); !slices.Equal(got, []string{"helpdesk"}) {
		t.Fatalf("LDAP groups: %q", got)
	}
	b.screenshot("ldap")
	b.click("tr[data-ldap=EXAMPLE] a[href^='/authentication?remove=']")
	b.submit("#remove-dialog button[value=remove]")
	if b.count("tr[data-ldap]") != 0 {
		t.Fatal("the removed method is listed")
	}
}
