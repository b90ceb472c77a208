package agent

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"time"
)

// DesktopChatUI shows each chat message in a dialog on the X display the
// host serves (zenity, from Debian's zenity package), with a line for the
// local user's answer, which goes back to the technician. Without zenity it
// is LogChatUI. Messages are always logged too.
func DesktopChatUI(log *slog.Logger, display string) ChatUI {
	return DesktopChatUIOn(log, staticDesktop(display))
}

// DesktopChatUIOn shows the dialogs on the desktop desk returns at each
// message, as its user.
func DesktopChatUIOn(log *slog.Logger, desk func() *Desktop) ChatUI {
	u := &zenityChatUI{log: log, desk: desk, open: make(chan struct{}, maxChatDialogs)}
	u.zenity, _ = exec.LookPath("zenity")
	if u.zenity == "" {
		log.Info("no zenity: chat messages are only logged on this host")
	}
	return u
}

const (
	// maxChatDialogs bounds the dialogs open at once; further messages are
	// logged only until one closes.
	maxChatDialogs = 4
	// chatDialogLife closes a dialog nobody answered.
	chatDialogLife = 30 * time.Minute
)

type zenityChatUI struct {
	log    *slog.Logger
	desk   func() *Desktop
	zenity string
	open   chan struct{}
}

func (u *zenityChatUI) Show(m ChatMessage) {
	LogChatUI{Log: u.log}.Show(m)
	if u.zenity == "" {
		return
	}
	select {
	case u.open <- struct{}{}:
	default:
		u.log.Warn("too many chat windows open: message only logged", "session", m.SessionID)
		return
	}
	go func() {
		defer func() { <-u.open }()
		ctx, cancel := context.WithTimeout(context.Background(), chatDialogLife)
		defer cancel()
		cmd, err := desktopCommand(ctx, u.desk(), u.zenity, zenityChatArgs(m)...)
		if err != nil {
			u.log.Warn("chat window not shown", "err", err)
			return
		}
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return // closed without answering
		}
		if err != nil {
			u.log.Warn("chat window failed", "err", err)
			return
		}
		if reply := strings.TrimSpace(string(out)); reply != "" {
			if err := m.Reply(reply); err != nil {
				u.log.Warn("the local user's answer was not sent", "err", err)
			}
		}
	}()
}

// zenityChatArgs is the dialog for a message. zenity's entry dialog takes
// --text through g_strcompress (backslash escapes) and as a mnemonic label
// (underscores), not as markup: the technician's words are escaped for
// those two so they show as typed (checked on screenshots of zenity 3.44).
func zenityChatArgs(m ChatMessage) []string {
	esc := strings.NewReplacer(`\`, `\\`, "_", "__")
	return []string{"--entry", "--title", "Tandem: message from " + m.Technician,
		"--text", esc.Replace(m.Technician) + " writes:\n\n" + esc.Replace(m.Text) + "\n\nYour answer:",
		"--ok-label", "Send", "--cancel-label", "Close", "--width", "460"}
}
