//go:build !linux && !windows

package agent

import (
	"context"
	"log/slog"
	"os"
)

// Elsewhere the process serves its own desktop: a Windows service reaches
// the console session through its helper (helper_windows.go) and a
// foreground run is on its desktop already; macOS runs per user. The lock
// state is not known here, so no "except when" exception applies.
type ownDesktop struct{}

func newPlatformDiscoverer(*slog.Logger) Discoverer { return ownDesktop{} }

func (ownDesktop) Discover(context.Context) (*Desktop, error) {
	d := &Desktop{User: os.Getenv("USER"), UID: os.Getuid(), GID: os.Getgid(), Source: "own"}
	d.Home, _ = os.UserHomeDir()
	return d, nil
}

// needDisplay: no X display to name here.
const needDisplay = false
