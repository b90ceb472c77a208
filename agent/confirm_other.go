//go:build !linux && !windows

package agent

import "log/slog"

// DesktopConfirmUI has no implementation on this platform yet: nil, so
// grants asking for the local user's confirmation are refused.
func DesktopConfirmUI(log *slog.Logger, display string) ConfirmUI {
	log.Info("no confirm-access prompt on this platform: such sessions are refused")
	return nil
}

// DesktopConfirmUIOn: likewise.
func DesktopConfirmUIOn(log *slog.Logger, _ func() *Desktop) ConfirmUI {
	return DesktopConfirmUI(log, "")
}
