package installer

import (
	"os"
	"path/filepath"
	"testing"
)

// A unit a deb/rpm installed is the package's: Install and Uninstall leave
// its file alone; one kardianos wrote in /etc/systemd/system is not.
func TestPackagedService(t *testing.T) {
	root := t.TempDir()
	pkgDir, local := filepath.Join(root, "lib"), filepath.Join(root, "etc")
	for _, d := range []string{pkgDir, local} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	oldPkg, oldLocal := packagedUnitDirs, localUnitDir
	packagedUnitDirs, localUnitDir = []string{filepath.Join(root, "none"), pkgDir}, local
	t.Cleanup(func() { packagedUnitDirs, localUnitDir = oldPkg, oldLocal })

	if packagedService("linux-systemd", "tandem-host") {
		t.Error("no unit anywhere: not packaged")
	}
	if err := os.WriteFile(filepath.Join(pkgDir, "tandem-host.service"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !packagedService("linux-systemd", "tandem-host") {
		t.Error("unit in the package directory: packaged")
	}
	if packagedService("unix-systemv", "tandem-host") || packagedService("linux-systemd", "other") {
		t.Error("SysV, or another name: not packaged")
	}
	if err := os.WriteFile(filepath.Join(local, "tandem-host.service"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if packagedService("linux-systemd", "tandem-host") {
		t.Error("a unit written by tandem-host install wins: not packaged")
	}
}
