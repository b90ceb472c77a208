package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// DesktopConfirmUI asks on the display the host serves, with a zenity
// question (Debian's zenity); nil when zenity is missing, so that grants
// asking for confirmation are refused rather than run unasked.
func DesktopConfirmUI(log *slog.Logger, display string) ConfirmUI {
	return DesktopConfirmUIOn(log, staticDesktop(display))
}

// DesktopConfirmUIOn asks on the desktop desk returns at the time of
// asking, as its user (a service follows the logged-in user); no desktop:
// refused.
func DesktopConfirmUIOn(log *slog.Logger, desk func() *Desktop) ConfirmUI {
	z, err := exec.LookPath("zenity")
	if err != nil {
		log.Info("no zenity: sessions that need the local user's confirmation are refused on this host")
		return nil
	}
	return &zenityConfirmUI{zenity: z, desk: desk}
}

type zenityConfirmUI struct {
	zenity string
	desk   func() *Desktop
}

func (u *zenityConfirmUI) Ask(ctx context.Context, r ConfirmRequest) (bool, error) {
	cmd, err := desktopCommand(ctx, u.desk(), u.zenity, zenityConfirmArgs(r)...)
	if err != nil {
		return false, fmt.Errorf("agent: confirm window: %w", err)
	}
	err = cmd.Run()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 1: // Deny, or the window closed
		return false, nil
	}
	return false, fmt.Errorf("agent: confirm window: %w", err)
}

// zenityConfirmArgs is the question; --text goes through g_strcompress
// and is a mnemonic label, so backslashes and underscores are escaped.
func zenityConfirmArgs(r ConfirmRequest) []string {
	esc := strings.NewReplacer(`\`, `\\`, "_", "__")
	title, text := confirmText(r)
	return []string{"--question", "--title", title, "--text", esc.Replace(text),
		"--ok-label", "Allow", "--cancel-label", "Deny", "--width", "460"}
}
