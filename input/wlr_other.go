//go:build !linux

package input

import (
	"errors"
	"fmt"
	"log/slog"
)

// newWaylandBackend: Wayland compositors are served on Linux only.
func newWaylandBackend(Options, *slog.Logger) (backend, error) {
	return nil, fmt.Errorf("input: Wayland is served on Linux only: %w", errors.ErrUnsupported)
}

// newMutterBackend: GNOME's remote desktop API is served on Linux only.
func newMutterBackend(Options, *slog.Logger) (backend, error) {
	return nil, fmt.Errorf("input: GNOME's remote desktop API is served on Linux only: %w", errors.ErrUnsupported)
}
