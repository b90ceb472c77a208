//go:build !linux

package agent

import "log/slog"

// DesktopIndicator has no window on this platform yet: sessions are logged.
func DesktopIndicator(log *slog.Logger, _ func() *Desktop) Indicator { return LogIndicator{Log: log} }
