package manage

import (
	"net/http"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/transport/wire"
)

// handleAccountCounts is GET /api/v1/accounts/{account}/counts: the
// Dashboard's figures (spec 2.2), for group managers and up, counted in
// the store and the relay's memory rather than by listing every row.
func (s *API) handleAccountCounts(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.k.Manager(r, "read the account's counts")
	if err != nil {
		return err
	}
	c, err := s.k.Store.AccountCounts(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	online, err := s.cfg.Online(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, wire.AccountCounts{Devices: c.Devices, OnlineDevices: online, PendingDevices: c.PendingDevices,
		DeviceGroups: c.DeviceGroups, Users: c.Users, LDAPUsers: c.LDAPUsers, UserGroups: c.UserGroups, LDAPGroups: c.LDAPGroups})
	return nil
}
