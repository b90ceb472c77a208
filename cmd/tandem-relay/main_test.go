package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// run executes the command in-process and returns its output.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestAdminInitIdempotent(t *testing.T) {
	dir := t.TempDir()
	out, _, err := run(t, "admin", "--data", dir, "init", "--owner", "Boss@Example.com", "--password", "Str0ngPass", "--account", "Acme")
	if err != nil || !strings.Contains(out, `created account "Acme"`) || !strings.Contains(out, "created owner boss@example.com") {
		t.Fatalf("first init: %v\n%s", err, out)
	}
	out, _, err = run(t, "admin", "--data", dir, "init", "--owner", "boss@example.com", "--password", "Str0ngPass", "--account", "Acme")
	if err != nil || !strings.Contains(out, "already exists") {
		t.Fatalf("second init: %v\n%s", err, out)
	}
	a, err := relay.OpenAdmin(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	acct, err := a.ResolveAccount(context.Background(), "")
	if err != nil || acct.Name != "Acme" {
		t.Fatalf("accounts after two inits: %+v %v", acct, err)
	}
}

func TestAdminInitRejects(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ email, pw, want string }{
		{"boss@example.com", "short1A", "at least 8 characters"},
		{"boss@example.com", "alllowercase1", "upper-case"},
		{"boss@example.com", "ALLUPPERCASE1", "lower-case"},
		{"boss@example.com", "NoDigitsHere", "digit"},
		{"not an email", "Str0ngPass", "email"},
	} {
		_, _, err := run(t, "admin", "--data", dir, "init", "--owner", tc.email, "--password", tc.pw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("init %q %q: %v, want an error about %q", tc.email, tc.pw, err, tc.want)
		}
	}
	out, _, err := run(t, "admin", "--data", dir, "device", "list")
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("device list after refused inits: %v\n%s", err, out)
	}
}

// Runs on each store engine, the admin command and the relay sharing the
// database through --db.
func TestPackageKeyEnrolls(t *testing.T) { storetest.Run(t, testPackageKeyEnrolls) }

func testPackageKeyEnrolls(t *testing.T, be storetest.Backend) {
	dir, db := t.TempDir(), be.Fresh(t)
	if _, _, err := run(t, "admin", "--data", dir, "--db", db, "init", "--owner", "boss@example.com", "--password", "Str0ngPass"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "admin", "--data", dir, "--db", db, "package", "create"); err == nil {
		t.Fatal("package create without --name succeeded")
	}
	out, _, err := run(t, "admin", "--data", dir, "--db", db, "package", "create", "--name", "Office", "--max-devices", "5", "--pending",
		"--public-url", "https://relay.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	key := lastLine(out)
	if len(strings.ReplaceAll(key, "-", "")) != 32 {
		t.Fatalf("last line %q is not a key", key)
	}
	if !strings.Contains(out, "https://relay.example.com/d/"+key+"\n") {
		t.Fatalf("no install page link:\n%s", out)
	}
	out, _, err = run(t, "admin", "--data", dir, "--db", db, "package", "list")
	if err != nil || !strings.Contains(out, "Office") || !strings.Contains(out, "0/5") || !strings.Contains(out, "pending") {
		t.Fatalf("package list: %v\n%s", err, out)
	}

	// The key enrolls with a relay on the same database.
	srv, err := relay.New(relay.Config{DataDir: dir, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer func() { ts.Close(); srv.Close() }()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	body, _ := json.Marshal(wire.EnrollRequest{Key: key, PublicKey: base64.StdEncoding.EncodeToString(pub),
		Inventory: &wire.Inventory{Hostname: "front-desk", OS: "linux"}})
	resp, err := http.Post(ts.URL+"/api/v1/enroll", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var er wire.EnrollResponse
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || er.State != "pending" {
		t.Fatalf("enroll with the printed key: %d %+v", resp.StatusCode, er)
	}

	out, _, err = run(t, "admin", "--data", dir, "--db", db, "device", "list")
	if err != nil || !strings.Contains(out, er.DeviceID) || !strings.Contains(out, "front-desk") || !strings.Contains(out, "pending") ||
		!strings.Contains(out, "never") {
		t.Fatalf("device list: %v\n%s", err, out)
	}
	out, _, err = run(t, "admin", "--data", dir, "--db", db, "device", "enroll", er.DeviceID)
	if err != nil || !strings.Contains(out, "now enrolled") {
		t.Fatalf("device enroll: %v\n%s", err, out)
	}
	// Users and Check permissions: a plain user has nothing until an
	// assignment names them; an administrator starts with full access.
	admin := func(args ...string) string {
		t.Helper()
		out, _, err := run(t, append([]string{"admin", "--data", dir, "--db", db}, args...)...)
		if err != nil {
			t.Fatalf("admin %v: %v\n%s", args, err, out)
		}
		return out
	}
	admin("user", "add", "--email", "tech@example.com", "--password", "Tech-Pass-1")
	admin("user", "add", "--email", "chief@example.com", "--password", "Chief-Pass-1", "--type", "admin")
	if _, _, err := run(t, "admin", "--data", dir, "--db", db, "user", "add", "--email", "tech@example.com"); err == nil {
		t.Fatal("added the same user twice")
	}
	if _, _, err := run(t, "admin", "--data", dir, "--db", db, "user", "add", "--email", "new@example.com", "--password", "weak"); err == nil {
		t.Fatal("a weak password was accepted")
	}
	if _, _, err := run(t, "admin", "--data", dir, "--db", db, "user", "add", "--email", "x@example.com", "--password", "Str0ngPass", "--type", "owner"); err == nil {
		t.Fatal("added a second owner")
	}
	if out := admin("check", "--user", "tech@example.com", "--device", "front-desk"); !strings.HasPrefix(out, "DENIED") ||
		!strings.Contains(out, "none of the user groups") {
		t.Fatalf("check tech:\n%s", out)
	}
	if out := admin("check", "--user", "chief@example.com", "--device", er.DeviceID, "--at", "2030-01-01T10:00"); !strings.HasPrefix(out, "ALLOWED at 2030-01-01 10:00") ||
		!strings.Contains(out, "Administrators") {
		t.Fatalf("check chief:\n%s", out)
	}
	admin("account", "create", "--name", "Second Co", "--owner", "tech@example.com")
	if out := admin("account", "list"); !strings.Contains(out, "Second Co") || strings.Count(out, "\n") != 3 {
		t.Fatalf("account list:\n%s", out)
	}

	out, _, err = run(t, "admin", "--data", dir, "--db", db, "device", "revoke", er.DeviceID)
	if err != nil || !strings.Contains(out, "now revoked") {
		t.Fatalf("device revoke: %v\n%s", err, out)
	}
	if _, _, err = run(t, "admin", "--data", dir, "--db", db, "device", "enroll", er.DeviceID); err == nil {
		t.Fatal("a revoked device was enrolled again")
	}
	if _, _, err = run(t, "admin", "--data", dir, "--db", db, "device", "revoke", "no-such-id"); err == nil {
		t.Fatal("revoking a missing device succeeded")
	}
}

// lockedBuffer collects a server's log from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestServe(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := run(t, "admin", "--data", dir, "init", "--owner", "boss@example.com", "--password", "Str0ngPass"); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--turn-listen", "127.0.0.1:0", "--log-level", "debug"})
	cmd.SetOut(pw)
	cmd.SetErr(logs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no serving line: %v\n%s", err, logs.String())
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "tandem-relay: serving ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("serving line %q", line)
	}
	go io.Copy(io.Discard, pr)
	resp, err := http.Get(url + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
	resp, err = http.Post(url+"/api/v1/login", "application/json",
		strings.NewReader(`{"email":"boss@example.com","password":"Str0ngPass"}`))
	if err != nil {
		t.Fatal(err)
	}
	var lr wire.LoginResponse
	json.NewDecoder(resp.Body).Decode(&lr)
	resp.Body.Close()
	if resp.StatusCode != 200 || lr.Token == "" {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(logs.String(), "TURN serving") {
		t.Fatalf("TURN did not start:\n%s", logs.String())
	}
	// Nothing secret reached the log.
	turnSecret, _ := os.ReadFile(filepath.Join(dir, relay.TURNSecretFile))
	for name, secret := range map[string]string{"password": "Str0ngPass", "token": lr.Token,
		"TURN secret": strings.TrimSpace(string(turnSecret))} {
		if secret == "" || strings.Contains(logs.String(), secret) {
			t.Errorf("the log contains the %s (or it is empty)", name)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "tandem-relay ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

func TestServeRefusesBadTrustedProxy(t *testing.T) {
	for _, bad := range []string{"proxy.example", "10.0.0.0/40"} {
		_, _, err := run(t, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--turn-listen", "off", "--trusted-proxy", bad)
		if err == nil || !strings.Contains(err.Error(), "--trusted-proxy") {
			t.Errorf("--trusted-proxy %s: %v", bad, err)
		}
	}
}

// TestServeMetricsListen: --metrics-listen serves /metrics on its own
// address; the public one does not, and answers /healthz and /readyz.
func TestServeMetricsListen(t *testing.T) {
	dir := t.TempDir()
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--turn-listen", "off", "--metrics-listen", "127.0.0.1:0"})
	cmd.SetOut(pw)
	cmd.SetErr(logs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no serving line: %v\n%s", err, logs.String())
	}
	go io.Copy(io.Discard, pr)
	base := strings.TrimPrefix(strings.TrimSpace(line), "tandem-relay: serving ")
	_, rest, ok := strings.Cut(logs.String(), `msg="metrics serving" url=`)
	if !ok {
		t.Fatalf("no metrics line:\n%s", logs.String())
	}
	metricsURL, _, _ := strings.Cut(rest, "\n")
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get(metricsURL); status != 200 || !strings.Contains(body, "tandem_connected_hosts 0") {
		t.Fatalf("%s: %d\n%.300s", metricsURL, status, body)
	}
	if status, _ := get(base + "/metrics"); status == 200 {
		t.Fatal("the public address serves /metrics")
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _ := get(base + p); status != 200 {
			t.Fatalf("%s: %d", p, status)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
