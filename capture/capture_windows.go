//go:build windows

package capture

import (
	"sync"

	"golang.org/x/sys/windows"
)

var dpiOnce sync.Once

// open makes the process per-monitor DPI aware first (once): otherwise
// Windows reports scaled display bounds and BitBlt captures a scaled,
// partial screen on high-DPI monitors. Failure (already set, e.g. by the
// manifest, or an old Windows) is harmless.
func open(opts Options) (Capturer, error) {
	dpiOnce.Do(func() {
		proc := windows.NewLazySystemDLL("user32.dll").NewProc("SetProcessDpiAwarenessContext")
		if proc.Find() != nil {
			return
		}
		const perMonitorAwareV2 = ^uintptr(3) // DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2 = -4
		if r, _, err := proc.Call(perMonitorAwareV2); r == 0 {
			opts.Logger.Debug("capture: SetProcessDpiAwarenessContext failed", "err", err)
		}
	})
	return openScreenshot(opts)
}
