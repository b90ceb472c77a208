package main

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"

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
	// The console session the helper runs in; another one active (a user
	// switch) means a new helper for the next session.
	var spawnedFor atomic.Uint32
	spawnedFor.Store(0xFFFFFFFF)
	b, err := agent.NewHelperBridge(log, func(addr string, secret []byte) error {
		sid := windows.WTSGetActiveConsoleSessionId()
		err := agent.SpawnConsoleHelper(exe, []string{"desktop-helper", "--connect", addr, "--log-level", logLevel}, secret)
		if err == nil {
			spawnedFor.Store(sid)
		}
		return err
	})
	if err != nil {
		return nil, nil, false, err
	}
	go func() {
		if err := b.Run(ctx); err != nil {
			log.Error("desktop helper listener stopped", "err", err)
		}
	}()
	fresh := func() {
		if windows.WTSGetActiveConsoleSessionId() != spawnedFor.Load() {
			b.Drop()
		}
	}
	return func() (capture.Capturer, error) { fresh(); return b.OpenCapture() },
		func() (input.Injector, error) { fresh(); return b.OpenInput() }, true, nil
}
