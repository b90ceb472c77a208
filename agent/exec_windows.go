package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/windows"
)

// ownProcessGroup starts the command in a new process group (no console
// Ctrl+C from the agent reaches it).
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
}

// killProcessGroup ends the command and its descendants (taskkill /T), or
// at least the command itself.
func killProcessGroup(cmd *exec.Cmd) error {
	if err := exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(cmd.Process.Pid)).Run(); err == nil {
		return nil
	}
	return cmd.Process.Kill()
}

// exitSignal: Windows processes end with an exit code, never a signal.
func exitSignal(*os.ProcessState) (int, bool) { return 0, false }

// desktopUser: the console session's user (found through its token) is
// known; a foreground run's own session is its own user.
func desktopUser(d *Desktop) (known, own bool) {
	_, known = wtsSessionOf(d)
	return known, d.Source == "own"
}

// runAsUser makes cmd run as the console session's user: a primary token
// from WTSQueryUserToken (the service is LocalSystem) and that user's own
// environment (USERPROFILE, APPDATA, ...). The token is closed when cmd is
// collected: os/exec reads it only at Start. Not run in this project's CI
// (Linux); it cross-compiles.
func runAsUser(cmd *exec.Cmd, d *Desktop) error {
	sid, ok := wtsSessionOf(d)
	if !ok {
		return errors.New("agent: no console session to run in")
	}
	primary, err := consoleUserToken(sid)
	if err != nil {
		return err
	}
	env, err := primary.Environ(false)
	if err != nil {
		primary.Close()
		return fmt.Errorf("agent: the console user's environment: %w", err)
	}
	cmd.Env = env
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Token = syscall.Token(primary)
	runtime.AddCleanup(cmd, func(t windows.Token) { t.Close() }, primary)
	return nil
}
