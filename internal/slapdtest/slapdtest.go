// Package slapdtest starts a private OpenLDAP server (Debian's slapd) for
// tests and benchmarks.
//
// Start writes a slapd.conf (mdb backend, the core, cosine, inetorgperson,
// nis and dyngroup schemas, the dynlist overlay computing memberOf from
// groupOfNames' member), generates a CA and a server
// certificate in Go, loads the suffix entry and the caller's LDIF with
// slapadd, and runs slapd as the current user on ldap://127.0.0.1:PORT/
// (StartTLS available) and ldaps://127.0.0.1:PORT/. Configuration, database,
// certificates and pid file all live in the test's temporary directory; no
// system slapd, /etc/ldap/slapd.d or port 389 is involved. t.Cleanup stops
// the server before the directory is removed.
//
// memberOf is computed at search time (slapo-dynlist), so entries loaded by
// slapadd and later Modify calls both show up in it at once. Only
// groupOfNames feeds it: dynlist takes one mapping per member attribute, and
// uniqueMember's syntax is not a plain DN. posixGroup (memberUid) and
// groupOfUniqueNames groups are found by searching for them.
package slapdtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Where Debian's slapd and ldap-utils put things.
const (
	SlapdPath   = "/usr/sbin/slapd"
	SlapaddPath = "/usr/sbin/slapadd"
	SchemaDir   = "/etc/ldap/schema"
	ModuleDir   = "/usr/lib/ldap"
)

const (
	// DefaultSuffix is the naming context when Options.Suffix is empty.
	DefaultSuffix = "dc=example,dc=org"
	rootPassword  = "root-secret"
)

// Options configure Start. The zero value serves an empty DefaultSuffix.
type Options struct {
	// Suffix is the database's naming context, e.g. "dc=example,dc=org";
	// Start creates its entry (dcObject + organization).
	Suffix string
	// LDIF holds the entries below the suffix, loaded with slapadd before
	// slapd starts. Passwords: "userPassword: " + SSHA("secret").
	LDIF string
}

// Server is a running private slapd.
type Server struct {
	URL          string // ldap://127.0.0.1:PORT (plain; StartTLS works on it)
	LDAPSURL     string // ldaps://127.0.0.1:PORT
	Suffix       string
	RootDN       string // the database's rootdn (full access, bypasses ACLs)
	RootPassword string
	CAPEM        []byte // the CA that signed the server's certificate (PEM)
	ServerName   string // the name in the server certificate: "localhost" (127.0.0.1 is in it too)
	Dir          string // the private directory: slapd.conf, db/, certificates, pid file

	cmd    *exec.Cmd
	exited chan struct{}
	stderr *lockedBuffer
	mu     sync.Mutex
	stop   bool
}

// Start runs a private slapd loaded with opts.LDIF and registers its Stop
// with t.Cleanup. It fails the test when slapd is not installed (Debian:
// scripts/deps.sh test) or does not come up.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	for _, p := range []string{SlapdPath, SlapaddPath, filepath.Join(SchemaDir, "core.schema")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("slapdtest: %s is missing: slapd is not installed (run scripts/deps.sh test)", p)
		}
	}
	if opts.Suffix == "" {
		opts.Suffix = DefaultSuffix
	}
	dir := t.TempDir()
	s := &Server{
		Suffix:       opts.Suffix,
		RootDN:       "cn=admin," + opts.Suffix,
		RootPassword: rootPassword,
		ServerName:   "localhost",
		Dir:          dir,
	}
	var err error
	if s.CAPEM, err = writeCertificates(dir); err != nil {
		t.Fatalf("slapdtest: certificates: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(s.config()), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(data, []byte(s.baseLDIF()+"\n"+strings.TrimSpace(opts.LDIF)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(SlapaddPath, "-f", conf, "-l", data).CombinedOutput(); err != nil {
		t.Fatalf("slapdtest: slapadd: %v\n%s", err, out)
	}

	// A free port can be taken by someone else between the probe and slapd's
	// bind: try a few times.
	for attempt := 0; ; attempt++ {
		err := s.start(conf)
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("slapdtest: %v", err)
		}
		t.Logf("slapdtest: retrying: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(conf string) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", ports[0])
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", ports[1])
	// -d 0: stay in the foreground (we own the process) without debug
	// output; -s 0 keeps syslog quiet. Errors still reach stderr.
	cmd := exec.Command(SlapdPath, "-d", "0", "-s", "0", "-f", conf,
		"-h", s.URL+"/ "+s.LDAPSURL+"/")
	s.stderr = &lockedBuffer{}
	cmd.Stdout = s.stderr
	cmd.Stderr = s.stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("slapd exited at start: %s", strings.TrimSpace(s.stderr.String()))
		default:
		}
		if s.answers() {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("slapd did not answer within 15s: %s", strings.TrimSpace(s.stderr.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether both listeners accept connections and the plain
// one answers an LDAP request (a root bind).
func (s *Server) answers() bool {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.LDAPSURL, "ldaps://"), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	l, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return false
	}
	defer l.Close()
	l.SetTimeout(2 * time.Second)
	return l.Bind(s.RootDN, s.RootPassword) == nil
}

// kill ends a slapd that did not come up.
func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Stop stops slapd (SIGTERM, then SIGKILL after 5s) and waits for it to
// exit. Idempotent; Start registers it with t.Cleanup, and tests call it to
// make the server unreachable.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.stop = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Modify applies an LDIF of changes (changetype: add, modify, delete,
// modrdn) as the rootdn with ldapmodify from ldap-utils.
func (s *Server) Modify(t testing.TB, ldif string) {
	t.Helper()
	if _, err := exec.LookPath("ldapmodify"); err != nil {
		t.Fatal("slapdtest: ldapmodify is missing: ldap-utils is not installed (run scripts/deps.sh test)")
	}
	pw := filepath.Join(s.Dir, "rootpw")
	if err := os.WriteFile(pw, []byte(s.RootPassword), 0o600); err != nil { // -y reads the file as is: no newline
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ldapmodify", "-x", "-H", s.URL, "-D", s.RootDN, "-y", pw)
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("slapdtest: ldapmodify: %v\n%s", err, out)
	}
}

// SSHA returns password as an OpenLDAP {SSHA} userPassword value (salted
// SHA-1, as slappasswd makes by default).
func SSHA(password string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// TLSConfig returns a client TLS configuration trusting the server's CA.
func (s *Server) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	return &tls.Config{RootCAs: pool, ServerName: s.ServerName, MinVersion: tls.VersionTLS12}
}

func (s *Server) config() string {
	var b strings.Builder
	for _, sc := range []string{"core", "cosine", "inetorgperson", "nis", "dyngroup"} {
		fmt.Fprintf(&b, "include %s\n", filepath.Join(SchemaDir, sc+".schema"))
	}
	fmt.Fprintf(&b, `modulepath %s
moduleload back_mdb
moduleload dynlist
pidfile %s
argsfile %s
TLSCACertificateFile %s
TLSCertificateFile %s
TLSCertificateKeyFile %s

database mdb
suffix %q
rootdn %q
rootpw %s
directory %s
maxsize 67108864
index objectClass eq
index uid,cn,mail,memberUid eq
index member,uniqueMember eq

overlay dynlist
dynlist-attrset groupOfURLs memberURL member+memberOf@groupOfNames

# Users may change their own password; nobody reads passwords; binds may
# compare them. Everyone (anonymous too) reads the rest: the tests exercise
# search-then-bind, not ACL design.
access to attrs=userPassword
	by self =xw
	by anonymous auth
	by * none
access to *
	by * read
`, ModuleDir,
		filepath.Join(s.Dir, "slapd.pid"), filepath.Join(s.Dir, "slapd.args"),
		filepath.Join(s.Dir, "ca.pem"), filepath.Join(s.Dir, "server.pem"), filepath.Join(s.Dir, "server.key"),
		s.Suffix, s.RootDN, SSHA(s.RootPassword), filepath.Join(s.Dir, "db"))
	return b.String()
}

func (s *Server) baseLDIF() string {
	rdn := strings.SplitN(s.Suffix, ",", 2)[0]
	attr, val, _ := strings.Cut(rdn, "=")
	if !strings.EqualFold(strings.TrimSpace(attr), "dc") {
		// organization needs o; keep it simple and support dc= suffixes.
		return fmt.Sprintf("dn: %s\nobjectClass: organization\no: %s\n", s.Suffix, val)
	}
	return fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n", s.Suffix, val, val)
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 right now.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeCertificates writes ca.pem, server.pem and server.key (ECDSA P-256,
// valid for localhost and 127.0.0.1 for a day) into dir and returns the CA.
func writeCertificates(dir string) ([]byte, error) {
	caCert, caKey, caPEM, err := NewCA("slapdtest CA")
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"ca.pem":     caPEM,
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	return caPEM, nil
}

// NewCA makes a self-signed ECDSA CA certificate; tests use a second one
// as the "unknown CA" a client must refuse.
func NewCA(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil // enough to diagnose; never block slapd
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ExampleOrg is the LDIF of a small directory under "dc=example,dc=org"
// that tests share: ou=people with svc (a service account, password
// svc-Secret-1) and alice (Alice-Pass-1, alice@example.org), and
// ou=groups with helpdesk (alice) and finance (svc).
func ExampleOrg() string {
	return fmt.Sprintf(`dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=svc,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: svc
cn: Service
sn: Service
userPassword: %s

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
displayName: Alice Liddell
mail: alice@example.org
userPassword: %s

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=helpdesk,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: helpdesk
member: uid=alice,ou=people,dc=example,dc=org

dn: cn=finance,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: finance
member: uid=svc,ou=people,dc=example,dc=org
`, SSHA("svc-Secret-1"), SSHA("Alice-Pass-1"))
}
