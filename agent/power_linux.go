package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// SystemPower is systemd's: logind for the active session (log out, lock)
// and systemctl for the machine (restart, shut down). The Host service runs
// as root, which both allow; an unprivileged agent gets polkit's answer.
func SystemPower() Power { return linuxPower{run: runCommand} }

type linuxPower struct {
	// run runs argv and returns its standard output.
	run func(ctx context.Context, argv []string) (string, error)
}

func runCommand(ctx context.Context, argv []string) (string, error) {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return string(out), nil
}

func (p linuxPower) Do(ctx context.Context, a PowerAction) error {
	session := ""
	if a == PowerLogout || a == PowerLock {
		var err error
		if session, err = p.activeSession(ctx); err != nil {
			return err
		}
	}
	argv, err := linuxPowerCommand(a, session)
	if err != nil {
		return err
	}
	_, err = p.run(ctx, argv)
	return err
}

// activeSession is the logind session the local user sits at: the agent's
// own when it runs inside one (OnDemand), else seat0's active session.
func (p linuxPower) activeSession(ctx context.Context) (string, error) {
	if id := os.Getenv("XDG_SESSION_ID"); id != "" {
		return id, nil
	}
	out, err := p.run(ctx, []string{"loginctl", "show-seat", "seat0", "--property=ActiveSession", "--value"})
	if err != nil {
		return "", fmt.Errorf("agent: cannot find the local user's session: %w", err)
	}
	id := strings.TrimSpace(out)
	if id == "" {
		return "", errors.New("agent: no user session is active at this computer's screen (seat0)")
	}
	return id, nil
}

// linuxPowerCommand is the command line for an action.
func linuxPowerCommand(a PowerAction, session string) ([]string, error) {
	switch a {
	case PowerLogout:
		return []string{"loginctl", "terminate-session", session}, nil
	case PowerLock:
		return []string{"loginctl", "lock-session", session}, nil
	case PowerRestart:
		return []string{"systemctl", "reboot"}, nil
	case PowerShutdown:
		return []string{"systemctl", "poweroff"}, nil
	case PowerCtrlAltDel:
		return nil, fmt.Errorf("agent: Ctrl+Alt+Del is a Windows action: %w", errors.ErrUnsupported)
	}
	return nil, fmt.Errorf("agent: unknown power action %q", a)
}
