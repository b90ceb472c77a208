package portal_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// portalRelay starts a relay whose mail lands in the returned outbox,
// with email MFA enforced in the owner's account.
func portalRelay(t *testing.T) (*relaytest.Relay, string, store.Account) {
	outbox := t.TempDir()
	r := relaytest.Start(t, nil, relaytest.Outbox(t, outbox))
	ctx := context.Background()
	acct, err := r.Srv.Store().AccountByName(ctx, relaytest.Account)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Srv.Store().SetAccountMFA(ctx, acct.ID, store.MFAEnforced); err != nil {
		t.Fatal(err)
	}
	return r, outbox, acct
}

// signIn goes through the sign-in page: username, password, emailed code.
func (b *browser) signIn(outbox, email, password string) {
	b.t.Helper()
	b.fill("#username", email)
	b.submit("button[type=submit]")
	b.fill("#password", password)
	b.submit("button[type=submit]")
	b.fill("#code", lastCode(b.t, outbox, email))
	b.submit("button[type=submit]")
}

// TestPortalSignInInviteAndReset walks the signed-out pages as a user
// would: sign in with MFA from the outbox (after a wrong password and a
// wrong code), the session cookie's flags, invite two users (after a bad
// address that sends nothing), accept an invitation through the emailed
// link, a plain user's restricted pages, log off, and reset a password
// through the emailed link.
func TestPortalSignInInviteAndReset(t *testing.T) {
	r, outbox, _ := portalRelay(t)
	b := newBrowser(t, r.URL)

	// Signed out, a bookmarked listing leads to sign-in and back.
	b.open("/users?f.email=owner")
	if p := b.path(); p != "/signin?next=%2Fusers%3Ff.email%3Downer" {
		t.Fatalf("signed out: at %s", p)
	}
	b.screenshot("signin")
	b.fill("#username", relaytest.OwnerEmail)
	b.submit("button[type=submit]")
	if got := b.text(".who"); got != relaytest.OwnerEmail {
		t.Fatalf("password step shows %q", got)
	}
	b.fill("#password", "Wrong-Password-1")
	b.submit("button[type=submit]")
	if msg := b.text("#password-error"); !strings.Contains(msg, "Wrong email or password") {
		t.Fatalf("wrong password: %q", msg)
	}
	if n := len(relaytest.MailTo(t, outbox, relaytest.OwnerEmail)); n != 0 {
		t.Fatalf("%d mails after a wrong password", n)
	}
	b.fill("#password", relaytest.OwnerPassword)
	b.submit("button[type=submit]")
	b.screenshot("signin-mfa")
	code := lastCode(t, outbox, relaytest.OwnerEmail)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	b.fill("#code", wrong)
	b.submit("button[type=submit]")
	if msg := b.text("#code-error"); msg == "" {
		t.Fatal("a wrong code shows no error")
	}
	b.fill("#code", code)
	b.submit("button[type=submit]")
	if p := b.path(); p != "/users?f.email=owner" {
		t.Fatalf("after sign-in: at %s, want the bookmarked listing", p)
	}
	if rows := b.texts("tbody tr td:nth-child(3)"); !slices.Equal(rows, []string{relaytest.OwnerEmail}) {
		t.Fatalf("filtered listing: %q", rows)
	}
	var sess *network.Cookie
	for _, c := range b.cookies() {
		if c.Name == "__Host-tandem" {
			sess = c
		}
	}
	if sess == nil || !sess.HTTPOnly || !sess.Secure || sess.SameSite != network.CookieSameSiteStrict || sess.Path != "/" || sess.Domain != "127.0.0.1" {
		t.Fatalf("session cookie %+v", sess)
	}

	// Invite users: a bad address shows the message by the field and
	// sends nothing; then two at once.
	b.open("/users")
	b.click("[data-open=invite-dialog]")
	b.fill("#emails", "ann@example.com not-an-address")
	b.submit("#invite-dialog button[type=submit]")
	if msg := b.text("#emails-error"); !strings.Contains(msg, "not-an-address") {
		t.Fatalf("bad address: %q", msg)
	}
	if n := len(relaytest.MailTo(t, outbox, "ann@example.com")); n != 0 {
		t.Fatal("an invitation went out with a bad address in the form")
	}
	b.screenshot("users-invite-error")
	b.fill("#emails", "ann@example.com, bob@example.com")
	b.submit("#invite-dialog button[type=submit]")
	if msg := b.text(".flash"); !strings.Contains(msg, "ann@example.com, bob@example.com") {
		t.Fatalf("after inviting: %q", msg)
	}
	b.submit("form[action='/logoff'] button")
	if msg := b.text(".flash"); msg != "You are logged off." {
		t.Fatalf("after log off: %q", msg)
	}
	b.open("/users")
	if !strings.HasPrefix(b.path(), "/signin") {
		t.Fatalf("the session survived log off: at %s", b.path())
	}

	// Accept the invitation through the emailed link.
	link := waitLink(t, outbox, "ann@example.com", "/invite", 0)
	b.do(chromedp.Navigate(link))
	if p := b.path(); p != "/invite" {
		t.Fatalf("the page keeps the token in the address bar: %s", p)
	}
	b.screenshot("invite")
	b.fill("#name", "Ann Example")
	b.fill("#password", "short")
	b.fill("#confirm", "short")
	b.submit("button[type=submit]")
	if msg := b.text("#password-error"); msg == "" {
		t.Fatal("a weak password shows no message")
	}
	// The token survives a refused attempt (it is in the form, not the URL).
	b.fill("#password", "Ann-Password-7")
	b.fill("#confirm", "Ann-Password-7")
	b.submit("button[type=submit]")
	if msg := b.text(".flash"); !strings.Contains(msg, "invitation is accepted") {
		t.Fatalf("after accepting: %q at %s", msg, b.path())
	}
	b.signIn(outbox, "ann@example.com", "Ann-Password-7")
	if p := b.path(); p != "/" {
		t.Fatalf("ann lands on %s", p)
	}
	nav := b.texts(".sidebar .nav a")
	if want := []string{"Dashboard", "My sessions", "My devices", "Logs"}; !slices.Equal(nav, want) {
		t.Fatalf("a plain user's sidebar: %q, want %q", nav, want)
	}
	if b.count(".titlebar .count") != 0 {
		t.Fatal("a plain user sees the account's counts")
	}
	b.screenshot("dashboard-user")
	b.open("/users")
	if h := b.text(".card h1"); h != "Not allowed" {
		t.Fatalf("a plain user on /users: %q", h)
	}
	b.open("/")
	b.submit("form[action='/logoff'] button")

	// Forgot password, then the reset link.
	seen := len(relaytest.MailTo(t, outbox, "ann@example.com"))
	b.fill("#username", "ann@example.com")
	b.submit("button[type=submit]")
	b.submit("a[href^='/forgot']")
	if v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS("#email"))); err != nil || v != "ann@example.com" {
		t.Fatalf("Recover password is not prefilled: %q %v", v, err)
	}
	b.submit("button[type=submit]")
	if msg := b.text(".notice"); !strings.Contains(msg, "reset link") {
		t.Fatalf("after forgot: %q", msg)
	}
	b.do(chromedp.Navigate(waitLink(t, outbox, "ann@example.com", "/reset", seen)))
	b.fill("#password", "Ann-Password-8")
	b.fill("#confirm", "Ann-Password-9")
	b.submit("button[type=submit]")
	if msg := b.text("#confirm-error"); msg != "The two passwords differ." {
		t.Fatalf("mismatch: %q", msg)
	}
	b.screenshot("reset")
	b.fill("#password", "Ann-Password-8")
	b.fill("#confirm", "Ann-Password-8")
	b.submit("button[type=submit]")
	if msg := b.text(".flash"); !strings.Contains(msg, "password is changed") {
		t.Fatalf("after reset: %q", msg)
	}
	b.signIn(outbox, "ann@example.com", "Ann-Password-8")
	if p := b.path(); p != "/" {
		t.Fatalf("sign-in with the new password: at %s", p)
	}
}

// TestPortalUsersListing: filters by a column and by Blanks shown as
// chips and removed one by one, sorting, paging with a page size, and
// Choose columns remembered across pages.
func TestPortalUsersListing(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	st := r.Srv.Store()
	now := time.Now()
	for i := range 32 {
		name := fmt.Sprintf("Tech %02d", i)
		if i%4 == 0 {
			name = "" // Blanks
		}
		u, err := st.CreateUser(ctx, store.User{Email: fmt.Sprintf("tech%02d@example.com", i), Name: name, PasswordHash: "x", CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		typ := store.Member
		if i%8 == 1 {
			typ = store.GroupManager
		}
		if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: typ, OnDemand: true, RCAction: store.RCBrowser, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, r.URL)
	b.open("/users")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if p := b.path(); p != "/users" {
		t.Fatalf("at %s", p)
	}
	if got := b.text(".pager .range"); got != "1–25 of 33" {
		t.Fatalf("first page: %q", got)
	}
	if got := b.texts(".titlebar .count strong"); !slices.Equal(got, []string{"33", "0"}) {
		t.Fatalf("title bar counts %q", got)
	}
	b.screenshot("users")

	// Page size 10, then the next page.
	b.submit(".pager .sizes a[href*='size=10']")
	b.submit(".pager a[rel=next]")
	if got := b.text(".pager .range"); got != "11–20 of 33" || !strings.Contains(b.path(), "page=2") {
		t.Fatalf("page 2: %q at %s", got, b.path())
	}

	// Filter the user type column through its header menu.
	b.click("th details.filter summary[aria-label='Filter User type']")
	b.click("th details[open] input[value=group_manager]")
	b.submit("th details[open] button[type=submit]")
	emails := b.texts("tbody td:nth-child(3)")
	if want := []string{"tech01@example.com", "tech09@example.com", "tech17@example.com", "tech25@example.com"}; !slices.Equal(emails, want) {
		t.Fatalf("group managers: %q", emails)
	}
	// And Blanks on Name at the same time: group managers without a name.
	b.click("th details.filter summary[aria-label='Filter Name']")
	b.click("th details[open] input[name='v.name'][value='']")
	b.submit("th details[open] button[type=submit]")
	if got := b.text(".pager .range"); got != "0 of 0" {
		t.Fatalf("group managers with blank names: %q", got)
	}
	chips := b.texts(".chips .chip span:first-child")
	if want := []string{"Name: (Blanks)", "User type: Group manager"}; !slices.Equal(chips, want) {
		t.Fatalf("chips %q", chips)
	}
	b.screenshot("users-filtered")
	// Remove the user type chip: blank names of every type remain.
	b.submit(".chips a.chip:nth-of-type(2)")
	if got := b.text(".pager .range"); got != "1–9 of 9" { // 8 techs and the owner
		t.Fatalf("blank names: %q", got)
	}
	if names := b.texts("tbody td:nth-child(2)"); slices.ContainsFunc(names, func(s string) bool { return s != "" }) {
		t.Fatalf("a named user among blanks: %q", names)
	}
	// Sort by email, descending on the second click.
	b.submit("th a.sort[href*='sort=email']")
	b.submit("th a.sort[href*='sort=-email']")
	if first := b.texts("tbody td:nth-child(3)")[0]; first != "tech28@example.com" {
		t.Fatalf("descending by email starts with %q", first)
	}
	b.submit("#users-reload")
	if p := b.path(); p != "/users?size=10" {
		t.Fatalf("reload and clear: %s", p)
	}

	// Choose columns: drop Groups, add Created; remembered on the next visit.
	b.click("details.columns summary")
	b.click("details.columns input[value=groups]")
	b.click("details.columns input[value=created]")
	b.submit("details.columns button[type=submit]")
	b.open("/users")
	heads := b.texts("thead th .th > :first-child")
	if want := []string{"Name", "Email", "User type", "Status", "OnDemand Sessions", "Created"}; !slices.Equal(heads, want) {
		t.Fatalf("chosen columns %q", heads)
	}

	// Multi-select remove: two users.
	b.click("input[aria-label='Select tech02@example.com']")
	b.click("input[aria-label='Select tech03@example.com']")
	b.click("[data-open=remove-dialog]")
	b.screenshot("users-remove")
	b.submit("#remove-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "2 user(s) removed." {
		t.Fatalf("remove: %q", msg)
	}
	if got := b.text(".pager .range"); got != "1–25 of 31" {
		t.Fatalf("after removing: %q", got)
	}
	b.open("/")
	b.screenshot("dashboard-owner")
}

// TestPortalDevices: the devices listing filtered by enrollment state,
// pending devices enrolled from it, and revoking with the typed
// confirmation (a typo changes nothing).
func TestPortalDevices(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	_, key, err := r.Srv.Admin().CreatePackage(ctx, relay.PackageSpec{Account: acct.ID, Name: "Front office", Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		k := r.Key
		if i >= 2 {
			k = key
		}
		hash, ok := secret.EnrollmentKeyHash(k)
		if !ok {
			t.Fatal("bad key")
		}
		if _, err := r.Srv.Store().Enroll(ctx, store.EnrollParams{KeyHash: hash, PublicKey: fmt.Sprintf("PUB%d", i),
			Now: time.Now(), Inventory: store.Inventory{Hostname: fmt.Sprintf("desk-%d", i), OS: "linux"}}); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, r.URL)
	b.open("/devices?v.state=pending")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if got := b.texts("tbody td:nth-child(3)"); !slices.Equal(got, []string{"desk-2", "desk-3"}) {
		t.Fatalf("pending devices: %q", got)
	}
	b.screenshot("devices-pending")
	b.click("input[aria-label='Select desk-2']")
	b.submit("button[value=enroll]")
	if msg := b.text(".flash"); msg != "1 device(s) enrolled." {
		t.Fatalf("enroll: %q", msg)
	}
	if got := b.texts("tbody td:nth-child(3)"); !slices.Equal(got, []string{"desk-3"}) {
		t.Fatalf("still pending: %q", got)
	}
	b.open("/devices")
	if got := b.text(".pager .range"); got != "1–4 of 4" {
		t.Fatalf("all devices: %q", got)
	}
	b.click("input[aria-label='Select desk-0']")
	b.click("[data-open=revoke-dialog]")
	b.fill("#revoke-confirm", "revok")
	b.submit("#revoke-dialog button[value=revoke]")
	if msg := b.text("#revoke-error"); msg != "Type revoke to confirm." {
		t.Fatalf("typo: %q", msg)
	}
	d, err := r.Srv.Store().DevicesByHostname(ctx, []string{acct.ID}, "desk-0")
	if err != nil || len(d) != 1 || d[0].State != store.Enrolled {
		t.Fatalf("a typo revoked: %+v %v", d, err)
	}
	b.screenshot("devices-revoke")
	// The selection survives the refusal.
	b.fill("#revoke-confirm", "revoke")
	b.submit("#revoke-dialog button[value=revoke]")
	if msg := b.text(".flash"); msg != "1 device(s) revoked." {
		t.Fatalf("revoke: %q", msg)
	}
	b.open("/devices?v.state=revoked")
	if got := b.texts("tbody td:nth-child(3)"); !slices.Equal(got, []string{"desk-0"}) {
		t.Fatalf("revoked: %q", got)
	}
}

// TestPortalProfile: My profile — a refused name shows the API's message
// by the field and changes nothing; a wrong current password likewise;
// recovery codes shown once, then one of them signs in instead of the
// emailed code.
func TestPortalProfile(t *testing.T) {
	r, outbox, _ := portalRelay(t)
	b := newBrowser(t, r.URL)
	b.open("/profile")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if p := b.path(); p != "/profile" {
		t.Fatalf("at %s", p)
	}
	b.fill("#pf-name", strings.Repeat("x", 300))
	b.submit("form[action='/profile/details'] button[type=submit]")
	if msg := b.text("#name-error"); !strings.Contains(msg, "ame") {
		t.Fatalf("long name: %q", msg)
	}
	b.open("/profile")
	b.fill("#pf-name", "Olivia Owner")
	b.submit("form[action='/profile/details'] button[type=submit]")
	if msg := b.text(".flash"); msg != "Your profile is saved." {
		t.Fatalf("save: %q", msg)
	}
	if got := b.text(".me strong"); got != "Olivia Owner" {
		t.Fatalf("title bar name %q", got)
	}

	b.fill("#current", "Not-My-Password-1")
	b.fill("#password", "Brand-New-Pass-2")
	b.fill("#confirm", "Brand-New-Pass-2")
	b.submit("form[action='/profile/password'] button[type=submit]")
	if msg := b.text("#current-error"); msg == "" {
		t.Fatal("a wrong current password shows nothing")
	}
	if rules := b.count("#rules li.met"); rules != 0 {
		t.Fatalf("%d password rules met on an empty field", rules)
	}
	b.fill("#password", "abcdefgH")
	if met := b.texts("#rules li.met"); !slices.Equal(met, []string{"minimum of 8 characters", "at least one uppercase letter", "at least one lowercase letter"}) {
		t.Fatalf("rules met as you type: %q", met)
	}

	b.submit("form[action='/profile/recovery'] button[type=submit]")
	codes := b.texts(".codes code")
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	b.screenshot("profile-recovery")
	b.open("/profile")
	if b.count(".codes code") != 0 {
		t.Fatal("recovery codes shown twice")
	}
	b.submit("form[action='/logoff'] button")
	b.fill("#username", relaytest.OwnerEmail)
	b.submit("button[type=submit]")
	b.fill("#password", relaytest.OwnerPassword)
	b.submit("button[type=submit]")
	b.fill("#code", codes[3])
	b.submit("button[type=submit]")
	if p := b.path(); p != "/" {
		t.Fatalf("sign-in with a recovery code: at %s", p)
	}
}

// TestPortalDownloads: create a deployment package (a bad date shows the
// API's message and creates nothing), open its install link, revoke it
// with the typed confirmation.
func TestPortalDownloads(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	b := newBrowser(t, r.URL)
	b.open("/downloads")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	before, err := r.Srv.Store().Packages(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.click("[data-open=package-dialog]")
	b.fill("#pkg-name", "Branch office")
	b.fill("#pkg-max", "lots")
	b.submit("#package-dialog button[type=submit]")
	if msg := b.text("#package-error"); !strings.Contains(msg, "Maximum devices") {
		t.Fatalf("bad max: %q", msg)
	}
	b.fill("#pkg-max", "5")
	b.do(chromedp.SetValue(chromedp.CSS("#pkg-to"), "2001-01-01"), chromedp.SetValue(chromedp.CSS("#pkg-from"), "2002-01-01"))
	b.submit("#package-dialog button[type=submit]")
	if msg := b.text("#package-error"); msg == "" {
		t.Fatal("valid to before valid from shows nothing")
	}
	if after, _ := r.Srv.Store().Packages(ctx, acct.ID); len(after) != len(before) {
		t.Fatal("a refused package was created")
	}
	b.do(chromedp.SetValue(chromedp.CSS("#pkg-to"), ""), chromedp.SetValue(chromedp.CSS("#pkg-from"), ""))
	b.click("#package-dialog input[name=pending]")
	b.submit("#package-dialog button[type=submit]")
	link := b.text("#install-link")
	if !strings.HasPrefix(link, r.URL+"/d/") {
		t.Fatalf("install link %q", link)
	}
	b.screenshot("downloads-created")
	rows := b.texts("#packages-listing tbody td:first-child")
	if !slices.Contains(rows, "Branch office") {
		t.Fatalf("packages %q", rows)
	}
	b.open("/downloads")
	if b.count("#install-link") != 0 {
		t.Fatal("the install link is shown twice")
	}
	b.do(chromedp.Navigate(link))
	if title, _ := chromedp.Run(b.ctx, chromedp.Title()); !strings.Contains(title, "Branch office") && !strings.Contains(b.text("body"), "Branch office") {
		t.Fatalf("install page %q", title)
	}
	// The listing filters in the store: pending ones only.
	b.open("/downloads?v.approval=pending")
	if got := b.texts("#packages-listing tbody td:first-child"); !slices.Equal(got, []string{"Branch office"}) {
		t.Fatalf("pending packages %q", got)
	}
	b.submit("a[aria-label='Revoke Branch office']")
	b.waitJS(`document.querySelector('#revoke-package-dialog')?.open === true`)
	b.fill("#revoke-package-confirm", "nope")
	b.submit("#revoke-package-dialog button[value=revoke]")
	if msg := b.text("#revoke-package-error"); msg == "" {
		t.Fatal("a typo shows nothing")
	}
	b.fill("#revoke-package-confirm", "revoke")
	b.submit("#revoke-package-dialog button[value=revoke]")
	if msg := b.text(".flash"); msg != "The package is revoked, with 0 device(s)." {
		t.Fatalf("revoke: %q", msg)
	}
	b.open("/downloads?v.state=revoked")
	if got := b.texts("#packages-listing tbody td:first-child"); !slices.Equal(got, []string{"Branch office"}) {
		t.Fatalf("revoked packages %q", got)
	}
	b.submit("button[aria-label='Remove Branch office']")
	if after, _ := r.Srv.Store().Packages(ctx, acct.ID); len(after) != len(before) {
		t.Fatalf("remove left %d packages, want %d", len(after), len(before))
	}
}

// TestPortalSecurityAndConfiguration: Account security's MFA policy and
// logging switch, and the account details, where a bad time zone shows
// the API's message by the field and changes nothing.
func TestPortalSecurityAndConfiguration(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	b := newBrowser(t, r.URL)
	b.open("/security")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	b.click("input[name=mfa][value=disabled]")
	b.submit("form[action='/security/mfa'] button")
	if got, err := r.Srv.Store().Account(ctx, acct.ID); err != nil || got.MFA != store.MFADisabled {
		t.Fatalf("MFA now %q %v", got.MFA, err)
	}
	b.click("form[action='/security/audit'] input[name=enabled]")
	b.submit("form[action='/security/audit'] button")
	if b.count("form[action='/security/audit'] input[name=enabled]:checked") != 0 {
		t.Fatal("logging still on")
	}
	if got, _ := r.Srv.Store().Account(ctx, acct.ID); got.AuditEnabled {
		t.Fatal("audit logging still on in the store")
	}
	b.screenshot("security")

	b.open("/configuration")
	b.fill("#cf-company", "Acme Corporation")
	b.fill("#cf-tz", "Mars/Olympus_Mons")
	b.submit("form[action='/configuration'] button")
	if msg := b.text("#timezone-error"); !strings.Contains(msg, "Mars/Olympus_Mons") {
		t.Fatalf("bad time zone: %q", msg)
	}
	if got, _ := r.Srv.Store().AccountDetails(ctx, acct.ID); got.Company == "Acme Corporation" {
		t.Fatal("a refused form changed the company")
	}
	b.fill("#cf-tz", "Europe/Bucharest")
	b.submit("form[action='/configuration'] button")
	if msg := b.text(".flash"); msg != "The account details are saved." {
		t.Fatalf("save: %q", msg)
	}
	b.open("/")
	if got := b.texts("#acct-h + dl dd"); len(got) < 2 || got[0] != "Acme Corporation" || got[1] != "Europe/Bucharest" {
		t.Fatalf("dashboard account info %q", got)
	}
	b.screenshot("dashboard-owner")
}

// TestPortalMyDevicesAndLogs: favorites first on My devices; the audit
// log filtered by event; a CSV report (a backwards range refused with the
// API's message) generated and downloaded.
func TestPortalMyDevicesAndLogs(t *testing.T) {
	r, outbox, _ := portalRelay(t)
	ctx := context.Background()
	for i := range 3 {
		hash, _ := secret.EnrollmentKeyHash(r.Key)
		if _, err := r.Srv.Store().Enroll(ctx, store.EnrollParams{KeyHash: hash, PublicKey: fmt.Sprintf("PUB%d", i),
			Now: time.Now(), Inventory: store.Inventory{Hostname: fmt.Sprintf("pc-%d", i), OS: "linux"}}); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, r.URL)
	b.open("/mydevices")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if got := b.texts("tbody td:nth-child(2) strong"); !slices.Equal(got, []string{"pc-0", "pc-1", "pc-2"}) {
		t.Fatalf("my devices %q", got)
	}
	b.submit("button[aria-label='Add pc-2 to favorites']")
	if got := b.texts("tbody td:nth-child(2) strong"); !slices.Equal(got, []string{"pc-2", "pc-0", "pc-1"}) {
		t.Fatalf("favorites first: %q", got)
	}
	b.screenshot("mydevices")

	b.open("/logs?event=package.created")
	events := b.texts("tbody td:nth-child(2)")
	if len(events) == 0 || slices.ContainsFunc(events, func(e string) bool { return e != "package.created" }) {
		t.Fatalf("package events: %q", events)
	}
	today := time.Now().UTC().Format("2006-01-02")
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	b.do(chromedp.SetValue(chromedp.CSS("#rep-from"), today), chromedp.SetValue(chromedp.CSS("#rep-to"), yesterday))
	b.submit("form[action='/logs/reports'] button")
	if msg := b.text("#report-error"); msg == "" {
		t.Fatal("a backwards range shows nothing")
	}
	if b.count("a[download]") != 0 {
		t.Fatal("a refused report was made")
	}
	b.do(chromedp.SetValue(chromedp.CSS("#rep-from"), yesterday), chromedp.SetValue(chromedp.CSS("#rep-to"), today))
	b.submit("form[action='/logs/reports'] button")
	b.screenshot("logs")
	csv, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](
		`fetch(document.querySelector("a[download]").href).then(async r => r.headers.get("content-type") + "\n" + await r.text())`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(csv, "text/csv") || !strings.Contains(csv, "package.created") {
		t.Fatalf("CSV: %.300q", csv)
	}
}

// TestPortalGroupsAndCheckPermissions: create a group (an empty name shows
// the API's message and creates nothing), the roles and assignments
// tables, and the Check permissions dialog's decision for the owner and
// for a user without any assignment.
func TestPortalGroupsAndCheckPermissions(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	hash, _ := secret.EnrollmentKeyHash(r.Key)
	if _, err := r.Srv.Store().Enroll(ctx, store.EnrollParams{KeyHash: hash, PublicKey: "PUB0", Now: time.Now(),
		Inventory: store.Inventory{Hostname: "front-desk", OS: "linux"}}); err != nil {
		t.Fatal(err)
	}
	u, err := r.Srv.Store().CreateUser(ctx, store.User{Email: "plain@example.com", PasswordHash: "x", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Srv.Store().AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Member, RCAction: store.RCBrowser, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.URL)
	b.open("/groups")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	before := b.count("tbody tr")
	b.click("[data-open=group-dialog]")
	b.submit("#group-dialog button[type=submit]")
	if msg := b.text("#group-error"); msg == "" {
		t.Fatal("an empty group name shows nothing")
	}
	if n := b.count("tbody tr"); n != before {
		t.Fatalf("a refused group was created: %d rows, had %d", n, before)
	}
	b.fill("#gr-name", "Reception PCs")
	b.do(chromedp.SetValue(chromedp.CSS("#gr-kind"), "device"))
	b.submit("#group-dialog button[type=submit]")
	if msg := b.text(".flash"); msg != "The group “Reception PCs” is created." {
		t.Fatalf("create: %q", msg)
	}
	if !slices.Contains(b.texts("#groups-listing tbody td a"), "Reception PCs") {
		t.Fatal("the new group is not listed")
	}
	b.screenshot("groups")
	b.open("/roles")
	if b.count("tbody tr") == 0 {
		t.Fatal("no roles listed")
	}
	b.screenshot("roles")

	b.open("/assignments")
	b.click("[data-open=check-dialog]")
	b.submit("#check-dialog button[type=submit]")
	if got := b.text("#check-decision"); got != "Allowed" {
		t.Fatalf("the owner on front-desk: %q", got)
	}
	b.screenshot("check-permissions")
	b.do(chromedp.SetValue(chromedp.CSS("#ck-user"), u.ID))
	b.fill("#ck-tz", "Asia/Tokyo")
	b.submit("#check-dialog button[type=submit]")
	if got := b.text("#check-decision"); got != "Not allowed" {
		t.Fatalf("a user without assignments: %q", got)
	}
	if b.count(".reasons li") == 0 {
		t.Fatal("no reasons for the refusal")
	}
	b.fill("#ck-tz", "Mars/Base")
	b.submit("#check-dialog button[type=submit]")
	if msg := b.text("#check-error"); !strings.Contains(msg, "Mars/Base") {
		t.Fatalf("bad time zone: %q", msg)
	}
}

// TestPortalOnDemandSessions: My sessions — a session key needs an
// OnDemand role assignment (the API's refusal is shown); then a key shown
// as "613 220 463" with its link, emailed (a bad address refused), and
// rejected.
func TestPortalOnDemandSessions(t *testing.T) {
	r, outbox, _ := portalRelay(t)
	b := newBrowser(t, r.URL)
	b.open("/sessions")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	b.submit("form[action='/sessions/create'] button")
	if msg := b.text("#sessions-error"); msg == "" {
		t.Fatal("a key without an OnDemand role assignment shows nothing")
	}
	relaytest.AllowOnDemand(t, r.Srv)
	b.submit("form[action='/sessions/create'] button")
	key := b.text("#new-key")
	if len(key) != 11 || key[3] != ' ' || key[7] != ' ' {
		t.Fatalf("key %q", key)
	}
	digits := strings.ReplaceAll(key, " ", "")
	if link := b.text("#new-link"); link != r.URL+"/s/"+digits {
		t.Fatalf("link %q", link)
	}
	b.screenshot("sessions")
	b.click("tbody details summary")
	b.fill("tbody details input[name=email]", "not-an-address")
	b.submit("tbody details button[type=submit]")
	if msg := b.text("tbody .field-error"); msg == "" {
		t.Fatal("a bad address shows nothing")
	}
	b.click("tbody details summary")
	b.fill("tbody details input[name=email]", "enduser@example.com")
	b.submit("tbody details button[type=submit]")
	if msg := b.text(".flash"); msg != "The link is on its way." {
		t.Fatalf("email: %q", msg)
	}
	if mails := relaytest.MailTo(t, outbox, "enduser@example.com"); len(mails) != 1 || !strings.Contains(mails[0], digits) {
		t.Fatalf("mail to the end user: %q", mails)
	}
	b.submit("tbody button[aria-label^=Reject]")
	if msg := b.text(".flash"); msg != "The session is rejected." {
		t.Fatalf("reject: %q", msg)
	}
	if b.count("tbody td strong") != 0 {
		t.Fatal("the rejected key is still listed")
	}
}
