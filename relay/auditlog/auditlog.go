// Package auditlog is the audit log API (spec 5.3): every member reads
// their own events; account administrators and the owner read all of the
// account's, turn logging on or off, and generate, download and delete
// CSV reports. It builds on relay/api; the relay keeps the writing and the
// retention.
package auditlog

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Events of the audit log's own settings and reports.
const (
	EvAuditSettings      = "audit.settings_changed"
	EvAuditReport        = "audit.report_created"
	EvAuditReportDeleted = "audit.report_deleted"
)

// maxReportEvents bounds one CSV report (it is kept in the database, about
// 200 bytes a line): a longer range is refused with advice to split it.
const maxReportEvents = 200_000

// maxAuditPage bounds one JSON page of events.
const maxAuditPage = 1000

// API serves the audit log's endpoints.
type API struct {
	k *api.Kit
	// retention is how long events are kept, in months.
	retention int
}

// New is the API on kit k; events are kept retentionMonths.
func New(k *api.Kit, retentionMonths int) *API { return &API{k: k, retention: retentionMonths} }

// Routes lists the endpoints.
func (s *API) Routes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/accounts/{account}/audit", H: s.handleAudit},
		{Method: "GET", Path: "/api/v1/accounts/{account}/audit/settings", H: s.handleAuditSettings},
		{Method: "PUT", Path: "/api/v1/accounts/{account}/audit/settings", H: s.handleSetAuditSettings},
		{Method: "GET", Path: "/api/v1/accounts/{account}/audit/reports", H: s.handleAuditReports},
		{Method: "POST", Path: "/api/v1/accounts/{account}/audit/reports", H: s.handleCreateAuditReport},
		{Method: "GET", Path: "/api/v1/accounts/{account}/audit/reports/{id}/csv", H: s.handleAuditReportCSV},
		{Method: "DELETE", Path: "/api/v1/accounts/{account}/audit/reports/{id}", H: s.handleDeleteAuditReport},
	}
}

// seesAll: group managers and up, and log administrators, read every
// event of the account and generate reports; others only their own
// events (spec 4.1, 5.3.2).
func seesAll(m store.Membership) bool { return api.IsManager(m.Type) || m.LogAdmin }

// reader authenticates the caller as someone who reads the whole
// account's log: an administrator, the owner or a log administrator.
func (s *API) reader(r *http.Request) (api.Caller, store.Membership, error) {
	c, m, err := s.k.AuthedMember(r)
	if err == nil && !seesAll(m) {
		err = api.Errf(http.StatusForbidden, api.CodeForbidden, "only group managers and up, and log administrators, read the whole audit log")
	}
	return c, m, err
}

// parseDay reads a UTC day (YYYY-MM-DD).
func parseDay(field, v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, api.Errf(http.StatusBadRequest, api.CodeBadRequest, "%s must be a date like 2026-03-31 (UTC)", field)
	}
	return t, nil
}

// dayRange turns from/to days (both included) into [From, To).
func dayRange(from, to string) (time.Time, time.Time, error) {
	f, err := parseDay("from", from)
	if err != nil {
		return f, f, err
	}
	t, err := parseDay("to", to)
	if err != nil {
		return f, t, err
	}
	if t.Before(f) {
		return f, t, api.Errf(http.StatusBadRequest, api.CodeBadRequest, "to (%s) is before from (%s)", to, from)
	}
	return f, t.AddDate(0, 0, 1), nil
}

// handleAudit is GET /api/v1/accounts/{account}/audit: events newest
// first. Query: from, to (days, both optional), event, user (administrators
// only), limit (≤ 1000, default 100).
func (s *API) handleAudit(w http.ResponseWriter, r *http.Request) error {
	a, err := s.k.Authenticate(r)
	if err != nil {
		return err
	}
	m, err := s.k.Member(r, a)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{AccountID: m.AccountID, Event: q.Get("event"), UserID: q.Get("user"), Limit: 100}
	if len(f.Event) > 64 || len(f.UserID) > 64 {
		return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "event and user are at most 64 characters")
	}
	if v := q.Get("from"); v != "" {
		if f.From, err = parseDay("from", v); err != nil {
			return err
		}
	}
	if v := q.Get("to"); v != "" {
		t, err := parseDay("to", v)
		if err != nil {
			return err
		}
		f.To = t.AddDate(0, 0, 1)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditPage {
			return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "limit must be 1 to %d", maxAuditPage)
		}
		f.Limit = n
	}
	if !seesAll(m) {
		if f.UserID != "" && f.UserID != a.User.ID {
			return api.Errf(http.StatusForbidden, api.CodeForbidden, "you can read only your own events")
		}
		f.UserID = a.User.ID
	}
	evs, err := s.k.Store.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]wire.AuditEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, wire.AuditEvent{ID: e.ID, At: e.At, Event: e.Event, UserID: e.ActorUserID,
			DeviceID: e.ActorDeviceID, Remote: e.RemoteAddr, Detail: e.Detail})
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// handleAuditSettings is GET /api/v1/accounts/{account}/audit/settings.
func (s *API) handleAuditSettings(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.k.Admin(r, "manage the audit log")
	if err != nil {
		return err
	}
	acct, err := s.k.Store.Account(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, wire.AuditSettings{Enabled: acct.AuditEnabled, RetentionMonths: s.retention})
	return nil
}

// handleSetAuditSettings is PUT /api/v1/accounts/{account}/audit/settings:
// logging on or off (spec 5.3.1). The change itself is always logged.
func (s *API) handleSetAuditSettings(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.k.Admin(r, "manage the audit log")
	if err != nil {
		return err
	}
	var req struct {
		Enabled *bool `json:"enabled"`
	}
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "enabled (true or false) is required")
	}
	acct, err := s.k.Store.Account(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	if acct.AuditEnabled != *req.Enabled {
		// Always: the record of turning logging off exists too.
		if err := s.k.Commit(r.Context(), func(tx *store.Store) error { return tx.SetAccountAudit(r.Context(), m.AccountID, *req.Enabled) },
			func() api.Audit {
				return api.Audit{Event: EvAuditSettings, Account: m.AccountID, User: a.User.ID, Remote: api.RemoteIP(r),
					Detail: map[string]any{"enabled": *req.Enabled}, Always: true}
			}); err != nil {
			return err
		}
	}
	api.WriteJSON(w, http.StatusOK, wire.AuditSettings{Enabled: *req.Enabled, RetentionMonths: s.retention})
	return nil
}

func wireReport(r store.AuditReport) wire.AuditReport {
	return wire.AuditReport{ID: r.ID, From: r.From.Format(time.DateOnly), To: r.To.AddDate(0, 0, -1).Format(time.DateOnly),
		Events: r.Events, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

var errReportTooLarge = errors.New("report too large")

// handleCreateAuditReport is POST /api/v1/accounts/{account}/audit/reports:
// a CSV of the account's events in a range of UTC days (spec 5.3.2).
func (s *API) handleCreateAuditReport(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.reader(r)
	if err != nil {
		return err
	}
	var req wire.AuditReportRequest
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	from, to, err := dayRange(req.From, req.To)
	if err != nil {
		return err
	}
	var b strings.Builder
	n := 0
	writeCSVRow(&b, "Time (UTC)", "Event", "User", "Device", "Remote address", "Details")
	err = s.k.Store.AuditEach(r.Context(), store.AuditFilter{AccountID: m.AccountID, From: from, To: to}, func(l store.AuditLine) error {
		if n++; n > maxReportEvents {
			return errReportTooLarge
		}
		user := l.UserEmail
		if user == "" {
			user = l.ActorUserID
		}
		dev := l.Device
		if dev == "" {
			dev = l.ActorDeviceID
		}
		detail := string(l.Detail)
		if detail == "{}" {
			detail = ""
		}
		writeCSVRow(&b, l.At.Format("2006-01-02 15:04:05.000"), l.Event, user, dev, l.RemoteAddr, detail)
		return nil
	})
	if errors.Is(err, errReportTooLarge) {
		return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "more than %d events from %s to %s: generate reports for shorter ranges", maxReportEvents, req.From, req.To)
	} else if err != nil {
		return err
	}
	var rep store.AuditReport
	if err := s.k.Commit(r.Context(), func(tx *store.Store) (err error) {
		rep, err = tx.CreateAuditReport(r.Context(), store.AuditReport{AccountID: m.AccountID, CreatedBy: a.User.ID,
			From: from, To: to, Events: n, CreatedAt: s.k.Now(), CSV: b.String()})
		return err
	}, func() api.Audit {
		return s.k.Rec(r, a, m.AccountID, EvAuditReport, map[string]any{"report": rep.ID, "from": req.From, "to": req.To, "events": n})
	}); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, wireReport(rep))
	return nil
}

// handleAuditReports is GET /api/v1/accounts/{account}/audit/reports.
func (s *API) handleAuditReports(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.reader(r)
	if err != nil {
		return err
	}
	rs, err := s.k.Store.AuditReports(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	out := make([]wire.AuditReport, 0, len(rs))
	for _, rep := range rs {
		out = append(out, wireReport(rep))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *API) report(r *http.Request, accountID string) (store.AuditReport, error) {
	rep, err := s.k.Store.AuditReport(r.Context(), accountID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return rep, api.Errf(http.StatusNotFound, api.CodeNotFound, "no report %q in this account", r.PathValue("id"))
	}
	return rep, err
}

// handleAuditReportCSV is GET .../audit/reports/{id}/csv.
func (s *API) handleAuditReportCSV(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.reader(r)
	if err != nil {
		return err
	}
	rep, err := s.report(r, m.AccountID)
	if err != nil {
		return err
	}
	wr := wireReport(rep)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit_%s_%s.csv"`, wr.From, wr.To))
	w.Write([]byte(rep.CSV))
	return nil
}

// handleDeleteAuditReport is DELETE .../audit/reports/{id}.
func (s *API) handleDeleteAuditReport(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.k.Admin(r, "manage the audit log")
	if err != nil {
		return err
	}
	if _, err := s.report(r, m.AccountID); err != nil {
		return err
	}
	if err := s.k.Commit(r.Context(), func(tx *store.Store) error { return tx.DeleteAuditReport(r.Context(), m.AccountID, r.PathValue("id")) },
		func() api.Audit {
			return s.k.Rec(r, a, m.AccountID, EvAuditReportDeleted, map[string]any{"report": r.PathValue("id")})
		}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// writeCSVRow writes one line the way the spec tells admins to import it:
// comma-delimited, every field qualified by apostrophes (doubled inside).
// A field a spreadsheet would run as a formula gets a leading apostrophe,
// which spreadsheets show as text.
func writeCSVRow(b *strings.Builder, fields ...string) {
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		if f != "" && strings.ContainsRune("=+-@\t\r", rune(f[0])) {
			f = "'" + f
		}
		f = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(f)
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(f, "'", "''"))
		b.WriteByte('\'')
	}
	b.WriteString("\r\n")
}
