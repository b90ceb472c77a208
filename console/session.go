package console

import (
	"log/slog"

	"fyne.io/fyne/v2"

	"github.com/tandem-rc/tandem/console/remote"
	"github.com/tandem-rc/tandem/guest"
)

// remoteOptions mirror console/remote's Options.
type remoteOptions struct {
	Title    string
	Logger   *slog.Logger
	OnClosed func(err error)
	Panel    string // "", "files" or "chat"
}

// openSession shows a connected session in the remote-control window
// (tests replace it to see what would open).
func openSession(a fyne.App, s *guest.Session, o remoteOptions) fyne.Window {
	return remote.Open(a, s, remote.Options{Title: o.Title, Logger: o.Logger, OnClosed: o.OnClosed, Panel: o.Panel})
}
