//go:build !windows

package installer

// UpgradedBy: there is no Windows Installer here.
func UpgradedBy(upgradeCode, product string) (string, error) { return "", nil }
