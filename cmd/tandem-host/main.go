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
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/internal/version"
)

func main() {
	if relayURL, key, ok := onlineInstaller(os.Args); ok {
		os.Exit(runSetup(relayURL, key))
	}
	if err := root().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tandem-host:", err)
		os.Exit(1)
	}
}

func defaultConfigDir() string {
	if d := os.Getenv("TANDEM_HOST_CONFIG"); d != "" {
		return d
	}
	if installer.IsAdmin() {
		if d, err := installer.SystemConfigDir(); err == nil {
			return d
		}
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return ".tandem-host"
	}
	return filepath.Join(d, "tandem-host")
}

// revokedError marks agent.ErrRevoked for the service wrapper.
type revokedError struct{ error }

func (e revokedError) Unwrap() error        { return e.error }
func (e revokedError) Is(target error) bool { return target == installer.ErrRevoked }

func root() *cobra.Command {
	var configDir, logLevel, display string
	var ice cli.ICEFlags
	rc := &cobra.Command{Use: "tandem-host", Short: "Tandem Host: lets authorized technicians see and control this computer",
		SilenceUsage: true, SilenceErrors: true}
	rc.PersistentFlags().StringVar(&configDir, "config", defaultConfigDir(), "configuration directory (env TANDEM_HOST_CONFIG)")
	rc.PersistentFlags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	var serviceName string
	rc.PersistentFlags().StringVar(&serviceName, "service-name", installer.DefaultServiceName, "name of the installed service")

	var relayURL, key string
	var insecureHTTP bool
	var fromInstallerName func() error
	enroll := &cobra.Command{Use: "enroll", Short: "Enroll this computer with a relay using a deployment package's enrollment key",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fromInstallerName(); err != nil {
				return err
			}
			if relayURL == "" || key == "" {
				return errors.New("--relay and --key are required")
			}
			log, err := cli.Logger(logLevel)
			if err != nil {
				return err
			}
			if err := relayurl.Allow(relayURL, insecureHTTP, log); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			inv := agent.DefaultInventory(version.Version, nil)()
			c, err := installer.Enroll(ctx, &http.Client{Timeout: 30 * time.Second}, relayURL, key, configDir, inv)
			if err != nil {
				return err
			}
			if err := saveInsecure(configDir, c, insecureHTTP); err != nil {
				return err
			}
			fmt.Printf("enrolled as device %s (%s); configuration in %s\n", c.DeviceID, c.State, configDir)
			if c.State == "pending" {
				fmt.Println("an administrator must approve this device before it can be controlled")
			}
			restartIfInstalled(configDir, serviceName)
			return nil
		}}
	enroll.Flags().StringVar(&relayURL, "relay", "", "relay URL, e.g. https://relay.example.com")
	enroll.Flags().StringVar(&key, "key", os.Getenv("TANDEM_ENROLLMENT_KEY"), "enrollment key (env TANDEM_ENROLLMENT_KEY)")
	fromInstallerName = installerNameFlag(enroll, &relayURL, &key)
	enroll.Flags().BoolVar(&insecureHTTP, relayurl.FlagName, false, "accept a plain http:// relay off this machine (saved in the configuration; warned at every start)")

	var serviceMode, filesRoot, commandsAs string
	var runInsecure bool
	var maxFileSize int64
	runAgent := func(ctx context.Context) error {
		log, err := cli.Logger(logLevel)
		if err != nil {
			return err
		}
		c, err := installer.Load(configDir)
		if err != nil {
			return err
		}
		if err := checkRelay(c, runInsecure, log); err != nil {
			return err
		}
		relayKey, err := c.RelayKey()
		if err != nil {
			return err
		}
		if filesRoot != "" {
			c.FilesRoot = filesRoot
		}
		if maxFileSize > 0 {
			c.MaxFileSize = maxFileSize
		}
		// macOS privacy grants (TCC): say plainly what is missing and how to
		// grant it; sessions would otherwise show only wallpaper.
		if p := input.CheckPermissions().Problem(); p != "" {
			log.Warn(p)
			fmt.Fprintln(os.Stderr, "tandem-host:", p)
		}
		// The desktop served: --display (or $DISPLAY) as given; a Linux
		// service (no display of its own) or --display auto finds the
		// logged-in user's session at each session start. Elsewhere the
		// discoverer is the process's own desktop.
		var disc agent.Discoverer = agent.StaticDesktop{Display: display}
		// A Wayland session's $DISPLAY is Xwayland's, which shows X clients
		// only: discover the session's compositor instead.
		if display == "auto" || (display == "" && (os.Getenv("DISPLAY") == "" || os.Getenv("WAYLAND_DISPLAY") != "")) {
			disc = agent.NewDiscoverer(log)
		}
		desk := agent.NewDesktopTracker(disc, log)
		disp := func() string { return desk.Display() }
		// Found at each session start (agent.Options.Desktop) before these
		// run; none: a clear "nobody is logged in" (or "not supported on
		// this desktop") to the technician.
		openCapture := func() (capture.Capturer, error) {
			d, err := desk.Need()
			if err != nil {
				return nil, err
			}
			return capture.Open(d.CaptureOptions(log))
		}
		openInput := func() (input.Injector, error) {
			d, err := desk.Need()
			if err != nil {
				return nil, err
			}
			return input.Open(d.InputOptions(log))
		}
		bridged := false
		if bc, bi, ok, err := serviceDesktop(ctx, log, serviceMode, logLevel); err != nil {
			return err
		} else if ok {
			openCapture, openInput, bridged = bc, bi, true
		}
		local := func() agent.LocalOptions { return agent.LocalOptions{Display: disp(), Logger: log} }
		// x11Only refuses what needs an X display on a Wayland desktop.
		x11Only := func(feature string) error { return desk.Current().X11Only(feature) }
		exe := agent.ExecOptions{}
		switch commandsAs {
		case "service":
		case "user":
			exe.AsUser = desk.Current
		default:
			return fmt.Errorf("--commands-as %q: use service (the Host's account) or user (the logged-in desktop user)", commandsAs)
		}
		h, err := agent.New(agent.Options{
			RelayURL: c.RelayURL, DeviceID: c.DeviceID, Key: c.Key, RelayKey: relayKey,
			OnRelayKeyRotated: installer.RePinner(configDir),
			Version:           version.Version, Logger: log, Transport: ice.Config(log), WaitPending: true,
			Capture: openCapture,
			Input:   openInput,
			Windows: func() (agent.Windows, error) {
				if err := x11Only("whitelisted applications"); err != nil {
					return nil, err
				}
				return agent.OpenWindows(agent.WindowsOptions{Display: disp(), Logger: log})
			},
			Inventory: agent.DesktopInventory(version.Version, desk, openCapture),
			Files:     agent.FilesOptions{Root: c.FilesRoot, MaxFileSize: c.MaxFileSize},
			Exec:      exe,
			ChatUI:    agent.DesktopChatUIOn(log, desk.Current),
			Power:     agent.SystemPower(),
			Clipboard: func() (agent.Clipboard, error) {
				if err := x11Only("the clipboard"); err != nil {
					return nil, err
				}
				if bridged {
					// This process's clipboard is not the desktop's (a
					// Windows service's window station is its own).
					return nil, fmt.Errorf("the clipboard of a desktop served through the desktop helper: %w", errors.ErrUnsupported)
				}
				return agent.OpenClipboard(local())
			},
			InputLock: func() (agent.InputLocker, error) {
				if err := x11Only("locking local input"); err != nil {
					return nil, err
				}
				return agent.OpenInputLocker(local())
			},
			ScreenBlank: func() (agent.ScreenBlanker, error) {
				if err := x11Only("blanking the screen"); err != nil {
					return nil, err
				}
				return agent.OpenScreenBlanker(local())
			},
			ReEnroll:  installer.ReEnroller(configDir, &http.Client{Timeout: 30 * time.Second}, agent.DefaultInventory(version.Version, nil)),
			Confirm:   agent.DesktopConfirmUIOn(log, desk.Current),
			Desktop:   desk,
			Indicator: agent.DesktopIndicator(log, desk.Current),
		})
		if err != nil {
			return err
		}
		defer h.Close()
		err = h.Run(ctx)
		if errors.Is(err, agent.ErrRevoked) {
			return revokedError{err}
		}
		return err
	}
	run := &cobra.Command{Use: "run", Short: "Connect to the relay and serve sessions (foreground)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serviceMode != "" {
				// Started by the service manager (see installer.Service).
				if p := installer.ServiceLogPath(configDir); p != "" {
					if f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
						os.Stderr = f // no console for a Windows service
					}
				}
				log, err := cli.Logger(logLevel)
				if err != nil {
					return err
				}
				sv := &installer.Service{Name: serviceMode, ConfigDir: configDir, Logger: log}
				return sv.Run(runAgent)
			}
			ctx, stop := cli.SignalContext()
			defer stop()
			return runAgent(ctx)
		}}
	run.Flags().StringVar(&display, "display", "", "X display to serve (default $DISPLAY; without one, or \"auto\": the logged-in user's session, found at each session start)")
	run.Flags().StringVar(&commandsAs, "commands-as", "service", "run remote commands as \"service\" (the Host's own account: root for the service) or \"user\" (the logged-in desktop user; Linux, and Windows through its console session)")
	run.Flags().StringVar(&serviceMode, "service", "", "run under the service manager as this service (set by install)")
	_ = run.Flags().MarkHidden("service")
	run.Flags().StringVar(&filesRoot, "files-root", os.Getenv("TANDEM_FILES_ROOT"),
		"the only folder file transfers may read and write (env TANDEM_FILES_ROOT; config files_root; default: home directory)")
	run.Flags().Int64Var(&maxFileSize, "max-file-size", 0, "largest file a transfer may carry, in bytes (config max_file_size; default 4 GiB)")
	run.Flags().BoolVar(&runInsecure, relayurl.FlagName, false, "accept the configuration's plain http:// relay off this machine (warned at every start)")
	ice.Add(run.Flags())

	ver := &cobra.Command{Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		Run: func(*cobra.Command, []string) { fmt.Println("tandem-host", version.Version) }}
	rc.AddCommand(enroll, run, ver, helperCommand(&logLevel))
	if sa := sessionAgentCommand(&logLevel); sa != nil {
		rc.AddCommand(sa)
	}
	addServiceCommands(rc, &configDir, &logLevel, &serviceName)
	return rc
}
