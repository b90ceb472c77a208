//go:build unix

package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// ownProcessGroup starts the command as the leader of a new process group,
// so cancelling it kills what it started too.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// desktopUser tells whether d's user is known here, and whether it is
// this process's own.
func desktopUser(d *Desktop) (known, own bool) { return d.UID >= 0, d.UID == os.Getuid() }

// runAsUser makes cmd run as d's user, with its groups (the caller is
// root); HOME, USER and DISPLAY come from d.Env.
func runAsUser(cmd *exec.Cmd, d *Desktop) error {
	if d.UID < 0 || d.GID < 0 {
		return fmt.Errorf("agent: the desktop's user %q is unknown on this host", d.User)
	}
	var groups []uint32
	if u, err := user.LookupId(strconv.Itoa(d.UID)); err == nil {
		if ids, err := u.GroupIds(); err == nil {
			for _, g := range ids {
				if n, err := strconv.ParseUint(g, 10, 32); err == nil {
					groups = append(groups, uint32(n))
				}
			}
		}
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(d.UID), Gid: uint32(d.GID), Groups: groups}
	return nil
}

func killProcessGroup(cmd *exec.Cmd) error {
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// exitSignal is the signal that ended a process, if one did.
func exitSignal(st *os.ProcessState) (int, bool) {
	if st == nil {
		return 0, false
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return int(ws.Signal()), true
}
