package portal

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Security > Authentication > Single sign-on (issue 17): the account's
// OpenID Connect and SAML (ADFS, Azure AD) sign-in methods — add, upload
// the IdP's metadata (FederationMetadata.xml), import a group, remove —
// all through the API. Dialogs open from the URL (?add=oidc, ?add=saml,
// ?metadata=ID, ?import=KIND:ID, ?remove=KIND:ID). And the Portal's SAML
// assertion consumer, where the IdP's form posts.

const (
	ssoPage        = "/authentication/sso"
	portalSAMLACS  = "/sso/saml/acs"
	maxMetadataArg = 1 << 20
)

func (p *Portal) routesSSO(mux *http.ServeMux) {
	mux.Handle("GET "+ssoPage, p.page(p.handleSSOMethods))
	mux.Handle("POST "+ssoPage, p.page(p.handleSSOMethods))
	mux.HandleFunc("POST "+portalSAMLACS, p.handleSAMLACS)
}

type ssoData struct {
	OIDC       []wire.OIDCMethod
	SAML       []wire.SAMLMethod
	UserGroups []wire.Group // for the default group
	Imported   []wire.Group // groups imported from an IdP
	AddOIDC    *oidcForm
	AddSAML    *samlForm
	Metadata   *samlMetadataForm
	Import     *ssoImport
	Remove     *ssoRemove
	Now        time.Time
}

type oidcForm struct {
	M     wire.OIDCMethod
	Error string
}

type samlForm struct {
	M     wire.SAMLMethod
	Error string
}

type samlMetadataForm struct {
	M     wire.SAMLMethod
	Error string
}

type ssoImport struct {
	Kind, ID, Domain, Name, Description, Error string
}

type ssoRemove struct {
	Kind, ID, Domain string
}

func (p *Portal) handleSSOMethods(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("admin") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only account administrators or higher manage authentication.")
		return
	}
	d := &ssoData{Now: p.cfg.Clock()}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/oidc"), nil, &d.OIDC); err != nil {
		p.fail(w, r, err)
		return
	}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/saml"), nil, &d.SAML); err != nil {
		p.fail(w, r, err)
		return
	}
	var gs []wire.Group
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups"), nil, &gs); err != nil {
		p.fail(w, r, err)
		return
	}
	for _, g := range gs {
		switch g.Kind {
		case "user":
			d.UserGroups = append(d.UserGroups, g)
		case "ldap_user":
			d.Imported = append(d.Imported, g)
		}
	}
	// domain finds a method of kind by id ("" when there is none).
	domain := func(kind, id string) string {
		if kind == "oidc" {
			if i := slices.IndexFunc(d.OIDC, func(m wire.OIDCMethod) bool { return m.ID == id }); i >= 0 {
				return d.OIDC[i].Domain
			}
		} else if kind == "saml" {
			if i := slices.IndexFunc(d.SAML, func(m wire.SAMLMethod) bool { return m.ID == id }); i >= 0 {
				return d.SAML[i].Domain
			}
		}
		return ""
	}
	status := http.StatusOK
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		switch q.Get("add") {
		case "oidc":
			d.AddOIDC = &oidcForm{M: wire.OIDCMethod{Enabled: true}}
		case "saml":
			d.AddSAML = &samlForm{M: wire.SAMLMethod{Enabled: true}}
		}
		if id := q.Get("metadata"); id != "" {
			i := slices.IndexFunc(d.SAML, func(m wire.SAMLMethod) bool { return m.ID == id })
			if i < 0 {
				p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such sign-in method.")
				return
			}
			d.Metadata = &samlMetadataForm{M: d.SAML[i]}
		}
		for op, v := range map[string]string{"import": q.Get("import"), "remove": q.Get("remove")} {
			if v == "" {
				continue
			}
			kind, id, _ := strings.Cut(v, ":")
			dom := domain(kind, id)
			if dom == "" {
				p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such sign-in method.")
				return
			}
			if op == "import" {
				d.Import = &ssoImport{Kind: kind, ID: id, Domain: dom}
			} else {
				d.Remove = &ssoRemove{Kind: kind, ID: id, Domain: dom}
			}
		}
		p.render(w, r, status, "sso", "Single sign-on", s, d)
		return
	}

	// The metadata form is multipart (a file); the others are plain forms.
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		r.Body = http.MaxBytesReader(w, r.Body, maxMetadataArg+64<<10)
		err = r.ParseMultipartForm(maxMetadataArg + 64<<10)
	} else {
		err = parseForm(w, r)
	}
	if err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read (the metadata file may be over 1 MiB).")
		return
	}
	v := func(k string) string { return strings.TrimSpace(formValue(r, k)) }
	kind, id := v("kind"), v("id")
	var msg string
	refused := func(err error, set func(string)) bool {
		m, ok := apiMessage(err)
		if !ok {
			p.fail(w, r, err)
			return true
		}
		set(m)
		status = apiStatus(err)
		return false
	}
	switch op := v("op"); op {
	case "add-oidc":
		f := &oidcForm{M: wire.OIDCMethod{Enabled: v("enabled") == "on", Domain: v("domain"), Issuer: v("issuer"), ClientID: v("client_id"),
			ClientSecret: formValue(r, "client_secret"), GroupsClaim: v("groups_claim"), Scopes: strings.Fields(v("scopes")),
			DefaultGroup: v("default_group"), Button: v("button")}}
		if _, err := p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/oidc"), f.M, nil); err != nil {
			f.M.ClientSecret = "" // never sent back to the browser
			if refused(err, func(m string) { f.Error, d.AddOIDC = m, f }) {
				return
			}
			break
		}
		msg = fmt.Sprintf("The OpenID Connect sign-in for %s is saved. Register the redirect URIs shown at the identity provider.", f.M.Domain)
	case "add-saml":
		f := &samlForm{M: wire.SAMLMethod{Enabled: v("enabled") == "on", Domain: v("domain"), GroupsAttribute: v("groups_attribute"),
			DefaultGroup: v("default_group"), Button: v("button")}}
		var created wire.SAMLMethod
		if _, err := p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/saml"), f.M, &created); err != nil {
			if refused(err, func(m string) { f.Error, d.AddSAML = m, f }) {
				return
			}
			break
		}
		flash(w, fmt.Sprintf("The SAML sign-in for %s is saved. Upload the identity provider's metadata to finish it.", f.M.Domain))
		http.Redirect(w, r, ssoPage+"?metadata="+url.QueryEscape(created.ID), http.StatusSeeOther)
		return
	case "metadata":
		i := slices.IndexFunc(d.SAML, func(m wire.SAMLMethod) bool { return m.ID == id })
		if i < 0 {
			p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such sign-in method.")
			return
		}
		f := &samlMetadataForm{M: d.SAML[i]}
		raw := []byte(r.PostFormValue("metadata_xml"))
		if file, _, err := r.FormFile("metadata_file"); err == nil {
			raw, err = io.ReadAll(io.LimitReader(file, maxMetadataArg+1))
			file.Close()
			if err != nil {
				p.fail(w, r, err)
				return
			}
		}
		if _, err := p.call(r, s.Token, "PUT", accountPath(s.Account.ID, "/saml/"+url.PathEscape(id)+"/metadata"),
			rawBody{contentType: "application/xml", data: raw}, nil); err != nil {
			if refused(err, func(m string) { f.Error, d.Metadata = m, f }) {
				return
			}
			break
		}
		msg = fmt.Sprintf("The identity provider's metadata for %s is saved.", f.M.Domain)
	case "import", "remove":
		dom := domain(kind, id)
		if dom == "" {
			p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such sign-in method.")
			return
		}
		path := accountPath(s.Account.ID, "/"+kind+"/"+url.PathEscape(id))
		if op == "remove" {
			if _, err := p.call(r, s.Token, "DELETE", path, nil, nil); err != nil {
				p.fail(w, r, err)
				return
			}
			msg = fmt.Sprintf("The sign-in for %s is removed.", dom)
			break
		}
		im := &ssoImport{Kind: kind, ID: id, Domain: dom, Name: v("name"), Description: v("description")}
		if _, err := p.call(r, s.Token, "POST", path+"/groups", wire.LDAPGroupImport{Name: im.Name, Description: im.Description}, nil); err != nil {
			if refused(err, func(m string) { im.Error, d.Import = m, im }) {
				return
			}
			break
		}
		msg = fmt.Sprintf("The group “%s” of %s is imported.", im.Name, dom)
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "There is no such action.")
		return
	}
	if msg != "" {
		flash(w, msg)
		http.Redirect(w, r, ssoPage, http.StatusSeeOther)
		return
	}
	p.render(w, r, status, "sso", "Single sign-on", s, d)
}

// handleSAMLACS is where the IdP's form posts SAMLResponse and RelayState
// (a cross-site POST by design: the signed assertion and the single-use
// RelayState are its proof, not the origin). The API checks them; the
// Portal then sets its cookie like after a password.
func (p *Portal) handleSAMLACS(w http.ResponseWriter, r *http.Request) {
	d := signInData{Step: "user"}
	r.Body = http.MaxBytesReader(w, r.Body, 300<<10)
	if err := r.ParseForm(); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The identity provider's answer could not be read.")
		return
	}
	var lr wire.LoginResponse
	h, err := p.call(r, "", "POST", "/api/v1/sso/saml/acs", wire.SSOFinish{State: r.PostForm.Get("RelayState"), Code: r.PostForm.Get("SAMLResponse")}, &lr)
	if err != nil {
		p.signInFailed(w, r, d, err)
		return
	}
	p.signedInBySSO(w, r, d, h, lr)
}
