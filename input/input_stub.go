//go:build !darwin && (!cgo || !(linux || windows))

package input

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
)

// newBackend: injection needs cgo (robotgo) on Linux/X11 and Windows;
// macOS posts Quartz events without cgo (input_darwin.go).
func newBackend(string, *slog.Logger) (backend, error) {
	return nil, fmt.Errorf("input: no input injection in this %s/%s build (needs cgo on linux or windows): %w",
		runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)
}
