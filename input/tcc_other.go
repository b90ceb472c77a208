//go:build !darwin || !cgo

package input

// Nothing to check here (or no cgo to ask macOS with).
func checkPermissions() Permissions { return Permissions{} }
