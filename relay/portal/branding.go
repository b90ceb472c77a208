package portal

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tandem-rc/tandem/relay/logo"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The Portal logo (spec 6.3) and Change the account owner (6.2), both on
// the Configuration page.

// logoView is what the layout shows: the account's logos' URLs ("" for
// Tandem's own).
type logoView struct{ Rect, Square string }

// logos is the signed-in account's logos for the layout; a failure shows
// Tandem's logo rather than failing the page.
func (p *Portal) logos(r *http.Request, s *session) logoView {
	var v logoView
	var ls []wire.LogoInfo
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/logos"), nil, &ls); err != nil {
		return v
	}
	for _, l := range ls {
		u := "/branding/" + url.PathEscape(l.Shape) + "?v=" + url.QueryEscape(l.Version)
		switch l.Shape {
		case string(logo.Rect):
			v.Rect = u
		case string(logo.Square):
			v.Square = u
		}
	}
	return v
}

// handleBranding serves the account's logo through the API, with the
// logo's own restrictive CSP.
func (p *Portal) handleBranding(w http.ResponseWriter, r *http.Request, s *session) {
	ans, err := p.send(r, s.Token, "GET", accountPath(s.Account.ID, "/logos/"+url.PathEscape(r.PathValue("shape"))), nil)
	if err != nil {
		w.Header().Set("Content-Security-Policy", logo.CSP)
		http.Error(w, "no logo", http.StatusNotFound)
		return
	}
	logo.Serve(w, r, ans.header.Get("Content-Type"), ans.body.Bytes(), strings.Trim(ans.header.Get("ETag"), `"`))
}

// brandingData is the Configuration page's Portal logo and Change owner
// parts.
type brandingData struct {
	Logos      logoView
	Members    []wire.Member // who may become owner
	LogoErrors map[string]string
	Owner      ownerForm
}

type ownerForm struct {
	Open           bool
	User           string
	UserError      string
	PasswordError  string
	GeneralMessage string
}

func (p *Portal) brandingData(r *http.Request, s *session) (*brandingData, error) {
	b := &brandingData{Logos: p.logos(r, s), LogoErrors: map[string]string{}}
	if !s.AtLeast("owner") {
		return b, nil
	}
	var ms []wire.Member
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/users"), nil, &ms); err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.ID != s.User.ID && !m.Disabled {
			b.Members = append(b.Members, m)
		}
	}
	return b, nil
}

// handleLogoUpload is POST /configuration/logo/{shape}: a multipart form
// with the file, or remove=1.
func (p *Portal) handleLogoUpload(w http.ResponseWriter, r *http.Request, s *session) {
	shape := logo.Shape(r.PathValue("shape"))
	if !shape.Valid() {
		p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such logo.")
		return
	}
	path := accountPath(s.Account.ID, "/logos/"+string(shape))
	refuse := func(status int, msg string) {
		d, err := p.configPage(r, s)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		d.Branding.LogoErrors[string(shape)] = msg
		p.render(w, r, status, "configuration", "Configuration", s, d)
	}
	apiRefused := func(err error) {
		if msg, ok := apiMessage(err); ok {
			refuse(apiStatus(err), msg)
			return
		}
		p.fail(w, r, err)
	}
	// The file and a little form overhead; more is refused unread.
	r.Body = http.MaxBytesReader(w, r.Body, logo.MaxSize+16<<10)
	if err := r.ParseMultipartForm(logo.MaxSize + 16<<10); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(http.StatusRequestEntityTooLarge, "The file is larger than 0.3 MB.")
			return
		}
		refuse(http.StatusBadRequest, "Choose a JPG, PNG or SVG file to upload.")
		return
	}
	defer r.MultipartForm.RemoveAll()
	if r.PostFormValue("remove") != "" {
		if _, err := p.call(r, s.Token, "DELETE", path, nil, nil); err != nil {
			apiRefused(err)
			return
		}
		flash(w, fmt.Sprintf("The %s is removed.", shape.Label()))
		http.Redirect(w, r, "/configuration", http.StatusSeeOther)
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		refuse(http.StatusBadRequest, "Choose a JPG, PNG or SVG file to upload.")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, logo.MaxSize+1))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	// The API reads the type from the bytes; the browser's claim is not
	// passed on.
	if _, err := p.call(r, s.Token, "PUT", path, rawBody{contentType: "application/octet-stream", data: data}, nil); err != nil {
		apiRefused(err)
		return
	}
	flash(w, fmt.Sprintf("The %s is saved.", shape.Label()))
	http.Redirect(w, r, "/configuration", http.StatusSeeOther)
}

// handleChangeOwner is POST /configuration/owner (spec 6.2): the owner
// hands the account over, confirming with their password.
func (p *Portal) handleChangeOwner(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	req := wire.OwnerChange{User: formValue(r, "user"), Password: formValue(r, "password")}
	if _, err := p.call(r, s.Token, "PUT", accountPath(s.Account.ID, "/owner"), req, nil); err != nil {
		msg, ok := apiMessage(err)
		if !ok {
			p.fail(w, r, err)
			return
		}
		d, derr := p.configPage(r, s)
		if derr != nil {
			p.fail(w, r, derr)
			return
		}
		o := ownerForm{Open: true, User: req.User}
		switch l := strings.ToLower(msg); {
		case strings.Contains(l, "password"):
			o.PasswordError = msg
		case strings.Contains(l, "user") || strings.Contains(l, "owner must"):
			o.UserError = msg
		default:
			o.GeneralMessage = msg
		}
		d.Branding.Owner = o
		p.render(w, r, apiStatus(err), "configuration", "Configuration", s, d)
		return
	}
	flash(w, "The account owner is changed. You are now an account administrator.")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
