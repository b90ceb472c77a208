package relay

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/auditlog"
	"github.com/tandem-rc/tandem/relay/manage"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// sqliteDB opens the relay's SQLite file beside it, as another process would.
func (e *env) sqliteDB() *sql.DB {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.dbPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

// failAudit makes the database refuse every audit event named event (as a
// full disk or a dropped connection would refuse a write); "" lifts it.
func failAudit(t *testing.T, db *sql.DB, event string) {
	t.Helper()
	if _, err := db.Exec(`DROP TRIGGER IF EXISTS fail_audit`); err != nil {
		t.Fatal(err)
	}
	if event == "" {
		return
	}
	if _, err := db.Exec(fmt.Sprintf(`CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events WHEN NEW.event = '%s'
		BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END`, event)); err != nil {
		t.Fatal(err)
	}
}

// TestChangeAndAuditCommitTogether: for every state-changing operation, an
// audit event the database refuses leaves the change uncommitted (today's
// relay committed the change and only logged the lost event); once the
// audit log writes again, the same request succeeds with its event.
func TestChangeAndAuditCommitTogether(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb))
	db := e.sqliteDB()
	acme := e.acme().ID
	owner, _ := e.srv.Store().UserByEmail(t.Context(), ownerEmail)
	tok := e.token(owner.ID)
	admin, _ := e.member(acme, "admin@example.com", store.Admin)
	member, memberTok := e.member(acme, "m@example.com", store.Member, func(m *store.Membership) { m.API, m.MFA = true, true })
	victim, _ := e.member(acme, "victim@example.com", store.Member)
	logoutTok := e.token(admin.ID)
	_, key := e.pkg(PackageSpec{Account: acme, Name: "Office"})
	dev := e.enroll(key, "pc-1")
	if _, err := e.srv.Store().CreateAssignment(t.Context(), acme, policy.Assignment{Name: "OnDemand admins", Active: true,
		RoleID: policy.RoleIDFullAccessOnDemand, UserGroupIDs: []string{store.AdministratorsGroupID(acme)}}); err != nil {
		t.Fatal(err)
	}
	acct := "/api/v1/accounts/" + acme
	ids := map[string]string{}
	id := func(name string) func([]byte) {
		return func(b []byte) {
			var v struct {
				ID string `json:"id"`
			}
			json.Unmarshal(b, &v)
			ids[name] = v.ID
		}
	}
	today := e.clock.Now().Format("2006-01-02")
	cases := []struct {
		event, method string
		path          func() string
		tok           string
		body          any
		want          int
		got           func([]byte)
	}{
		{EvGroupCreated, "POST", func() string { return acct + "/groups" }, tok, map[string]any{"name": "G", "kind": "user"}, 201, id("group")},
		{EvGroupUpdated, "PATCH", func() string { return acct + "/groups/" + ids["group"] }, tok, map[string]any{"description": "d"}, 200, nil},
		{EvGroupMemberAdded, "PUT", func() string { return acct + "/groups/" + ids["group"] + "/members/" + member.ID }, tok, nil, 204, nil},
		{EvGroupMemberRemove, "DELETE", func() string { return acct + "/groups/" + ids["group"] + "/members/" + member.ID }, tok, nil, 204, nil},
		{EvRoleCreated, "POST", func() string { return acct + "/roles" }, tok,
			map[string]any{"name": "R", "type": "device", "enabled": true, "permissions": []string{"view_screen"}}, 201, id("role")},
		{EvRoleUpdated, "PUT", func() string { return acct + "/roles/" + ids["role"] }, tok,
			map[string]any{"name": "R2", "type": "device", "enabled": true, "permissions": []string{"view_screen"}}, 200, nil},
		{EvAssignmentCreated, "POST", func() string { return acct + "/assignments" }, tok, func() any {
			return wire.Assignment{Name: "A", Active: true, RoleID: ids["role"], UserGroups: []string{ids["group"]}, DeviceGroups: []string{"everything"}}
		}, 201, id("assignment")},
		{EvAssignmentUpdated, "PUT", func() string { return acct + "/assignments/" + ids["assignment"] }, tok, func() any {
			return wire.Assignment{Name: "A2", Active: true, RoleID: ids["role"], UserGroups: []string{ids["group"]}, DeviceGroups: []string{"everything"}}
		}, 200, nil},
		{EvAssignmentDeleted, "DELETE", func() string { return acct + "/assignments/" + ids["assignment"] }, tok, nil, 204, nil},
		{EvRoleDeleted, "DELETE", func() string { return acct + "/roles/" + ids["role"] }, tok, nil, 200, nil},
		{EvGroupDeleted, "DELETE", func() string { return acct + "/groups/" + ids["group"] }, tok, nil, 204, nil},
		{manage.EvAppCreated, "POST", func() string { return acct + "/applications" }, tok, map[string]any{"name": "Notepad", "executable": "notepad.exe"}, 201, id("app")},
		{manage.EvAppUpdated, "PUT", func() string { return acct + "/applications/" + ids["app"] }, tok,
			map[string]any{"name": "Notepad", "executable": "notepad.exe", "enabled": true}, 200, nil},
		{manage.EvAppDeleted, "DELETE", func() string { return acct + "/applications/" + ids["app"] }, tok, nil, 204, nil},
		{EvPackageCreated, "POST", func() string { return acct + "/packages" }, tok, map[string]any{"name": "P2"}, 201, id("package")},
		{EvPackageUpdated, "PUT", func() string { return acct + "/packages/" + ids["package"] }, tok, map[string]any{"name": "P2", "active": false}, 200, nil},
		{EvPackageRevoked, "POST", func() string { return acct + "/packages/" + ids["package"] + "/revoke" }, tok, map[string]any{"confirm": "revoke"}, 200, nil},
		{EvPackageRemoved, "DELETE", func() string { return acct + "/packages/" + ids["package"] }, tok, nil, 204, nil},
		{EvDeviceEnrolled, "POST", func() string { return "/api/v1/enroll" }, "",
			wire.EnrollRequest{Key: key, PublicKey: pubB64(newKey(t)), Inventory: &wire.Inventory{Hostname: "pc-2", OS: "linux"}}, 200, nil},
		{EvDeviceUpdated, "PATCH", func() string { return acct + "/devices/" + dev.id }, tok, map[string]any{"alias": "Front", "description": "desk"}, 200, nil},
		{EvDeviceRevoked, "POST", func() string { return acct + "/devices/" + dev.id + "/revoke" }, tok, map[string]any{"confirm": "revoke"}, 200, nil},
		{EvDeviceRemoved, "DELETE", func() string { return acct + "/devices/" + dev.id }, tok, nil, 204, nil},
		{EvODCreated, "POST", func() string { return "/api/v1/ondemand" }, tok, map[string]any{"account": acme}, 201, nil},
		{EvUserUpdated, "PATCH", func() string { return acct + "/users/" + member.ID }, tok, map[string]any{"ondemand": false}, 200, nil},
		{EvUserDisabled, "PATCH", func() string { return acct + "/users/" + victim.ID }, tok, map[string]any{"disabled": true}, 200, nil},
		{EvUserUnlocked, "POST", func() string { return acct + "/users/" + member.ID + "/unlock" }, tok, nil, 204, nil},
		{EvInviteSent, "POST", func() string { return acct + "/invites" }, tok, map[string]any{"email": "new@example.com"}, 201, id("invite")},
		{EvInviteResent, "POST", func() string { return acct + "/invites/" + ids["invite"] + "/resend" }, tok, nil, 200, nil},
		{manage.EvAPIKeyCreated, "POST", func() string { return "/api/v1/me/api-keys" }, memberTok, map[string]any{"account": acme}, 201, id("key")},
		{manage.EvAPIKeyRevoked, "DELETE", func() string { return "/api/v1/me/api-keys/" + ids["key"] }, memberTok, nil, 204, nil},
		{EvUserUpdated, "PATCH", func() string { return "/api/v1/me" }, tok, map[string]any{"name": "The Owner"}, 200, nil},
		{EvUserUpdated, "PATCH", func() string { return "/api/v1/me/accounts/" + acme }, tok, map[string]any{"alias": "boss"}, 200, nil},
		{EvRecoveryGenerated, "POST", func() string { return "/api/v1/me/recovery-codes" }, tok, nil, 201, nil},
		{EvLogout, "POST", func() string { return "/api/v1/logout" }, logoutTok, nil, 204, nil},
		{EvLogin, "POST", func() string { return "/api/v1/login" }, "", wire.LoginRequest{Email: "m@example.com", Password: memberPass}, 200, nil},
		{EvLoginFailed, "POST", func() string { return "/api/v1/login" }, "", wire.LoginRequest{Email: "m@example.com", Password: "wrong"}, 401, nil},
		{EvAccountMFAChanged, "PUT", func() string { return acct + "/security" }, tok, map[string]any{"mfa": "enabled"}, 200, nil},
		{EvLoginMFASent, "POST", func() string { return "/api/v1/login" }, "", wire.LoginRequest{Email: "m@example.com", Password: memberPass}, 200,
			func(b []byte) {
				var v wire.LoginResponse
				json.Unmarshal(b, &v)
				ids["challenge"] = v.Challenge
			}},
		{EvLoginFailed, "POST", func() string { return "/api/v1/login/mfa" }, "", func() any {
			return wire.LoginMFA{Challenge: ids["challenge"], Code: wrongCode(mb.lastSecret(t, "m@example.com"))}
		}, 401, nil},
		{EvLogin, "POST", func() string { return "/api/v1/login/mfa" }, "", func() any {
			return wire.LoginMFA{Challenge: ids["challenge"], Code: mb.lastSecret(t, "m@example.com")}
		}, 200, nil},
		{manage.EvAccountUpdated, "PUT", func() string { return acct + "/config" }, tok,
			map[string]any{"company": "Acme Ltd", "timezone": "UTC", "rc_action": "browser"}, 200, nil},
		{auditlog.EvAuditReport, "POST", func() string { return acct + "/audit/reports" }, tok, wire.AuditReportRequest{From: today, To: today}, 201, id("report")},
		{auditlog.EvAuditReportDeleted, "DELETE", func() string { return acct + "/audit/reports/" + ids["report"] }, tok, nil, 204, nil},
		{EvPasswordChanged, "POST", func() string { return "/api/v1/me/password" }, memberTok,
			wire.PasswordChange{Current: memberPass, New: "N3wPassword"}, 204, nil},
		{EvUserRemoved, "DELETE", func() string { return acct + "/users/" + victim.ID }, tok, nil, 204, nil},
		{EvOwnerChanged, "PUT", func() string { return acct + "/owner" }, tok, wire.OwnerChange{User: admin.ID, Password: ownerPass}, 200, nil},
	}
	for _, c := range cases {
		body := c.body
		if f, ok := body.(func() any); ok {
			body = f()
		}
		failAudit(t, db, c.event)
		before, mails := e.dumpAll(), mb.count()
		status, resp := e.do(c.method, c.path(), c.tok, body)
		if status < 500 {
			t.Errorf("%s %s with its audit event refused: %d %s, want a 5xx", c.method, c.path(), status, resp)
		}
		if e.dumpAll() != before {
			t.Errorf("%s %s: committed although its audit event (%s) was not", c.method, c.path(), c.event)
		}
		if mb.count() != mails {
			t.Errorf("%s %s: mailed although nothing committed", c.method, c.path())
		}
		failAudit(t, db, "")
		n := len(e.audit(c.event))
		status, resp = e.do(c.method, c.path(), c.tok, body)
		if status != c.want {
			t.Fatalf("%s %s: %d %s, want %d", c.method, c.path(), status, resp, c.want)
		}
		if len(e.audit(c.event)) <= n {
			t.Errorf("%s %s: no %s event", c.method, c.path(), c.event)
		}
		if c.got != nil {
			c.got(resp)
		}
	}
}

// TestChangeWithAuditOff: an account that turned its log off still
// changes things (its events are simply not written), even while the
// database would refuse them.
func TestChangeWithAuditOff(t *testing.T) {
	e := newEnv(t)
	db := e.sqliteDB()
	acme := e.acme().ID
	owner, _ := e.srv.Store().UserByEmail(t.Context(), ownerEmail)
	tok := e.token(owner.ID)
	member, _ := e.member(acme, "m@example.com", store.Member)
	acct := "/api/v1/accounts/" + acme
	if status, body := e.do("PUT", acct+"/audit/settings", tok, map[string]any{"enabled": false}); status != http.StatusOK {
		t.Fatalf("logging off: %d %s", status, body)
	}
	if len(e.audit(auditlog.EvAuditSettings)) != 1 {
		t.Fatal("turning logging off was not logged")
	}
	failAudit(t, db, EvUserUpdated)
	if status, body := e.do("PATCH", acct+"/users/"+member.ID, tok, map[string]any{"ondemand": false}); status != http.StatusOK {
		t.Fatalf("change with logging off: %d %s", status, body)
	}
	if au, _ := e.srv.Store().AccountUser(t.Context(), acme, member.ID); au.OnDemand {
		t.Fatal("the change was not committed")
	}
	if len(e.audit(EvUserUpdated)) != 0 {
		t.Fatal("an event was written for an account with logging off")
	}
}

// wrongCode is a 6-digit code other than code.
func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// TestResetRequestCommitsWithEvent: a reset code whose audit event the
// database refuses is neither stored nor mailed (the request still
// answers 202, as for anyone: the mail goes out in the background).
func TestResetRequestCommitsWithEvent(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb))
	e.member(e.acme().ID, "f@example.com", store.Member)
	db := e.sqliteDB()
	failAudit(t, db, EvPasswordResetSent)
	if status, body := e.do("POST", "/api/v1/password/forgot", "", wire.PasswordForgot{Email: "f@example.com"}); status != http.StatusAccepted {
		t.Fatalf("forgot: %d %s", status, body)
	}
	e.srv.Close() // waits for the background send
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM user_tokens WHERE purpose = $1`, string(store.PurposeReset)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 || mb.count() != 0 {
		t.Fatalf("%d reset codes stored, %d mails sent, although the event was refused", n, mb.count())
	}
}

// TestSessionStartAndEndCommitWithEvents: a session's start and end are
// recorded only with their audit events; when the database refuses an
// event the row keeps its state (the live session goes on or ends all
// the same: the relay logs the failure).
func TestSessionStartAndEndCommitWithEvents(t *testing.T) {
	e := newSessionEnv(t)
	db := e.sqliteDB()
	sr, _ := e.open()
	g := e.guest(sr)
	failAudit(t, db, EvSessionStarted)
	e.agent.send(&wire.Signal{Type: wire.SigAnswer, Session: sr.SessionID, SDP: "v=0 answer"})
	g.expect(wire.SigAnswer)
	if se := e.session(sr.SessionID); !se.StartedAt.IsZero() {
		t.Fatalf("started without its event: %+v", se)
	}
	failAudit(t, db, EvSessionEnded)
	e.agent.send(&wire.Signal{Type: wire.SigBye, Session: sr.SessionID, Code: "user_ended"})
	g.expect(wire.SigBye, "user_ended")
	g.expectClosed()
	if se := e.session(sr.SessionID); !se.EndedAt.IsZero() {
		t.Fatalf("ended without its event: %+v", se)
	}
	failAudit(t, db, "")

	// With the log writing again: both recorded, each with its event.
	sr, _ = e.open()
	g = e.guest(sr)
	e.agent.send(&wire.Signal{Type: wire.SigAnswer, Session: sr.SessionID, SDP: "v=0 answer"})
	g.expect(wire.SigAnswer)
	e.agent.send(&wire.Signal{Type: wire.SigBye, Session: sr.SessionID, Code: "user_ended"})
	g.expect(wire.SigBye, "user_ended")
	g.expectClosed()
	if se := e.session(sr.SessionID); se.StartedAt.IsZero() || se.EndedAt.IsZero() {
		t.Fatalf("after the second session: %+v", se)
	}
	if len(e.audit(EvSessionStarted)) != 1 || len(e.audit(EvSessionEnded)) != 1 {
		t.Fatalf("%d started, %d ended events, want 1 each", len(e.audit(EvSessionStarted)), len(e.audit(EvSessionEnded)))
	}
}

// TestSessionRequestCommitsWithEvent: a session whose request event the
// database refuses is not created and no grant reaches the Host; then
// the same request is granted with its event.
func TestSessionRequestCommitsWithEvent(t *testing.T) {
	e := newSessionEnv(t)
	db := e.sqliteDB()
	sessions := func() (n int) {
		if err := db.QueryRow(`SELECT COUNT(*) FROM remote_sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	failAudit(t, db, EvSessionRequested)
	if status, body := e.do("POST", "/api/v1/sessions", e.tok, wire.SessionRequest{Device: e.dev.id}); status < 500 || sessions() != 0 {
		t.Fatalf("request with its event refused: %d %s, %d sessions", status, body, sessions())
	}
	failAudit(t, db, "")
	e.open() // the Host's first grant is for this session
	if sessions() != 1 || len(e.audit(EvSessionRequested)) != 1 {
		t.Fatalf("%d sessions, %d events", sessions(), len(e.audit(EvSessionRequested)))
	}
}
