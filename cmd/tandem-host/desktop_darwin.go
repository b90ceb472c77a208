package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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
	return bridgedDesktop(ctx, log, func(addr string, secret []byte) (int64, error) {
		uid, err := consoleUID()
		if err != nil {
			return -1, err
		}
		return int64(uid), agent.WriteAgentTicket(agent.AgentTicketDir, uid, addr, secret)
	}, func() int64 {
		uid, err := consoleUID()
		if err != nil {
			return -1
		}
		return int64(uid)
	})
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
