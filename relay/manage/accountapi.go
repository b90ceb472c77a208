package manage

import (
	"net/http"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Account details (spec 6.1): every administrator reads them; only the
// owner changes them.

const EvAccountUpdated = "account.updated"

func (s *API) accountConfig(r *http.Request, m store.Membership) (wire.AccountConfig, error) {
	d, err := s.k.Store.AccountDetails(r.Context(), m.AccountID)
	if err != nil {
		return wire.AccountConfig{}, err
	}
	out := wire.AccountConfig{Name: m.AccountName, Company: d.Company, Contact: d.Contact, TimeZone: d.TimeZone, RCAction: d.RCAction}
	us, err := s.k.Store.AccountUsers(r.Context(), m.AccountID)
	if err != nil {
		return out, err
	}
	for _, u := range us {
		switch u.Type {
		case store.Owner:
			out.Owner = u.User.Email
		case store.Admin:
			out.Administrators = append(out.Administrators, wire.Ref{ID: u.User.ID, Name: u.User.Email})
		}
	}
	return out, nil
}

// handleAccountConfig is GET /api/v1/accounts/{account}/config.
func (s *API) handleAccountConfig(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.k.Admin(r, "see the account's configuration")
	if err != nil {
		return err
	}
	out, err := s.accountConfig(r, m)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// handleSetAccountConfig is PUT /api/v1/accounts/{account}/config (owner).
func (s *API) handleSetAccountConfig(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.k.Admin(r, "see the account's configuration")
	if err != nil {
		return err
	}
	if m.Type != store.Owner {
		return api.Errf(http.StatusForbidden, api.CodeForbidden, "only the account owner changes the account's configuration")
	}
	var req wire.AccountConfig
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name != "" && req.Name != m.AccountName {
		return api.Badf("the account's name can't change here")
	}
	if req.Owner != "" || req.Administrators != nil {
		return api.Badf("owner and administrators change through the users API and the change-owner flow")
	}
	if err := api.CheckText("company", req.Company, api.MaxShortText); err != nil {
		return err
	}
	if err := api.CheckText("contact", req.Contact, api.MaxDescription); err != nil {
		return err
	}
	if req.TimeZone == "" || len(req.TimeZone) > 64 {
		return api.Badf("timezone is required (an IANA name like Europe/Bucharest)")
	}
	if _, err := time.LoadLocation(req.TimeZone); err != nil || req.TimeZone == "Local" {
		return api.Badf("unknown timezone %q (use an IANA name like Europe/Bucharest)", req.TimeZone)
	}
	if req.RCAction != store.RCGuest && req.RCAction != store.RCBrowser {
		return api.Badf("rc_action must be guest or browser")
	}
	if err := s.k.Atomically(r.Context(), func(tx *store.Store, audit func(api.Audit)) error {
		audit(s.k.Rec(r, a, m.AccountID, EvAccountUpdated, map[string]any{"company": req.Company, "timezone": req.TimeZone, "rc_action": req.RCAction}))
		return tx.SetAccountDetails(r.Context(), m.AccountID, store.AccountDetails{Company: req.Company, Contact: req.Contact,
			TimeZone: req.TimeZone, RCAction: req.RCAction})
	}); err != nil {
		return err
	}
	out, err := s.accountConfig(r, m)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}
