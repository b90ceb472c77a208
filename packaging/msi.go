package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// UpgradeCode identifies the Host's MSI across versions: never change it,
// or new versions install beside old ones instead of upgrading them.
const UpgradeCode = "8667B7EE-B9C4-48CC-A1E8-E772239D423B"

// msiFixups are what wixl (msitools 0.101) cannot express: the public
// properties must be secure to reach the elevated (server) side of a
// per-machine install, and the enrollment custom action hides its command
// line (which carries the key) from the MSI log (msidbCustomActionTypeHideTarget).
var msiFixups = []string{
	"UPDATE Property SET Value='WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;RELAYURL;ENROLLMENTKEY' WHERE Property='SecureCustomProperties'",
	"UPDATE CustomAction SET Type=11346 WHERE Action='EnrollHost'", // 3154 (deferred, no impersonation, ignore result, exe in File) + 8192 hide target
	// A major upgrade removes the old version after installing the new one
	// (WiX's Schedule="afterInstallExecute", which wixl lacks): the new
	// version is registered when the old one's UninstallHost runs, so it
	// can tell an upgrade from an uninstall where UPGRADINGPRODUCTCODE is
	// not set (Wine), and the shared component (same GUID) keeps the
	// service and the exe throughout.
	"INSERT INTO InstallExecuteSequence (Action, Sequence) VALUES ('InstallExecute', 6500)",
	"UPDATE InstallExecuteSequence SET Sequence=6501 WHERE Action='RemoveExistingProducts'",
}

// MSIVersion is the ProductVersion: major.minor.build, numbers only.
func MSIVersion(v string) string {
	ver, _, _ := PackageVersion(v)
	return ver
}

// MSIFileName is the MSI's name in OutDir.
func (o Options) MSIFileName() string { return "tandem-host-" + o.windowsVersion() + "-x64.msi" }

// ExeFileName is the name the Windows Host's exe is published under in
// OutDir, next to the MSI: a relay serving OutDir offers it as the online
// installer (renamed per deployment package).
func (o Options) ExeFileName() string { return "tandem-host-" + o.windowsVersion() + "-x64.exe" }

func (o Options) windowsVersion() string {
	ver, pre, meta := PackageVersion(o.Version)
	if pre != "" {
		ver += "~" + pre
	}
	if meta != "" {
		ver += "+" + meta
	}
	return ver
}

// PublishExe copies exe (tandem-host.exe built for windows/amd64) into
// OutDir as ExeFileName and returns its path.
func (o Options) PublishExe(exe string) (string, error) {
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(o.OutDir, o.ExeFileName())
	tmp := out + ".tmp"
	if err := copyFile(exe, tmp); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return out, os.Rename(tmp, out)
}

// BuildMSI builds the Host's MSI from windows/tandem-host.wxs with wixl
// around exe (tandem-host.exe built for windows/amd64) and returns its path.
func (o Options) BuildMSI(exe string) (string, error) {
	for _, tool := range []string{"wixl", "msibuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("packaging: %s not found (Debian: apt-get install msitools wixl)", tool)
		}
	}
	if _, err := os.Stat(exe); err != nil {
		return "", fmt.Errorf("packaging: the Windows Host binary: %w", err)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(o.OutDir, o.MSIFileName()))
	if err != nil {
		return "", err
	}
	wxs, err := filepath.Abs(filepath.Join(o.Dir, "windows", "tandem-host.wxs"))
	if err != nil {
		return "", err
	}
	// wixl finds sources only by relative paths: stage the exe under the
	// name the MSI installs and run wixl there.
	stage, err := os.MkdirTemp("", "tandem-msi-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	if err := copyFile(exe, filepath.Join(stage, "tandem-host.exe")); err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	cmd := []string{"wixl", "-a", "x64", "-D", "Version=" + MSIVersion(o.Version), "-D", "HostExe=tandem-host.exe", "-o", tmp, wxs}
	if err := runIn(stage, cmd[0], cmd[1:]...); err != nil {
		os.Remove(tmp)
		return "", err
	}
	for _, q := range msiFixups {
		if err := runIn("", "msibuild", tmp, "-q", q); err != nil {
			os.Remove(tmp)
			return "", err
		}
	}
	return out, os.Rename(tmp, out)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("packaging: the Windows Host binary: %w", err)
	}
	return os.WriteFile(dst, b, 0o644)
}

func runIn(dir, name string, args ...string) error {
	var buf bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("packaging: %s: %w\n%s", name, err, strings.TrimSpace(buf.String()))
	}
	return nil
}
