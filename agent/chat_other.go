//go:build !linux && !windows

package agent

import "log/slog"

// DesktopChatUI has no local window on this platform yet: messages are
// logged (and reach Options.OnEvent) until the session indicator shows them.
func DesktopChatUI(log *slog.Logger, _ string) ChatUI { return LogChatUI{Log: log} }

// DesktopChatUIOn: likewise.
func DesktopChatUIOn(log *slog.Logger, _ func() *Desktop) ChatUI { return LogChatUI{Log: log} }
