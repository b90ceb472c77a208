package portal_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/store"
)

// TestPortalPagesByMemberType: every page the owner's navigation links to,
// visited as a group manager and as a plain user. Each sees in the sidebar
// exactly the pages their type allows (a page added to the navigation is
// covered without a change here); every other page answers "Not allowed";
// the forms on the pages they do see are only those they may use.
// Screenshots of each page (1280×800) go to $TANDEM_SCREENSHOTS.
func TestPortalPagesByMemberType(t *testing.T) {
	r, outbox, _ := portalRelay(t)
	b := newBrowser(t, r.URL)
	b.open("/")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	all := b.navPages()
	b.submit("form[action='/logoff'] button")

	for _, c := range []struct {
		typ      store.MemberType
		email    string
		want     []string // sidebar entries that must show
		never    []string // and must not
		forms    []string // forms on their pages that must show
		noForms  []string // and must not
		shotName string
	}{
		{store.GroupManager, "manager@example.com",
			[]string{"My sessions", "My devices", "Users", "Devices", "Groups", "Roles", "Role assignments", "Logs"},
			[]string{"Downloads", "Account security", "Configuration"},
			[]string{"/users form[action='/users/invite']", "/logs form[action='/logs/reports']"},
			[]string{"/groups [data-open=group-dialog]", "/groups button[aria-label^=Remove]", "/ #acct-h", "/ .activity"},
			"gm"},
		{store.Member, "user@example.com",
			[]string{"My sessions", "My devices", "Logs"},
			[]string{"Users", "Devices", "Groups", "Roles", "Role assignments", "Downloads", "Account security", "Configuration"},
			[]string{"/sessions form[action='/sessions/create']"},
			[]string{"/logs form[action='/logs/reports']", "/ #dev-h", "/ #users-h", "/ .activity"},
			"user"},
	} {
		t.Run(string(c.typ), func(t *testing.T) {
			b.t = t
			email, pw := addPasswordMember(t, r, c.email, c.typ)
			b.open("/")
			b.signIn(outbox, email, pw)
			nav := b.texts(".sidebar .nav a")
			for _, w := range c.want {
				if !slices.Contains(nav, w) {
					t.Errorf("%s's sidebar lacks %s: %q", c.typ, w, nav)
				}
			}
			for _, n := range c.never {
				if slices.Contains(nav, n) {
					t.Errorf("%s's sidebar shows %s", c.typ, n)
				}
			}
			mine := b.navPages()
			for _, p := range all {
				b.open(p)
				allowed := slices.Contains(mine, p)
				denied := b.count(".card h1") == 1 && b.text(".card h1") == "Not allowed"
				if allowed == denied {
					t.Errorf("%s on %s: in their navigation %v, refused %v", c.typ, p, allowed, denied)
				}
				if allowed {
					b.screenshot("role-" + c.shotName + strings.ReplaceAll(strings.TrimSuffix(p, "/"), "/", "-"))
				}
			}
			for _, f := range c.forms {
				page, sel, _ := strings.Cut(f, " ")
				b.open(page)
				if b.count(sel) == 0 {
					t.Errorf("%s on %s: no %s", c.typ, page, sel)
				}
			}
			for _, f := range c.noForms {
				page, sel, _ := strings.Cut(f, " ")
				b.open(page)
				if n := b.count(sel); n != 0 {
					t.Errorf("%s on %s: %d × %s", c.typ, page, n, sel)
				}
			}
			b.open("/")
			b.submit("form[action='/logoff'] button")
		})
	}
}
