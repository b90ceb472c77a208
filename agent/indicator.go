package agent

import (
	"log/slog"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Indicator tells the local user, for as long as a session runs, who is
// connected and with which permissions, and lets them end it at once.
type Indicator interface {
	// Show displays the session. disconnect ends it (the local user's
	// Disconnect); the returned function, called when the session ends
	// for any reason, takes the indicator away.
	Show(s IndicatorSession, disconnect func()) (hide func())
}

// IndicatorSession is what the indicator shows.
type IndicatorSession struct {
	SessionID   string
	Technician  string // "Name <email>"
	Permissions []string
}

// LogIndicator only logs sessions (hosts with no desktop to show them on).
type LogIndicator struct{ Log *slog.Logger }

func (l LogIndicator) Show(s IndicatorSession, _ func()) func() {
	l.Log.Info("remote session live", "session", s.SessionID, "technician", s.Technician, "permissions", s.Permissions)
	return func() {}
}

// localDisconnect is why a session the local user ended ended.
const localDisconnect = "disconnected by the local user"

// showIndicator runs for the whole of a started session.
func (s *Session) showIndicator() (hide func()) {
	ind := s.h.o.Indicator
	if ind == nil {
		return func() {}
	}
	return ind.Show(IndicatorSession{SessionID: s.g.SessionID, Technician: technician(s.g), Permissions: s.g.Permissions},
		s.disconnectLocal)
}

// disconnectLocal ends the session as the local user asks (the
// indicator's Disconnect, Host.Disconnect).
func (s *Session) disconnectLocal() {
	s.log.Info("the local user ended the session")
	s.h.event(Event{Kind: "local_disconnect", SessionID: s.g.SessionID, Technician: technician(s.g)})
	s.end(localDisconnect)
	// The technician hears why, before the peer's own farewell.
	_ = s.send(&wire.Signal{Type: wire.SigBye, Code: "local_disconnect", Message: localDisconnect})
}
