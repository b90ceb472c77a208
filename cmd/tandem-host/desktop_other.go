//go:build !windows && !darwin

package main

import (
	"context"
	"log/slog"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
)

// serviceDesktop: only Windows services need a helper; a Linux service
// finds the desktop itself (agent.DesktopTracker).
func serviceDesktop(context.Context, *slog.Logger, string, string) (func() (capture.Capturer, error), func() (input.Injector, error), bool, error) {
	return nil, nil, false, nil
}
