//go:build !windows

package installer

// ServiceLogPath is "" where the service manager keeps the process's
// stderr itself (SysV: /var/log/NAME.err, systemd: the journal, launchd:
// /var/log/NAME.err.log).
func ServiceLogPath(string) string { return "" }
