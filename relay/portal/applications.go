package portal

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// applicationsData is Applications (spec 4.3.5): the catalog that
// Whitelisted applications roles (4.4.11) pick from, with the roles that
// list each one.
type applicationsData struct {
	Apps    []appRow
	CanEdit bool
	Form    appForm
	Errors  map[string]string
}

type appRow struct {
	wire.Application
	Roles []string // names of the roles listing it
}

type appForm struct {
	Open bool
	wire.Application
}

func (p *Portal) handleApplications(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("admin") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only account administrators and the owner manage applications.")
		return
	}
	d := &applicationsData{CanEdit: true, Errors: map[string]string{}, Form: appForm{Application: wire.Application{Enabled: true}}}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		if !p.readForm(w, r) {
			return
		}
		switch formValue(r, "form") {
		case "remove":
			p.removeApps(w, r, s)
			return
		case "save":
			f := appForm{Open: true, Application: wire.Application{ID: formValue(r, "id"), Name: strings.TrimSpace(formValue(r, "name")),
				Enabled: formValue(r, "enabled") == "on", Path: strings.TrimSpace(formValue(r, "path")),
				Executable: strings.TrimSpace(formValue(r, "executable")), Description: formValue(r, "description")}}
			method, path, done := "POST", accountPath(s.Account.ID, "/applications"), "The application “%s” is added."
			if f.ID != "" {
				method, path, done = "PUT", path+"/"+url.PathEscape(f.ID), "The application “%s” is saved."
			}
			req := f.Application
			req.ID = ""
			if _, err := p.call(r, s.Token, method, path, req, nil); err != nil {
				msg, ok := apiMessage(err)
				var ae *apiError
				if !ok || !errors.As(err, &ae) {
					p.fail(w, r, err)
					return
				}
				d.Form, status = f, ae.Status
				d.Errors[errField(ae.Message, "name", "executable", "path", "description")] = msg
				break
			}
			flash(w, fmt.Sprintf(done, f.Name))
			http.Redirect(w, r, "/applications", http.StatusSeeOther)
			return
		default:
			p.renderError(w, r, http.StatusBadRequest, "Bad request", "Unknown form.")
			return
		}
	}
	var apps []wire.Application
	var roles []wire.RoleInfo
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/applications"), nil, &apps); err != nil {
		p.fail(w, r, err)
		return
	}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/roles"), nil, &roles); err != nil {
		p.fail(w, r, err)
		return
	}
	if r.Method == http.MethodGet && r.URL.Query().Get("add") != "" {
		d.Form.Open = true
	}
	for _, a := range apps {
		row := appRow{Application: a}
		for _, ro := range roles {
			if slices.Contains(ro.AppIDs, a.ID) {
				row.Roles = append(row.Roles, ro.Name)
			}
		}
		d.Apps = append(d.Apps, row)
		// ?edit=ID opens the Edit application dialog (a link, so the back
		// button and bookmarks work).
		if id := r.URL.Query().Get("edit"); id == a.ID && r.Method == http.MethodGet {
			d.Form = appForm{Open: true, Application: a}
		}
	}
	p.render(w, r, status, "applications", "Applications", s, d)
}

// removeApps removes the selected applications; the API refuses those a
// role still lists.
func (p *Portal) removeApps(w http.ResponseWriter, r *http.Request, s *session) {
	p.eachSelected(w, r, s, r.PostForm["id"], "DELETE", nil, func(id string) string {
		return accountPath(s.Account.ID, "/applications/"+url.PathEscape(id))
	}, "%d application(s) removed.", "applications to remove", "/applications")
}
