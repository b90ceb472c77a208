//go:build linux

package slapdtest

import "syscall"

// sysProcAttr puts slapd in its own process group and kills it if the test
// binary dies without running its cleanups.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
