//go:build darwin && cgo

package input

/*
#cgo LDFLAGS: -framework CoreGraphics -framework ApplicationServices
#include <CoreGraphics/CoreGraphics.h>
#include <ApplicationServices/ApplicationServices.h>
*/
import "C"

// checkPermissions asks TCC without prompting: CGPreflightScreenCaptureAccess
// (macOS 10.15+) and AXIsProcessTrusted.
func checkPermissions() Permissions {
	return Permissions{Checked: true,
		ScreenRecording: bool(C.CGPreflightScreenCaptureAccess()),
		Accessibility:   bool(C.AXIsProcessTrusted())}
}
