package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/cli"
)

// helperCommand is the desktop helper a Windows service starts in the
// console session (agent.SpawnConsoleHelper): it reads the per-run secret
// from standard input and serves that desktop's capture and input to the
// service at --connect.
func helperCommand(logLevel *string) *cobra.Command {
	var connect string
	cmd := &cobra.Command{Use: "desktop-helper", Hidden: true, Args: cobra.NoArgs,
		Short: "Serve this desktop's screen and input to the Host service (started by the service)",
		RunE: func(*cobra.Command, []string) error {
			log, err := cli.Logger(*logLevel)
			if err != nil {
				return err
			}
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			secret, herr := hex.DecodeString(strings.TrimSpace(line))
			if err != nil || herr != nil || len(secret) != agent.HelperSecretSize {
				return errors.New("desktop-helper: the service's secret is missing on standard input")
			}
			ctx, stop := cli.SignalContext()
			defer stop()
			return agent.RunDesktopHelper(ctx, connect, secret,
				func() (capture.Capturer, error) { return capture.Open(capture.Options{Logger: log}) },
				func() (input.Injector, error) { return input.Open(input.Options{Logger: log}) }, log)
		}}
	cmd.Flags().StringVar(&connect, "connect", "", "the service's loopback address")
	return cmd
}
