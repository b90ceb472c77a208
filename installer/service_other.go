//go:build !linux && !darwin

package installer

func installedHint(platform, name string) (installed, known bool) { return false, false }

func cleanupService(platform, name string, logs bool) {}
