package console

import (
	"github.com/tandem-rc/tandem/internal/launchlink"
	"github.com/tandem-rc/tandem/transport/wire"
)

// A tandem:// link (the Portal's Remote control) opens the console on one
// device. tandem-guest open has checked the link and asked the user before
// an unknown relay; here the relay only prefills the login form when it is
// not the one logged in to, and the device opens once it is listed.

// Follow takes a checked link.
func (m *Model) Follow(l launchlink.Link) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !launchlink.SameRelay(m.relay, l.Relay) {
		// Another relay: log in there (the saved login is left as it is
		// until that login replaces it).
		m.phase, m.api, m.me, m.account, m.devices, m.sessions = PhaseLogin, nil, wire.User{}, "", nil, nil
		m.relay, m.user, m.loginErr = l.Relay, "", ""
	}
	m.follow = l.Device
}

// TakeFollowed returns the followed device once the devices are loaded
// (ok false until then); a device the user may not see ends the follow
// with found false.
func (m *Model) TakeFollowed() (d wire.Device, found, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.follow == "" || m.phase != PhaseMain || m.devices == nil {
		return wire.Device{}, false, false
	}
	id := m.follow
	m.follow = ""
	for _, d := range m.devices {
		if d.ID == id {
			return d, true, true
		}
	}
	return wire.Device{}, false, true
}
