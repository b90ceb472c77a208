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

// The MANAGE pages of spec 4.1–4.3.5: one user's info and edit (4.1.4,
// 4.1.5), unlock, resend or withdraw an invitation, one device (4.3.1),
// a group with its members (4.2.6–4.2.8) and the applications catalog
// (4.3.5). Every change is an API call with the signed-in user's token:
// the pages hide what the member's type does not allow, the API decides.

// routesManage registers the pages of this file and its siblings
// (manage_devices.go, manage_groups.go, applications.go).
func (p *Portal) routesManage(mux *http.ServeMux) {
	mux.Handle("GET /users/{id}", p.page(p.handleUser))
	mux.Handle("POST /users/{id}", p.page(p.handleUserPost))
	mux.Handle("POST /users/invites/{id}", p.page(p.handleInviteAction))
	mux.Handle("POST /users/attach", p.page(p.handleAttach))
	mux.Handle("GET /devices/{id}", p.page(p.handleDevice))
	mux.Handle("POST /devices/{id}", p.page(p.handleDevicePost))
	mux.Handle("POST /devices/attach", p.page(p.handleAttach))
	mux.Handle("GET /groups/{id}", p.page(p.handleGroup))
	mux.Handle("POST /groups/{id}", p.page(p.handleGroupPost))
	mux.Handle("POST /groups/remove", p.page(p.handleRemoveGroups))
	mux.Handle("GET /applications", p.page(p.handleApplications))
	mux.Handle("POST /applications", p.page(p.handleApplications))
}

// maxSelected bounds the rows one form changes.
const maxSelected = 100

// errField is the form field an API message is about ("name: …", "type
// is …"), or "form" for the whole form.
func errField(msg string, fields ...string) string {
	m := strings.ToLower(msg)
	for _, f := range fields {
		if strings.HasPrefix(m, f+":") || strings.HasPrefix(m, f+" ") {
			return f
		}
	}
	return "form"
}

// userData is one user's page (spec 4.1.4) with the Edit user dialog
// (4.1.5).
type userData struct {
	U         wire.Member
	Self      bool
	CanEdit   bool // the API lets the signed-in member edit this user
	CanType   bool // … change their type
	CanStatus bool // … enable or disable them
	CanGroups bool // … attach them to groups (administrators)
	CanRemove bool
	CanUnlock bool
	Types     []option
	Local     []groupCheck // local user groups, for the edit dialog
	Directory []string     // LDAP groups the user is in (read-only)
	Edit      userEdit
	Errors    map[string]string
}

type groupCheck struct {
	ID, Name string
	Checked  bool
}

type userEdit struct {
	Open                  bool
	Name, Type, RCAction  string
	Active, OnDemand, MFA bool
	Groups                []string // ids
}

func (p *Portal) handleUser(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := p.userData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "user", userTitle(d.U), s, d)
}

func userTitle(u wire.Member) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

func (p *Portal) userData(r *http.Request, s *session) (*userData, error) {
	if !s.AtLeast("group_manager") {
		return nil, &apiError{Status: http.StatusForbidden, Message: "Only group managers and up manage users."}
	}
	id := r.PathValue("id")
	d := &userData{Errors: map[string]string{}}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/users/"+url.PathEscape(id)), nil, &d.U); err != nil {
		return nil, err
	}
	var groups []wire.Group
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups"), nil, &groups); err != nil {
		return nil, err
	}
	me, them := rank(s.Member.Type), rank(d.U.Type)
	d.Self = d.U.ID == s.User.ID
	d.CanEdit = d.Self || them < me
	d.CanType = !d.Self && them < me && d.U.Type != "owner"
	d.CanStatus = d.CanType
	d.CanGroups = s.AtLeast("admin") && (them < me || s.Member.Type == "owner")
	d.CanRemove = !d.Self && them < me
	d.CanUnlock = d.U.Locked && (them <= me || s.AtLeast("admin"))
	for _, o := range typeOptions[1:] {
		if rank(o.Value) <= me {
			d.Types = append(d.Types, o)
		}
	}
	d.Edit = userEdit{Name: d.U.Name, Type: d.U.Type, RCAction: d.U.RCAction, Active: !d.U.Disabled, OnDemand: d.U.OnDemand, MFA: d.U.MFA}
	for _, g := range groups {
		in := slices.Contains(d.U.Groups, g.Name)
		switch g.Kind {
		case "user":
			if !g.Builtin {
				d.Local = append(d.Local, groupCheck{ID: g.ID, Name: g.Name, Checked: in})
				if in {
					d.Edit.Groups = append(d.Edit.Groups, g.ID)
				}
			}
		case "ldap_user", "azure_ad_user":
			if in {
				d.Directory = append(d.Directory, g.Name)
			}
		}
	}
	return d, nil
}

// handleUserPost is the user page's forms: edit, unlock, remove.
func (p *Portal) handleUserPost(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	id := r.PathValue("id")
	userPath := accountPath(s.Account.ID, "/users/"+url.PathEscape(id))
	here := "/users/" + url.PathEscape(id)
	switch formValue(r, "form") {
	case "unlock":
		if _, err := p.call(r, s.Token, "POST", userPath+"/unlock", nil, nil); err != nil {
			p.flashRefusal(w, r, here, err)
			return
		}
		flash(w, "The user is unlocked and can sign in again.")
		http.Redirect(w, r, here, http.StatusSeeOther)
	case "remove":
		if _, err := p.call(r, s.Token, "DELETE", userPath, nil, nil); err != nil {
			p.flashRefusal(w, r, here, err)
			return
		}
		flash(w, "The user is removed from this account.")
		http.Redirect(w, r, "/users", http.StatusSeeOther)
	case "edit":
		p.editUser(w, r, s, userPath, here)
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "Unknown form.")
	}
}

// flashRefusal shows an API refusal as a message on the page at back.
func (p *Portal) flashRefusal(w http.ResponseWriter, r *http.Request, back string, err error) {
	msg, ok := apiMessage(err)
	if !ok {
		p.fail(w, r, err)
		return
	}
	flash(w, msg)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// editUser sends what changed: the user's fields in one PATCH (all or
// nothing), then the group changes. A refused PATCH changes nothing and
// shows the API's message next to its field.
func (p *Portal) editUser(w http.ResponseWriter, r *http.Request, s *session, userPath, here string) {
	d, err := p.userData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	old := d.Edit
	e := userEdit{Open: true, Name: formValue(r, "name"), Type: formValue(r, "type"), RCAction: formValue(r, "rc_action"),
		Active: formValue(r, "active") == "on", OnDemand: formValue(r, "ondemand") == "on", MFA: formValue(r, "mfa") == "on",
		Groups: r.PostForm["group"]}
	var up wire.MemberUpdate
	if e.Name != old.Name {
		up.Name = &e.Name
	}
	if d.CanType && e.Type != "" && e.Type != old.Type {
		up.Type = &e.Type
	}
	if e.RCAction != "" && e.RCAction != old.RCAction {
		up.RCAction = &e.RCAction
	}
	if d.CanStatus && e.Active != old.Active {
		disabled := !e.Active
		up.Disabled = &disabled
	}
	if e.OnDemand != old.OnDemand {
		up.OnDemand = &e.OnDemand
	}
	if e.MFA != old.MFA {
		up.MFA = &e.MFA
	}
	refuse := func(field string, err error) {
		msg, ok := apiMessage(err)
		if !ok {
			p.fail(w, r, err)
			return
		}
		d.Edit, d.Errors[field] = e, msg
		for i := range d.Local {
			d.Local[i].Checked = slices.Contains(e.Groups, d.Local[i].ID)
		}
		status := http.StatusBadRequest
		var ae *apiError
		if errors.As(err, &ae) {
			status = ae.Status
		}
		p.render(w, r, status, "user", userTitle(d.U), s, d)
	}
	if up != (wire.MemberUpdate{}) {
		if _, err := p.call(r, s.Token, "PATCH", userPath, up, nil); err != nil {
			refuse(errField(errMessage(err), "name", "type", "rc_action", "mfa", "ondemand"), err)
			return
		}
	}
	changed := 0
	if d.CanGroups {
		if len(e.Groups) > maxSelected {
			refuse("groups", &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("at most %d groups", maxSelected)})
			return
		}
		for _, g := range d.Local {
			want := slices.Contains(e.Groups, g.ID)
			if want == g.Checked {
				continue
			}
			method := "PUT"
			if !want {
				method = "DELETE"
			}
			path := accountPath(s.Account.ID, "/groups/"+url.PathEscape(g.ID)+"/members/"+url.PathEscape(d.U.ID))
			if _, err := p.call(r, s.Token, method, path, nil, nil); err != nil {
				refuse("groups", err)
				return
			}
			changed++
		}
	}
	if up == (wire.MemberUpdate{}) && changed == 0 {
		flash(w, "Nothing changed.")
	} else {
		flash(w, "The user is saved.")
	}
	http.Redirect(w, r, here, http.StatusSeeOther)
}

// errMessage is an API refusal's message as the API wrote it.
func errMessage(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Message
	}
	return ""
}

// handleInviteAction resends (spec 4.1.1: at most 5 times) or withdraws a
// pending invitation.
func (p *Portal) handleInviteAction(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	path := accountPath(s.Account.ID, "/invites/"+url.PathEscape(r.PathValue("id")))
	var err error
	var done string
	switch formValue(r, "action") {
	case "resend":
		_, err = p.call(r, s.Token, "POST", path+"/resend", nil, nil)
		done = "The invitation is sent again."
	case "withdraw":
		_, err = p.call(r, s.Token, "DELETE", path, nil, nil)
		done = "The invitation is withdrawn."
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "Unknown invitation action.")
		return
	}
	if err != nil {
		p.flashRefusal(w, r, "/users", err)
		return
	}
	flash(w, done)
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

// handleAttach is Attach to group (spec 4.2.2, 4.2.5): the users or
// devices selected in a listing join one group.
func (p *Portal) handleAttach(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	ids := r.PostForm["id"]
	back := localNext(formValue(r, "back"))
	group := formValue(r, "group")
	switch {
	case len(ids) == 0 || len(ids) > maxSelected:
		flash(w, fmt.Sprintf("Select the rows to attach first (at most %d at once).", maxSelected))
	case group == "":
		flash(w, "Choose a group.")
	default:
		n, refused, err := p.eachMember(r, s, "PUT", group, ids)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		msg := fmt.Sprintf("%d attached to the group.", n)
		if len(refused) > 0 {
			msg += " Refused: " + strings.Join(refused, " ")
		}
		flash(w, msg)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// eachMember adds (PUT) or takes out (DELETE) members of a group one API
// call each: how many went through, and the API's messages for the
// others.
func (p *Portal) eachMember(r *http.Request, s *session, method, group string, ids []string) (int, []string, error) {
	n := 0
	var refused []string
	for _, id := range ids {
		path := accountPath(s.Account.ID, "/groups/"+url.PathEscape(group)+"/members/"+url.PathEscape(id))
		if _, err := p.call(r, s.Token, method, path, nil, nil); err != nil {
			msg, ok := apiMessage(err)
			if !ok {
				return n, refused, err
			}
			if !slices.Contains(refused, msg) {
				refused = append(refused, msg)
			}
			continue
		}
		n++
	}
	return n, refused, nil
}
