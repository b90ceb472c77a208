package portal

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// downloadsData is Downloads (spec 4.5): the deployment packages.
type downloadsData struct {
	List    *listView
	Groups  []wire.Group // device groups new devices may join
	Form    packageForm
	Created *wire.Package // the new package with its key and link, shown once
	Relay   string        // the relay's URL in the msiexec line
	Revoke  *wire.Package // the package the Revoke dialog asks about
	Error   string        // a refused revoke or remove
}

type packageForm struct {
	Open                                    bool
	Name, Description, From, To, Max, Group string
	Pending, Active                         bool
	Error                                   string
}

// packageColumns is the Downloads listing; the keys are the API's
// (store.PackageColumns).
var packageColumns = []column{
	{Key: "name", Label: "Name", Text: true, Sort: true, Default: true},
	{Key: "group", Label: "Device group", Text: true, Blanks: true, Sort: true, Default: true},
	{Key: "approval", Label: "Enrollment", Values: []option{{"pending", "Pending"}, {"automatic", "Enrolled"}}, Sort: true, Default: true},
	{Key: "expires", Label: "Valid", Blanks: true, Sort: true, Default: true},
	{Key: "max", Label: "Maximum devices", Blanks: true, Sort: true, Default: true},
	{Key: "devices", Label: "Devices", Sort: true, Default: true},
	{Key: "state", Label: "Status", Values: []option{{"active", "Active"}, {"revoked", "Revoked"}}, Sort: true, Default: true},
}

// packageCell is a cell of pk's row; groups name the device groups.
func packageCell(key string, pk wire.Package, groups []wire.Group) cell {
	switch key {
	case "name":
		return cell{Text: pk.Name}
	case "group":
		for _, g := range groups {
			if g.ID == pk.DeviceGroup {
				return cell{Text: g.Name}
			}
		}
		return cell{Text: pk.DeviceGroup}
	case "approval":
		if pk.Pending {
			return cell{Text: "Pending"}
		}
		return cell{Text: "Enrolled"}
	case "expires":
		if pk.ValidFrom == "" && pk.ValidTo == "" {
			return cell{Text: "Always"}
		}
		return cell{Text: pk.ValidFrom + " – " + pk.ValidTo}
	case "max":
		if pk.MaxDevices > 0 {
			return cell{Text: strconv.Itoa(pk.MaxDevices)}
		}
		return cell{}
	case "devices":
		return cell{Text: strconv.Itoa(pk.Devices)}
	case "state":
		switch {
		case pk.Revoked:
			return cell{Text: "Revoked", Class: "badge off"}
		case pk.Active:
			return cell{Text: "Active", Class: "badge ok"}
		}
		return cell{Text: "Inactive", Class: "badge warn"}
	}
	return cell{}
}

func (p *Portal) downloadsData(r *http.Request, s *session) (*downloadsData, error) {
	d := &downloadsData{Form: packageForm{Active: true}}
	var gs []wire.Group
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups"), nil, &gs); err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.Kind == "device" && !g.Builtin {
			d.Groups = append(d.Groups, g)
		}
	}
	var pkgs []wire.Package
	lv, err := p.fetchList(r, s, "packages", "/downloads", packageColumns, colKeys(packageColumns), "/packages", &pkgs)
	if err != nil {
		return nil, err
	}
	lv.Empty, lv.Actions = "No deployment packages match.", true
	for _, pk := range pkgs {
		rw := row{ID: pk.ID, Label: pk.Name}
		if !pk.Revoked {
			rw.Actions = append(rw.Actions, rowAction{Label: "Revoke", Aria: "Revoke " + pk.Name, Class: "danger", Href: "/downloads?revoke=" + url.QueryEscape(pk.ID)})
		}
		rw.Actions = append(rw.Actions, rowAction{Label: "Remove", Aria: "Remove " + pk.Name, Post: "/downloads/action", Name: "id", Value: pk.ID, Op: "remove"})
		for _, c := range lv.Cols {
			rw.Cells = append(rw.Cells, packageCell(c.Key, pk, d.Groups))
		}
		lv.Rows = append(lv.Rows, rw)
	}
	d.List = lv
	return d, nil
}

// revokeTarget opens the Revoke dialog (typed confirmation) for package
// id, whichever page lists it; an unknown id opens nothing.
func (p *Portal) revokeTarget(r *http.Request, s *session, d *downloadsData, id string) error {
	var all []wire.Package
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/packages"), nil, &all); err != nil {
		return err
	}
	if i := slices.IndexFunc(all, func(pk wire.Package) bool { return pk.ID == id && !pk.Revoked }); i >= 0 {
		d.Revoke = &all[i]
	}
	return nil
}

func (p *Portal) handleDownloads(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("admin") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only account administrators manage deployment packages.")
		return
	}
	d, err := p.downloadsData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if id := r.URL.Query().Get("revoke"); id != "" {
		if err := p.revokeTarget(r, s, d, id); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	p.render(w, r, http.StatusOK, "downloads", "Downloads", s, d)
}

// handleCreatePackage is the Create deployment package dialog (4.5.1).
func (p *Portal) handleCreatePackage(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	d, err := p.downloadsData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	f := packageForm{Open: true, Name: strings.TrimSpace(formValue(r, "name")), Description: formValue(r, "description"),
		From: formValue(r, "valid_from"), To: formValue(r, "valid_to"), Max: strings.TrimSpace(formValue(r, "max_devices")),
		Group: formValue(r, "device_group"), Pending: r.PostFormValue("pending") == "on", Active: r.PostFormValue("active") == "on"}
	req := wire.Package{Name: f.Name, Description: f.Description, ValidFrom: f.From, ValidTo: f.To, DeviceGroup: f.Group,
		Pending: f.Pending, Active: f.Active}
	if f.Max != "" {
		n, err := strconv.Atoi(f.Max)
		if err != nil || n < 0 {
			f.Error = "Maximum devices: a whole number, 0 or empty for no limit."
		}
		req.MaxDevices = n
	}
	if f.Error == "" {
		var made wire.Package
		if _, err := p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/packages"), req, &made); err != nil {
			msg, ok := apiMessage(err)
			if !ok {
				p.fail(w, r, err)
				return
			}
			f.Error = msg
		} else {
			if d, err = p.downloadsData(r, s); err != nil {
				p.fail(w, r, err)
				return
			}
			d.Created = &made
			if i := strings.LastIndex(made.InstallLink, "/d/"); i > 0 {
				d.Relay = made.InstallLink[:i]
			}
			p.render(w, r, http.StatusCreated, "downloads", "Downloads", s, d)
			return
		}
	}
	d.Form = f
	p.render(w, r, http.StatusBadRequest, "downloads", "Downloads", s, d)
}

// handlePackageAction revokes (typed confirmation) or removes a package.
func (p *Portal) handlePackageAction(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	id := formValue(r, "id")
	path := accountPath(s.Account.ID, "/packages/"+url.PathEscape(id))
	var err error
	var done string
	action := r.PostFormValue("action")
	if action == "" {
		action = r.PostFormValue("op") // a listing row's button
	}
	switch action {
	case "revoke":
		var rv wire.PackageRevoked
		_, err = p.call(r, s.Token, "POST", path+"/revoke", wire.Confirm{Confirm: formValue(r, "confirm")}, &rv)
		done = fmt.Sprintf("The package is revoked, with %d device(s).", len(rv.RevokedDevices))
	case "remove":
		_, err = p.call(r, s.Token, "DELETE", path, nil, nil)
		done = "The package is removed."
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "Unknown package action.")
		return
	}
	if err != nil {
		msg, ok := apiMessage(err)
		var ae *apiError
		if !ok || !errors.As(err, &ae) {
			p.fail(w, r, err)
			return
		}
		d, derr := p.downloadsData(r, s)
		if derr != nil {
			p.fail(w, r, derr)
			return
		}
		if action == "revoke" {
			if err := p.revokeTarget(r, s, d, id); err != nil {
				p.fail(w, r, err)
				return
			}
		}
		d.Error = msg
		p.render(w, r, ae.Status, "downloads", "Downloads", s, d)
		return
	}
	flash(w, done)
	http.Redirect(w, r, "/downloads", http.StatusSeeOther)
}
