package relay

import (
	"mime"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/internal/setupname"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// hostileTransport is an untrusted client lying about where it reached the
// relay and who it is, in every header a proxy would set.
type hostileTransport struct{ base http.RoundTripper }

func (h hostileTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = "evil.example"
	r.Header.Set("X-Forwarded-Host", "evil-forwarded.example")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-For", "203.0.113.66")
	r.Header.Set("Forwarded", `for=203.0.113.67;host="evil-rfc7239.example";proto=https`)
	return h.base.RoundTrip(r)
}

// TestLinksIgnoreHostileHost: without a public URL, every link the relay
// writes (package install link, install page, install.sh, enroll.conf,
// online-installer names, OnDemand links, pages, names and emails,
// invitation, reset and confirmation emails) uses the address the
// connection reached, never a Host or forwarded header from an untrusted
// peer; and the audit log records the peer, not its X-Forwarded-For.
func TestLinksIgnoreHostileHost(t *testing.T) {
	box := &mailbox{}
	dl := t.TempDir()
	publish(t, dl, "tandem-host-1.0-x64.exe", "tandem-ondemand-linux-amd64")
	e := newSessionEnv(t, withMail(box), withDownloads(dl))
	base := e.ts.URL // http://127.0.0.1:PORT: the local address
	acct := e.dev.resp.AccountID
	e.ts.Client().Transport = hostileTransport{base: e.ts.Client().Transport}

	var seen []string // every text a link may hide in
	check := func(what, text string, wantLink bool) {
		t.Helper()
		seen = append(seen, text)
		if strings.Contains(text, "evil") || strings.Contains(text, "https://") {
			t.Errorf("%s trusts the hostile headers:\n%s", what, text)
		}
		if wantLink && !strings.Contains(text, base) {
			t.Errorf("%s has no link to %s:\n%s", what, base, text)
		}
	}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, body := e.get(path, uaWindows)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return resp, body
	}
	fileName := func(resp *http.Response) string {
		_, p, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		if err != nil {
			t.Fatal(err)
		}
		return p["filename"]
	}

	// Deployment package: its install link, page, script, config, installer.
	status, body := e.do("POST", "/api/v1/accounts/"+acct+"/packages", e.tok, wire.Package{Name: "Hostile"})
	var pkg wire.Package
	if decode(t, body, &pkg); status != http.StatusCreated {
		t.Fatalf("package: %d %s", status, body)
	}
	check("install_link", pkg.InstallLink, true)
	_, page := get("/d/" + pkg.Key + "?understood=1")
	check("install page", page, true)
	_, script := get("/d/" + pkg.Key + "/install.sh")
	check("install.sh", script, true)
	_, conf := get("/d/" + pkg.Key + "/enroll.conf")
	check("enroll.conf", conf, false)
	if !strings.Contains(conf, "RELAY_URL="+base+"\n") {
		t.Errorf("enroll.conf:\n%s", conf)
	}
	resp, _ := get("/d/" + pkg.Key + "/tandem-host-setup.exe")
	if relayURL, _, ok := setupname.Parse(fileName(resp)); !ok || relayURL != base {
		t.Errorf("online installer %q carries relay %q", fileName(resp), relayURL)
	}

	// OnDemand: the link, its email, its page and the named program.
	od := &odEnv{env: e.env, acct: acct, tok: e.tok}
	od.assign(policy.RoleIDFullAccessOnDemand, store.AdministratorsGroupID(acct))
	o := od.create(e.tok)
	check("OnDemand link", o.Link, true)
	if status, body := e.do("POST", "/api/v1/ondemand/"+o.Key+"/email", e.tok, wire.OnDemandEmailRequest{Email: "ann@example.com"}); status >= 300 {
		t.Fatalf("OnDemand email: %d %s", status, body)
	}
	check("OnDemand email", box.to("ann@example.com")[0].Text, true)
	_, page = get("/s/" + o.Key + "?understood=1")
	check("OnDemand page", page, false)
	resp, _ = get("/s/" + o.Key + "/tandem-ondemand-linux-amd64")
	if relayURL, _, ok := setupname.ParseOnDemand(fileName(resp)); !ok || relayURL != base {
		t.Errorf("OnDemand program %q carries relay %q", fileName(resp), relayURL)
	}

	// Invitation and password reset emails.
	if status, body := e.do("POST", "/api/v1/accounts/"+acct+"/invites", e.tok, wire.InviteRequest{Email: "new@example.com"}); status != http.StatusCreated {
		t.Fatalf("invite: %d %s", status, body)
	}
	check("invitation email", box.to("new@example.com")[0].Text, true)
	if status, body := e.do("POST", "/api/v1/password/forgot", "", wire.PasswordForgot{Email: ownerEmail}); status != http.StatusAccepted {
		t.Fatalf("forgot: %d %s", status, body)
	}
	waitFor(t, func() bool { return len(box.to(ownerEmail)) > 0 })
	check("reset email", box.to(ownerEmail)[0].Text, true)

	// Confirmation email: a technician whose access the bosses confirm.
	tech, _ := e.askByEmail(false, "tech@example.com", "boss@example.com")
	if status, body := e.do("POST", "/api/v1/sessions", tech, wire.SessionRequest{Device: e.dev.id}); status != http.StatusAccepted {
		t.Fatalf("session asking confirmation: %d %s", status, body)
	}
	check("confirmation email", box.to("boss@example.com")[0].Text, true)

	// The links themselves: every one starts with the local address.
	links := regexp.MustCompile(`https?://[^\s"'<>]+`)
	for _, text := range seen {
		for _, l := range links.FindAllString(text, -1) {
			if !strings.HasPrefix(l, base+"/") && l != base {
				t.Errorf("link %q is not on %s", l, base)
			}
		}
	}
	// The audit log has the peer, not the X-Forwarded-For it sent.
	evs := e.audit("")
	if len(evs) < 5 {
		t.Fatalf("only %d audit events", len(evs))
	}
	for _, ev := range evs {
		if ev.RemoteAddr != "" && ev.RemoteAddr != "127.0.0.1" {
			t.Errorf("audit %s from %q", ev.Event, ev.RemoteAddr)
		}
	}
}
