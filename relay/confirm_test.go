package relay

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

var confirmLink = regexp.MustCompile(`https?://[^\s"<>]+/c/[A-Za-z0-9_-]+`)

// TestConfirmAccessByEmail: a technician whose role assignment requires
// confirmation by email gets a pending request instead of a grant; each
// member of the confirming group (not the technician) is emailed a link
// whose page changes nothing on GET; the first answer decides; an allowed
// confirmation buys exactly one session, a denied one none.
func TestConfirmAccessByEmail(t *testing.T) {
	box := &mailbox{}
	e := newSessionEnv(t, func(c *Config) { c.Mail = box; c.PublicURL = "http://relay.test" })
	tech, ids := e.askByEmail(false, "tech@example.com", "boss@example.com", "deputy@example.com")
	bossID := ids[0]

	request := func(conf string) (int, wire.SessionResponse, []byte) {
		status, body := e.do("POST", "/api/v1/sessions", tech, wire.SessionRequest{Device: e.dev.id, Confirmation: conf})
		var sr wire.SessionResponse
		if status < 300 {
			decode(t, body, &sr)
		}
		return status, sr, body
	}
	status, sr, body := request("")
	if status != http.StatusAccepted || sr.Confirmation == nil || sr.Confirmation.Status != "pending" || sr.SessionID != "" {
		t.Fatalf("first request: %d %s", status, body)
	}
	cf := sr.Confirmation
	if len(box.to("tech@example.com")) != 0 || len(box.to("boss@example.com")) != 1 || len(box.to("deputy@example.com")) != 1 {
		t.Fatalf("mail went to %+v", box.msgs)
	}
	link := func(addr string) string {
		m := box.to(addr)[0]
		l := confirmLink.FindString(m.Text)
		if l == "" || !strings.Contains(m.Subject, "tech@example.com") {
			t.Fatalf("mail to %s: %q\n%s", addr, m.Subject, m.Text)
		}
		return strings.TrimPrefix(l, "http://relay.test")
	}
	bossLink, deputyLink := link("boss@example.com"), link("deputy@example.com")
	if bossLink == deputyLink {
		t.Fatal("the recipients share a link")
	}
	// Not allowed yet: no session with it, and the status says pending.
	if status, _, _ := request(cf.ID); status != http.StatusForbidden {
		t.Fatalf("session with a pending confirmation: %d", status)
	}
	var got wire.Confirmation
	_, body = e.do("GET", "/api/v1/confirmations/"+cf.ID, tech, nil)
	if decode(t, body, &got); got.Status != "pending" {
		t.Fatalf("status %s", body)
	}
	if status, _ := e.do("GET", "/api/v1/confirmations/"+cf.ID, e.tok, nil); status != http.StatusNotFound {
		t.Fatalf("someone else's confirmation: %d", status)
	}
	// Opening the link (as a mail scanner does) decides nothing.
	resp, page := e.get(bossLink, uaWindows)
	if resp.StatusCode != 200 || !strings.Contains(page, "tech@example.com") || !strings.Contains(page, "pc-1") || !strings.Contains(page, `value="allow"`) {
		t.Fatalf("confirm page: %d\n%s", resp.StatusCode, page)
	}
	post := func(path, decision string) (int, string) {
		resp, err := e.ts.Client().PostForm(e.ts.URL+path, url.Values{"decision": {decision}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	if status, _ := post(bossLink, "maybe"); status != 400 {
		t.Fatalf("bad decision: %d", status)
	}
	// An answer whose audit event the database refuses is not recorded.
	db := e.sqliteDB()
	failAudit(t, db, EvConfirmAllowed)
	if status, _ := post(bossLink, "allow"); status != http.StatusServiceUnavailable {
		t.Fatalf("allow with its event refused: %d", status)
	}
	if _, body := e.do("GET", "/api/v1/confirmations/"+cf.ID, tech, nil); !strings.Contains(string(body), `"pending"`) {
		t.Fatalf("answered without its event: %s", body)
	}
	failAudit(t, db, "")
	// The boss allows first; the deputy's later denial changes nothing.
	if status, page := post(bossLink, "allow"); status != 200 || !strings.Contains(page, "Allowed") {
		t.Fatalf("allow: %d\n%s", status, page)
	}
	if status, _ := post(deputyLink, "deny"); status != http.StatusConflict {
		t.Fatalf("second answer: %d", status)
	}
	status, sr, body = request(cf.ID)
	if status != http.StatusCreated || sr.SessionID == "" {
		t.Fatalf("session after allow: %d %s", status, body)
	}
	e.agent.expect(wire.SigGrant)
	if status, _, _ := request(cf.ID); status != http.StatusForbidden {
		t.Fatalf("an allowed confirmation used twice: %d", status)
	}
	evs := e.audit(EvConfirmAllowed)
	if len(evs) != 1 || evs[0].ActorUserID != bossID {
		t.Fatalf("allow audited as %+v", evs)
	}

	// Denied: no session. Expired: no answer counts.
	_, sr, _ = request("")
	post(link2(t, box, "deputy@example.com"), "deny")
	if status, _, _ := request(sr.Confirmation.ID); status != http.StatusForbidden {
		t.Fatalf("session after deny: %d", status)
	}
	_, sr, _ = request("")
	e.clock.Advance(ConfirmTTL + time.Second)
	if status, _ := post(link2(t, box, "boss@example.com"), "allow"); status != http.StatusConflict {
		t.Fatalf("answer after expiry: %d", status)
	}
	_, body = e.do("GET", "/api/v1/confirmations/"+sr.Confirmation.ID, tech, nil)
	if decode(t, body, &got); got.Status != "expired" {
		t.Fatalf("status after expiry %s", body)
	}
	// A link that does not exist.
	if resp, _ := e.get("/c/not-a-token", uaLinux); resp.StatusCode != 404 {
		t.Fatalf("bad link: %d", resp.StatusCode)
	}
}

// link2 is the newest confirmation link mailed to addr.
func link2(t *testing.T, box *mailbox, addr string) string {
	t.Helper()
	ms := box.to(addr)
	l := confirmLink.FindString(ms[len(ms)-1].Text)
	if l == "" {
		t.Fatalf("no link in %q", ms[len(ms)-1].Text)
	}
	return strings.TrimPrefix(l, "http://relay.test")
}

// TestAgentAudit: a host's report of what it refused or transferred in one
// of its sessions lands in the account's log under the session's
// technician; reports about other devices' sessions, or of unknown kinds,
// are refused.
func TestAgentAudit(t *testing.T) {
	e := newSessionEnv(t)
	sr, _ := e.open()
	e.agent.send(&wire.Signal{Type: wire.SigAudit, Session: sr.SessionID, Code: "file_received", Message: "inbox/report.pdf"})
	e.agent.send(&wire.Signal{Type: wire.SigAudit, Session: sr.SessionID, Code: "refused", Message: "clipboard"})
	e.agent.send(&wire.Signal{Type: wire.SigAudit, Session: sr.SessionID, Code: "format_disk", Message: "x"})
	e.agent.expect(wire.SigError, api.CodeBadRequest)
	e.agent.send(&wire.Signal{Type: wire.SigAudit, Session: "someone-else", Code: "file_sent", Message: "x"})
	e.agent.expect(wire.SigError, api.CodeNotFound)
	owner := mustOwnerID(t, e.env)
	for _, ev := range []string{EvFileReceived, EvSessionRefused} {
		evs := e.audit(ev)
		if len(evs) != 1 || evs[0].ActorUserID != owner || evs[0].ActorDeviceID != e.dev.id || !strings.Contains(string(evs[0].Detail), sr.SessionID) {
			t.Fatalf("%s: %+v", ev, evs)
		}
	}
	if n := len(e.audit(EvFileSent)); n != 0 {
		t.Fatalf("a report about another session was recorded: %d", n)
	}
}

// TestConfirmLocalAndEmail: a role with both confirmations: the grant asks
// the Host to prompt, the confirming group is emailed at the same time,
// and an emailed answer is passed to the Host, where the first one wins.
func TestConfirmLocalAndEmail(t *testing.T) {
	box := &mailbox{}
	e := newSessionEnv(t, func(c *Config) { c.Mail = box; c.PublicURL = "http://relay.test" })
	tech, _ := e.askByEmail(true, "tech@example.com", "boss@example.com")
	status, body := e.do("POST", "/api/v1/sessions", tech, wire.SessionRequest{Device: e.dev.id})
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	var sr wire.SessionResponse
	decode(t, body, &sr)
	g := e.agent.expect(wire.SigGrant)
	grant, err := policy.Verify(g.Grant, e.srv.PublicKey(), e.dev.id, e.clock.Now())
	if err != nil || !grant.ConfirmLocal {
		t.Fatalf("grant %+v (%v)", grant, err)
	}
	link := link2(t, box, "boss@example.com")
	resp, err := e.ts.Client().PostForm(e.ts.URL+link, url.Values{"decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("allow: %d", resp.StatusCode)
	}
	c := e.agent.expect(wire.SigConfirm)
	if c.Session != sr.SessionID || c.Code != "allowed" {
		t.Fatalf("the Host was told %+v", c)
	}
}

// askByEmail makes tech a technician with full control whose sessions need
// confirmation by email from confirmers (and with local, by the Host's
// user too). The technician is among the confirmers' group as well: nobody
// is asked to confirm their own access. It returns the technician's token
// and the confirmers' user ids.
func (e *sessionEnv) askByEmail(local bool, tech string, confirmers ...string) (string, []string) {
	e.t.Helper()
	ctx := context.Background()
	st := e.srv.Store()
	acct := e.dev.resp.AccountID
	techID, tok := e.memberOf(tech, store.Member, "Acme")
	techs, _ := st.CreateGroup(ctx, store.Group{AccountID: acct, Name: "Techs", Kind: policy.GroupUser, Active: true})
	bosses, _ := st.CreateGroup(ctx, store.Group{AccountID: acct, Name: "Bosses", Kind: policy.GroupUser, Active: true})
	st.AddGroupMember(ctx, techs.ID, techID)
	st.AddGroupMember(ctx, bosses.ID, techID)
	var ids []string
	for _, c := range confirmers {
		id, _ := e.memberOf(c, store.Member, "Acme")
		st.AddGroupMember(ctx, bosses.ID, id)
		ids = append(ids, id)
	}
	ask, _ := st.CreateRole(ctx, store.RoleRow{AccountID: acct, Role: policy.Role{Name: "Ask the bosses", Type: policy.RoleConfirmAccess,
		Enabled: true, Confirm: policy.ConfirmRules{Local: local, EmailGroupIDs: []string{bosses.ID}}}})
	for _, a := range []policy.Assignment{
		{Name: "Techs control", Active: true, RoleID: policy.RoleIDAdministrator, UserGroupIDs: []string{techs.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything}},
		{Name: "Techs ask", Active: true, RoleID: ask.Role.ID, UserGroupIDs: []string{techs.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything}},
	} {
		if _, err := st.CreateAssignment(ctx, acct, a); err != nil {
			e.t.Fatal(err)
		}
	}
	return tok, ids
}
