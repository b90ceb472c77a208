//go:build darwin && cgo

package capture

// On macOS capture goes through github.com/kbinani/screenshot, which needs
// cgo (CoreGraphics) and the Screen Recording permission; without the
// permission the system returns the desktop wallpaper without windows.
func open(opts Options) (Capturer, error) { return openScreenshot(opts) }
