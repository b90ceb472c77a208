package input

import "github.com/tandem-rc/tandem/internal/quartz"

// checkPermissions asks TCC without prompting: CGPreflightScreenCaptureAccess
// (macOS 10.15+; earlier systems have no Screen Recording grant) and
// AXIsProcessTrusted, through purego.
func checkPermissions() Permissions {
	if quartz.Load() != nil {
		return Permissions{}
	}
	p := Permissions{Checked: true, ScreenRecording: true, Accessibility: quartz.AXIsProcessTrusted()}
	if quartz.CGPreflightScreenCaptureAccess != nil {
		p.ScreenRecording = quartz.CGPreflightScreenCaptureAccess()
	}
	return p
}
