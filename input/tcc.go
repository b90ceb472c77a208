package input

import "strings"

// Permissions are the operating system's privacy grants a Host needs to be
// seen and controlled. Only macOS has them (TCC): without Screen Recording
// captures show only the desktop wallpaper and the menu bar, and without
// Accessibility injected input is silently dropped.
type Permissions struct {
	// Checked is false where there is nothing to check (or it could not
	// be, as in a build without cgo).
	Checked         bool
	ScreenRecording bool
	Accessibility   bool
}

// CheckPermissions reports this process's grants. It never prompts.
func CheckPermissions() Permissions { return checkPermissions() }

// Problem tells the local user what is missing and how to grant it; ""
// when nothing is.
func (p Permissions) Problem() string {
	if !p.Checked {
		return ""
	}
	var missing, panes []string
	if !p.ScreenRecording {
		missing = append(missing, "Screen Recording (technicians would see only the wallpaper)")
		panes = append(panes, "Screen Recording")
	}
	if !p.Accessibility {
		missing = append(missing, "Accessibility (technicians' keyboard and mouse would do nothing)")
		panes = append(panes, "Accessibility")
	}
	if len(missing) == 0 {
		return ""
	}
	return "Tandem Host lacks the macOS permission " + strings.Join(missing, " and ") +
		". Open System Settings → Privacy & Security → " + strings.Join(panes, " and → ") +
		", turn on tandem-host (add /usr/local/bin/tandem-host with + if it is not listed), then restart it:" +
		" sudo launchctl kickstart -k system/tandem-host." +
		" An administrator can grant this ahead of time with a PPPC configuration profile (MDM)."
}
