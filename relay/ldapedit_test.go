package relay

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/internal/slapdtest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestLDAPEditAndTest against a real slapd: the test lists the
// directory's groups; an edit without a password keeps the stored one; a
// wrong bind password fails the test with the directory's reason; a bad
// edit changes nothing.
func TestLDAPEditAndTest(t *testing.T) {
	dir := slapdtest.Start(t, slapdtest.Options{Suffix: ldapBase, LDIF: ldapFixture()})
	e := newSessionEnv(t)
	base := "/api/v1/accounts/Acme/ldap"
	method := wire.LDAPMethod{Domain: "EXAMPLE", Enabled: true, URL: dir.URL, StartTLS: true, RootCAs: string(dir.CAPEM),
		BindDN: "uid=svc,ou=people," + ldapBase, BindPassword: "svc-Secret-1", BaseDN: ldapBase, GroupBaseDN: "ou=groups," + ldapBase}
	status, body := e.do("POST", base, e.tok, method)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var created wire.LDAPMethod
	decode(t, body, &created)
	test := func() (int, wire.LDAPTest, string) {
		t.Helper()
		status, body := e.do("POST", base+"/"+created.ID+"/test", e.tok, nil)
		var res wire.LDAPTest
		if status == http.StatusOK {
			decode(t, body, &res)
		}
		return status, res, string(body)
	}
	if st, res, body := test(); st != 200 || !slices.Equal(res.Groups, []string{"finance", "helpdesk"}) && !slices.Equal(res.Groups, []string{"helpdesk", "finance"}) || res.Total != 2 {
		t.Fatalf("test: %d %+v %s", st, res, body)
	}

	// An edit without the password keeps it.
	edit := method
	edit.BindPassword, edit.Enabled, edit.DisplayNameAttr = "", false, "cn"
	status, body = e.do("PUT", base+"/"+created.ID, e.tok, edit)
	if status != 200 || strings.Contains(string(body), "svc-Secret-1") {
		t.Fatalf("edit: %d %s", status, body)
	}
	if st, _, body := test(); st != 200 {
		t.Fatalf("test after an edit without password: %d %s", st, body)
	}
	var list []wire.LDAPMethod
	_, body = e.do("GET", base, e.tok, nil)
	decode(t, body, &list)
	if len(list) != 1 || list[0].Enabled || list[0].DisplayNameAttr != "cn" {
		t.Fatalf("after edit: %+v", list)
	}
	if len(e.audit(EvLDAPUpdated)) != 1 {
		t.Fatal("the edit is not audited")
	}

	// A bad edit changes nothing.
	bad := edit
	bad.URL = "ftp://x"
	if status, _ := e.do("PUT", base+"/"+created.ID, e.tok, bad); status != http.StatusBadRequest {
		t.Fatalf("bad URL: %d", status)
	}
	_, body = e.do("GET", base, e.tok, nil)
	decode(t, body, &list)
	if list[0].URL != dir.URL {
		t.Fatalf("a refused edit changed the URL: %s", list[0].URL)
	}

	// A wrong bind password: the test says why.
	wrong := edit
	wrong.BindPassword = "not-the-password"
	if status, body := e.do("PUT", base+"/"+created.ID, e.tok, wrong); status != 200 {
		t.Fatalf("edit password: %d %s", status, body)
	}
	if st, _, body := test(); st != http.StatusServiceUnavailable || !strings.Contains(body, "the test failed") {
		t.Fatalf("test with a wrong password: %d %s", st, body)
	}
	if status, _ := e.do("POST", base+"/nosuch/test", e.tok, nil); status != http.StatusNotFound {
		t.Fatalf("unknown method: %d", status)
	}
}
