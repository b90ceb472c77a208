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
	"github.com/tandem-rc/tandem/internal/launchlink"
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/transport"
)

func main() {
	rc := guest.Command()
	open := &cobra.Command{Use: "console", Short: "Open the desktop console (also: no arguments)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConsole(cmd) }}
	// The .desktop file runs "open %u": from the menu, without a link.
	follow := &cobra.Command{Use: "open [TANDEM_URL]", Short: "Follow a tandem:// link (the Portal's Remote control): open the console on its device",
		Args: cobra.MaximumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return runConsole(cmd)
			}
			return runOpen(cmd, args[0])
		}}
	rc.AddCommand(open, follow)
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

// runOpen checks a tandem:// link (asking on the terminal before a relay
// the Guest does not use) and opens the console on its device.
func runOpen(cmd *cobra.Command, raw string) error {
	dir, _ := cmd.Flags().GetString("config")
	st, err := guest.LoadRemembered(dir)
	if err != nil {
		st = guest.State{}
	}
	l, err := guest.CheckLink(raw, &st, guest.AskYes(os.Stdin, os.Stderr))
	if err != nil {
		return err
	}
	return runConsoleWith(cmd, &l)
}

// runConsole opens the console with the command line's persistent flags.
func runConsole(cmd *cobra.Command) error { return runConsoleWith(cmd, nil) }

func runConsoleWith(cmd *cobra.Command, follow *launchlink.Link) error {
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
	return console.Run(ctx, console.Options{Logger: log, ConfigDir: dir, InsecureHTTP: insecure, Follow: follow,
		Transport: transport.Config{RelayOnly: relayOnly, Loopback: loopback, Logger: log}})
}
