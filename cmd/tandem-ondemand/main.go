// Command tandem-ondemand is the single-use OnDemand agent (spec 3.2): the
// end user runs it with the session key a technician gave them; it waits
// in that technician's queue, asks the user before the technician sees
// anything, serves that one session with the Host's engine and exits. It
// installs nothing and writes nothing to disk: its identity lives in
// memory for this run only.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2/app"
	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/console/fynerun"
	"github.com/tandem-rc/tandem/console/ondemand"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/cli"
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/internal/version"
	"github.com/tandem-rc/tandem/transport/wire"
)

// errEnded carries the window's last words to a non-zero exit.
var errEnded = errors.New("")

func main() {
	if err := root().Execute(); err != nil {
		if !errors.Is(err, errEnded) {
			fmt.Fprintln(os.Stderr, "tandem-ondemand:", err)
		}
		os.Exit(1)
	}
}

func root() *cobra.Command {
	var key, relay, display, logLevel string
	var insecureHTTP bool
	var ice cli.ICEFlags
	rc := &cobra.Command{Use: "tandem-ondemand", Short: "Tandem OnDemand: let a technician help you on this computer, once",
		Args: cobra.NoArgs, SilenceUsage: true, SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := cli.Logger(logLevel)
			if err != nil {
				return err
			}
			ctx, stop := cli.SignalContext()
			defer stop()
			if insecureHTTP {
				log.Warn("--" + relayurl.FlagName + ": a plain http:// relay off this machine is accepted; the session's setup then travels unencrypted")
			}
			b := &backend{display: display, log: log, ice: ice, insecureHTTP: insecureHTTP}
			if display == "" {
				b.wayland = os.Getenv("WAYLAND_DISPLAY") // $DISPLAY there is Xwayland's: X clients only
				if b.wayland != "" && strings.Contains(strings.ToUpper(os.Getenv("XDG_CURRENT_DESKTOP")), "GNOME") {
					// GNOME: Mutter's remote desktop API on this session's bus.
					b.sessionBus = agent.SessionBusPath(os.Getenv("DBUS_SESSION_BUS_ADDRESS"), os.Getenv("XDG_RUNTIME_DIR"))
				}
			}
			return run(ctx, log, b, key, relay)
		}}
	rc.Flags().StringVar(&key, "key", "", "the session key (9 digits) or the link your technician sent (default: from this program's file name)")
	rc.Flags().StringVar(&relay, "relay", "", "relay URL, e.g. https://relay.example.com (default: from the link or this program's file name)")
	rc.Flags().StringVar(&display, "display", "", "X display to share (default $DISPLAY)")
	rc.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	rc.Flags().BoolVar(&insecureHTTP, relayurl.FlagName, false, "accept a plain http:// relay off this machine (warned at start)")
	ice.Add(rc.Flags())
	rc.AddCommand(&cobra.Command{Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		Run: func(*cobra.Command, []string) { fmt.Println("tandem-ondemand", version.Version) }})
	return rc
}

// run shows the window until the run ended and the user closed it (or a
// minute after the end), and reports how it ended.
func run(ctx context.Context, log *slog.Logger, b *backend, keyFlag, relayFlag string) error {
	relayURL, key := ondemand.Prefill(os.Args[0], keyFlag, relayFlag)
	if err := noUserFiles(log); err != nil {
		return err
	}
	a := app.New()
	r := fynerun.New(a, log)
	ctl := ondemand.NewController(b, relayURL, key, nil)
	w := ondemand.NewWindow(a, ctl, r.Quit)
	if hk, err := agent.OpenHotkey(b.display); err != nil {
		log.Warn("no Ctrl+Shift+X hotkey: use the Disconnect button", "err", err)
	} else {
		defer hk.Close()
		ctl.WatchHotkey(hk.C())
	}
	go func() {
		select {
		case <-ctx.Done(): // SIGINT/SIGTERM: end like the Disconnect button
			ctl.Close()
			r.Quit()
			return
		case <-ctl.Done():
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Minute):
		}
		r.Quit()
	}()
	// Straight to the queue when the key and relay came with the program.
	if _, k, err := ondemand.ParseInput(key); err == nil && relayURL != "" {
		ctl.Connect(k)
	}
	w.W.Show()
	if r.Run(func() int { return finish(ctl) }) != 0 {
		return errEnded
	}
	return nil
}

// finish ends what still runs and tells how the run ended: exit status 0
// for the ways runs end, 1 with the reason otherwise.
func finish(ctl *ondemand.Controller) int {
	ctl.Close()
	v := ctl.View()
	if v.Ending.OK() {
		fmt.Println(v.Message)
		return 0
	}
	msg := v.Message
	if msg == "" {
		msg = "closed before a session"
	}
	fmt.Fprintln(os.Stderr, "tandem-ondemand:", msg)
	return 1
}

// noUserFiles keeps the toolkit (settings, caches) and the GL library
// (shader cache) from writing per-user files: their folders are pointed
// below this program's own file, where no folder can be made. A temporary
// folder removed at exit would not do: the toolkit's settings watch makes
// its folder again when it is removed, and on SIGTERM the toolkit stops
// without ending that watch. What the toolkit logs about it goes to the
// debug log.
func noUserFiles(l *slog.Logger) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	nowhere := filepath.Join(exe, "no-files")
	for _, v := range []string{"XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "APPDATA", "LOCALAPPDATA"} {
		if err := os.Setenv(v, nowhere); err != nil {
			return err
		}
	}
	_ = os.Setenv("MESA_SHADER_CACHE_DISABLE", "true")
	log.SetFlags(0)
	log.SetOutput(debugWriter{l})
	return nil
}

// debugWriter logs the standard logger's lines (the toolkit's) at debug.
type debugWriter struct{ l *slog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

// backend joins with agent.JoinOnDemand and serves the one session with
// the Host's engine on this display.
type backend struct {
	display      string
	wayland      string // WAYLAND_DISPLAY when no --display: a wlroots session
	sessionBus   string // a GNOME session's bus socket: Mutter's remote desktop API
	log          *slog.Logger
	ice          cli.ICEFlags
	insecureHTTP bool // --insecure-http
}

func (b *backend) openCapture() (capture.Capturer, error) {
	return capture.Open(capture.Options{Display: b.display, Wayland: b.wayland, SessionBus: b.sessionBus, Logger: b.log})
}

// inventory: hostname, OS and the logged-in user (shown in the queue).
func (b *backend) inventory() *wire.Inventory {
	inv := agent.DefaultInventory(version.Version, b.openCapture)()
	if inv.User == "" {
		if u, err := user.Current(); err == nil {
			inv.User = u.Username
		}
	}
	return inv
}

// Join refuses a plain-http relay off this machine (typed, linked or in
// the file name) unless --insecure-http, before the key is sent.
func (b *backend) Join(ctx context.Context, relayURL, key string) (*agent.OnDemandIdentity, error) {
	if err := relayurl.Check(relayURL, b.insecureHTTP); err != nil {
		return nil, err
	}
	return agent.JoinOnDemand(ctx, &http.Client{Timeout: 30 * time.Second}, relayURL, key, b.inventory())
}

func (b *backend) Engine(id *agent.OnDemandIdentity, confirm agent.ConfirmUI, onEvent func(agent.Event)) (ondemand.Engine, error) {
	local := agent.LocalOptions{Display: b.display, Logger: b.log}
	return agent.New(agent.Options{
		RelayURL: id.RelayURL, DeviceID: id.DeviceID, Key: id.PrivateKey, RelayKey: id.RelayKey,
		Version: version.Version, OnDemand: true, Logger: b.log, Transport: b.ice.Config(b.log),
		Capture: b.openCapture,
		Input: func() (input.Injector, error) {
			return input.Open(input.Options{Display: b.display, Wayland: b.wayland, SessionBus: b.sessionBus, Logger: b.log})
		},
		Windows: func() (agent.Windows, error) {
			if b.wayland != "" {
				return nil, (&agent.Desktop{Wayland: b.wayland, Kind: os.Getenv("XDG_CURRENT_DESKTOP")}).X11Only("whitelisted applications")
			}
			return agent.OpenWindows(agent.WindowsOptions{Display: b.display, Logger: b.log})
		},
		Inventory: b.inventory,
		Clipboard: func() (agent.Clipboard, error) { return agent.OpenClipboard(local) },
		Confirm:   confirm,
		OnEvent:   onEvent,
		// No Files root, Power or Exec: OnDemand grants view, keyboard and
		// mouse, and the clipboard; anything else is refused by the grant.
	})
}
