//go:build !unix && !windows

package installer

func isAdminOS() bool { return false }

const adminHint = "this platform is not supported"
