package installer

import "golang.org/x/sys/windows"

func isAdminOS() bool { return windows.GetCurrentProcessToken().IsElevated() }

const adminHint = "run it from an elevated prompt (Run as administrator)"
