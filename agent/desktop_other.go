//go:build !linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Elsewhere the service does not find a desktop itself: on Windows a helper
// started in the console session serves it (see helper_windows.go); macOS
// runs a per-user LaunchAgent.
type unsupportedDiscoverer struct{}

func newPlatformDiscoverer(*slog.Logger) Discoverer { return unsupportedDiscoverer{} }

func (unsupportedDiscoverer) Discover(context.Context) (*Desktop, error) {
	return nil, fmt.Errorf("agent: desktop discovery: %w", errors.ErrUnsupported)
}
