package installer

import "os"

func installedHint(platform, name string) (installed, known bool) { return false, false }

// cleanupService removes launchd's log files (kardianos' default log
// directory) when the service is removed.
func cleanupService(platform, name string, logs bool) {
	if logs {
		_ = os.Remove("/var/log/" + name + ".out.log")
		_ = os.Remove("/var/log/" + name + ".err.log")
	}
}

// packagedService: only Linux packages ship their own unit (see service_linux.go).
func packagedService(platform, name string) bool { return false }

func enablePackaged(name string, on bool) error { return nil }
