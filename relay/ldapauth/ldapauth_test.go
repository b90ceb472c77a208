package ldapauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/slapdtest"
)

const (
	alicePW   = "Wonderland-42"
	bobPW     = "can-we-fix-it"
	starPW    = "twinkle"
	servicePW = "service-secret"
	base      = "dc=example,dc=org"
	serviceDN = "cn=relay,ou=system," + base
)

// fixture: users under ou=people (and a second "dup" under ou=contractors),
// a service account, and groups of each style.
func fixture() string {
	return fmt.Sprintf(`
dn: ou=system,dc=example,dc=org
objectClass: organizationalUnit
ou: system

dn: cn=relay,ou=system,dc=example,dc=org
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: relay
userPassword: %s

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
uid: a.liddell
cn: Alice L.
sn: Liddell
displayName: Alice Liddell
mail: alice@example.org
userPassword: %s

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
userPassword: %s

dn: uid=star*(user),ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: star*(user)
cn: Star
sn: Star
userPassword: %s

dn: uid=dup,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: dup
cn: Dup One
sn: One
userPassword: %s

dn: ou=contractors,dc=example,dc=org
objectClass: organizationalUnit
ou: contractors

dn: uid=dup,ou=contractors,dc=example,dc=org
objectClass: inetOrgPerson
uid: dup
cn: Dup Two
sn: Two
userPassword: %s

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=staff,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: staff
member: uid=alice,ou=people,dc=example,dc=org
member: uid=bob,ou=people,dc=example,dc=org

dn: cn=admins,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,dc=example,dc=org

dn: cn=unix,ou=groups,dc=example,dc=org
objectClass: posixGroup
cn: unix
gidNumber: 5000
memberUid: alice

dn: cn=auditors,ou=groups,dc=example,dc=org
objectClass: groupOfUniqueNames
cn: auditors
uniqueMember: uid=alice,ou=people,dc=example,dc=org

dn: cn=empty,ou=groups,dc=example,dc=org
objectClass: posixGroup
cn: empty
gidNumber: 5001
`, slapdtest.SSHA(servicePW), slapdtest.SSHA(alicePW), slapdtest.SSHA(bobPW), slapdtest.SSHA(starPW),
		slapdtest.SSHA(alicePW), slapdtest.SSHA(alicePW))
}

func startSlapd(t testing.TB) *slapdtest.Server {
	return slapdtest.Start(t, slapdtest.Options{Suffix: base, LDIF: fixture()})
}

func config(s *slapdtest.Server) Config {
	return Config{
		Domain:       "Example",
		URL:          s.URL,
		BindDN:       serviceDN,
		BindPassword: servicePW,
		BaseDN:       base,
		GroupBaseDN:  "ou=groups," + base,
		Timeout:      5 * time.Second,
	}
}

// logBuffer collects every log record at debug level, to check what is
// (not) logged.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newAuth(t testing.TB, cfg Config) (*Authenticator, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	a, err := New(cfg, slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pw := range []string{alicePW, bobPW, starPW, servicePW} {
			if strings.Contains(lb.String(), pw) {
				t.Errorf("a password is in the log:\n%s", lb.String())
			}
		}
	})
	return a, lb
}

func groupNames(gs []Group) string {
	var names []string
	for _, g := range gs {
		names = append(names, g.Name)
	}
	return strings.Join(names, ",")
}

func TestAuthenticateReturnsIdentityAndAllGroupStyles(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)
	a, _ := newAuth(t, config(s))

	id, err := a.Authenticate(context.Background(), `EXAMPLE\alice`, alicePW)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{
		Domain: "Example", Username: "alice", DN: "uid=alice,ou=people," + base,
		Email: "alice@example.org", DisplayName: "Alice Liddell",
	}
	if id.Domain != want.Domain || id.Username != want.Username || id.DN != want.DN || id.Email != want.Email || id.DisplayName != want.DisplayName {
		t.Errorf("identity = %+v, want %+v", id, want)
	}
	// groupOfNames (member), groupOfUniqueNames (uniqueMember), posixGroup
	// (memberUid), sorted by name.
	if got := groupNames(id.Groups); got != "admins,auditors,staff,unix" {
		t.Errorf("groups = %s (%+v)", got, id.Groups)
	}
	for _, g := range id.Groups {
		if g.DN != "cn="+g.Name+",ou=groups,"+base {
			t.Errorf("group %+v: DN and name disagree", g)
		}
	}

	// Bob: no displayName (cn instead), no mail, one group; the directory's
	// spelling of the name wins over the typed one.
	id, err = a.Authenticate(context.Background(), `example\BOB`, bobPW)
	if err != nil {
		t.Fatal(err)
	}
	if id.Username != "bob" || id.DisplayName != "Bob Builder" || id.Email != "" || groupNames(id.Groups) != "staff" {
		t.Errorf("bob = %+v", id)
	}

	// A second uid value logs in as that spelling.
	id, err = a.Authenticate(context.Background(), `example\a.liddell`, alicePW)
	if err != nil || id.Username != "a.liddell" || id.DN != want.DN {
		t.Errorf("alias login = %+v, %v", id, err)
	}
	// memberUid lists "alice", not the alias: posix membership follows
	// the name used to log in (as with nss/pam).
	if groupNames(id.Groups) != "admins,auditors,staff" {
		t.Errorf("alias groups = %s", groupNames(id.Groups))
	}

	// Filter metacharacters in a real name are escaped, not refused.
	id, err = a.Authenticate(context.Background(), `example\star*(user)`, starPW)
	if err != nil || id.Username != "star*(user)" {
		t.Errorf("star*(user) = %+v, %v", id, err)
	}
}

func TestMemberOfMode(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)
	cfg := config(s)
	cfg.GroupMode = GroupsMemberOf
	a, _ := newAuth(t, cfg)
	id, err := a.Authenticate(context.Background(), `example\alice`, alicePW)
	if err != nil {
		t.Fatal(err)
	}
	// slapd computes memberOf from groupOfNames only (see slapdtest).
	if got := groupNames(id.Groups); got != "admins,staff" {
		t.Errorf("memberOf groups = %s", got)
	}

	cfg.GroupMode = GroupsNone
	a, _ = newAuth(t, cfg)
	if id, err := a.Authenticate(context.Background(), `example\alice`, alicePW); err != nil || len(id.Groups) != 0 {
		t.Errorf("GroupsNone: %+v, %v", id, err)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)
	a, _ := newAuth(t, config(s))
	for _, tc := range []struct {
		name, login, password string
		want                  error
	}{
		{"wrong password", `example\alice`, "wonderland-42", ErrInvalidCredentials},
		{"other user's password", `example\bob`, alicePW, ErrInvalidCredentials},
		{"unknown user", `example\mallory`, alicePW, ErrInvalidCredentials},
		{"empty password", `example\alice`, "", ErrInvalidCredentials},
		{"password too long", `example\alice`, strings.Repeat("x", MaxPasswordLen+1), ErrInvalidCredentials},
		{"unknown domain", `other\alice`, alicePW, ErrUnknownDomain},
		{"no domain", `alice`, alicePW, ErrInvalidCredentials},
		{"empty domain", `\alice`, alicePW, ErrInvalidCredentials},
		{"empty user", `example\`, alicePW, ErrInvalidCredentials},
		{"the service account is no user", `example\relay`, servicePW, ErrInvalidCredentials},
		{"two entries", `example\dup`, alicePW, ErrAmbiguous},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Authenticate(context.Background(), tc.login, tc.password)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if id.DN != "" || id.Username != "" {
				t.Errorf("identity on failure: %+v", id)
			}
			for _, other := range []error{ErrInvalidCredentials, ErrUnknownDomain, ErrUnavailable, ErrAmbiguous} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("err %v is also %v", err, other)
				}
			}
		})
	}
}

func TestRefusedBeforeAnyRoundTrip(t *testing.T) {
	t.Parallel()
	// Nothing listens there: an answer other than ErrUnavailable proves
	// the refusal came before connecting.
	cfg := Config{Domain: "example", URL: "ldap://" + deadAddr(t), BaseDN: base, Timeout: time.Second}
	a, _ := newAuth(t, cfg)
	for _, login := range []string{`example\alice`, `example\` + strings.Repeat("a", MaxUsernameLen+1), "example\\al\x00ice", "example\\\n", `example\  `, "example\\\xff"} {
		for _, pw := range []string{"", "x"} {
			if login == `example\alice` && pw == "x" {
				continue
			}
			if _, err := a.Authenticate(context.Background(), login, pw); !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("%q / %q: %v, want ErrInvalidCredentials without connecting", login, pw, err)
			}
		}
	}
	if _, err := a.Authenticate(context.Background(), `nope\alice`, "x"); !errors.Is(err, ErrUnknownDomain) {
		t.Errorf("unknown domain: %v", err)
	}
}

func TestInjectionNamesMatchNothing(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)
	a, _ := newAuth(t, config(s))
	// With alice's password (also dup's): an unescaped filter would
	// match alice or several entries.
	for _, name := range []string{
		"*", "a*", "*alice*", "alice*", "a*)(uid=*", "alice)(|(uid=*", "admin)(|(uid=*",
		"*)(objectClass=*", "alice)(&", `alice\2a`, `\2a`, "alice\x00", "\x00", "*\x00",
		"(uid=alice)", "alice))(|(cn=*", strings.Repeat("*", MaxUsernameLen+1), strings.Repeat("a", 10000),
	} {
		_, err := a.Authenticate(context.Background(), `example\`+name, alicePW)
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%q: %v, want ErrInvalidCredentials", name, err)
		}
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)
	a, _ := newAuth(t, config(s))
	if _, err := a.Authenticate(context.Background(), `example\alice`, alicePW); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	start := time.Now()
	_, err := a.Authenticate(context.Background(), `example\alice`, alicePW)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("slapd stopped: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v to notice", took)
	}
	if !strings.Contains(err.Error(), "connect to 127.0.0.1:") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("message: %v", err)
	}
	t.Logf("stopped: %v", err)
	if _, err := a.ListGroups(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ListGroups: %v", err)
	}
}

// deadAddr is a 127.0.0.1 port nothing listens on.
func deadAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestTimeoutAndCancellation(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	for _, tc := range []struct {
		name     string
		url      string
		startTLS bool
	}{
		{"ldap", "ldap://" + addr, false},
		{"starttls", "ldap://" + addr, true},
		{"ldaps", "ldaps://" + addr, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Domain: "example", URL: tc.url, StartTLS: tc.startTLS, BindDN: serviceDN, BindPassword: servicePW,
				BaseDN: base, Timeout: 300 * time.Millisecond}
			a, _ := newAuth(t, cfg)

			start := time.Now()
			_, err := a.Authenticate(context.Background(), `example\alice`, alicePW)
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Timeout: %v, want ErrUnavailable and DeadlineExceeded", err)
			}
			if took := time.Since(start); took < 250*time.Millisecond || took > 2*time.Second {
				t.Errorf("Timeout 300ms took %v", took)
			}
			t.Logf("timeout: %v", err)

			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start = time.Now()
			if _, err := a.Authenticate(ctx, `example\alice`, alicePW); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("context deadline: %v", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("context deadline 100ms took %v", took)
			}

			ctx, cancel = context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			start = time.Now()
			if _, err := a.Authenticate(ctx, `example\alice`, alicePW); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
				t.Errorf("cancel: %v", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("cancel after 100ms took %v", took)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)
	_, _, otherCA, err := slapdtest.NewCA("some other CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		url        string
		startTLS   bool
		ca         []byte
		serverName string
		ok         bool
	}{
		{"ldaps", s.LDAPSURL, false, s.CAPEM, "", true},
		{"ldaps by name", s.LDAPSURL, false, s.CAPEM, "localhost", true},
		{"starttls", s.URL, true, s.CAPEM, "", true},
		{"starttls by name", s.URL, true, s.CAPEM, "localhost", true},
		{"ldaps unknown CA", s.LDAPSURL, false, otherCA, "", false},
		{"starttls unknown CA", s.URL, true, otherCA, "", false},
		{"ldaps system CAs", s.LDAPSURL, false, nil, "", false},
		{"ldaps wrong name", s.LDAPSURL, false, s.CAPEM, "ldap.example.org", false},
		{"starttls wrong name", s.URL, true, s.CAPEM, "ldap.example.org", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(s)
			cfg.URL, cfg.StartTLS, cfg.RootCAs, cfg.ServerName = tc.url, tc.startTLS, tc.ca, tc.serverName
			a, _ := newAuth(t, cfg)
			start := time.Now()
			id, err := a.Authenticate(context.Background(), `example\alice`, alicePW)
			if tc.ok {
				if err != nil || groupNames(id.Groups) != "admins,auditors,staff,unix" {
					t.Fatalf("%+v, %v", id, err)
				}
				if _, err := a.Authenticate(context.Background(), `example\alice`, "wrong"); !errors.Is(err, ErrInvalidCredentials) {
					t.Errorf("wrong password over TLS: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("message does not say why: %v", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			t.Logf("%v", err)
		})
	}
}

func TestGroupMembershipIsReadAtEachLogin(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)
	search := config(s)
	memberOf := config(s)
	memberOf.GroupMode = GroupsMemberOf
	as, _ := newAuth(t, search)
	am, _ := newAuth(t, memberOf)
	check := func(step, wantSearch, wantMemberOf string) {
		t.Helper()
		for _, c := range []struct {
			a    *Authenticator
			want string
		}{{as, wantSearch}, {am, wantMemberOf}} {
			id, err := c.a.Authenticate(context.Background(), `example\alice`, alicePW)
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if got := groupNames(id.Groups); got != c.want {
				t.Errorf("%s (%s): groups = %s, want %s", step, c.a.cfg.GroupMode, got, c.want)
			}
		}
	}
	check("before", "admins,auditors,staff,unix", "admins,staff")

	s.Modify(t, `dn: cn=admins,ou=groups,dc=example,dc=org
changetype: modify
delete: member
member: uid=alice,ou=people,dc=example,dc=org
-
add: member
member: uid=bob,ou=people,dc=example,dc=org

dn: cn=unix,ou=groups,dc=example,dc=org
changetype: modify
delete: memberUid
memberUid: alice

dn: cn=empty,ou=groups,dc=example,dc=org
changetype: modify
add: memberUid
memberUid: alice

dn: cn=helpdesk,ou=groups,dc=example,dc=org
changetype: add
objectClass: groupOfNames
cn: helpdesk
member: uid=alice,ou=people,dc=example,dc=org
`)
	check("after", "auditors,empty,helpdesk,staff", "helpdesk,staff")

	// Name and email are read again too.
	s.Modify(t, `dn: uid=alice,ou=people,dc=example,dc=org
changetype: modify
replace: mail
mail: alice@wonderland.example
`)
	if id, err := as.Authenticate(context.Background(), `example\alice`, alicePW); err != nil || id.Email != "alice@wonderland.example" {
		t.Errorf("after the mail change: %+v, %v", id, err)
	}
}

func TestServiceAccountAndBaseDNProblems(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)

	cfg := config(s)
	cfg.BindPassword = "not-it"
	a, _ := newAuth(t, cfg)
	_, err := a.Authenticate(context.Background(), `example\alice`, alicePW)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "check BindDN and BindPassword") {
		t.Errorf("wrong service password: %v", err)
	}

	cfg = config(s)
	cfg.BaseDN = "ou=nowhere," + base
	cfg.GroupBaseDN = ""
	a, _ = newAuth(t, cfg)
	if _, err := a.Authenticate(context.Background(), `example\alice`, alicePW); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing BaseDN: %v", err)
	}

	// Anonymous search (no service account) works where the ACL allows it.
	cfg = config(s)
	cfg.BindDN, cfg.BindPassword = "", ""
	a, _ = newAuth(t, cfg)
	if id, err := a.Authenticate(context.Background(), `example\alice`, alicePW); err != nil || len(id.Groups) != 4 {
		t.Errorf("anonymous search: %+v, %v", id, err)
	}
}

func TestListGroups(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)
	a, _ := newAuth(t, config(s))
	gs, err := a.ListGroups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := groupNames(gs); got != "admins,auditors,empty,staff,unix" {
		t.Errorf("ListGroups = %s", got)
	}
}

func TestConcurrentLogins(t *testing.T) {
	t.Parallel()
	s := startSlapd(t)
	a, _ := newAuth(t, config(s))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			pw, want := alicePW, error(nil)
			if i%2 == 1 {
				pw, want = "wrong", ErrInvalidCredentials
			}
			_, err := a.Authenticate(context.Background(), `example\alice`, pw)
			if !errors.Is(err, want) {
				errs <- fmt.Errorf("login %d: %v, want %v", i, err, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestValidate(t *testing.T) {
	good := Config{Domain: "CORP", URL: "ldaps://dc1.corp.example:636", BindDN: "cn=svc,dc=corp,dc=example",
		BindPassword: "x", BaseDN: "dc=corp,dc=example"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	ad := good
	ad.UserFilter, ad.UsernameAttr, ad.GroupFilter = ADUserFilter, "sAMAccountName", ADNestedGroupFilter
	if err := ad.Validate(); err != nil {
		t.Fatalf("AD config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no domain", func(c *Config) { c.Domain = "" }, "Domain: required"},
		{"domain with backslash", func(c *Config) { c.Domain = `a\b` }, "Domain"},
		{"domain with space", func(c *Config) { c.Domain = "a b" }, "Domain"},
		{"no URL", func(c *Config) { c.URL = "" }, "URL: required"},
		{"http URL", func(c *Config) { c.URL = "http://dc1" }, "scheme must be ldap or ldaps"},
		{"bare host", func(c *Config) { c.URL = "dc1.corp.example" }, "scheme must be ldap or ldaps"},
		{"no host", func(c *Config) { c.URL = "ldap://" }, "no host"},
		{"URL with a DN", func(c *Config) { c.URL = "ldap://dc1/dc=corp,dc=example" }, "only scheme, host and port"},
		{"StartTLS on ldaps", func(c *Config) { c.StartTLS = true }, "StartTLS"},
		{"bad CA", func(c *Config) { c.RootCAs = []byte("not a PEM") }, "RootCAs: no PEM certificate"},
		{"bind DN without password", func(c *Config) { c.BindPassword = "" }, "BindPassword: required with BindDN"},
		{"password without bind DN", func(c *Config) { c.BindDN = "" }, "BindDN: required with BindPassword"},
		{"bad bind DN", func(c *Config) { c.BindDN = "svc" }, "BindDN"},
		{"no base", func(c *Config) { c.BaseDN = "" }, "BaseDN: required"},
		{"bad base", func(c *Config) { c.BaseDN = "corp.example" }, "BaseDN"},
		{"filter without placeholder", func(c *Config) { c.UserFilter = "(uid=alice)" }, "must contain {username}"},
		{"broken filter", func(c *Config) { c.UserFilter = "(uid={username}" }, "UserFilter"},
		{"bad attribute", func(c *Config) { c.EmailAttr = "e mail" }, "EmailAttr"},
		{"bad group mode", func(c *Config) { c.GroupMode = "nested" }, "GroupMode"},
		{"group filter without placeholder", func(c *Config) { c.GroupFilter = "(objectClass=group)" }, "GroupFilter"},
		{"bad group base", func(c *Config) { c.GroupBaseDN = "groups" }, "GroupBaseDN"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "Timeout: negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to mention %q", err, tc.want)
			}
			if _, nerr := New(c, nil); nerr == nil {
				t.Error("New accepted it")
			}
		})
	}
	// All problems at once, one per line.
	err := Config{URL: "ftp://x"}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Errorf("several problems: %v", err)
	}
	// A group filter is not needed without a group search.
	c := good
	c.GroupMode, c.GroupFilter = GroupsMemberOf, "(objectClass=group)"
	if err := c.Validate(); err != nil {
		t.Errorf("memberOf mode with an unused filter: %v", err)
	}
}

func TestSplitLogin(t *testing.T) {
	for _, tc := range []struct {
		in           string
		domain, user string
		ok           bool
	}{
		{`CORP\jdoe`, "CORP", "jdoe", true},
		{`corp\j\doe`, "corp", `j\doe`, true},
		{`jdoe`, "", "", false},
		{`\jdoe`, "", "", false},
		{`CORP\`, "", "", false},
		{`jdoe@corp.example`, "", "", false},
		{``, "", "", false},
	} {
		d, u, ok := SplitLogin(tc.in)
		if d != tc.domain || u != tc.user || ok != tc.ok {
			t.Errorf("SplitLogin(%q) = %q, %q, %v", tc.in, d, u, ok)
		}
	}
}

func TestPlainLDAPWarns(t *testing.T) {
	_, lb := newAuth(t, Config{Domain: "x", URL: "ldap://127.0.0.1", BaseDN: base})
	if !strings.Contains(lb.String(), "in clear") {
		t.Errorf("no warning for ldap:// without StartTLS: %s", lb.String())
	}
	_, lb = newAuth(t, Config{Domain: "x", URL: "ldap://127.0.0.1", StartTLS: true, BaseDN: base})
	if strings.Contains(lb.String(), "in clear") {
		t.Errorf("warning with StartTLS: %s", lb.String())
	}
}

// BenchmarkAuthenticate is a whole login against a private slapd on
// loopback: connect, service bind, user search, user bind, service bind,
// group search. Reported as ns/op and auths/s.
func BenchmarkAuthenticate(b *testing.B) {
	s := startSlapd(b)
	for _, bc := range []struct {
		name string
		edit func(*Config)
	}{
		{"ldap", func(*Config) {}},
		{"ldap-memberOf", func(c *Config) { c.GroupMode = GroupsMemberOf }},
		{"starttls", func(c *Config) { c.StartTLS, c.RootCAs = true, s.CAPEM }},
		{"ldaps", func(c *Config) { c.URL, c.RootCAs = s.LDAPSURL, s.CAPEM }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := config(s)
			bc.edit(&cfg)
			a, err := New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for b.Loop() {
				if _, err := a.Authenticate(ctx, `example\alice`, alicePW); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "auths/s")
		})
	}
	b.Run("ldap-parallel", func(b *testing.B) {
		a, err := New(config(s), nil)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.Authenticate(context.Background(), `example\alice`, alicePW); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "auths/s")
	})
}
