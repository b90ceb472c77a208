// Command tandem-guest is the technician's guest: with no arguments (or
// "console") it opens the desktop console; its subcommands log in, list
// devices, take a snapshot of a device's screen, send it input, transfer
// files, chat with its user, run commands and power actions.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/console"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/cli"
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/transport"
)

func main() {
	rc := guest.Command()
	open := &cobra.Command{Use: "console", Short: "Open the desktop console (also: no arguments)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConsole(cmd) }}
	rc.AddCommand(open)
	rc.Args = cobra.NoArgs
	rc.RunE = open.RunE
	if err := rc.Execute(); err != nil {
		var ee *guest.ExitError
		if errors.As(err, &ee) { // exec: the remote command's own exit code
			os.Exit(ee.Code)
		}
		fmt.Fprintln(os.Stderr, "tandem-guest:", err)
		os.Exit(1)
	}
}

// runConsole opens the console with the command line's persistent flags.
func runConsole(cmd *cobra.Command) error {
	fs := cmd.Flags()
	dir, _ := fs.GetString("config")
	level, _ := fs.GetString("log-level")
	relayOnly, _ := fs.GetBool("relay-only")
	loopback, _ := fs.GetBool("ice-loopback")
	insecure, _ := fs.GetBool(relayurl.FlagName)
	log, err := cli.Logger(level)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return console.Run(ctx, console.Options{Logger: log, ConfigDir: dir, InsecureHTTP: insecure,
		Transport: transport.Config{RelayOnly: relayOnly, Loopback: loopback, Logger: log}})
}
