package portal

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// downloadsData is Downloads (spec 4.5): the deployment packages.
type downloadsData struct {
	Packages []wire.Package
	Groups   []wire.Group // device groups new devices may join
	Form     packageForm
	Created  *wire.Package // the new package with its key and link, shown once
	Relay    string        // the relay's URL in the msiexec line
	Confirm  map[string]string
}

type packageForm struct {
	Open                                    bool
	Name, Description, From, To, Max, Group string
	Pending, Active                         bool
	Error                                   string
}

func (p *Portal) downloadsData(r *http.Request, s *session) (*downloadsData, error) {
	d := &downloadsData{Form: packageForm{Active: true}, Confirm: map[string]string{}}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/packages"), nil, &d.Packages); err != nil {
		return nil, err
	}
	var gs []wire.Group
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups"), nil, &gs); err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.Kind == "device" && !g.Builtin {
			d.Groups = append(d.Groups, g)
		}
	}
	return d, nil
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
	switch r.PostFormValue("action") {
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
		d.Confirm[id] = msg
		p.render(w, r, ae.Status, "downloads", "Downloads", s, d)
		return
	}
	flash(w, done)
	http.Redirect(w, r, "/downloads", http.StatusSeeOther)
}
