package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"golang.org/x/sys/windows"
)

// serviceDesktop: a Windows service runs in session 0, which has no
// desktop, so capture and input go through a helper started in the
// console session as its user (started again for a session after the
// user changed). A foreground `run` uses its own desktop.
func serviceDesktop(ctx context.Context, log *slog.Logger, serviceMode, logLevel string) (func() (capture.Capturer, error), func() (input.Injector, error), bool, error) {
	if serviceMode == "" {
		return nil, nil, false, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, false, err
	}
	return bridgedDesktop(ctx, log, func(addr string, secret []byte) (int64, error) {
		sid := windows.WTSGetActiveConsoleSessionId()
		return int64(sid), agent.SpawnConsoleHelper(exe, []string{"desktop-helper", "--connect", addr, "--log-level", logLevel}, secret)
	}, func() int64 { return int64(windows.WTSGetActiveConsoleSessionId()) })
}
