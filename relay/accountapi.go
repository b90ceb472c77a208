package relay

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

func (s *Server) accountConfig(r *http.Request, m store.Membership) (wire.AccountConfig, error) {
	d, err := s.st.AccountDetails(r.Context(), m.AccountID)
	if err != nil {
		return wire.AccountConfig{}, err
	}
	out := wire.AccountConfig{Name: m.AccountName, Company: d.Company, Contact: d.Contact, TimeZone: d.TimeZone, RCAction: d.RCAction}
	us, err := s.st.AccountUsers(r.Context(), m.AccountID)
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
func (s *Server) handleAccountConfig(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.accountAdmin(r, "see the account's configuration")
	if err != nil {
		return err
	}
	out, err := s.accountConfig(r, m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleSetAccountConfig is PUT /api/v1/accounts/{account}/config (owner).
func (s *Server) handleSetAccountConfig(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accountAdmin(r, "see the account's configuration")
	if err != nil {
		return err
	}
	if m.Type != store.Owner {
		return errf(http.StatusForbidden, api.CodeForbidden, "only the account owner changes the account's configuration")
	}
	var req wire.AccountConfig
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name != "" && req.Name != m.AccountName {
		return badf("the account's name can't change here")
	}
	if req.Owner != "" || req.Administrators != nil {
		return badf("owner and administrators change through the users API and the change-owner flow")
	}
	if err := checkText("company", req.Company, maxShortText); err != nil {
		return err
	}
	if err := checkText("contact", req.Contact, maxDescription); err != nil {
		return err
	}
	if req.TimeZone == "" || len(req.TimeZone) > 64 {
		return badf("timezone is required (an IANA name like Europe/Bucharest)")
	}
	if _, err := time.LoadLocation(req.TimeZone); err != nil || req.TimeZone == "Local" {
		return badf("unknown timezone %q (use an IANA name like Europe/Bucharest)", req.TimeZone)
	}
	if req.RCAction != store.RCGuest && req.RCAction != store.RCBrowser {
		return badf("rc_action must be guest or browser")
	}
	if err := s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		audit(s.recAs(r, a, m.AccountID, EvAccountUpdated, map[string]any{"company": req.Company, "timezone": req.TimeZone, "rc_action": req.RCAction}))
		return tx.SetAccountDetails(r.Context(), m.AccountID, store.AccountDetails{Company: req.Company, Contact: req.Contact,
			TimeZone: req.TimeZone, RCAction: req.RCAction})
	}); err != nil {
		return err
	}
	out, err := s.accountConfig(r, m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
