package portal

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Groups (spec 4.2). Roles are in roles.go, role assignments in
// assignments.go.

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
