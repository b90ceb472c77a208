package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/tandem-rc/tandem/transport/wire"
)

// deviceData is one device's page (spec 4.3.1): its inventory and status,
// the Edit device dialog (alias, groups, description), favorite, revoke
// and remove, and the whitelisted applications (4.3.5, 4.4.11) that
// role assignments put on it.
type deviceData struct {
	D         wire.Device
	CanGroups bool // administrators attach devices to groups
	Groups    []groupCheck
	Apps      []deviceApp
	Edit      deviceEdit
	Errors    map[string]string
	Revoke    string // the typed confirmation's error
}

type deviceApp struct {
	Name, Path, Executable, Role, Assignment string
	Enabled                                  bool
}

type deviceEdit struct {
	Open               bool
	Alias, Description string
}

func (p *Portal) handleDevice(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := p.deviceData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "device", d.D.Name, s, d)
}

func (p *Portal) deviceData(r *http.Request, s *session) (*deviceData, error) {
	if !s.AtLeast("group_manager") {
		return nil, &apiError{Status: http.StatusForbidden, Message: "Only group managers and up manage devices."}
	}
	d := &deviceData{Errors: map[string]string{}, CanGroups: s.AtLeast("admin")}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/devices/"+url.PathEscape(r.PathValue("id"))), nil, &d.D); err != nil {
		return nil, err
	}
	alias := ""
	if d.D.Name != d.D.Hostname {
		alias = d.D.Name
	}
	d.Edit = deviceEdit{Alias: alias, Description: d.D.Description}
	var (
		groups      []wire.Group
		roles       []wire.RoleInfo
		apps        []wire.Application
		assignments []wire.Assignment
	)
	for _, c := range []struct {
		path string
		out  any
	}{{"/groups", &groups}, {"/roles", &roles}, {"/applications", &apps}, {"/assignments", &assignments}} {
		if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, c.path), nil, c.out); err != nil {
			return nil, err
		}
	}
	// The device's groups by id: its named ones and every built-in device
	// group (they hold all devices).
	in := map[string]bool{}
	for _, g := range groups {
		if g.Kind != "device" {
			continue
		}
		member := g.Builtin || slices.Contains(d.D.Groups, g.Name)
		in[g.ID] = member && g.Active
		if !g.Builtin {
			d.Groups = append(d.Groups, groupCheck{ID: g.ID, Name: g.Name, Checked: member})
		}
	}
	roleByID := map[string]wire.RoleInfo{}
	for _, ro := range roles {
		roleByID[ro.ID] = ro
	}
	appByID := map[string]wire.Application{}
	for _, a := range apps {
		appByID[a.ID] = a
	}
	for _, as := range assignments {
		ro, ok := roleByID[as.RoleID]
		if !ok || ro.Type != "whitelisted_apps" || !as.Active || !slices.ContainsFunc(as.DeviceGroups, func(g string) bool { return in[g] }) {
			continue
		}
		for _, id := range ro.AppIDs {
			if a, ok := appByID[id]; ok {
				d.Apps = append(d.Apps, deviceApp{Name: a.Name, Path: a.Path, Executable: a.Executable, Enabled: a.Enabled && ro.Enabled,
					Role: ro.Name, Assignment: as.Name})
			}
		}
	}
	return d, nil
}

// handleDevicePost is the device page's forms: edit, favorite, revoke,
// remove.
func (p *Portal) handleDevicePost(w http.ResponseWriter, r *http.Request, s *session) {
	if !p.readForm(w, r) {
		return
	}
	id := r.PathValue("id")
	devPath := accountPath(s.Account.ID, "/devices/"+url.PathEscape(id))
	here := "/devices/" + url.PathEscape(id)
	switch formValue(r, "form") {
	case "favorite":
		method, done := "PUT", "The device is among your favorites."
		if formValue(r, "on") != "1" {
			method, done = "DELETE", "The device is no longer a favorite."
		}
		p.act(w, r, s, method, "/api/v1/me/favorites/"+url.PathEscape(id), done, here, here)
	case "remove":
		p.act(w, r, s, "DELETE", devPath, "The device is removed.", "/devices", here)
	case "revoke":
		confirm := formValue(r, "confirm")
		var err error
		if confirm != "revoke" {
			// Checked here too so a typo sends nothing at all.
			err = &apiError{Status: http.StatusBadRequest, Message: "Type revoke to confirm."}
		} else {
			_, err = p.call(r, s.Token, "POST", devPath+"/revoke", wire.Confirm{Confirm: confirm}, nil)
		}
		if err != nil {
			d, derr := p.deviceData(r, s)
			msg, ok := apiMessage(err)
			if derr != nil || !ok {
				p.fail(w, r, errors.Join(err, derr))
				return
			}
			d.Revoke = msg
			p.render(w, r, http.StatusBadRequest, "device", d.D.Name, s, d)
			return
		}
		flash(w, "The device is revoked.")
		http.Redirect(w, r, here, http.StatusSeeOther)
	case "edit":
		p.editDevice(w, r, s, devPath, here)
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "Unknown form.")
	}
}

// editDevice saves alias and description in one PATCH (a refusal changes
// nothing and shows by its field), then the group changes.
func (p *Portal) editDevice(w http.ResponseWriter, r *http.Request, s *session, devPath, here string) {
	d, err := p.deviceData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	e := deviceEdit{Open: true, Alias: formValue(r, "alias"), Description: formValue(r, "description")}
	want := r.PostForm["group"]
	refuse := func(field string, err error) {
		msg, ok := apiMessage(err)
		if !ok {
			p.fail(w, r, err)
			return
		}
		d.Edit, d.Errors[field] = e, msg
		for i := range d.Groups {
			d.Groups[i].Checked = slices.Contains(want, d.Groups[i].ID)
		}
		status := http.StatusBadRequest
		var ae *apiError
		if errors.As(err, &ae) {
			status = ae.Status
		}
		p.render(w, r, status, "device", d.D.Name, s, d)
	}
	var up wire.DeviceUpdate
	if e.Alias != d.Edit.Alias {
		up.Alias = &e.Alias
	}
	if e.Description != d.Edit.Description {
		up.Description = &e.Description
	}
	if up != (wire.DeviceUpdate{}) {
		if _, err := p.call(r, s.Token, "PATCH", devPath, up, nil); err != nil {
			refuse(errField(errMessage(err), "alias", "description"), err)
			return
		}
	}
	if d.CanGroups && len(want) <= maxSelected {
		for _, g := range d.Groups {
			on := slices.Contains(want, g.ID)
			if on == g.Checked {
				continue
			}
			method := "PUT"
			if !on {
				method = "DELETE"
			}
			if _, err := p.call(r, s.Token, method, accountPath(s.Account.ID, "/groups/"+url.PathEscape(g.ID)+"/members/"+url.PathEscape(d.D.ID)), nil, nil); err != nil {
				refuse("groups", err)
				return
			}
		}
	}
	flash(w, "The device is saved.")
	http.Redirect(w, r, here, http.StatusSeeOther)
}
