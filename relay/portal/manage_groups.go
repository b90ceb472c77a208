package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// groupData is one group's page (spec 4.2.6): its members, Attach (users
// to a local user group, devices to a device group; 4.2.2, 4.2.5), Detach,
// Edit group (4.2.7: LDAP groups change only status and description) and
// Remove (4.2.8).
type groupData struct {
	G          wire.Group
	CanEdit    bool // administrators
	Attachable bool // members are attached here (not LDAP ones)
	Devices    bool // a device group
	Members    []groupMember
	Candidates []groupMember // not yet members, for Attach
	More       int           // candidates not shown
	Edit       groupEdit
	Errors     map[string]string
	ListHref   string // the members in the Users or Devices listing
}

type groupMember struct{ ID, Name, Detail, Href string }

type groupEdit struct {
	Open              bool
	Name, Description string
	Active            bool
}

// maxCandidates bounds the Attach dialog's list; beyond it, Attach to
// group from the Users or Devices listing (filtered) does the rest.
const maxCandidates = 200

func (p *Portal) handleGroup(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := p.groupData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "group", d.G.Name, s, d)
}

func (p *Portal) groupData(r *http.Request, s *session) (*groupData, error) {
	if !s.AtLeast("group_manager") {
		return nil, &apiError{Status: http.StatusForbidden, Message: "Only group managers and up see groups."}
	}
	d := &groupData{CanEdit: s.AtLeast("admin"), Errors: map[string]string{}}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups/"+url.PathEscape(r.PathValue("id"))), nil, &d.G); err != nil {
		return nil, err
	}
	d.Edit = groupEdit{Name: d.G.Name, Description: d.G.Description, Active: d.G.Active}
	d.Devices = d.G.Kind == "device"
	d.Attachable = !d.G.Builtin && (d.G.Kind == "user" || d.Devices)
	list := "/users?"
	if d.Devices {
		list = "/devices?"
	}
	d.ListHref = list + url.Values{"v.groups": {d.G.Name}}.Encode()
	var all []groupMember
	if d.Devices {
		var devs []wire.Device
		if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/devices"), nil, &devs); err != nil {
			return nil, err
		}
		for _, v := range devs {
			detail := v.Hostname
			if v.Name == v.Hostname {
				detail = ""
			}
			all = append(all, groupMember{ID: v.ID, Name: v.Name, Detail: detail, Href: "/devices/" + url.PathEscape(v.ID)})
		}
	} else {
		var users []wire.Member
		if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/users"), nil, &users); err != nil {
			return nil, err
		}
		for _, u := range users {
			name := u.Name
			if name == "" {
				name = u.Email
			}
			all = append(all, groupMember{ID: u.ID, Name: name, Detail: u.Email, Href: "/users/" + url.PathEscape(u.ID)})
		}
	}
	for _, m := range all {
		switch {
		case slices.Contains(d.G.Members, m.ID):
			d.Members = append(d.Members, m)
		case len(d.Candidates) < maxCandidates:
			d.Candidates = append(d.Candidates, m)
		default:
			d.More++
		}
	}
	return d, nil
}

// handleGroupPost is the group page's forms: edit, attach, detach, remove.
func (p *Portal) handleGroupPost(w http.ResponseWriter, r *http.Request, s *session) {
	if !p.readForm(w, r) {
		return
	}
	id := r.PathValue("id")
	groupPath := accountPath(s.Account.ID, "/groups/"+url.PathEscape(id))
	here := "/groups/" + url.PathEscape(id)
	switch form := formValue(r, "form"); form {
	case "attach", "detach":
		method, done := "PUT", "%d attached."
		if form == "detach" {
			method, done = "DELETE", "%d detached."
		}
		p.eachSelected(w, r, s, r.PostForm["id"], method, nil, memberPath(s, id), done, "members", here)
	case "remove":
		p.act(w, r, s, "DELETE", groupPath, "The group is removed; its members are not.", "/groups", here)
	case "edit":
		d, err := p.groupData(r, s)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		e := groupEdit{Open: true, Name: strings.TrimSpace(formValue(r, "name")), Description: formValue(r, "description"),
			Active: formValue(r, "active") == "on"}
		var req wire.GroupRequest
		if e.Name != d.G.Name && d.G.Kind != "ldap_user" {
			req.Name = &e.Name
		}
		if e.Description != d.G.Description {
			req.Description = &e.Description
		}
		if e.Active != d.G.Active {
			req.Active = &e.Active
		}
		if req != (wire.GroupRequest{}) {
			if _, err := p.call(r, s.Token, "PATCH", groupPath, req, nil); err != nil {
				msg, ok := apiMessage(err)
				var ae *apiError
				if !ok || !errors.As(err, &ae) {
					p.fail(w, r, err)
					return
				}
				d.Edit, d.Errors[errField(ae.Message, "name", "description")] = e, msg
				p.render(w, r, ae.Status, "group", d.G.Name, s, d)
				return
			}
		}
		flash(w, "The group is saved.")
		http.Redirect(w, r, here, http.StatusSeeOther)
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "Unknown form.")
	}
}

// handleRemoveGroups removes the groups selected on Groups (spec 4.2.8).
func (p *Portal) handleRemoveGroups(w http.ResponseWriter, r *http.Request, s *session) {
	if !p.readForm(w, r) {
		return
	}
	p.eachSelected(w, r, s, r.PostForm["id"], "DELETE", nil, func(id string) string {
		return accountPath(s.Account.ID, "/groups/"+url.PathEscape(id))
	}, "%d group(s) removed; their members are not.", "groups to remove", "/groups")
}

// attachGroups are the groups Attach to group offers: local user groups
// ("user") or device groups ("device"); never built-in or LDAP ones.
func (p *Portal) attachGroups(r *http.Request, s *session, kind string) ([]wire.Group, error) {
	var gs []wire.Group
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups"), nil, &gs); err != nil {
		return nil, err
	}
	var out []wire.Group
	for _, g := range gs {
		if !g.Builtin && g.Kind == kind {
			out = append(out, g)
		}
	}
	return out, nil
}
