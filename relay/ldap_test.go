package relay

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/internal/slapdtest"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

const ldapBase = "dc=example,dc=org"

// ldapFixture: svc (the service account, svc-Secret-1), alice
// (Alice-Pass-1), and the groups helpdesk (alice) and finance (svc).
func ldapFixture() string { return slapdtest.ExampleOrg() }

// TestLDAPLogin: an account's LDAP method against a real slapd — the user
// is created at first login as type User, logs in as DOMAIN\user with the
// directory password (none stored), imported LDAP groups follow the
// directory at each login, and role assignments on them decide sessions.
func TestLDAPLogin(t *testing.T) {
	dir := slapdtest.Start(t, slapdtest.Options{Suffix: ldapBase, LDIF: ldapFixture()})
	e := newSessionEnv(t)
	base := "/api/v1/accounts/Acme"
	method := wire.LDAPMethod{Domain: "EXAMPLE", Enabled: true, URL: dir.URL, StartTLS: true, RootCAs: string(dir.CAPEM),
		BindDN: "uid=svc,ou=people," + ldapBase, BindPassword: "svc-Secret-1", BaseDN: ldapBase, GroupBaseDN: "ou=groups," + ldapBase}
	status, body := e.do("POST", base+"/ldap", e.tok, method)
	if status != http.StatusCreated || strings.Contains(string(body), "svc-Secret-1") {
		t.Fatalf("create: %d %s", status, body)
	}
	var created wire.LDAPMethod
	decode(t, body, &created)
	// The bind password is sealed: not in the database in clear, never answered.
	ms, _ := e.srv.Store().LDAPMethods(context.Background(), e.dev.resp.AccountID)
	if len(ms) != 1 || strings.Contains(ms[0].Config+ms[0].Secret, "svc-Secret-1") || ms[0].Secret == "" {
		t.Fatalf("stored method %+v", ms)
	}
	if status, body := e.do("GET", base+"/ldap", e.tok, nil); status != 200 || strings.Contains(string(body), "svc-Secret-1") {
		t.Fatalf("list: %d %s", status, body)
	}
	// The same domain twice, a broken configuration: refused.
	if status, _ := e.do("POST", base+"/ldap", e.tok, method); status != http.StatusConflict {
		t.Fatalf("duplicate domain: %d", status)
	}
	bad := method
	bad.Domain, bad.URL = "OTHER", "ftp://x"
	if status, _ := e.do("POST", base+"/ldap", e.tok, bad); status != http.StatusBadRequest {
		t.Fatalf("bad URL: %d", status)
	}

	// Import the directory's helpdesk group; a group it lacks is refused.
	var helpdesk wire.Group
	status, body = e.do("POST", base+"/ldap/"+created.ID+"/groups", e.tok, wire.LDAPGroupImport{Name: "helpdesk"})
	if status != http.StatusCreated {
		t.Fatalf("import: %d %s", status, body)
	}
	decode(t, body, &helpdesk)
	if status, _ := e.do("POST", base+"/ldap/"+created.ID+"/groups", e.tok, wire.LDAPGroupImport{Name: "nosuchgroup"}); status != http.StatusBadRequest {
		t.Fatalf("import of a missing group: %d", status)
	}
	// LDAP groups get no manual members.
	if status, _ := e.do("PUT", base+"/groups/"+helpdesk.ID+"/members/owner@example.com", e.tok, nil); status != http.StatusConflict {
		t.Fatalf("manual member of an LDAP group: %d", status)
	}
	// The helpdesk may view every device.
	role := wire.RoleInfo{Name: "View", Type: "device", Enabled: true, Permissions: []string{"view_screen"}}
	status, body = e.do("POST", base+"/roles", e.tok, role)
	decode(t, body, &role)
	if status, body := e.do("POST", base+"/assignments", e.tok, wire.Assignment{Name: "Helpdesk views", Active: true, RoleID: role.ID,
		UserGroups: []string{helpdesk.ID}, DeviceGroups: []string{"everything"}}); status != http.StatusCreated {
		t.Fatalf("assignment: %d %s", status, body)
	}

	login := func(user, pw string) (int, wire.LoginResponse) {
		status, body := e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: user, Password: pw})
		var lr wire.LoginResponse
		if status == 200 {
			decode(t, body, &lr)
		}
		return status, lr
	}
	for _, c := range []struct{ user, pw string }{
		{`EXAMPLE\alice`, "wrong"}, {`EXAMPLE\nobody`, "Alice-Pass-1"}, {`ELSEWHERE\alice`, "Alice-Pass-1"}, {`EXAMPLE\*`, "Alice-Pass-1"},
	} {
		if status, _ := login(c.user, c.pw); status != http.StatusUnauthorized {
			t.Fatalf("%s / %s: %d, want 401", c.user, c.pw, status)
		}
	}
	if n := len(e.audit(EvUserCreated)); n != 1 { // the owner only
		t.Fatalf("%d users created by failed logins", n-1)
	}
	status, lr := login(`example\Alice`, "Alice-Pass-1")
	if status != 200 || lr.Token == "" || lr.User.Email != "alice@example.org" {
		t.Fatalf("alice: %d %+v", status, lr)
	}
	u, _ := e.srv.Store().UserByEmail(context.Background(), "alice@example.org")
	if u.Auth != store.AuthLDAP || u.PasswordHash != "" || u.Name != "Alice Liddell" {
		t.Fatalf("alice's user %+v", u)
	}
	// Her local password login does not exist.
	if status, _ := login("alice@example.org", "Alice-Pass-1"); status != http.StatusUnauthorized {
		t.Fatalf("an LDAP user logged in with a password the relay checked: %d", status)
	}
	// Member of type User, in the helpdesk group: she may view.
	ms2, _ := e.srv.Store().Memberships(context.Background(), u.ID)
	if len(ms2) != 1 || ms2[0].Type != store.Member {
		t.Fatalf("memberships %+v", ms2)
	}
	status, body = e.do("POST", "/api/v1/sessions", lr.Token, wire.SessionRequest{Device: e.dev.id})
	if status != http.StatusCreated {
		t.Fatalf("session: %d %s", status, body)
	}
	e.agent.expect(wire.SigGrant)

	// The directory drops her from helpdesk: at her next login the relay
	// follows, and her sessions stop.
	dir.Modify(t, `dn: cn=helpdesk,ou=groups,dc=example,dc=org
changetype: modify
delete: member
member: uid=alice,ou=people,dc=example,dc=org
-
add: member
member: uid=svc,ou=people,dc=example,dc=org
`)
	status, lr = login(`EXAMPLE\alice`, "Alice-Pass-1")
	if status != 200 {
		t.Fatalf("second login: %d", status)
	}
	status, body = e.do("POST", "/api/v1/sessions", lr.Token, wire.SessionRequest{Device: e.dev.id})
	if status != http.StatusForbidden {
		t.Fatalf("session after leaving the group: %d %s", status, body)
	}
	if n := len(e.audit(EvUserCreated)); n != 2 {
		t.Fatalf("%d user creations, want the owner and alice once", n)
	}

	// The directory down: a clear 503, not "wrong password".
	dir.Stop()
	status, body = e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: `EXAMPLE\alice`, Password: "Alice-Pass-1"})
	wantError(t, status, body, http.StatusServiceUnavailable, api.CodeUnavailable)
}

// TestLDAPUserCreatedWithEvent: the user a directory login creates
// commits with its event (a refused event: a 5xx and no user), and a
// directory name with a direction override or a zero-width character
// creates nobody: an audited refusal with a clear 403.
func TestLDAPUserCreatedWithEvent(t *testing.T) {
	dir := slapdtest.Start(t, slapdtest.Options{Suffix: ldapBase, LDIF: ldapFixture()})
	e := newSessionEnv(t)
	method := wire.LDAPMethod{Domain: "EXAMPLE", Enabled: true, URL: dir.URL, StartTLS: true, RootCAs: string(dir.CAPEM),
		BindDN: "uid=svc,ou=people," + ldapBase, BindPassword: "svc-Secret-1", BaseDN: ldapBase, GroupBaseDN: "ou=groups," + ldapBase}
	if status, body := e.do("POST", "/api/v1/accounts/Acme/ldap", e.tok, method); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	alice := wire.LoginRequest{Email: `EXAMPLE\alice`, Password: "Alice-Pass-1"}
	exists := func() bool {
		_, err := e.srv.Store().UserByEmail(context.Background(), "alice@example.org")
		return err == nil
	}
	refusals := func() (n int) {
		for _, ev := range e.audit(EvLoginFailed) {
			if strings.Contains(string(ev.Detail), "unsafe_directory_name") {
				n++
			}
		}
		return n
	}
	for i, name := range []string{"Alice\u202eecilA", "Ali\u200bce", "Alice\x07"} {
		dir.Modify(t, "dn: uid=alice,ou=people,"+ldapBase+"\nchangetype: modify\nreplace: displayName\ndisplayName:: "+
			base64.StdEncoding.EncodeToString([]byte(name))+"\n")
		status, body := e.do("POST", "/api/v1/login", "", alice)
		if status != http.StatusForbidden || !strings.Contains(string(body), "display name") || exists() {
			t.Fatalf("directory name %q: %d %s (user created: %v)", name, status, body, exists())
		}
		if refusals() != i+1 {
			t.Fatalf("refusal of %q not audited", name)
		}
	}
	dir.Modify(t, "dn: uid=alice,ou=people,"+ldapBase+"\nchangetype: modify\nreplace: displayName\ndisplayName: Alice Liddell\n")

	db := e.sqliteDB()
	failAudit(t, db, EvUserCreated)
	if status, body := e.do("POST", "/api/v1/login", "", alice); status < 500 || exists() {
		t.Fatalf("login with the user's creation event refused: %d %s (user created: %v)", status, body, exists())
	}
	failAudit(t, db, "")
	if status, body := e.do("POST", "/api/v1/login", "", alice); status != http.StatusOK || !exists() {
		t.Fatalf("login: %d %s", status, body)
	}
	if evs := e.audit(EvUserCreated); len(evs) != 2 { // the owner and alice
		t.Fatalf("%d user.created events, want 2", len(evs))
	}
}
