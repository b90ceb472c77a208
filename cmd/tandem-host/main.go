// Command tandem-host is the Host: enrolled once with a deployment package's
// key, then run as a service that serves remote-control sessions.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/cli"
	"github.com/tandem-rc/tandem/internal/version"
)

func main() {
	if err := root().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tandem-host:", err)
		os.Exit(1)
	}
}

func defaultConfigDir() string {
	if d := os.Getenv("TANDEM_HOST_CONFIG"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/etc/tandem"
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return ".tandem-host"
	}
	return filepath.Join(d, "tandem-host")
}

func root() *cobra.Command {
	var configDir, logLevel, display string
	var ice cli.ICEFlags
	rc := &cobra.Command{Use: "tandem-host", Short: "Tandem Host: lets authorized technicians see and control this computer",
		SilenceUsage: true, SilenceErrors: true}
	rc.PersistentFlags().StringVar(&configDir, "config", defaultConfigDir(), "configuration directory (env TANDEM_HOST_CONFIG)")
	rc.PersistentFlags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")

	var relayURL, key string
	enroll := &cobra.Command{Use: "enroll", Short: "Enroll this computer with a relay using a deployment package's enrollment key",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if relayURL == "" || key == "" {
				return errors.New("--relay and --key are required")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			inv := agent.DefaultInventory(version.Version, nil)()
			c, err := installer.Enroll(ctx, &http.Client{Timeout: 30 * time.Second}, relayURL, key, configDir, inv)
			if err != nil {
				return err
			}
			fmt.Printf("enrolled as device %s (%s); configuration in %s\n", c.DeviceID, c.State, configDir)
			if c.State == "pending" {
				fmt.Println("an administrator must approve this device before it can be controlled")
			}
			return nil
		}}
	enroll.Flags().StringVar(&relayURL, "relay", "", "relay URL, e.g. https://relay.example.com")
	enroll.Flags().StringVar(&key, "key", os.Getenv("TANDEM_ENROLLMENT_KEY"), "enrollment key (env TANDEM_ENROLLMENT_KEY)")

	run := &cobra.Command{Use: "run", Short: "Connect to the relay and serve sessions (foreground)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := cli.Logger(logLevel)
			if err != nil {
				return err
			}
			c, err := installer.Load(configDir)
			if err != nil {
				return err
			}
			relayKey, err := c.RelayKey()
			if err != nil {
				return err
			}
			openCapture := func() (capture.Capturer, error) {
				return capture.Open(capture.Options{Display: display, Logger: log})
			}
			h, err := agent.New(agent.Options{
				RelayURL: c.RelayURL, DeviceID: c.DeviceID, Key: c.Key, RelayKey: relayKey,
				Version: version.Version, Logger: log, Transport: ice.Config(log), WaitPending: true,
				Capture:   openCapture,
				Input:     func() (input.Injector, error) { return input.Open(input.Options{Display: display, Logger: log}) },
				Inventory: agent.DefaultInventory(version.Version, openCapture),
			})
			if err != nil {
				return err
			}
			ctx, stop := cli.SignalContext()
			defer stop()
			defer h.Close()
			return h.Run(ctx)
		}}
	run.Flags().StringVar(&display, "display", "", "X display to serve (default $DISPLAY)")
	ice.Add(run.Flags())

	ver := &cobra.Command{Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		Run: func(*cobra.Command, []string) { fmt.Println("tandem-host", version.Version) }}
	rc.AddCommand(enroll, run, ver)
	return rc
}
