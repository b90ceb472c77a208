package relay

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/auditlog"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// member adds a user of type typ to the account named acct (created if
// missing) and returns its id and a login token.
func (e *env) memberOf(email string, typ store.MemberType, acct string) (string, string) {
	e.t.Helper()
	ctx := context.Background()
	a, err := e.srv.Store().AccountByName(ctx, acct)
	if err != nil {
		if a, err = e.srv.Store().CreateAccount(ctx, store.Account{Name: acct}); err != nil {
			e.t.Fatal(err)
		}
	}
	hash, err := secret.HashPassword(ownerPass)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.srv.Store().CreateUser(ctx, store.User{Email: email, PasswordHash: hash})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.srv.Store().AddMembership(ctx, store.Membership{AccountID: a.ID, UserID: u.ID, Type: typ}); err != nil {
		e.t.Fatal(err)
	}
	return u.ID, e.login(email, ownerPass)
}

func (e *env) events(path, token string) []wire.AuditEvent {
	e.t.Helper()
	status, body := e.do("GET", path, token, nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var evs []wire.AuditEvent
	decode(e.t, body, &evs)
	return evs
}

func names(evs []wire.AuditEvent) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		m[e.Event]++
	}
	return m
}

func TestAuditVisibility(t *testing.T) {
	e := newEnv(t)
	owner := e.login(ownerEmail, ownerPass)
	userID, user := e.memberOf("tech@example.com", store.Member, "Acme")
	_, adminTok := e.memberOf("admin@example.com", store.Admin, "Acme")
	_, stranger := e.memberOf("other@example.com", store.Owner, "Other Co")
	_, key := e.pkg(PackageSpec{Name: "P", Account: "Acme"})
	e.enroll(key, "pc-1")

	// Administrators see the account's events; a plain member only theirs.
	for _, tok := range []string{owner, adminTok} {
		got := names(e.events("/api/v1/accounts/Acme/audit?limit=1000", tok))
		if got[EvDeviceEnrolled] != 1 || got[EvPackageCreated] != 1 {
			t.Fatalf("administrator sees %v", got)
		}
	}
	evs := e.events("/api/v1/accounts/Acme/audit", user)
	for _, ev := range evs {
		if ev.UserID != userID {
			t.Fatalf("a member sees someone else's event %+v", ev)
		}
	}
	status, body := e.do("GET", "/api/v1/accounts/Acme/audit?user="+mustOwnerID(t, e), user, nil)
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)

	// Another account's members, and nobody, see nothing at all.
	status, body = e.do("GET", "/api/v1/accounts/Acme/audit", stranger, nil)
	wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)
	status, body = e.do("GET", "/api/v1/accounts/Acme/audit", "", nil)
	wantError(t, status, body, http.StatusUnauthorized, api.CodeUnauthorized)

	// Bad queries are 400s.
	for _, q := range []string{"from=yesterday", "to=2026-13-01", "limit=0", "limit=5000", "limit=x", "event=" + strings.Repeat("x", 65)} {
		status, body := e.do("GET", "/api/v1/accounts/Acme/audit?"+q, owner, nil)
		wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	}
}

func mustOwnerID(t *testing.T, e *env) string {
	u, err := e.srv.Store().UserByEmail(context.Background(), ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestAuditSettings(t *testing.T) {
	e := newEnv(t)
	owner := e.login(ownerEmail, ownerPass)
	_, user := e.memberOf("tech@example.com", store.Member, "Acme")
	_, key := e.pkg(PackageSpec{Name: "P"})

	var st wire.AuditSettings
	status, body := e.do("GET", "/api/v1/accounts/Acme/audit/settings", owner, nil)
	if decode(t, body, &st); status != 200 || !st.Enabled || st.RetentionMonths != 6 {
		t.Fatalf("defaults: %d %s", status, body)
	}
	// Only administrators change it; malformed bodies change nothing.
	status, body = e.do("PUT", "/api/v1/accounts/Acme/audit/settings", user, map[string]bool{"enabled": false})
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	for _, b := range []string{`{}`, `{"enabled":"no"}`, `{"enabled":false,"x":1}`, `not json`} {
		status, body = e.do("PUT", "/api/v1/accounts/Acme/audit/settings", owner, []byte(b))
		wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	}
	if a, _ := e.srv.Store().AccountByName(context.Background(), "Acme"); !a.AuditEnabled {
		t.Fatal("turned off by a refused request")
	}

	// Off: the account's events stop, the switch itself is recorded.
	status, body = e.do("PUT", "/api/v1/accounts/Acme/audit/settings", owner, map[string]bool{"enabled": false})
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	e.enroll(key, "unlogged")
	got := names(e.events("/api/v1/accounts/Acme/audit?limit=1000", owner))
	if got[EvDeviceEnrolled] != 0 || got[auditlog.EvAuditSettings] != 1 {
		t.Fatalf("logging off: %v", got)
	}
	// On again.
	e.do("PUT", "/api/v1/accounts/Acme/audit/settings", owner, map[string]bool{"enabled": true})
	e.enroll(key, "logged")
	got = names(e.events("/api/v1/accounts/Acme/audit?limit=1000", owner))
	if got[EvDeviceEnrolled] != 1 || got[auditlog.EvAuditSettings] != 2 {
		t.Fatalf("logging on again: %v", got)
	}
}

func TestAuditReports(t *testing.T) {
	e := newEnv(t)
	owner := e.login(ownerEmail, ownerPass)
	_, user := e.memberOf("tech@example.com", store.Member, "Acme")
	_, stranger := e.memberOf("other@example.com", store.Owner, "Other Co")
	ctx := context.Background()
	acct, _ := e.srv.Store().AccountByName(ctx, "Acme")
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	add := func(at time.Time, ev string, detail string) {
		if err := e.srv.Store().AddAudit(ctx, store.AuditEvent{At: at, AccountID: acct.ID, ActorUserID: mustOwnerID(t, e),
			Event: ev, Detail: json.RawMessage(detail), RemoteAddr: "192.0.2.7"}); err != nil {
			t.Fatal(err)
		}
	}
	add(day.Add(-time.Millisecond), "before", `{}`)
	add(day, "first", `{"name":"O'Brien, \"Bob\""}`)
	add(day.Add(47*time.Hour), "formula", `{}`)
	add(day.Add(48*time.Hour), "after", `{}`)
	if err := e.srv.Store().AddAudit(ctx, store.AuditEvent{At: day.Add(time.Hour), AccountID: acct.ID, Event: "=HYPERLINK(\"x\")"}); err != nil {
		t.Fatal(err)
	}

	path := "/api/v1/accounts/" + acct.ID + "/audit/reports"
	status, body := e.do("POST", path, owner, wire.AuditReportRequest{From: "2026-03-10", To: "2026-03-11"})
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	var rep wire.AuditReport
	decode(t, body, &rep)
	if rep.Events != 3 || rep.From != "2026-03-10" || rep.To != "2026-03-11" {
		t.Fatalf("report %+v", rep)
	}

	req, _ := http.NewRequest("GET", e.ts.URL+path+"/"+rep.ID+"/csv", nil)
	req.Header.Set("Authorization", "Bearer "+owner)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	csv := sb.String()
	if resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="audit_2026-03-10_2026-03-11.csv"` {
		t.Fatalf("headers %v", resp.Header)
	}
	want := "'Time (UTC)','Event','User','Device','Remote address','Details'\r\n" +
		"'2026-03-10 00:00:00.000','first','" + ownerEmail + "','','192.0.2.7','{\"name\":\"O''Brien, \\\"Bob\\\"\"}'\r\n" +
		"'2026-03-10 01:00:00.000','''=HYPERLINK(\"x\")','','','',''\r\n" +
		"'2026-03-11 23:00:00.000','formula','" + ownerEmail + "','','192.0.2.7',''\r\n"
	if csv != want {
		t.Fatalf("CSV:\n%s\nwant:\n%s", csv, want)
	}

	var list []wire.AuditReport
	status, body = e.do("GET", path, owner, nil)
	if decode(t, body, &list); status != 200 || len(list) != 1 || list[0].ID != rep.ID {
		t.Fatalf("list: %d %s", status, body)
	}
	// Members who are not administrators, and other accounts, can't.
	for _, c := range []struct {
		tok, method, path string
		code              int
	}{
		{user, "GET", path, 403}, {user, "POST", path, 403}, {user, "GET", path + "/" + rep.ID + "/csv", 403},
		{user, "DELETE", path + "/" + rep.ID, 403}, {stranger, "GET", path + "/" + rep.ID + "/csv", 404},
		{stranger, "DELETE", path + "/" + rep.ID, 404}, {owner, "GET", path + "/nope/csv", 404},
	} {
		var b any
		if c.method == "POST" {
			b = wire.AuditReportRequest{From: "2026-03-10", To: "2026-03-10"}
		}
		if status, body := e.do(c.method, c.path, c.tok, b); status != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, status, body, c.code)
		}
	}
	// Bad ranges: 400, and no report is written.
	for _, r := range []wire.AuditReportRequest{{From: "2026-03-11", To: "2026-03-10"}, {From: "", To: "2026-03-10"}, {From: "2026-3-1", To: "2026-03-10"}} {
		status, body := e.do("POST", path, owner, r)
		wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	}
	if rs, _ := e.srv.Store().AuditReports(ctx, acct.ID); len(rs) != 1 {
		t.Fatalf("%d reports after refused requests", len(rs))
	}

	status, _ = e.do("DELETE", path+"/"+rep.ID, owner, nil)
	if status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if rs, _ := e.srv.Store().AuditReports(ctx, acct.ID); len(rs) != 0 {
		t.Fatal("report not deleted")
	}
	got := names(e.events("/api/v1/accounts/Acme/audit?limit=1000", owner))
	if got[auditlog.EvAuditReport] != 1 || got[auditlog.EvAuditReportDeleted] != 1 {
		t.Fatalf("report events %v", got)
	}
}

func TestAuditRetention(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.clock.Now()
	if err := e.srv.Store().AddAudit(ctx, store.AuditEvent{At: old, Event: "old"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(24 * time.Hour)
	if err := e.srv.Store().AddAudit(ctx, store.AuditEvent{At: e.clock.Now(), Event: "newer"}); err != nil {
		t.Fatal(err)
	}
	count := func(ev string) int {
		evs, _ := e.srv.Store().Audit(ctx, store.AuditFilter{Event: ev})
		return len(evs)
	}
	// Six months later to the day, the first is still within retention...
	e.clock.Set(old.AddDate(0, 6, 0))
	e.srv.sweep()
	if count("old") != 1 {
		t.Fatal("pruned on the last day of its six months")
	}
	// ...and the janitor prunes at most hourly.
	e.clock.Set(old.AddDate(0, 6, 0).Add(30 * time.Minute))
	e.srv.sweep()
	if count("old") != 1 {
		t.Fatal("pruned twice within the hour")
	}
	e.clock.Set(old.AddDate(0, 6, 0).Add(2 * time.Hour))
	e.srv.sweep()
	if count("old") != 0 || count("newer") != 1 {
		t.Fatalf("after six months and two hours: old %d, newer %d", count("old"), count("newer"))
	}
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestLogAdministrator: the log-administrator right reads every event and
// generates reports without being an administrator; only administrators
// give it, and it does not delete reports or switch logging.
func TestLogAdministrator(t *testing.T) {
	e := newEnv(t)
	owner := e.login(ownerEmail, ownerPass)
	auditorID, auditor := e.memberOf("auditor@example.com", store.Member, "Acme")
	_, gm := e.memberOf("gm@example.com", store.GroupManager, "Acme")
	acct, _ := e.srv.Store().AccountByName(context.Background(), "Acme")
	_, key := e.pkg(PackageSpec{Name: "P", Account: "Acme"})
	e.enroll(key, "pc-1")
	patch := "/api/v1/accounts/" + acct.ID + "/users/" + auditorID
	if status, body := e.do("PATCH", patch, gm, map[string]bool{"log_admin": true}); status != http.StatusForbidden {
		t.Fatalf("a group manager gave the right: %d %s", status, body)
	}
	if got := names(e.events("/api/v1/accounts/Acme/audit?limit=1000", auditor)); got[EvDeviceEnrolled] != 0 {
		t.Fatalf("a plain member sees others' events: %v", got)
	}
	if status, body := e.do("PATCH", patch, owner, map[string]bool{"log_admin": true}); status != 200 || !strings.Contains(string(body), `"log_admin":true`) {
		t.Fatalf("owner gives the right: %d %s", status, body)
	}
	if got := names(e.events("/api/v1/accounts/Acme/audit?limit=1000", auditor)); got[EvDeviceEnrolled] != 1 {
		t.Fatalf("the log administrator sees %v", got)
	}
	base := "/api/v1/accounts/Acme/audit/reports"
	status, body := e.do("POST", base, auditor, wire.AuditReportRequest{From: "2020-01-01", To: "2099-12-31"})
	var rep wire.AuditReport
	if decode(t, body, &rep); status != http.StatusCreated || rep.Events == 0 {
		t.Fatalf("report: %d %s", status, body)
	}
	if status, _ := e.do("GET", base+"/"+rep.ID+"/csv", auditor, nil); status != 200 {
		t.Fatalf("download: %d", status)
	}
	if status, _ := e.do("DELETE", base+"/"+rep.ID, auditor, nil); status != http.StatusForbidden {
		t.Fatalf("a log administrator deleted a report: %d", status)
	}
	if status, _ := e.do("PUT", "/api/v1/accounts/Acme/audit/settings", auditor, map[string]bool{"enabled": false}); status != http.StatusForbidden {
		t.Fatalf("a log administrator switched logging: %d", status)
	}
	// Devices and the access model stay the administrators'.
	if status, _ := e.do("GET", "/api/v1/accounts/Acme/devices", auditor, nil); status != http.StatusForbidden {
		t.Fatalf("a log administrator listed devices: %d", status)
	}
}
