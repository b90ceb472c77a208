//go:build !linux && !windows

package agent

import (
	"errors"
	"fmt"
)

// OpenHotkey: no global hotkey on this platform yet; the window's
// Disconnect button still ends the session.
func OpenHotkey(string) (Hotkey, error) {
	return nil, fmt.Errorf("agent: the Ctrl+Shift+X hotkey on this platform: %w", errors.ErrUnsupported)
}
