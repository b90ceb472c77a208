//go:build !linux

package remote

// physicalCode has no scancode table outside Linux yet (Windows scancodes
// and macOS virtual key codes differ): keys map from their Fyne names.
func physicalCode(int) string { return "" }
