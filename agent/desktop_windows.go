package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"

	"golang.org/x/sys/windows"
)

// windowsDiscoverer tells who is logged on at the console: the service
// (LocalSystem) may ask for the console session's user token; nobody
// logged on is ErrNoDesktop. A process that may not ask (a foreground run
// as a user) serves its own desktop. Desktop.Session is the WTS session
// id (the prompts go there), Locked its lock state when Windows says.
// Not run in this project's CI (Linux); it cross-compiles.
type windowsDiscoverer struct{ log *slog.Logger }

func newPlatformDiscoverer(log *slog.Logger) Discoverer { return windowsDiscoverer{log: log} }

func (w windowsDiscoverer) Discover(context.Context) (*Desktop, error) {
	own := &Desktop{User: os.Getenv("USERNAME"), UID: -1, GID: -1, Source: "own"}
	own.Home, _ = os.UserHomeDir()
	var ownSID uint32
	if windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &ownSID) == nil {
		own.Session = strconv.FormatUint(uint64(ownSID), 10)
		own.Locked, _ = wtsLocked(ownSID)
	}
	sid := windows.WTSGetActiveConsoleSessionId()
	if sid == wtsNoSession {
		return nil, ErrNoDesktop
	}
	var tok windows.Token
	if err := windows.WTSQueryUserToken(sid, &tok); err != nil {
		if errors.Is(err, windows.ERROR_NO_TOKEN) {
			return nil, ErrNoDesktop
		}
		return own, nil // not LocalSystem: this process's own desktop
	}
	defer tok.Close()
	d := &Desktop{UID: -1, GID: -1, Source: "wts", Session: strconv.FormatUint(uint64(sid), 10)}
	d.Locked, _ = wtsLocked(sid)
	if tu, err := tok.GetTokenUser(); err == nil {
		if name, domain, _, err := tu.User.Sid.LookupAccount(""); err == nil {
			d.User = domain + `\` + name
		}
	}
	d.Home, _ = tok.GetUserProfileDirectory()
	return d, nil
}

// needDisplay: no X display to name here.
const needDisplay = false

// thisDesktop finds the console session each time it is called: the
// Desktop*UI functions that take a display take no tracker.
func thisDesktop(log *slog.Logger) func() *Desktop {
	return func() *Desktop {
		d, _ := windowsDiscoverer{log: log}.Discover(context.Background())
		return d
	}
}
