//go:build !windows

package agent

import (
	"errors"
	"fmt"
)

// SpawnConsoleHelper is Windows only: elsewhere the service reaches the
// desktop itself (Linux: DesktopTracker) or runs per-user (macOS agent).
func SpawnConsoleHelper(string, []string, []byte) error {
	return fmt.Errorf("agent: console helper: %w", errors.ErrUnsupported)
}
