// Package console is the technician's desktop console (Fyne): log in to a
// relay (with email MFA or a recovery code), choose an account, list the
// devices one may control and open sessions on them, and run OnDemand
// sessions (create a key, watch the queue, start or reject).
//
// The state lives in Model, without widgets, so Fyne's test driver can
// drive the UI built over it; the session window comes from console/remote.
package console

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"github.com/tandem-rc/tandem/console/fynerun"
	"github.com/tandem-rc/tandem/internal/launchlink"
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/transport"
)

// AppID is the console's Fyne application id (its preferences and storage).
const AppID = "org.tandem.guest"

// Options configure the console.
type Options struct {
	Logger    *slog.Logger
	ConfigDir string           // where the login is remembered (as the CLI's state)
	Transport transport.Config // RelayOnly, Loopback, as the CLI's flags
	App       fyne.App         // nil: app.NewWithID(AppID)
	// Refresh is how often the device list and the OnDemand queue are
	// reloaded; default 3 s.
	Refresh time.Duration
	// InsecureHTTP accepts a plain-http relay off this machine
	// (--insecure-http; a warning is logged at start).
	InsecureHTTP bool
	// Follow, when set, is a checked tandem:// link: its device's remote
	// control opens once logged in to its relay.
	Follow *launchlink.Link
}

// Run shows the console and returns when its window is closed or ctx ends.
// Fyne's event loop runs on the calling goroutine: call it from main. If
// the toolkit hangs while stopping, the open sessions are still closed and
// the process exits (fynerun).
func Run(ctx context.Context, o Options) error {
	if o.ConfigDir == "" {
		return errors.New("console: no configuration directory")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Refresh <= 0 {
		o.Refresh = 3 * time.Second
	}
	a := o.App
	if a == nil {
		if err := checkDisplay(); err != nil {
			return err
		}
		a = app.NewWithID(AppID)
	}
	newAPI := newClientAPI
	if o.InsecureHTTP {
		o.Logger.Warn("--" + relayurl.FlagName + ": a plain http:// relay off this machine is accepted; passwords and sessions then travel unencrypted")
		newAPI = func(relay, token string) (API, error) { return clientAPIWith(relay, token, true) }
	}
	m := newModel(o.Logger, o.ConfigDir, o.Transport, newAPI, time.Now)
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	m.Start(sctx) // before the loop runs: nothing to keep responsive yet
	cancel()
	if o.Follow != nil {
		m.Follow(*o.Follow)
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	u := newUI(ctx, a, m, o.Logger)
	u.win.SetOnClosed(stop)
	u.render()
	u.win.Show()
	go u.tick(ctx, o.Refresh)
	r := fynerun.New(a, o.Logger)
	go func() {
		<-ctx.Done()
		r.Quit()
	}()
	r.Run(func() int { u.closeSessions(); return 0 })
	return nil
}
