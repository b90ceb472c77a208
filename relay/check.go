package relay

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// handleCheck is GET /api/v1/accounts/{account}/check: Check permissions
// (spec 4.4.9) for administrators — what user (id or email) may do on
// device (id or hostname) at date+time in timezone (default: now, UTC),
// for client (installed_guest, browser, any; default installed_guest), or
// in an OnDemand session with ondemand=1. It is the evaluator's decision
// exactly, with Explain on.
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.accountManager(r, "check permissions")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ctx := r.Context()
	req := policy.Request{Explain: true, StateUnknown: true, ClientType: policy.ClientInstalledGuest}

	userRef := strings.TrimSpace(q.Get("user"))
	if userRef == "" || !validText(userRef, maxEmail) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "user is required: a user id or email")
	}
	u, err := s.st.User(ctx, userRef)
	if errors.Is(err, store.ErrNotFound) {
		u, err = s.st.UserByEmail(ctx, strings.ToLower(userRef))
	}
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no user %q", userRef)
	} else if err != nil {
		return err
	}
	req.UserID = u.ID

	req.OnDemand = q.Get("ondemand") == "1" || q.Get("ondemand") == "true"
	if !req.OnDemand {
		ref := strings.TrimSpace(q.Get("device"))
		if ref == "" || !validText(ref, maxHostname) {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "device is required (an id or hostname), or ondemand=1")
		}
		d, err := s.resolveDevice(ctx, []string{m.AccountID}, ref)
		if err != nil {
			return err
		}
		req.DeviceID = d.ID
	}
	switch c := q.Get("client"); c {
	case "":
	case string(policy.ClientInstalledGuest), string(policy.ClientBrowser), string(policy.ClientAny):
		req.ClientType = policy.ClientType(c)
	default:
		return errf(http.StatusBadRequest, api.CodeBadRequest, "client must be installed_guest, browser or any")
	}

	loc := time.UTC
	if tz := q.Get("timezone"); tz != "" {
		if len(tz) > 64 || strings.Contains(tz, "..") {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "unknown timezone %q", tz)
		}
		if loc, err = time.LoadLocation(tz); err != nil {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "unknown timezone %q (use an IANA name like Europe/Bucharest)", tz)
		}
	}
	req.At = s.now()
	if date, clock := q.Get("date"), q.Get("time"); date != "" || clock != "" {
		if date == "" || clock == "" {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "give both date (YYYY-MM-DD) and time (HH:MM)")
		}
		at, err := time.ParseInLocation("2006-01-02 15:04", date+" "+clock, loc)
		if err != nil {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "date must be YYYY-MM-DD and time HH:MM")
		}
		req.At = at
	}

	model, err := s.models.model(ctx, m.AccountID)
	if err != nil {
		return err
	}
	dec := policy.Evaluate(model, req)
	out := wire.CheckResult{At: req.At.UTC(), Allowed: dec.Allowed, Permissions: dec.Permissions.Strings(),
		ConfirmLocal: dec.Confirm.Local, ConfirmEmail: dec.Confirm.EmailGroupIDs,
		Contributing: []wire.CheckAssignment{}, Reasons: []string{}}
	if out.Permissions == nil {
		out.Permissions = []string{}
	}
	for _, a := range dec.Whitelist {
		out.Whitelist = append(out.Whitelist, a.Name)
	}
	for _, c := range dec.Contributing {
		out.Contributing = append(out.Contributing, wire.CheckAssignment{ID: c.ID, Name: c.Name, RoleID: c.RoleID, RoleName: c.RoleName})
	}
	for _, why := range dec.Reasons {
		out.Reasons = append(out.Reasons, why.String())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
