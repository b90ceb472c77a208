package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
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

// runAsUser: commands run as the service's account on Windows (starting
// them in the user's session is the console helper's job).
func runAsUser(*exec.Cmd, *Desktop) error {
	return fmt.Errorf("agent: running as the logged-in user: %w", errors.ErrUnsupported)
}
