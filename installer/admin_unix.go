//go:build unix

package installer

import "os"

func isAdminOS() bool { return os.Geteuid() == 0 }

const adminHint = "run it as root (sudo tandem-host ...)"
