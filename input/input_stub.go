//go:build !cgo || !(linux || windows || darwin)

package input

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
)

// newBackend: injection needs cgo (robotgo) and exists only for Linux/X11,
// Windows and macOS.
func newBackend(string, *slog.Logger) (backend, error) {
	return nil, fmt.Errorf("input: no input injection in this %s/%s build (needs cgo on linux, windows or darwin): %w",
		runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)
}
