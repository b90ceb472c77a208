package installer

import "path/filepath"

// ServiceLogPath is where the service process logs when the service
// manager gives it no stderr (Windows services): host.log in the
// configuration directory, removed with it on uninstall.
func ServiceLogPath(configDir string) string { return filepath.Join(configDir, "host.log") }
