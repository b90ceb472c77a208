package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// logsData is Logs (spec 5.3.2): the newest audit events as the filters
// (date range, event, user) select them, and the CSV reports.
type logsData struct {
	From, To, Event, User string
	Events                []wire.AuditEvent
	Error                 string
	Reports               []wire.AuditReport
	CanReport             bool
	ReportError           string
	Limit                 int
}

const logsLimit = 200

func (p *Portal) logsData(r *http.Request, s *session) *logsData {
	q := r.URL.Query()
	d := &logsData{From: q.Get("from"), To: q.Get("to"), Event: q.Get("event"), User: q.Get("user"), Limit: logsLimit,
		CanReport: s.AtLeast("group_manager") || s.Member.LogAdmin}
	v := url.Values{"limit": {"200"}}
	for k, val := range map[string]string{"from": d.From, "to": d.To, "event": d.Event, "user": d.User} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return d.withEvents(p, r, s, v)
}

func (d *logsData) withEvents(p *Portal, r *http.Request, s *session, v url.Values) *logsData {
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/audit?"+v.Encode()), nil, &d.Events); err != nil {
		msg, ok := apiMessage(err)
		if !ok {
			msg = "The log could not be read."
		}
		d.Error = msg
	}
	if d.CanReport {
		if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/audit/reports"), nil, &d.Reports); err != nil {
			d.CanReport = false // the API decides: not for this member
		}
	}
	return d
}

func (p *Portal) handleLogs(w http.ResponseWriter, r *http.Request, s *session) {
	d := p.logsData(r, s)
	status := http.StatusOK
	if d.Error != "" {
		status = http.StatusBadRequest
	}
	p.render(w, r, status, "logs", "Logs", s, d)
}

// handleLogReport generates a CSV report (spec 5.3.2) or removes one.
func (p *Portal) handleLogReport(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	var err error
	done := "The report is generated."
	if id := formValue(r, "delete"); id != "" {
		done = "The report is deleted."
		_, err = p.call(r, s.Token, "DELETE", accountPath(s.Account.ID, "/audit/reports/"+url.PathEscape(id)), nil, nil)
	} else {
		req := wire.AuditReportRequest{From: strings.TrimSpace(formValue(r, "from")), To: strings.TrimSpace(formValue(r, "to"))}
		_, err = p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/audit/reports"), req, nil)
	}
	if err != nil {
		msg, ok := apiMessage(err)
		var ae *apiError
		if !ok || !errors.As(err, &ae) {
			p.fail(w, r, err)
			return
		}
		r.URL.RawQuery = ""
		d := p.logsData(r, s)
		d.ReportError = msg
		p.render(w, r, ae.Status, "logs", "Logs", s, d)
		return
	}
	flash(w, done)
	http.Redirect(w, r, "/logs", http.StatusSeeOther)
}

// handleLogCSV downloads a report through the API.
func (p *Portal) handleLogCSV(w http.ResponseWriter, r *http.Request, s *session) {
	id := strings.TrimSuffix(r.PathValue("id"), ".csv")
	ans, err := p.send(r, s.Token, "GET", accountPath(s.Account.ID, "/audit/reports/"+url.PathEscape(id)+"/csv"), nil)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	name := "audit-" + time.Now().UTC().Format("20060102") + ".csv"
	if cd := ans.header.Get("Content-Disposition"); cd != "" {
		w.Header().Set("Content-Disposition", cd)
	} else {
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	}
	w.Write(ans.body.Bytes())
}
