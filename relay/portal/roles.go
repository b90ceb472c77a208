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

// Roles (spec 4.4.1–4.4.5, 4.4.10.1, 4.4.11.1): the predefined and custom
// roles; Add, Edit, Copy role, enable or disable, Remove. Dialogs open
// from the URL (?add=1, ?edit=ID, ?copy=ID, ?remove=ID) so every step is
// a link the back button and bookmarks keep.

// permLabels are the Device role permissions as the spec names them, in
// the API's order (policy.AllPermissions).
var permLabels = []struct{ Value, Label string }{
	{"view_screen", "View remote screen"},
	{"keyboard_mouse", "Use keyboard and mouse"},
	{"lock_input", "Lock keyboard and mouse"},
	{"blank_screen", "Blank the screen"},
	{"clipboard", "Transfer clipboard"},
	{"execute_command", "Execute command"},
	{"file_transfer", "File transfer"},
	{"chat", "Chat"},
	{"power", "Power actions"},
}

// roleTypes are the role types as the spec names them.
var roleTypes = map[string]string{"device": "Device", "ondemand": "OnDemand", "confirm_access": "Confirm access", "whitelisted_apps": "Whitelisted applications"}

// onDemandPerms are the permissions an OnDemand role may hold.
var onDemandPerms = []string{"view_screen", "keyboard_mouse"}

func permLabel(v string) string {
	for _, p := range permLabels {
		if p.Value == v {
			return p.Label
		}
	}
	return v
}

type rolesData struct {
	Roles     []wire.RoleInfo // all of them, for the dialogs
	List      *listView
	Groups    []wire.Group // user groups, for Confirm access via email
	Apps      []wire.Application
	CanEdit   bool
	Form      *roleForm
	Remove    *roleRemove
	View      *wire.RoleInfo // the role details dialog (spec 4.4.1)
	Perms     []struct{ Value, Label string }
	ODPerms   []string
	Error     string // a refusal of a row action (enable, disable)
	ErrorRole string
}

// roleForm is the Add role / Edit role dialog.
type roleForm struct {
	Mode   string // add, edit, copy
	Role   wire.RoleInfo
	Errors map[string]string
}

// roleRemove is the Remove role confirmation with the role assignments
// that become disabled.
type roleRemove struct {
	Role        wire.RoleInfo
	Assignments []string
}

func (p *Portal) handleRoles(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("group_manager") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only group managers and up see roles.")
		return
	}
	d := &rolesData{CanEdit: s.AtLeast("admin"), Perms: permLabels, ODPerms: onDemandPerms}
	if err := p.loadRoles(r, s, d); err != nil {
		p.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		var done bool
		if done, status = p.roleAction(w, r, s, d); done {
			return
		}
	} else if id := r.URL.Query().Get("view"); id != "" {
		ro, ok := findRole(d.Roles, id)
		if !ok {
			p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such role.")
			return
		}
		d.View = &ro
	} else if d.CanEdit {
		q := r.URL.Query()
		switch {
		case q.Get("add") != "":
			d.Form = &roleForm{Mode: "add", Role: wire.RoleInfo{Type: "device", Enabled: true, ClientType: "any"}}
		case q.Get("edit") != "", q.Get("copy") != "":
			mode, id := "edit", q.Get("edit")
			if id == "" {
				mode, id = "copy", q.Get("copy")
			}
			ro, ok := findRole(d.Roles, id)
			if !ok || mode == "edit" && ro.Predefined {
				p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such custom role.")
				return
			}
			if mode == "copy" {
				ro.ID, ro.Predefined, ro.Name = "", false, "Copy of "+ro.Name
			}
			d.Form = &roleForm{Mode: mode, Role: ro}
		case q.Get("remove") != "":
			ro, ok := findRole(d.Roles, q.Get("remove"))
			if !ok || ro.Predefined {
				p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such custom role.")
				return
			}
			rm := &roleRemove{Role: ro}
			var as []wire.Assignment
			if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/assignments"), nil, &as); err != nil {
				p.fail(w, r, err)
				return
			}
			for _, a := range as {
				if a.RoleID == ro.ID && a.Active {
					rm.Assignments = append(rm.Assignments, a.Name)
				}
			}
			d.Remove = rm
		}
	}
	lv, err := p.rolesList(r, s, d.CanEdit)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d.List = lv
	p.render(w, r, status, "roles", "Roles", s, d)
}

// roleColumns is the roles listing (spec 4.4); the keys are the API's
// (store.RoleColumns) but for Permissions, shown only.
var roleColumns = []column{
	{Key: "name", Label: "Name", Text: true, Sort: true, Default: true},
	{Key: "type", Label: "Role type", Values: []option{{"device", "Device"}, {"ondemand", "OnDemand"}, {"confirm_access", "Confirm access"}, {"whitelisted_apps", "Whitelisted applications"}}, Sort: true, Default: true},
	{Key: "enabled", Label: "Status", Values: []option{{"yes", "Enabled"}, {"no", "Disabled"}}, Sort: true, Default: true},
	{Key: "predefined", Label: "Kind", Values: []option{{"yes", "Predefined"}, {"no", "Custom"}}, Sort: true, Default: true},
	{Key: "description", Label: "Description", Text: true, Blanks: true, Sort: true, Default: true},
	{Key: "permissions", Label: "Permissions", Default: true},
}

// rolesList is the listing of roles the request's parameters ask for,
// with each row's Edit, Copy role, Enable or Disable and Remove.
func (p *Portal) rolesList(r *http.Request, s *session, canEdit bool) (*listView, error) {
	var roles []wire.RoleInfo
	lv, err := p.fetchList(r, s, "roles", "/roles", roleColumns, colKeys(roleColumns[:len(roleColumns)-1]), "/roles", &roles)
	if err != nil {
		return nil, err
	}
	lv.Empty = "No roles match these filters."
	lv.Actions, lv.RowData = canEdit, "role"
	for _, ro := range roles {
		rw := row{ID: ro.ID, Label: ro.Name, Data: ro.Name}
		if canEdit {
			rw.Actions = roleActions(ro)
		}
		for _, c := range lv.Cols {
			rw.Cells = append(rw.Cells, roleCell(c.Key, ro))
		}
		lv.Rows = append(lv.Rows, rw)
	}
	return lv, nil
}

func roleActions(ro wire.RoleInfo) []rowAction {
	esc := url.QueryEscape(ro.ID)
	copyRole := rowAction{Label: "Copy role", Aria: "Copy role " + ro.Name, Href: "/roles?copy=" + esc}
	if ro.Predefined {
		return []rowAction{copyRole}
	}
	toggle := rowAction{Label: "Disable", Aria: "Disable " + ro.Name, Post: "/roles", Name: "id", Value: ro.ID, Op: "disable"}
	if !ro.Enabled {
		toggle.Label, toggle.Aria, toggle.Op = "Enable", "Enable "+ro.Name, "enable"
	}
	return []rowAction{{Label: "Edit", Aria: "Edit " + ro.Name, Href: "/roles?edit=" + esc}, copyRole, toggle,
		{Label: "Remove", Aria: "Remove " + ro.Name, Class: "danger", Href: "/roles?remove=" + esc}}
}

func roleCell(key string, ro wire.RoleInfo) cell {
	switch key {
	case "name":
		return cell{Text: ro.Name, Href: "/roles?view=" + url.QueryEscape(ro.ID)}
	case "type":
		t := roleTypes[ro.Type]
		if c := clientTypes[ro.ClientType]; c != "" {
			t += " (" + c + ")"
		}
		return cell{Text: t}
	case "enabled":
		if ro.Enabled {
			return cell{Text: "Enabled", Class: "badge ok"}
		}
		return cell{Text: "Disabled", Class: "badge off"}
	case "predefined":
		if ro.Predefined {
			return cell{Text: "Predefined", Class: "tag"}
		}
		return cell{Text: "Custom"}
	case "description":
		return cell{Text: ro.Description}
	case "permissions":
		var l []string
		for _, pm := range ro.Permissions {
			l = append(l, permLabel(pm))
		}
		if ro.ConfirmLocal {
			l = append(l, "Confirm access")
		}
		if len(ro.ConfirmEmailGroups) > 0 {
			l = append(l, "Confirm access via email")
		}
		if n := len(ro.AppIDs); n > 0 {
			l = append(l, fmt.Sprintf("%d whitelisted applications", n))
		}
		return cell{List: l}
	}
	return cell{}
}

func findRole(rs []wire.RoleInfo, id string) (wire.RoleInfo, bool) {
	i := slices.IndexFunc(rs, func(x wire.RoleInfo) bool { return x.ID == id })
	if i < 0 {
		return wire.RoleInfo{}, false
	}
	return rs[i], true
}

func (p *Portal) loadRoles(r *http.Request, s *session, d *rolesData) error {
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/roles"), nil, &d.Roles); err != nil {
		return err
	}
	if !d.CanEdit {
		return nil
	}
	var gs []wire.Group
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups"), nil, &gs); err != nil {
		return err
	}
	for _, g := range gs {
		if g.Kind != "device" {
			d.Groups = append(d.Groups, g)
		}
	}
	_, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/applications"), nil, &d.Apps)
	return err
}

// roleAction runs a posted form. done: the answer is written.
func (p *Portal) roleAction(w http.ResponseWriter, r *http.Request, s *session, d *rolesData) (done bool, status int) {
	id := formValue(r, "id")
	path := accountPath(s.Account.ID, "/roles/"+url.PathEscape(id))
	switch op := formValue(r, "op"); op {
	case "add", "edit", "copy":
		f := &roleForm{Mode: op, Role: roleFromForm(r), Errors: map[string]string{}}
		var err error
		if op == "edit" {
			f.Role.ID = id
			_, err = p.call(r, s.Token, "PUT", path, f.Role, nil)
		} else {
			_, err = p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/roles"), f.Role, nil)
		}
		if err != nil {
			msg, ok := apiMessage(err)
			if !ok {
				p.fail(w, r, err)
				return true, 0
			}
			f.Errors[roleField(msg)] = msg
			d.Form = f
			return false, apiStatus(err)
		}
		flash(w, fmt.Sprintf(map[string]string{"add": "The role “%s” is added.", "edit": "The role “%s” is saved.", "copy": "The role “%s” is added."}[op], f.Role.Name))
	case "enable", "disable":
		ro, ok := findRole(d.Roles, id)
		if !ok || ro.Predefined {
			p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such custom role.")
			return true, 0
		}
		ro.Enabled, ro.Predefined = op == "enable", false
		ro.ID = ""
		if _, err := p.call(r, s.Token, "PUT", path, ro, nil); err != nil {
			msg, ok := apiMessage(err)
			if !ok {
				p.fail(w, r, err)
				return true, 0
			}
			d.Error, d.ErrorRole = msg, id
			return false, apiStatus(err)
		}
		flash(w, fmt.Sprintf(map[string]string{"enable": "The role “%s” is enabled.", "disable": "The role “%s” is disabled."}[op], ro.Name))
	case "remove":
		var res wire.RoleDeleted
		ro, _ := findRole(d.Roles, id)
		if _, err := p.call(r, s.Token, "DELETE", path, nil, &res); err != nil {
			p.fail(w, r, err)
			return true, 0
		}
		msg := fmt.Sprintf("The role “%s” is removed.", ro.Name)
		if n := len(res.DisabledAssignments); n > 0 {
			msg += fmt.Sprintf(" %d role assignments are disabled.", n)
		}
		flash(w, msg)
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "There is no such action.")
		return true, 0
	}
	http.Redirect(w, r, "/roles", http.StatusSeeOther)
	return true, 0
}

// roleFromForm reads the Add role / Edit role dialog: the fields of the
// chosen type only (the others stay on the page for switching types).
func roleFromForm(r *http.Request) wire.RoleInfo {
	ro := wire.RoleInfo{Name: strings.TrimSpace(formValue(r, "name")), Type: formValue(r, "type"),
		Description: strings.TrimSpace(formValue(r, "description")), Enabled: formValue(r, "enabled") == "on"}
	on := func(k string) bool { return formValue(r, k) == "on" }
	switch ro.Type {
	case "device":
		ro.Permissions = formValues(r, "perm")
		ro.ClientType = formValue(r, "client_type")
	case "ondemand":
		ro.Permissions = formValues(r, "od_perm")
	case "confirm_access":
		ro.ConfirmLocal, ro.ExceptLocked, ro.ExceptNoUser = on("confirm_local"), on("ca_except_locked"), on("ca_except_no_user")
		if on("confirm_email") {
			ro.ConfirmEmailGroups = formValues(r, "email_group")
			ro.EmailOnlyWhenLocked, ro.EmailOnlyWhenNoUser = on("email_only_locked"), on("email_only_no_user")
		}
	case "whitelisted_apps":
		ro.ExceptLocked, ro.ExceptNoUser = on("wl_except_locked"), on("wl_except_no_user")
		ro.AppIDs = formValues(r, "app")
	}
	return ro
}

// roleField is the dialog field an API refusal of a role is about.
func roleField(msg string) string {
	l := strings.ToLower(msg)
	switch {
	case strings.HasPrefix(l, "name"), strings.Contains(l, "role named"), strings.Contains(l, "predefined role's name"):
		return "name"
	case strings.HasPrefix(l, "description"):
		return "description"
	case strings.HasPrefix(l, "permissions"), strings.Contains(l, "ondemand roles may only"):
		return "permissions"
	case strings.HasPrefix(l, "app_ids"), strings.Contains(l, "application"):
		return "apps"
	case strings.Contains(l, "confirm"), strings.Contains(l, "email groups"), strings.Contains(l, "group"):
		return "confirm"
	case strings.Contains(l, "client type"):
		return "client_type"
	}
	return "form"
}

// formValues reads a bounded multi-valued field of a parsed form (check
// boxes, multiple selects).
func formValues(r *http.Request, name string) []string {
	var out []string
	for _, v := range r.PostForm[name] {
		if v != "" && len(v) <= maxField && len(out) < 256 {
			out = append(out, v)
		}
	}
	return out
}

// apiStatus is the HTTP status of an API refusal (400 if it has none).
func apiStatus(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return http.StatusBadRequest
}
