//go:build !darwin

package input

// Only macOS has privacy grants to check.
func checkPermissions() Permissions { return Permissions{} }
