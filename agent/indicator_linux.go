package agent

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
)

// DesktopIndicator shows each session in a zenity window on the desktop
// desk returns when the session starts, as that desktop's user: the
// technician, the permissions and a Disconnect button. The window goes
// away when the session ends. Without zenity sessions are only logged.
func DesktopIndicator(log *slog.Logger, desk func() *Desktop) Indicator {
	z, err := exec.LookPath("zenity")
	if err != nil {
		log.Info("no zenity: the local user sees no session indicator on this host")
		return LogIndicator{Log: log}
	}
	return &zenityIndicator{log: log, zenity: z, desk: desk}
}

type zenityIndicator struct {
	log    *slog.Logger
	zenity string
	desk   func() *Desktop
}

func (z *zenityIndicator) Show(s IndicatorSession, disconnect func()) func() {
	LogIndicator{Log: z.log}.Show(s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cmd, err := desktopCommand(ctx, z.desk(), z.zenity, zenityIndicatorArgs(s)...)
	if err != nil {
		z.log.Warn("session indicator not shown", "session", s.SessionID, "err", err)
		cancel()
		return func() {}
	}
	if err := cmd.Start(); err != nil {
		z.log.Warn("session indicator not shown", "session", s.SessionID, "err", err)
		cancel()
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil: // the session ended first
		case err == nil: // Disconnect
			disconnect()
		case errors.As(err, &ee) && ee.ExitCode() == 1:
			z.log.Info("session indicator closed without disconnecting", "session", s.SessionID)
		default:
			z.log.Warn("session indicator failed", "session", s.SessionID, "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// zenityIndicatorArgs: an info window whose only button is Disconnect
// (escaped as the chat and confirm windows are).
func zenityIndicatorArgs(s IndicatorSession) []string {
	esc := strings.NewReplacer(`\`, `\\`, "_", "__")
	return []string{"--info", "--title", "Tandem: " + s.Technician + " is connected",
		"--text", esc.Replace(s.Technician) + " is connected to this computer.\n\nPermissions: " +
			esc.Replace(strings.Join(s.Permissions, ", ")) + "\n\nPress Disconnect to end the session now.",
		"--ok-label", "Disconnect", "--width", "460"}
}
