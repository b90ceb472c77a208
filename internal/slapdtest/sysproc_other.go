//go:build !linux

package slapdtest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
