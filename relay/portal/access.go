package portal

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Groups (spec 4.2), Roles (4.4.1) and Role assignments (4.4.6) with the
// Check permissions dialog (4.4.12).

type groupsData struct {
	Groups  []wire.Group
	CanEdit bool
	Form    groupForm
}

type groupForm struct {
	Open                    bool
	Name, Description, Kind string
	Error                   string
}

var kindLabels = map[string]string{"user": "User group", "ldap_user": "LDAP user group", "azure_ad_user": "Azure AD user group", "device": "Device group"}

func (p *Portal) handleGroups(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("group_manager") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only group managers and up see groups.")
		return
	}
	d := &groupsData{CanEdit: s.AtLeast("admin"), Form: groupForm{Kind: "user"}}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		if id := formValue(r, "delete"); id != "" {
			if _, err := p.call(r, s.Token, "DELETE", accountPath(s.Account.ID, "/groups/"+url.PathEscape(id)), nil, nil); err != nil {
				p.fail(w, r, err)
				return
			}
			flash(w, "The group is removed.")
			http.Redirect(w, r, "/groups", http.StatusSeeOther)
			return
		}
		f := groupForm{Open: true, Name: strings.TrimSpace(formValue(r, "name")), Description: formValue(r, "description"), Kind: formValue(r, "kind")}
		req := wire.GroupRequest{Name: &f.Name, Description: &f.Description, Kind: f.Kind}
		if _, err := p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/groups"), req, nil); err != nil {
			msg, ok := apiMessage(err)
			if !ok {
				p.fail(w, r, err)
				return
			}
			f.Error, status = msg, http.StatusBadRequest
			d.Form = f
		} else {
			flash(w, "The group “"+f.Name+"” is created.")
			http.Redirect(w, r, "/groups", http.StatusSeeOther)
			return
		}
	}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups"), nil, &d.Groups); err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, status, "groups", "Groups", s, d)
}

func (p *Portal) handleRoles(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("group_manager") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only group managers and up see roles.")
		return
	}
	var roles []wire.RoleInfo
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/roles"), nil, &roles); err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "roles", "Roles", s, roles)
}

type assignmentsData struct {
	Assignments []wire.Assignment
	Roles       map[string]string // id → name
	Groups      map[string]string
	Users       []wire.Member
	Devices     []wire.Device
	Check       checkForm
}

type checkForm struct {
	Open                               bool
	User, Device, Date, Time, TimeZone string
	Result                             *wire.CheckResult
	Error                              string
}

func (p *Portal) handleAssignments(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("group_manager") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only group managers and up see role assignments.")
		return
	}
	d := &assignmentsData{Roles: map[string]string{}, Groups: map[string]string{}}
	var roles []wire.RoleInfo
	var groups []wire.Group
	for _, c := range []struct {
		path string
		out  any
	}{{"/assignments", &d.Assignments}, {"/roles", &roles}, {"/groups", &groups}, {"/users", &d.Users}, {"/devices", &d.Devices}} {
		if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, c.path), nil, c.out); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	for _, ro := range roles {
		d.Roles[ro.ID] = ro.Name
	}
	for _, g := range groups {
		d.Groups[g.ID] = g.Name
	}
	status := http.StatusOK
	q := r.URL.Query()
	if q.Get("check") != "" {
		// Check permissions (4.4.12): the API's decision for the user on
		// the device at a date and time in a time zone.
		c := checkForm{Open: true, User: q.Get("user"), Device: q.Get("device"), Date: q.Get("date"), Time: q.Get("time"), TimeZone: q.Get("timezone")}
		v := url.Values{"user": {c.User}, "device": {c.Device}}
		for k, val := range map[string]string{"date": c.Date, "time": c.Time, "timezone": c.TimeZone} {
			if val != "" {
				v.Set(k, val)
			}
		}
		var res wire.CheckResult
		if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/check?"+v.Encode()), nil, &res); err != nil {
			msg, ok := apiMessage(err)
			if !ok {
				p.fail(w, r, err)
				return
			}
			c.Error, status = msg, http.StatusBadRequest
		} else {
			c.Result = &res
		}
		d.Check = c
	}
	p.render(w, r, status, "assignments", "Role assignments", s, d)
}
