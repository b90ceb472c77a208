package portal_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/internal/launchlink"
	"github.com/tandem-rc/tandem/internal/npmtools"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// addPasswordMember adds a user of type typ with a known password to the test
// account; it returns the email and the password.
func addPasswordMember(t *testing.T, r *relaytest.Relay, email string, typ store.MemberType) (string, string) {
	t.Helper()
	const pw = "Member password 1!"
	hash, err := secret.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := r.Srv.Store()
	acct, err := st.AccountByName(ctx, relaytest.Account)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.User{Email: email, Name: string(typ) + " member", PasswordHash: hash, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: typ, RCAction: store.RCBrowser, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return email, pw
}

// axeViolation is one failed axe-core rule on a page.
type axeViolation struct {
	ID, Impact, Help string
	Nodes            []struct {
		Target []any
		HTML   string
	}
}

// axeSource is axe-core's script (scripts/npm-tools.sh); the test fails
// under CI and skips elsewhere without it.
func axeSource(t *testing.T) string {
	src, err := os.ReadFile(npmtools.Require(t, "axe-core/axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// axe runs axe-core over the current page and reports every serious or
// critical violation. The script goes in through DevTools' Runtime.evaluate,
// which the page's CSP (script-src 'self') does not govern: the CSP under
// test stays as served.
func (b *browser) axe(src, page string) {
	b.t.Helper()
	b.waitJS(`document.readyState === 'complete'`)
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](src+"\n;true")); err != nil {
		b.t.Fatalf("%s: injecting axe-core: %v", page, err)
	}
	vs, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => ({target: n.target, html: n.html}))})))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: axe.run: %v", page, err)
	}
	b.t.Logf("%s: axe-core: %d violations", page, len(vs))
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			b.t.Logf("%s: axe %s (%s): %s", page, v.ID, v.Impact, v.Help)
			continue
		}
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v %s", n.Target, n.HTML))
		}
		b.t.Errorf("%s: axe %s (%s): %s\n  %s", page, v.ID, v.Impact, v.Help, strings.Join(where, "\n  "))
	}
}

// TestPortalAxe runs axe-core in Chromium over the signed-out pages, each
// sign-in step, and every page the sidebar and title bar link to, for an
// owner (every entry) and for a plain user (their own pages): no serious
// or critical violation. The pages come from the rendered navigation, so
// a page added to it is checked without a change here.
func TestPortalAxe(t *testing.T) {
	src := axeSource(t)
	r, outbox, _ := portalRelay(t)
	b := newBrowser(t, r.URL)
	for _, p := range []string{"/forgot", "/reset", "/invite", "/no-such-page"} {
		b.open(p)
		b.axe(src, p)
	}
	b.open("/")
	b.axe(src, "sign-in: username")
	b.fill("#username", relaytest.OwnerEmail)
	b.submit("button[type=submit]")
	b.axe(src, "sign-in: password")
	b.fill("#password", "wrong password")
	b.submit("button[type=submit]")
	b.axe(src, "sign-in: wrong password")
	b.fill("#password", relaytest.OwnerPassword)
	b.submit("button[type=submit]")
	b.axe(src, "sign-in: code")
	b.fill("#code", lastCode(t, outbox, relaytest.OwnerEmail))
	b.submit("button[type=submit]")
	// Pages with rows and their actions: a device, OnDemand keys (one
	// waiting in the queue).
	hash, _ := secret.EnrollmentKeyHash(r.Key)
	if _, err := r.Srv.Store().Enroll(context.Background(), store.EnrollParams{KeyHash: hash, PublicKey: "PUB-AXE",
		Now: time.Now(), Inventory: store.Inventory{Hostname: "pc-axe", OS: "linux"}}); err != nil {
		t.Fatal(err)
	}
	relaytest.AllowOnDemand(t, r.Srv)
	b.open("/sessions")
	b.submit("form[action='/sessions/create'] button")
	b.axe(src, "owner: a new session key")
	joinQueue(t, r.URL, strings.ReplaceAll(b.text("#new-key"), " ", ""), "pc-waiting")
	b.submit("form[action='/sessions/create'] button")
	pages := b.navPages()
	if len(pages) < 10 {
		t.Fatalf("the owner's navigation links to %v", pages)
	}
	for _, p := range pages {
		b.open(p)
		b.axe(src, "owner "+p)
	}
	// A plain user's pages (another layout: fewer entries, no counts).
	email, pw := addPasswordMember(t, r, "plain@example.com", store.Member)
	b.submit("form[action='/logoff'] button")
	b.signIn(outbox, email, pw)
	for _, p := range b.navPages() {
		b.open(p)
		b.axe(src, "user "+p)
	}
}

// navPages lists the local pages the sidebar and the title bar link to.
func (b *browser) navPages() []string {
	b.t.Helper()
	ps, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`[...new Set(Array.from(document.querySelectorAll('nav a[href^="/"], header a[href^="/"]'), a => a.getAttribute('href')))]`))
	if err != nil {
		b.t.Fatal(err)
	}
	return ps
}

// TestPortalDashboardActivity: the Dashboard's activity chart for an
// administrator, drawn from the API (the owner's login today, a member's
// login eight days ago), inline SVG with a text alternative, and "View
// more logs" opening the log from last week's first day; a plain user's
// Dashboard has no chart.
func TestPortalDashboardActivity(t *testing.T) {
	r, outbox, _ := portalRelay(t)
	email, pw := addPasswordMember(t, r, "plain@example.com", store.Member)
	u, err := r.Srv.Store().UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Srv.Store().AddAudit(context.Background(), store.AuditEvent{At: time.Now().AddDate(0, 0, -8),
		ActorUserID: u.ID, Event: "user.login"}, true); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.URL)
	b.open("/")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if got := b.text("#chart-users figcaption"); got != "Active users 1 this week, 1 last week" {
		t.Fatalf("active users: %q", got)
	}
	if got := b.text("#chart-sessions figcaption"); got != "Remote sessions 0 this week, 0 last week" {
		t.Fatalf("sessions: %q", got)
	}
	if n := b.count("#chart-users svg rect.bar"); n != 14 {
		t.Fatalf("%d bars, want 14", n)
	}
	label, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('#chart-users svg').getAttribute('aria-label')`))
	if err != nil || label != "Active users: 1 this week, 1 last week" {
		t.Fatalf("the chart's text alternative %q %v", label, err)
	}
	// The two nonzero bars: last week's sixth day and today.
	tall, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('#chart-users rect.bar'), (e, i) => e.getAttribute('height') > 0 ? i + e.getAttribute('class') : null).filter(x => x)`))
	if err != nil || len(tall) != 2 || tall[0] != "10bar last" || tall[1] != "13bar this" {
		t.Fatalf("nonzero bars %q %v", tall, err)
	}
	if n := b.count("script"); n > 1 {
		t.Fatalf("%d scripts on the Dashboard", n)
	}
	b.screenshot("dashboard-activity")
	b.submit("a[href^='/logs?from=']")
	if p := b.path(); !strings.HasPrefix(p, "/logs?from="+time.Now().UTC().AddDate(0, 0, -13).Format(time.DateOnly)) {
		t.Fatalf("View more logs went to %s", p)
	}
	b.open("/")
	b.submit("form[action='/logoff'] button")
	b.signIn(outbox, email, pw)
	if n := b.count(".activity"); n != 0 {
		t.Fatal("a plain user's Dashboard shows the account's activity")
	}
}

// TestPortalColumnsPerUser: Choose columns is kept by the relay for the
// user, so it follows them to a browser that never saw the choice (all
// cookies cleared, signed in again).
func TestPortalColumnsPerUser(t *testing.T) {
	r, outbox, _ := portalRelay(t)
	b := newBrowser(t, r.URL)
	b.open("/users")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	b.click("details.columns summary")
	b.click("details.columns input[value=groups]")
	b.click("details.columns input[value=created]")
	b.submit("details.columns button[type=submit]")
	want := []string{"Name", "Email", "User type", "Status", "OnDemand Sessions", "Created"}
	if heads := b.texts("thead th .th > :first-child"); !slices.Equal(heads, want) {
		t.Fatalf("chosen columns %q", heads)
	}
	if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	b.open("/users")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if heads := b.texts("thead th .th > :first-child"); !slices.Equal(heads, want) {
		t.Fatalf("columns in a fresh browser %q, want %q", heads, want)
	}
}

// transfer counts what the page's requests brought over the network
// (Network.loadingFinished's encodedDataLength: headers and body as sent).
type transfer struct {
	mu       sync.Mutex
	bytes    float64
	started  map[network.RequestID]string
	finished map[network.RequestID]bool
}

func (b *browser) countTransfer() *transfer {
	b.t.Helper()
	tr := &transfer{started: map[network.RequestID]string{}, finished: map[network.RequestID]bool{}}
	if err := chromedp.Listen(b.ctx, func(ev any) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			tr.started[e.RequestID] = e.Request.URL
		case *network.EventLoadingFinished:
			tr.bytes += e.EncodedDataLength
			tr.finished[e.RequestID] = true
		case *network.EventLoadingFailed:
			tr.finished[e.RequestID] = true
		}
	}); err != nil {
		b.t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, network.Enable, network.EnableParams{}); err != nil {
		b.t.Fatal(err)
	}
	return tr
}

// take waits until every request seen has finished and returns the bytes
// and URLs since the last take.
func (tr *transfer) take(t *testing.T) (float64, []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tr.mu.Lock()
		done := len(tr.finished) >= len(tr.started)
		if done || time.Now().After(deadline) {
			n := tr.bytes
			var urls []string
			for _, u := range tr.started {
				urls = append(urls, u)
			}
			tr.bytes, tr.started, tr.finished = 0, map[network.RequestID]string{}, map[network.RequestID]bool{}
			tr.mu.Unlock()
			if !done {
				t.Fatalf("requests still loading: %q", urls)
			}
			return n, urls
		}
		tr.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPortalFirstLoadWeight: a first visit (empty cache) to the sign-in
// page, and the Dashboard after signing in, each transfer under 300 KB, as
// counted by Chromium's network events; no request leaves the relay.
func TestPortalFirstLoadWeight(t *testing.T) {
	const limit = 300 << 10
	r, outbox, _ := portalRelay(t)
	b := newBrowser(t, r.URL)
	tr := b.countTransfer()
	b.open("/")
	b.waitJS(`document.readyState === 'complete' && !!document.querySelector('#username')`)
	signin, urls := tr.take(t)
	t.Logf("sign-in page, first load: %.0f bytes over %d requests", signin, len(urls))
	check := func(what string, n float64, urls []string) {
		if n <= 0 || n >= limit {
			t.Errorf("%s transferred %.0f bytes, want more than 0 and under %d", what, n, limit)
		}
		for _, u := range urls {
			if !strings.HasPrefix(u, r.URL+"/") && !strings.HasPrefix(u, "data:") {
				t.Errorf("%s loaded %s, outside the relay", what, u)
			}
		}
	}
	check("the sign-in page", signin, urls)
	b.fill("#username", relaytest.OwnerEmail)
	b.submit("button[type=submit]")
	b.fill("#password", relaytest.OwnerPassword)
	b.submit("button[type=submit]")
	b.fill("#code", lastCode(t, outbox, relaytest.OwnerEmail))
	tr.take(t) // the sign-in steps
	b.submit("button[type=submit]")
	b.waitJS(`location.pathname === '/' && !!document.querySelector('#dev-h')`)
	dash, urls := tr.take(t)
	t.Logf("dashboard after sign-in: %.0f bytes over %d requests", dash, len(urls))
	check("the dashboard", dash, urls)
}

// TestPortalRemoteControlLink: My devices' Remote control is a tandem://
// link the Guest accepts (launchlink.Parse, as tandem-guest open runs it)
// naming this relay and the device.
func TestPortalRemoteControlLink(t *testing.T) {
	r, outbox, _ := portalRelay(t)
	hash, _ := secret.EnrollmentKeyHash(r.Key)
	res, err := r.Srv.Store().Enroll(context.Background(), store.EnrollParams{KeyHash: hash, PublicKey: "PUB-RC", Now: time.Now(),
		Inventory: store.Inventory{Hostname: "pc-rc", OS: "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.URL)
	b.open("/mydevices")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	href, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](
		`document.querySelector("a[aria-label='Remote control pc-rc with Tandem Guest']").getAttribute('href')`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := launchlink.Parse(href)
	if err != nil || l.Relay != r.URL || l.Device != res.Device.ID {
		t.Fatalf("Remote control %q: %+v %v", href, l, err)
	}
}
