package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
)

// serviceDesktop: the macOS LaunchDaemon runs as root outside every GUI
// session, so capture and input go through the console user's session
// agent (the LaunchAgent running `tandem-host session-agent`), which
// connects when the daemon leaves it a ticket (agent.WriteAgentTicket). A
// foreground `run` in a GUI session serves its own desktop.
func serviceDesktop(ctx context.Context, log *slog.Logger, serviceMode, _ string) (func() (capture.Capturer, error), func() (input.Injector, error), bool, error) {
	if serviceMode == "" {
		return nil, nil, false, nil
	}
	var ticketFor atomic.Int64 // the console user the helper serves
	ticketFor.Store(-1)
	b, err := agent.NewHelperBridge(log, func(addr string, secret []byte) error {
		uid, err := consoleUID()
		if err != nil {
			return err
		}
		if err := agent.WriteAgentTicket(agent.AgentTicketDir, uid, addr, secret); err != nil {
			return err
		}
		ticketFor.Store(int64(uid))
		return nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	go func() {
		if err := b.Run(ctx); err != nil {
			log.Error("session agent listener stopped", "err", err)
		}
	}()
	// Another user at the console (a fast user switch) gets an agent of
	// their own for the next session.
	fresh := func() {
		if uid, err := consoleUID(); err != nil || int64(uid) != ticketFor.Load() {
			b.Drop()
		}
	}
	return func() (capture.Capturer, error) { fresh(); return b.OpenCapture() },
		func() (input.Injector, error) { fresh(); return b.OpenInput() }, true, nil
}

// consoleUID is the user logged in at the Mac's screen: the owner of
// /dev/console, root at the login window (nobody logged in).
func consoleUID() (int, error) {
	fi, err := os.Stat("/dev/console")
	if err != nil {
		return 0, fmt.Errorf("the console's user: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return 0, agent.ErrNoDesktop
	}
	return int(st.Uid), nil
}
