//go:build !linux && !darwin

package installer

func installedHint(platform, name string) (installed, known bool) { return false, false }

func cleanupService(platform, name string, logs bool) {}

// packagedService: only Linux packages ship their own unit (see service_linux.go).
func packagedService(platform, name string) bool { return false }

func enablePackaged(name string, on bool) error { return nil }
