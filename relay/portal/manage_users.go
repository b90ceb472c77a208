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
	CanRights bool // … give them admin rights (administrators)
	Rights    []rightCheck
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

// rightCheck is one admin right (roles document 002) in the edit dialog.
type rightCheck struct {
	Name, Label string
	Checked     bool
}

// adminRights are the rights a member may hold, by their API field.
var adminRights = []struct{ Name, Label string }{
	{"api", "API user"},
	{"log_admin", "Log administrator"},
	{"user_admin", "User administrator"},
	{"user_creator", "User creator"},
}

// rightsOf lists the rights u holds, by API field.
func rightsOf(u wire.Member) []string {
	var out []string
	for name, held := range map[string]bool{"api": u.API, "log_admin": u.LogAdmin, "user_admin": u.UserAdmin, "user_creator": u.UserCreator} {
		if held {
			out = append(out, name)
		}
	}
	return out
}

// setRight puts v for the right name into up.
func setRight(up *wire.MemberUpdate, name string, v bool) {
	switch name {
	case "api":
		up.API = &v
	case "log_admin":
		up.LogAdmin = &v
	case "user_admin":
		up.UserAdmin = &v
	case "user_creator":
		up.UserCreator = &v
	}
}

type userEdit struct {
	Open                  bool
	Name, Type, RCAction  string
	Active, OnDemand, MFA bool
	Groups                []string // ids
	Rights                []string // admin rights held, by API field
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
	d.CanRights = d.CanGroups
	d.CanRemove = !d.Self && them < me
	d.CanUnlock = d.U.Locked && (them <= me || s.AtLeast("admin"))
	for _, o := range typeOptions[1:] {
		if rank(o.Value) <= me {
			d.Types = append(d.Types, o)
		}
	}
	d.Edit = userEdit{Name: d.U.Name, Type: d.U.Type, RCAction: d.U.RCAction, Active: !d.U.Disabled, OnDemand: d.U.OnDemand, MFA: d.U.MFA,
		Rights: rightsOf(d.U)}
	for _, rt := range adminRights {
		d.Rights = append(d.Rights, rightCheck{Name: rt.Name, Label: rt.Label, Checked: slices.Contains(d.Edit.Rights, rt.Name)})
	}
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
	if !p.readForm(w, r) {
		return
	}
	id := r.PathValue("id")
	userPath := accountPath(s.Account.ID, "/users/"+url.PathEscape(id))
	here := "/users/" + url.PathEscape(id)
	switch formValue(r, "form") {
	case "unlock":
		p.act(w, r, s, "POST", userPath+"/unlock", "The user is unlocked and can sign in again.", here, here)
	case "remove":
		p.act(w, r, s, "DELETE", userPath, "The user is removed from this account.", "/users", here)
	case "edit":
		p.editUser(w, r, s, userPath, here)
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "Unknown form.")
	}
}

// readForm parses a posted form (bounded); a broken one is answered here.
func (p *Portal) readForm(w http.ResponseWriter, r *http.Request) bool {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

// act sends one request to the API: done is flashed on the page at
// next, or the API's refusal on the page at back.
func (p *Portal) act(w http.ResponseWriter, r *http.Request, s *session, method, path, done, next, back string) {
	if _, err := p.call(r, s.Token, method, path, nil, nil); err != nil {
		msg, ok := apiMessage(err)
		if !ok {
			p.fail(w, r, err)
			return
		}
		flash(w, msg)
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	flash(w, done)
	http.Redirect(w, r, next, http.StatusSeeOther)
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
		Groups: r.PostForm["group"], Rights: r.PostForm["right"]}
	var up wire.MemberUpdate
	if d.CanRights {
		for _, rt := range adminRights {
			if want := slices.Contains(e.Rights, rt.Name); want != slices.Contains(old.Rights, rt.Name) {
				setRight(&up, rt.Name, want)
			}
		}
	}
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
		for i := range d.Rights {
			d.Rights[i].Checked = slices.Contains(e.Rights, d.Rights[i].Name)
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
	if !p.readForm(w, r) {
		return
	}
	path := accountPath(s.Account.ID, "/invites/"+url.PathEscape(r.PathValue("id")))
	switch formValue(r, "action") {
	case "resend":
		p.act(w, r, s, "POST", path+"/resend", "The invitation is sent again.", "/users", "/users")
	case "withdraw":
		p.act(w, r, s, "DELETE", path, "The invitation is withdrawn.", "/users", "/users")
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "Unknown invitation action.")
	}
}

// handleAttach is Attach to group (spec 4.2.2, 4.2.5): the users or
// devices selected in a listing join one group.
func (p *Portal) handleAttach(w http.ResponseWriter, r *http.Request, s *session) {
	if !p.readForm(w, r) {
		return
	}
	back := localNext(formValue(r, "back"))
	group := formValue(r, "group")
	if group == "" {
		flash(w, "Choose a group.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	p.eachSelected(w, r, s, r.PostForm["id"], "PUT", nil, memberPath(s, group), "%d attached to the group.", "rows to attach", back)
}

// eachSelected sends method (with body) to path(id) for each id selected
// in a form, one API call each; none, or more than maxSelected, only
// flashes the hint. Then it flashes how many went through (done has one
// %d) with the API's refusals, and goes back.
func (p *Portal) eachSelected(w http.ResponseWriter, r *http.Request, s *session, ids []string, method string, body any,
	path func(id string) string, done, hint, back string) {
	if len(ids) == 0 || len(ids) > maxSelected {
		flash(w, fmt.Sprintf("Select the %s first (at most %d at once).", hint, maxSelected))
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	n := 0
	var refused []string
	for _, id := range ids {
		if _, err := p.call(r, s.Token, method, path(id), body, nil); err != nil {
			msg, ok := apiMessage(err)
			if !ok {
				p.fail(w, r, err)
				return
			}
			if !slices.Contains(refused, msg) {
				refused = append(refused, msg)
			}
			continue
		}
		n++
	}
	msg := fmt.Sprintf(done, n)
	if len(refused) > 0 {
		msg += " Refused: " + strings.Join(refused, " ")
	}
	flash(w, msg)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// memberPath is the API path of member id in group.
func memberPath(s *session, group string) func(string) string {
	return func(id string) string {
		return accountPath(s.Account.ID, "/groups/"+url.PathEscape(group)+"/members/"+url.PathEscape(id))
	}
}
