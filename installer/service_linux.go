package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

const sysvPlatform = "unix-systemv"

// installedHint tells whether a SysV service is installed when kardianos
// cannot (its status is an error for both "stopped" and "unknown").
func installedHint(platform, name string) (installed, known bool) {
	if platform != sysvPlatform {
		return false, false
	}
	_, err := os.Stat("/etc/init.d/" + name)
	return err == nil, err == nil || errors.Is(err, fs.ErrNotExist)
}

// cleanupService removes what kardianos' SysV support leaves behind: its
// Uninstall deletes only the init script, not the /etc/rc?.d links, the
// pid file (stale when the service ended by itself) or, with logs, the
// log files.
func cleanupService(platform, name string, logs bool) {
	if platform != sysvPlatform {
		return
	}
	script := "/etc/init.d/" + name
	for _, lvl := range []string{"0", "1", "2", "3", "4", "5", "6"} {
		for _, prefix := range []string{"S50", "K02"} {
			link := filepath.Join("/etc/rc"+lvl+".d", prefix+name)
			if target, err := os.Readlink(link); err == nil && target == script {
				_ = os.Remove(link)
			}
		}
	}
	_ = os.Remove("/var/run/" + name + ".pid")
	if logs {
		_ = os.Remove("/var/log/" + name + ".log")
		_ = os.Remove("/var/log/" + name + ".err")
	}
}

// Where distribution packages and kardianos put systemd units (seams for tests).
var (
	packagedUnitDirs = []string{"/lib/systemd/system", "/usr/lib/systemd/system"}
	localUnitDir     = "/etc/systemd/system"
)

// packagedService tells whether the service is the systemd unit a package
// installed (the tandem-host deb/rpm's) rather than one kardianos wrote:
// Install and Uninstall then leave the unit file to the package and only
// enable, start, stop and disable it.
func packagedService(platform, name string) bool {
	if platform != "linux-systemd" {
		return false
	}
	if _, err := os.Stat(filepath.Join(localUnitDir, name+".service")); err == nil {
		return false
	}
	for _, d := range packagedUnitDirs {
		if _, err := os.Stat(filepath.Join(d, name+".service")); err == nil {
			return true
		}
	}
	return false
}

// enablePackaged enables (or disables) a packaged unit at boot.
func enablePackaged(name string, on bool) error {
	verb := "disable"
	if on {
		verb = "enable"
	}
	if out, err := exec.Command("systemctl", verb, name+".service").CombinedOutput(); err != nil {
		return fmt.Errorf("systemctl %s %s: %w: %s", verb, name, err, out)
	}
	return nil
}
