package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/relay"
)

// TestServiceLifecycle installs the real binary as a service on this
// machine (SysV init scripts in containers without systemd, systemd units
// elsewhere) against an in-process relay, drives it through
// stop/start/re-enroll/revocation, and checks that uninstall leaves nothing
// behind. It needs root; CI runs as root and must not skip it.
func TestServiceLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the service install test needs root in CI")
		}
		t.Skip("installing a service needs root")
	}
	if testing.Short() {
		t.Skip("builds the binary and installs a service")
	}
	t.Logf("kardianos/service system here: %s", installer.ChosenSystem())

	bin := buildHost(t)
	url, adm := startRelay(t)
	ctx := context.Background()
	newKey := func(name string) string {
		_, key, err := adm.CreatePackage(ctx, relay.PackageSpec{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return key
	}

	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "tandem-test-" + hex.EncodeToString(suffix)
	cfg := filepath.Join(t.TempDir(), "cfg")
	host := func(args ...string) (string, error) {
		args = append(args, "--service-name", name, "--config", cfg)
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	mustHost := func(args ...string) string {
		t.Helper()
		out, err := host(args...)
		if err != nil {
			t.Fatalf("tandem-host %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// Whatever happens, do not leave a service on the machine.
	t.Cleanup(func() {
		if out, err := host("uninstall"); err != nil {
			t.Logf("cleanup uninstall: %v\n%s", err, out)
		}
	})
	waitStatus := func(want ...string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var out string
		for time.Now().Before(deadline) {
			out = mustHost("status")
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(out, w)
			}
			if ok {
				return out
			}
			time.Sleep(100 * time.Millisecond) // polling an external process, not synchronising goroutines
		}
		t.Fatalf("status never showed %q:\n%s\nservice log:\n%s", want, out, serviceLog(name))
		return ""
	}
	waitSeen := func(deviceID string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			devs, err := adm.Devices(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range devs {
				if d.ID == deviceID && !d.LastSeen.IsZero() {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("device %s never connected to the relay\nservice log:\n%s", deviceID, serviceLog(name))
	}

	// Not root: a clear refusal, nothing installed.
	out, err := runAsNobody(bin, "install", "--relay", url, "--key", "x", "--service-name", name, "--config", cfg)
	if err == nil || !strings.Contains(out, "administrator rights") {
		t.Fatalf("install as nobody: %v\n%s", err, out)
	}
	if _, err := os.Stat("/etc/init.d/" + name); err == nil {
		t.Fatal("a refused install left an init script")
	}
	// A bad key installs nothing.
	if out, err := host("install", "--relay", url, "--key", "not-a-key"); err == nil {
		t.Fatalf("install with a bad key succeeded:\n%s", out)
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Fatal("a refused enrollment left a configuration")
	}

	// Install: enrolled, running, connected.
	out = mustHost("install", "--relay", url, "--key", newKey("first"), "--ice-loopback", "--log-level", "debug")
	t.Log(out)
	c1, err := installer.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if installer.ChosenSystem() == "unix-systemv" {
		for _, p := range []string{"/etc/init.d/" + name, "/etc/rc2.d/S50" + name, "/etc/rc0.d/K02" + name} {
			if _, err := os.Lstat(p); err != nil {
				t.Errorf("after install: %v", err)
			}
		}
	}
	out = waitStatus(": running", "device: "+c1.DeviceID, "relay: "+url)
	waitSeen(c1.DeviceID)
	t.Log(out)

	// Stop and start.
	mustHost("stop")
	waitStatus(": stopped")
	mustHost("start")
	waitStatus(": running")

	// Re-enroll with a new package's key on the installed host: same
	// identity, service restarted.
	mustHost("install", "--relay", url, "--key", newKey("second"), "--ice-loopback")
	c2, err := installer.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Key.Equal(c1.Key) || c2.DeviceID != c1.DeviceID {
		t.Fatalf("re-enrollment changed the identity: %s -> %s", c1.DeviceID, c2.DeviceID)
	}
	waitStatus(": running")
	waitSeen(c2.DeviceID)

	// `enroll` on the installed host restarts the service itself.
	out = mustHost("enroll", "--relay", url, "--key", newKey("second-b"))
	if !strings.Contains(out, "restarted") {
		t.Fatalf("enroll on an installed host did not restart the service:\n%s", out)
	}
	if c, err := installer.Load(cfg); err != nil || c.DeviceID != c1.DeviceID {
		t.Fatalf("enroll changed the identity: %v", err)
	}
	waitStatus(": running")

	// Revoked by an administrator: the service stops by itself and says why.
	if _, _, err := adm.RevokeDevice(ctx, c2.DeviceID); err != nil {
		t.Fatal(err)
	}
	out = waitStatus(": revoked", "revoked: re-enroll with a new key")
	t.Log(out)
	if log := serviceLog(name); !strings.Contains(log, "revoked or removed by an administrator") {
		t.Errorf("no clear log line for the revocation:\n%s", log)
	}
	// Starting again does not knock on the relay with the dead identity.
	mustHost("start")
	waitStatus(": revoked")

	// Re-enroll with a new key after the revocation: a new identity.
	mustHost("install", "--relay", url, "--key", newKey("third"), "--ice-loopback")
	c3, err := installer.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Key.Equal(c1.Key) || c3.DeviceID == c1.DeviceID {
		t.Fatal("re-enrollment after a revocation kept the dead identity")
	}
	out = waitStatus(": running", "device: "+c3.DeviceID)
	if strings.Contains(out, "revoked") {
		t.Fatalf("status still says revoked after re-enrollment:\n%s", out)
	}
	waitSeen(c3.DeviceID)
	st, _ := installer.ReadState(cfg)
	pid := st.PID

	// Uninstall keeping the identity: only host.json and device.key stay.
	mustHost("uninstall", "--keep-identity")
	ents, _ := os.ReadDir(cfg)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	slices.Sort(left)
	if strings.Join(left, ",") != installer.KeyFile+","+installer.ConfigFile {
		t.Fatalf("--keep-identity left %v", left)
	}
	assertNothingLeft(t, name, "", pid)
	if out := mustHost("status"); !strings.Contains(out, "not installed") || !strings.Contains(out, c3.DeviceID) {
		t.Fatalf("status after uninstall --keep-identity:\n%s", out)
	}

	// Reinstall (same identity), then a full uninstall: nothing at all left.
	mustHost("install", "--relay", url, "--key", newKey("fourth"), "--ice-loopback")
	c4, err := installer.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c4.DeviceID != c3.DeviceID {
		t.Fatal("reinstall with a kept identity became a new device")
	}
	waitStatus(": running")
	st, _ = installer.ReadState(cfg)
	out = mustHost("uninstall")
	t.Log(out)
	assertNothingLeft(t, name, cfg, st.PID)
	if out := mustHost("status"); !strings.Contains(out, "not installed") {
		t.Fatalf("status after uninstall:\n%s", out)
	}
	// Uninstalling again is harmless.
	mustHost("uninstall")
}

func assertNothingLeft(t *testing.T, name, cfg string, pid int) {
	t.Helper()
	var left []string
	for _, pat := range []string{"/etc/init.d/" + name, "/etc/rc?.d/*" + name, "/var/run/" + name + "*", "/run/" + name + "*",
		"/var/log/" + name + "*", "/etc/systemd/system/" + name + "*", "/lib/systemd/system/" + name + "*"} {
		m, _ := filepath.Glob(pat)
		left = append(left, m...)
	}
	if cfg != "" {
		if _, err := os.Stat(cfg); err == nil {
			left = append(left, cfg)
		}
	}
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if pid > 0 {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && strings.Contains(string(b), name) {
			t.Errorf("the service process %d still runs", pid)
		}
	}
}

func serviceLog(name string) string {
	var b strings.Builder
	for _, f := range []string{"/var/log/" + name + ".err", "/var/log/" + name + ".log"} {
		if data, err := os.ReadFile(f); err == nil {
			b.WriteString("== " + f + "\n" + string(data))
		}
	}
	if b.Len() == 0 {
		if out, err := exec.Command("journalctl", "-u", name, "--no-pager", "-n", "100").CombinedOutput(); err == nil {
			b.Write(out)
		}
	}
	return b.String()
}

func runAsNobody(bin string, args ...string) (string, error) {
	// The binary sits in a 0700 test directory: run a copy nobody can read.
	dir, err := os.MkdirTemp("", "tandem-nobody-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	cp := filepath.Join(dir, "tandem-host")
	if err := copyFile(bin, cp); err != nil {
		return "", err
	}
	out, err := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", cp}, args...)...).CombinedOutput()
	return string(out), err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func buildHost(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tandem-host-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tandem-host")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startRelay(t *testing.T) (string, *relay.Admin) {
	t.Helper()
	return startRelayWith(t, func(*relay.Config) {})
}

func startRelayWith(t *testing.T, mod func(*relay.Config)) (string, *relay.Admin) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := relay.Config{DataDir: t.TempDir(), Logger: log, PublicURL: url,
		PingInterval: time.Second, PingTimeout: 3 * time.Second}
	mod(&cfg)
	srv, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = srv.Close()
	})
	adm := srv.Admin()
	if _, err := adm.Init(context.Background(), "owner@example.com", "Correct-Horse-Battery-9", "Acme IT"); err != nil {
		t.Fatal(err)
	}
	return url, adm
}
