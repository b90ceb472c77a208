//go:build !unix && !windows

package agent

import (
	"os"
	"os/exec"
)

func ownProcessGroup(*exec.Cmd) {}

// killProcessGroup ends the command only: this platform has no groups here.
func killProcessGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }

func exitSignal(*os.ProcessState) (int, bool) { return 0, false }
