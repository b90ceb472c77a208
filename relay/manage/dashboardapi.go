package manage

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The Portal's own needs of the API: the Dashboard's activity chart and
// Choose columns remembered per user (spec 2.2, 2.2.1).

// handleActivity is GET /api/v1/accounts/{account}/activity?days=N
// (administrators): N local days (default 7, at most 31) against the N
// before them.
func (s *API) handleActivity(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.k.Admin(r, "see the account's activity")
	if err != nil {
		return err
	}
	days := 7
	if v := r.URL.Query().Get("days"); v != "" {
		days, err = strconv.Atoi(v)
		if err != nil || days < 1 || days > 31 {
			return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "days must be a whole number from 1 to 31")
		}
	}
	d, err := s.k.Store.AccountDetails(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(d.TimeZone)
	if err != nil || d.TimeZone == "" {
		loc, d.TimeZone = time.UTC, "UTC"
	}
	bounds := dayBounds(s.k.Now().In(loc), 2*days)
	act, err := s.k.Store.Activity(r.Context(), m.AccountID, bounds)
	if err != nil {
		return err
	}
	out := wire.Activity{TimeZone: d.TimeZone}
	for i := range 2 * days {
		out.Days = append(out.Days, wire.ActivityDay{Date: bounds[i].Format(time.DateOnly),
			ActiveUsers: act.ActiveUsers[i], RemoteSessions: act.Sessions[i], EnrolledDevices: act.Enrolled[i]})
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// dayBounds are the n+1 local midnights around the n days ending with
// now's: AddDate keeps them midnights across daylight-saving changes.
func dayBounds(now time.Time, n int) []time.Time {
	y, mo, d := now.Date()
	first := time.Date(y, mo, d-(n-1), 0, 0, 0, 0, now.Location())
	out := make([]time.Time, n+1)
	for i := range out {
		out[i] = first.AddDate(0, 0, i)
	}
	return out
}

var (
	columnList = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	columnKey  = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,39}$`)
)

const maxColumns = 64

// handleColumns is GET /api/v1/me/columns: the caller's chosen columns,
// per listing.
func (s *API) handleColumns(w http.ResponseWriter, r *http.Request) error {
	a, err := s.k.Authenticate(r)
	if err != nil {
		return err
	}
	cols, err := s.k.Store.Columns(r.Context(), a.User.ID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, cols)
	return nil
}

// handleSetColumns is PUT /api/v1/me/columns/{list}: remember a listing's
// columns for the caller, on every browser. Names are checked for shape
// only: which columns exist is the client's business.
func (s *API) handleSetColumns(w http.ResponseWriter, r *http.Request) error {
	a, err := s.k.Authenticate(r)
	if err != nil {
		return err
	}
	list := r.PathValue("list")
	if !columnList.MatchString(list) {
		return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "a listing name is 1 to 32 lower-case letters, digits, - or _")
	}
	var req wire.Columns
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Columns) == 0 || len(req.Columns) > maxColumns {
		return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "choose 1 to %d columns", maxColumns)
	}
	seen := map[string]bool{}
	for _, c := range req.Columns {
		if !columnKey.MatchString(c) || seen[c] {
			return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "column %.40q is malformed or repeated", c)
		}
		seen[c] = true
	}
	err = s.k.Store.SetColumns(r.Context(), a.User.ID, list, req.Columns, s.k.Now())
	if errors.Is(err, store.ErrTooMany) {
		return api.Errf(http.StatusConflict, api.CodeLimit, "columns are kept for at most %d listings", store.MaxColumnLists)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
