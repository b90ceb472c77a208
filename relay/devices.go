package relay

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// wireDevice describes d for the API.
func (s *Server) wireDevice(d store.Device) wire.Device {
	ctx, cancel := s.dbctx()
	defer cancel()
	out := wire.Device{
		ID: d.ID, AccountID: d.AccountID, Name: d.Name(), Hostname: d.Hostname, OS: d.OS, Version: d.Version,
		State: string(d.State), Online: s.online(ctx, d.ID), User: d.LoggedInUser, Description: d.Description,
	}
	if !d.LastSeen.IsZero() {
		out.LastSeen = d.LastSeen.Unix()
	}
	if len(d.Monitors) > 0 {
		json.Unmarshal(d.Monitors, &out.Monitors) // the relay wrote it; a bad row just shows none
	}
	return out
}

// handleDevices is GET /api/v1/devices: "My devices" — in each of the
// caller's accounts, the devices their role assignments let them reach now
// (administrators and the owner see every device, as they manage them).
func (s *Server) handleDevices(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ms, err := s.st.Memberships(ctx, a.User.ID)
	if err != nil {
		return err
	}
	out := []wire.Device{}
	now := s.now()
	favs, err := s.st.Favorites(ctx, a.User.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Disabled || (a.APIKey != nil && a.APIKey.AccountID != m.AccountID) {
			continue
		}
		ds, err := s.st.Devices(ctx, []string{m.AccountID})
		if err != nil {
			return err
		}
		groups, err := s.st.DeviceGroupNames(ctx, []string{m.AccountID})
		if err != nil {
			return err
		}
		var model *policy.Model
		if !isManager(m.Type) && len(ds) > 0 {
			if model, err = s.models.model(ctx, m.AccountID); err != nil {
				return err
			}
		}
		for _, d := range ds {
			if model != nil {
				dec := policy.Evaluate(model, policy.Request{UserID: a.User.ID, DeviceID: d.ID,
					ClientType: policy.ClientInstalledGuest, At: now, StateUnknown: true})
				if !dec.Allowed {
					continue
				}
			}
			wd := s.wireDevice(d)
			wd.Favorite = favs[d.ID]
			wd.Groups = groups[d.ID]
			out = append(out, wd)
		}
	}
	// Favorites first (spec 4.3), each group in the store's order.
	slices.SortStableFunc(out, func(a, b wire.Device) int {
		switch {
		case a.Favorite == b.Favorite:
			return 0
		case a.Favorite:
			return -1
		}
		return 1
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}
