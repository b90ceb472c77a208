//go:build !unix && !windows

package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

func ownProcessGroup(*exec.Cmd) {}

// killProcessGroup ends the command only: this platform has no groups here.
func killProcessGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }

func exitSignal(*os.ProcessState) (int, bool) { return 0, false }

func desktopUser(*Desktop) (known, own bool) { return false, false }

func runAsUser(*exec.Cmd, *Desktop) error {
	return fmt.Errorf("agent: running as the logged-in user: %w", errors.ErrUnsupported)
}
