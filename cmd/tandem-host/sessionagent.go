//go:build !windows

package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/cli"
)

// sessionAgentCommand is what the macOS LaunchAgent runs in each GUI
// login: it serves that user's screen and input to the Host daemon when
// the daemon leaves it a ticket (agent.RunSessionAgent).
func sessionAgentCommand(logLevel *string) *cobra.Command {
	var dir string
	cmd := &cobra.Command{Use: "session-agent", Args: cobra.NoArgs,
		Short: "Serve this user's screen and input to the Host service (macOS LaunchAgent)",
		RunE: func(*cobra.Command, []string) error {
			log, err := cli.Logger(*logLevel)
			if err != nil {
				return err
			}
			ctx, stop := cli.SignalContext()
			defer stop()
			return agent.RunSessionAgent(ctx, dir, os.Getuid(), time.Second,
				func() (capture.Capturer, error) { return capture.Open(capture.Options{Logger: log}) },
				func() (input.Injector, error) { return input.Open(input.Options{Logger: log}) }, log)
		}}
	cmd.Flags().StringVar(&dir, "dir", agent.AgentTicketDir, "where the Host service leaves its tickets")
	return cmd
}
