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
	List    *listView
	CanEdit bool
	Form    appForm
	Errors  map[string]string
}

// appColumns is the applications listing; the keys are the API's
// (store.AppColumns) but for Roles, shown only.
var appColumns = []column{
	{Key: "name", Label: "Name", Text: true, Sort: true, Default: true},
	{Key: "enabled", Label: "Status", Values: []option{{"yes", "Enabled"}, {"no", "Disabled"}}, Sort: true, Default: true},
	{Key: "path", Label: "Path", Text: true, Blanks: true, Sort: true, Default: true},
	{Key: "executable", Label: "Executable name", Text: true, Sort: true, Default: true},
	{Key: "description", Label: "Description", Text: true, Blanks: true, Sort: true, Default: true},
	{Key: "roles", Label: "Roles", Default: true},
}

// appCell is a cell of a's row; roles names the roles listing a.
func appCell(key string, a wire.Application, roles []string) cell {
	switch key {
	case "name":
		return cell{Text: a.Name}
	case "enabled":
		if a.Enabled {
			return cell{Text: "Enabled", Class: "badge ok"}
		}
		return cell{Text: "Disabled", Class: "badge off"}
	case "path":
		return cell{Text: a.Path}
	case "executable":
		return cell{Text: a.Executable}
	case "description":
		return cell{Text: a.Description}
	case "roles":
		return cell{List: roles}
	}
	return cell{}
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
	lv, err := p.fetchList(r, s, "applications", "/applications", appColumns, colKeys(appColumns[:len(appColumns)-1]), "/applications", &apps)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var roles []wire.RoleInfo
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/roles"), nil, &roles); err != nil {
		p.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodGet && q.Get("add") != "" {
		d.Form.Open = true
	}
	// ?edit=ID opens the Edit application dialog (a link, so the back
	// button and bookmarks work), whichever page lists it.
	if id := q.Get("edit"); id != "" && r.Method == http.MethodGet {
		all := apps
		if !slices.ContainsFunc(all, func(a wire.Application) bool { return a.ID == id }) {
			if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/applications"), nil, &all); err != nil {
				p.fail(w, r, err)
				return
			}
		}
		if i := slices.IndexFunc(all, func(a wire.Application) bool { return a.ID == id }); i >= 0 {
			d.Form = appForm{Open: true, Application: all[i]}
		}
	}
	lv.Empty = "No applications match. Add the programs that sessions may be limited to."
	lv.Select, lv.SelForm, lv.Actions = true, "apps-remove", true
	for _, a := range apps {
		var names []string
		for _, ro := range roles {
			if slices.Contains(ro.AppIDs, a.ID) {
				names = append(names, ro.Name)
			}
		}
		rw := row{ID: a.ID, Label: a.Name, Selectable: true,
			Actions: []rowAction{{Label: "Edit", Aria: "Edit " + a.Name, Href: "/applications?edit=" + url.QueryEscape(a.ID)}}}
		for _, c := range lv.Cols {
			rw.Cells = append(rw.Cells, appCell(c.Key, a, names))
		}
		lv.Rows = append(lv.Rows, rw)
	}
	d.List = lv
	p.render(w, r, status, "applications", "Applications", s, d)
}

// removeApps removes the selected applications; the API refuses those a
// role still lists.
func (p *Portal) removeApps(w http.ResponseWriter, r *http.Request, s *session) {
	p.eachSelected(w, r, s, r.PostForm["id"], "DELETE", nil, func(id string) string {
		return accountPath(s.Account.ID, "/applications/"+url.PathEscape(id))
	}, "%d application(s) removed.", "applications to remove", "/applications")
}
