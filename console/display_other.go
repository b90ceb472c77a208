//go:build !linux

package console

// checkDisplay: Windows and macOS always have their desktop.
func checkDisplay() error { return nil }
