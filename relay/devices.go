package relay

import (
	"encoding/json"
	"net/http"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// wireDevice describes d for the API.
func (s *Server) wireDevice(d store.Device) wire.Device {
	out := wire.Device{
		ID: d.ID, AccountID: d.AccountID, Name: d.Name(), Hostname: d.Hostname, OS: d.OS, Version: d.Version,
		State: string(d.State), Online: s.hub.online(d.ID), User: d.LoggedInUser,
	}
	if !d.LastSeen.IsZero() {
		out.LastSeen = d.LastSeen.Unix()
	}
	if len(d.Monitors) > 0 {
		json.Unmarshal(d.Monitors, &out.Monitors) // the relay wrote it; a bad row just shows none
	}
	return out
}

// handleDevices is GET /api/v1/devices: the devices of the caller's accounts.
func (s *Server) handleDevices(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	accounts, err := s.activeAccounts(r.Context(), a)
	if err != nil {
		return err
	}
	ds, err := s.st.Devices(r.Context(), accounts)
	if err != nil {
		return err
	}
	out := make([]wire.Device, 0, len(ds))
	for _, d := range ds {
		out = append(out, s.wireDevice(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
