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
