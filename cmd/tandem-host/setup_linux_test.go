package main

import (
	"context"
	"io"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/setupname"
	"github.com/tandem-rc/tandem/relay"
)

func TestOnlineInstaller(t *testing.T) {
	key := "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567"
	name, err := setupname.Name("https://relay.example.com", key, "exe")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{`C:\Users\me\Downloads\` + name}, false}, // a Windows path is not split on Linux
		{[]string{"/home/me/Downloads/" + name}, true},
		{[]string{name}, true},
		{[]string{name, "status"}, false}, // with a command it is the normal CLI
		{[]string{"/usr/bin/tandem-host"}, false},
	} {
		r, k, ok := onlineInstaller(c.args)
		if ok != c.ok || (ok && (r != "https://relay.example.com" || k != key)) {
			t.Errorf("%q: %q %q %v, want ok=%v", c.args, r, k, ok, c.ok)
		}
	}
}

// TestDownloadedInstallerEnrolls follows a deployment package's link the
// way a browser does: the relay names the installer it serves, and that
// name alone is enough for the Host to enroll into the package. (The
// Windows double-click path, UAC and the service install, is compiled in
// CI but runs only on Windows; on Linux the same name gets guidance.)
func TestDownloadedInstallerEnrolls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildHost(t)
	dl := t.TempDir()
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The relay serves whatever `make packages` published; here the Linux
	// binary stands in for the Windows build, byte for byte.
	if err := os.WriteFile(filepath.Join(dl, "tandem-host-1.0.0-x64.exe"), exe, 0o644); err != nil {
		t.Fatal(err)
	}
	url, adm := startRelayWith(t, func(c *relay.Config) { c.Downloads = dl })
	ctx := context.Background()
	p, key, err := adm.CreatePackage(ctx, relay.PackageSpec{Name: "Web installs"})
	if err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get(url + "/d/" + key + "/tandem-host-setup.exe")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if resp.StatusCode != 200 || err != nil || params["filename"] == "" {
		t.Fatalf("download: %d, Content-Disposition %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	saved := filepath.Join(t.TempDir(), params["filename"])
	f, err := os.OpenFile(saved, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// Double-clicked (no arguments) on Linux: clear guidance, nothing done.
	out, err := exec.Command(saved).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("run without arguments: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "tandem-host install --relay "+url+" --key "+key) {
		t.Fatalf("no guidance with this relay and key:\n%s", out)
	}

	// The name enrolls: what the macOS pkg's postinstall does with its own.
	cfg := filepath.Join(t.TempDir(), "cfg")
	out, err = exec.Command(saved, "enroll", "--installer-name", saved, "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("enroll --installer-name: %v\n%s", err, out)
	}
	c, err := installer.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.RelayURL != url {
		t.Fatalf("enrolled with %q, want %q", c.RelayURL, url)
	}
	pkgs, err := adm.Packages(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	devices := -1
	for _, q := range pkgs {
		if q.ID == p.ID {
			devices = q.Devices
		}
	}
	if devices != 1 {
		t.Fatalf("package has %d devices after the enrollment, want 1", devices)
	}

	// A renamed download no longer says where to enroll.
	renamed := filepath.Join(filepath.Dir(saved), "setup.exe")
	out, err = exec.Command(saved, "enroll", "--installer-name", renamed, "--config", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "renamed") {
		t.Fatalf("renamed installer: %v\n%s", err, out)
	}
}
