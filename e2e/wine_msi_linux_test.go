package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/internal/setupname"
	"github.com/tandem-rc/tandem/internal/winetest"
	"github.com/tandem-rc/tandem/packaging"
)

// The MSI's service and its configuration (packaging/windows/tandem-host.wxs).
const (
	msiService   = "tandem-host"
	msiConfigWin = `C:\ProgramData\Tandem`
)

// buildMSI builds the Host's MSI of version around the shared
// tandem-host.exe with wixl, as `make msi` does.
func buildMSI(t *testing.T, version string) string {
	t.Helper()
	if err := winetest.CheckMSI(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	o := packaging.Options{Version: version, Dir: "../packaging", OutDir: t.TempDir()}
	msi, err := o.BuildMSI(wine.host)
	if err != nil {
		t.Fatal(err)
	}
	return msi
}

// msiexec runs Windows Installer under Wine with a verbose log and returns
// the log's text.
func msiexec(t *testing.T, ctx context.Context, p *winetest.Prefix, args ...string) string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "msi.log")
	args = append(args, "/qn", "/l*v", winetest.WinPath(log))
	if _, err := p.Output(ctx, "msiexec", args...); err != nil {
		t.Fatalf("%v\nMSI log:\n%s", err, winetest.ReadLog(log))
	}
	return winetest.ReadLog(log)
}

// hostStatus is `tandem-host.exe status` for the MSI's service.
func hostStatus(ctx context.Context, p *winetest.Prefix) (string, error) {
	return p.Output(ctx, `C:\Program Files\Tandem\tandem-host.exe`, "status", "--config", msiConfigWin)
}

// waitStatus polls hostStatus until it contains every want.
func waitStatus(t *testing.T, ctx context.Context, p *winetest.Prefix, want ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out string
	for {
		out, _ = hostStatus(ctx, p)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(out, w)
		}
		if ok {
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("status never showed %q:\n%s\nservice log:\n%s", want, out, serviceLogWine(p))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitLog polls the service's log until it holds want n times.
func waitLog(t *testing.T, ctx context.Context, p *winetest.Prefix, want string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for strings.Count(serviceLogWine(p), want) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("the service log never showed %q %d times:\n%s", want, n, serviceLogWine(p))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func serviceLogWine(p *winetest.Prefix) string {
	b, _ := os.ReadFile(p.Path(msiConfigWin + `\host.log`))
	return string(b)
}

// TestMSIUnderWine installs the real MSI with Windows Installer (Wine's
// msiexec): a wrong key leaves the service installed and not enrolled,
// with the failure in the MSI log and the key nowhere in it; uninstall
// removes the service and its data; the right key enrolls and brings the
// service online; a newer MSI upgrades in place, keeping the identity;
// the online installer enrolls by its file name alone.
func TestMSIUnderWine(t *testing.T) {
	p := winePrefix(t)
	msi1 := buildMSI(t, "1.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := newEnv(t)
	cfg := p.Path(msiConfigWin)

	// A wrong key: installed, not enrolled, the key hidden from the log.
	const badKey = "TQ-not-a-real-key-0123456789"
	log := msiexec(t, ctx, p, "/i", winetest.WinPath(msi1), "RELAYURL="+e.url, "ENROLLMENTKEY="+badKey)
	t.Cleanup(func() {
		// Leave the shared prefix without the service, whatever happened.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = p.Output(ctx, "msiexec", "/x", winetest.WinPath(msi1), "/qn")
	})
	checkKeyHidden(t, log, badKey)
	if !strings.Contains(log, "Action ended") || !strings.Contains(log, "EnrollHost") {
		t.Errorf("the MSI log does not show the enrollment:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(cfg, installer.ConfigFile)); err == nil {
		t.Fatal("enrolled with a wrong key")
	}
	st := waitStatus(t, ctx, p, msiService+" (windows-service): stopped", "not enrolled")
	t.Logf("after a wrong key:\n%s", st)
	if _, err := os.Stat(p.Path(`C:\Program Files\Tandem\tandem-host.exe`)); err != nil {
		t.Fatalf("not installed: %v", err)
	}
	log = msiexec(t, ctx, p, "/x", winetest.WinPath(msi1))
	assertUninstalled(t, ctx, p, log)

	// The right key: enrolled, the service runs and comes online.
	log = msiexec(t, ctx, p, "/i", winetest.WinPath(msi1), "RELAYURL="+e.url, "ENROLLMENTKEY="+e.key)
	checkKeyHidden(t, log, e.key)
	c1, err := installer.Load(cfg)
	if err != nil {
		t.Fatalf("not enrolled: %v\nservice log:\n%s", err, serviceLogWine(p))
	}
	waitStatus(t, ctx, p, ": running", "device: "+c1.DeviceID)
	relaytest.WaitOnline(t, ctx, e.login(t), c1.DeviceID)

	// An upgrade keeps the identity: the new version installs first and the
	// old one's removal then leaves the service and the identity alone (on
	// Windows UPGRADINGPRODUCTCODE says it is an upgrade; Wine 8's
	// RemoveExistingProducts does not set it, so UninstallHost asks Windows
	// Installer whether another version is installed). The service restarts
	// as the same device: no re-enrolment, no second device at the relay.
	started := strings.Count(serviceLogWine(p), "service started")
	msi2 := buildMSI(t, "1.0.1")
	log = msiexec(t, ctx, p, "/i", winetest.WinPath(msi2))
	if !strings.Contains(log, "RemoveExistingProducts") {
		t.Errorf("the upgrade did not remove the old product:\n%s", log)
	}
	c2, err := installer.Load(cfg)
	if err != nil {
		t.Fatalf("the upgrade lost the identity: %v\nservice log:\n%s", err, serviceLogWine(p))
	}
	if c2.DeviceID != c1.DeviceID || !c2.Key.Equal(c1.Key) {
		t.Fatalf("the upgrade changed the identity: device %s → %s", c1.DeviceID, c2.DeviceID)
	}
	if out, err := p.Output(ctx, "reg", "query", `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall`); err != nil ||
		strings.Count(out, "{") != 1 {
		t.Errorf("installed products after the upgrade (want one): %v\n%s", err, out)
	}
	waitStatus(t, ctx, p, ": running", "device: "+c1.DeviceID)
	waitLog(t, ctx, p, "service started", started+1)
	relaytest.WaitOnline(t, ctx, e.login(t), c1.DeviceID)
	if ds, err := e.login(t).Devices(ctx); err != nil || len(ds) != 1 {
		t.Fatalf("the relay lists %d devices after the upgrade (%v), want the one", len(ds), err)
	}

	// Uninstall: service and data gone.
	log = msiexec(t, ctx, p, "/x", winetest.WinPath(msi2))
	assertUninstalled(t, ctx, p, log)

	// The online installer: its name carries the relay and the key.
	name, err := setupname.Name(e.url, e.key, "exe")
	if err != nil {
		t.Fatal(err)
	}
	setup := filepath.Join(t.TempDir(), name)
	b, err := os.ReadFile(wine.host)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(setup, b, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := p.Output(ctx, setup)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = p.Output(ctx, `C:\Program Files\Tandem\tandem-host.exe`, "uninstall", "--config", msiConfigWin)
	})
	if err != nil {
		t.Fatal(err)
	}
	c3, err := installer.Load(cfg)
	if err != nil {
		t.Fatalf("the online installer did not enroll: %v\n%s", err, out)
	}
	waitStatus(t, ctx, p, ": running", "device: "+c3.DeviceID)
	relaytest.WaitOnline(t, ctx, e.login(t), c3.DeviceID)
}

// checkKeyHidden: the enrollment key shows nowhere in the MSI log, except
// in the property dump of Wine's msi, which ignores MsiHiddenProperties
// there (Windows prints the value as asterisks).
func checkKeyHidden(t *testing.T, log, key string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, key) {
			continue
		}
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "Property(S): ENROLLMENTKEY = ") || strings.HasPrefix(l, "Property(C): ENROLLMENTKEY = ") {
			continue
		}
		t.Errorf("the MSI log shows the enrollment key: %s", l)
	}
}

// assertUninstalled: neither the service nor its configuration is left.
func assertUninstalled(t *testing.T, ctx context.Context, p *winetest.Prefix, log string) {
	t.Helper()
	if ents, err := os.ReadDir(p.Path(msiConfigWin)); err == nil {
		t.Errorf("uninstall left %s with %d entries (%v)\nservice log:\n%s\nMSI log:\n%s", msiConfigWin, len(ents), ents, serviceLogWine(p), log)
	}
	if _, err := os.Stat(p.Path(`C:\Program Files\Tandem\tandem-host.exe`)); err == nil {
		t.Errorf("uninstall left tandem-host.exe")
	}
	out, err := p.Output(ctx, "sc", "query", msiService)
	if err == nil {
		t.Errorf("uninstall left the service:\n%s", out)
	}
}
