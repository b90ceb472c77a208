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
	List    *listView
	CanEdit bool
	Form    groupForm
}

// groupColumns is the groups listing (spec 4.2); the keys are the API's
// (store.GroupColumns).
var groupColumns = []column{
	{Key: "name", Label: "Name", Text: true, Sort: true, Default: true},
	{Key: "type", Label: "Type", Values: []option{{"user", "User group"}, {"ldap_user", "LDAP user group"}, {"device", "Device group"}}, Sort: true, Default: true},
	{Key: "active", Label: "Status", Values: []option{{"yes", "Active"}, {"no", "Inactive"}}, Sort: true, Default: true},
	{Key: "description", Label: "Description", Text: true, Blanks: true, Sort: true, Default: true},
	{Key: "members", Label: "Members", Sort: true, Default: true},
}

func groupCell(key string, g wire.Group) cell {
	switch key {
	case "name":
		return cell{Text: g.Name, Href: "/groups/" + url.PathEscape(g.ID)}
	case "type":
		return cell{Text: kindLabels[g.Kind]}
	case "active":
		if g.Active {
			return cell{Text: "Active", Class: "badge ok"}
		}
		return cell{Text: "Inactive", Class: "badge off"}
	case "description":
		return cell{Text: g.Description}
	case "members":
		if g.MemberCount != nil {
			return cell{Text: itoa(*g.MemberCount)}
		}
	}
	return cell{}
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
	var groups []wire.Group
	lv, err := p.fetchList(r, s, "groups", "/groups", groupColumns, colKeys(groupColumns), "/groups", &groups)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	lv.Empty = "No groups match these filters."
	lv.Select, lv.SelForm, lv.Actions = d.CanEdit, "groups-remove", d.CanEdit
	for _, g := range groups {
		rw := row{ID: g.ID, Label: g.Name, Selectable: !g.Builtin}
		if d.CanEdit && !g.Builtin {
			rw.Actions = []rowAction{{Label: "Remove", Aria: "Remove " + g.Name, Class: "danger", Post: "/groups", Name: "delete", Value: g.ID}}
		}
		for _, c := range lv.Cols {
			rw.Cells = append(rw.Cells, groupCell(c.Key, g))
		}
		lv.Rows = append(lv.Rows, rw)
	}
	d.List = lv
	p.render(w, r, status, "groups", "Groups", s, d)
}
