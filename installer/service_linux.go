package installer

import (
	"errors"
	"io/fs"
	"os"
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
