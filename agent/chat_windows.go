package agent

import (
	"log/slog"

	"golang.org/x/sys/windows"
)

// DesktopChatUI shows messages to the user at the console.
func DesktopChatUI(log *slog.Logger, _ string) ChatUI {
	return DesktopChatUIOn(log, thisDesktop(log))
}

// DesktopChatUIOn shows each technician's message in a message box on the
// console session's desktop (WTSSendMessage, not waited for). A message
// box has no reply field: on Windows the local user reads the chat but
// cannot answer yet. Not run in this project's CI (Linux); it
// cross-compiles.
func DesktopChatUIOn(log *slog.Logger, desk func() *Desktop) ChatUI {
	return wtsChatUI{LogChatUI{Log: log}, desk}
}

type wtsChatUI struct {
	LogChatUI
	desk func() *Desktop
}

func (u wtsChatUI) Show(m ChatMessage) {
	u.LogChatUI.Show(m)
	sid, ok := wtsSessionOf(u.desk())
	if !ok {
		return
	}
	if _, err := wtsMessage(sid, "Tandem: message from "+m.Technician, m.Text,
		windows.MB_OK|windows.MB_ICONINFORMATION|windows.MB_SETFOREGROUND, 0, false); err != nil {
		u.Log.Warn("chat message not shown", "session", m.SessionID, "err", err)
	}
}
