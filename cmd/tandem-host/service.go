package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/cli"
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/internal/version"
)

// addServiceCommands wires install, uninstall, start, stop and status; the
// logic is in installer.Service.
func addServiceCommands(rc *cobra.Command, configDir, logLevel, serviceName *string) {
	svc := func() (*installer.Service, error) {
		log, err := cli.Logger(*logLevel)
		if err != nil {
			return nil, err
		}
		if err := installer.ValidServiceName(*serviceName); err != nil {
			return nil, err
		}
		return &installer.Service{Name: *serviceName, ConfigDir: *configDir, Logger: log}, nil
	}

	var relayURL, key, display, commandsAs string
	var insecureHTTP bool
	var ice cli.ICEFlags
	var fromInstallerName func() error
	install := &cobra.Command{Use: "install", Short: "Enroll this computer, install the Host service and start it (as root/Administrator)",
		Long: "Enrolls with the relay using a deployment package's key, writes the configuration (default: the\n" +
			"system's place), installs the tandem-host service and starts it. On an installed host it\n" +
			"re-enrolls with the new key and restarts the service.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fromInstallerName(); err != nil {
				return err
			}
			if relayURL == "" || key == "" {
				return errors.New("--relay and --key are required")
			}
			sv, err := svc()
			if err != nil {
				return err
			}
			if err := relayurl.Allow(relayURL, insecureHTTP, sv.Logger); err != nil {
				return err
			}
			// The service manager does not pass our environment on: hand
			// the run options over as arguments.
			sv.RunArgs = []string{"--log-level", *logLevel}
			if display != "" {
				sv.RunArgs = append(sv.RunArgs, "--display", display)
			}
			if commandsAs != "" && commandsAs != "service" {
				sv.RunArgs = append(sv.RunArgs, "--commands-as", commandsAs)
			}
			if ice.RelayOnly {
				sv.RunArgs = append(sv.RunArgs, "--relay-only")
			}
			if ice.Loopback {
				sv.RunArgs = append(sv.RunArgs, "--ice-loopback")
			}
			if insecureHTTP && relayurl.Insecure(relayURL) {
				sv.RunArgs = append(sv.RunArgs, "--"+relayurl.FlagName)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			inv := agent.DefaultInventory(version.Version, nil)()
			c, err := sv.Install(ctx, &http.Client{Timeout: 30 * time.Second}, relayURL, key, inv)
			if err != nil {
				return err
			}
			if err := saveInsecure(*configDir, c, insecureHTTP); err != nil {
				return err
			}
			fmt.Printf("enrolled as device %s (%s); configuration in %s\nservice %s installed and started\n",
				c.DeviceID, c.State, *configDir, sv.Name)
			if c.State == "pending" {
				fmt.Println("an administrator must approve this device before it can be controlled")
			}
			return nil
		}}
	install.Flags().StringVar(&relayURL, "relay", "", "relay URL, e.g. https://relay.example.com")
	install.Flags().StringVar(&key, "key", os.Getenv("TANDEM_ENROLLMENT_KEY"), "enrollment key (env TANDEM_ENROLLMENT_KEY)")
	fromInstallerName = installerNameFlag(install, &relayURL, &key)
	install.Flags().BoolVar(&insecureHTTP, relayurl.FlagName, false, "accept a plain http:// relay off this machine (saved, and passed to the service, which warns at every start)")
	install.Flags().StringVar(&display, "display", "", "X display the service serves (default: the logged-in user's session, found at each session start)")
	install.Flags().StringVar(&commandsAs, "commands-as", "service", "the service runs remote commands as \"service\" (root/LocalSystem) or \"user\" (the logged-in desktop user; Linux, and Windows through its console session)")
	ice.Add(install.Flags())

	var keepIdentity bool
	var msiUpgradeCode, msiProduct string
	uninstall := &cobra.Command{Use: "uninstall", Short: "Stop and remove the Host service and its configuration (as root/Administrator)",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			sv, err := svc()
			if err != nil {
				return err
			}
			if msiUpgradeCode != "" {
				// The MSI's removal of an old version during an upgrade
				// leaves the new version's service and the identity alone.
				newer, err := installer.UpgradedBy(msiUpgradeCode, msiProduct)
				if err != nil {
					return err
				}
				if newer != "" {
					fmt.Printf("%s (another version of this product) is installed: an upgrade; the service and the device identity stay\n", newer)
					return nil
				}
			}
			r, err := sv.Uninstall(keepIdentity)
			if err != nil {
				return err
			}
			if !r.WasInstalled {
				fmt.Printf("service %s was not installed\n", sv.Name)
			} else {
				fmt.Printf("service %s stopped and removed\n", sv.Name)
			}
			if r.KeptIdentity {
				fmt.Printf("kept the device identity in %s\n", sv.ConfigDir)
			} else {
				fmt.Printf("removed %s\n", sv.ConfigDir)
			}
			return nil
		}}
	uninstall.Flags().BoolVar(&keepIdentity, "keep-identity", false, "keep host.json and device.key (reinstalling keeps the same device)")
	// Set by the MSI (packaging/windows/tandem-host.wxs): its UpgradeCode
	// and the ProductCode being removed.
	uninstall.Flags().StringVar(&msiUpgradeCode, "msi-upgrade-code", "", "")
	uninstall.Flags().StringVar(&msiProduct, "msi-product", "", "")
	_ = uninstall.Flags().MarkHidden("msi-upgrade-code")
	_ = uninstall.Flags().MarkHidden("msi-product")

	start := &cobra.Command{Use: "start", Short: "Start the installed Host service", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			sv, err := svc()
			if err != nil {
				return err
			}
			return sv.Start()
		}}
	stop := &cobra.Command{Use: "stop", Short: "Stop the installed Host service", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			sv, err := svc()
			if err != nil {
				return err
			}
			return sv.Stop()
		}}
	status := &cobra.Command{Use: "status", Short: "Show whether the Host service is installed and running, and its device", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			sv, err := svc()
			if err != nil {
				return err
			}
			st, err := sv.Status()
			if err != nil {
				return err
			}
			fmt.Print(st)
			return nil
		}}
	rc.AddCommand(install, uninstall, start, stop, status)
}

// restartIfInstalled restarts the service after `enroll` so it picks up
// the new enrollment; without rights or a service it only says what to do.
func restartIfInstalled(configDir, name string) {
	sv := &installer.Service{Name: name, ConfigDir: configDir}
	st, err := sv.Status()
	if err != nil || !st.Installed {
		return
	}
	if !installer.IsAdmin() {
		fmt.Printf("restart the service to use the new enrollment: tandem-host stop && tandem-host start\n")
		return
	}
	if err := sv.Restart(); err != nil {
		fmt.Fprintf(os.Stderr, "tandem-host: restart the service: %v\n", err)
		return
	}
	fmt.Printf("service %s restarted\n", name)
}
