package slapdtest

import (
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

const fixture = `
dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
userPassword: %s

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=readers,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: readers
member: uid=alice,ou=people,dc=example,dc=org

dn: cn=posix,ou=groups,dc=example,dc=org
objectClass: posixGroup
cn: posix
gidNumber: 5000
memberUid: alice
`

func start(t *testing.T) *Server {
	return Start(t, Options{LDIF: fmt.Sprintf(fixture, SSHA("wonderland"))})
}

func TestStartBindSearchTLSAndStop(t *testing.T) {
	s := start(t)

	l, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Bind("uid=alice,ou=people,dc=example,dc=org", "wonderland"); err != nil {
		t.Fatalf("bind with the SSHA password: %v", err)
	}
	if err := l.Bind("uid=alice,ou=people,dc=example,dc=org", "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("wrong password: %v, want invalid credentials", err)
	}
	res, err := l.Search(ldap.NewSearchRequest("uid=alice,ou=people,dc=example,dc=org", ldap.ScopeBaseObject,
		ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"memberOf", "userPassword"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Entries[0].GetAttributeValues("memberOf"); !slices.Equal(got, []string{"cn=readers,ou=groups,dc=example,dc=org"}) {
		t.Errorf("memberOf = %q", got)
	}
	if got := res.Entries[0].GetAttributeValues("userPassword"); len(got) != 0 {
		t.Errorf("anonymous reads userPassword: %q", got)
	}

	// memberOf follows live changes.
	s.Modify(t, `dn: cn=readers,ou=groups,dc=example,dc=org
changetype: modify
delete: member
member: uid=alice,ou=people,dc=example,dc=org
-
add: member
member: cn=admin,dc=example,dc=org
`)
	res, err = l.Search(ldap.NewSearchRequest("uid=alice,ou=people,dc=example,dc=org", ldap.ScopeBaseObject,
		ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"memberOf"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Entries[0].GetAttributeValues("memberOf"); len(got) != 0 {
		t.Errorf("memberOf after removal = %q", got)
	}

	// LDAPS and StartTLS with the CA.
	ls, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(s.TLSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.Bind(s.RootDN, s.RootPassword); err != nil {
		t.Fatalf("ldaps bind: %v", err)
	}
	ls.Close()
	lt, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := lt.StartTLS(s.TLSConfig()); err != nil {
		t.Fatalf("starttls: %v", err)
	}
	lt.Close()

	dir := s.Dir
	s.Stop()
	s.Stop() // idempotent
	if c, err := net.DialTimeout("tcp", s.URL[len("ldap://"):], time.Second); err == nil {
		c.Close()
		t.Fatal("slapd still listens after Stop")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the directory went before cleanup: %v", err)
	}
}

func TestTwoServersSideBySide(t *testing.T) {
	a, b := start(t), start(t)
	if a.URL == b.URL || a.Dir == b.Dir {
		t.Fatalf("servers share %s / %s", a.URL, a.Dir)
	}
}
