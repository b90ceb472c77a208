package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Security > Authentication (spec 5.2.1): the account's LDAP
// authentication methods — Add LDAP, Remove — and their LDAP user groups
// (import a directory group by name, spec 4.2.4). Dialogs open from the
// URL (?add=1, ?import=ID, ?remove=ID).

type ldapData struct {
	Methods []wire.LDAPMethod
	Groups  []wire.Group // LDAP user groups
	Form    *ldapForm
	Import  *ldapImport
	Remove  *wire.LDAPMethod
	// A failed test: the method's domain and the directory's reason.
	TestDomain, TestError string
}

type ldapForm struct {
	Edit   bool
	M      wire.LDAPMethod
	Errors map[string]string
}

type ldapImport struct {
	M                 wire.LDAPMethod
	Name, Description string
	Error             string
}

// ldapFields maps the API's field names (ldapauth's Config) to the form's.
var ldapFields = map[string]string{"Domain": "domain", "URL": "url", "StartTLS": "url", "RootCAs": "root_cas", "ServerName": "server_name",
	"BindDN": "bind_dn", "BindPassword": "bind_password", "BaseDN": "base_dn", "UserFilter": "user_filter", "UsernameAttr": "username_attr",
	"EmailAttr": "email_attr", "DisplayNameAttr": "display_name_attr", "GroupMode": "group_mode", "GroupBaseDN": "group_base_dn",
	"GroupFilter": "group_filter", "GroupNameAttr": "group_name_attr", "GroupListFilter": "group_filter"}

var ldapErrLine = regexp.MustCompile(`(?m)^(?:[Cc]onfig: )?([A-Za-z]+): (.+)$`)

func (p *Portal) handleLDAP(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("admin") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only account administrators or higher manage authentication.")
		return
	}
	d := &ldapData{}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/ldap"), nil, &d.Methods); err != nil {
		p.fail(w, r, err)
		return
	}
	var gs []wire.Group
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups"), nil, &gs); err != nil {
		p.fail(w, r, err)
		return
	}
	for _, g := range gs {
		if g.Kind == "ldap_user" {
			d.Groups = append(d.Groups, g)
		}
	}
	find := func(id string) (wire.LDAPMethod, bool) {
		i := slices.IndexFunc(d.Methods, func(m wire.LDAPMethod) bool { return m.ID == id })
		if i < 0 {
			return wire.LDAPMethod{}, false
		}
		return d.Methods[i], true
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		id := formValue(r, "id")
		m, ok := find(id)
		var msg string
		switch op := formValue(r, "op"); {
		case op == "add" || op == "edit" && ok:
			f := &ldapForm{Edit: op == "edit", M: ldapFromForm(r), Errors: map[string]string{}}
			var err error
			if f.Edit {
				f.M.ID = id
				_, err = p.call(r, s.Token, "PUT", accountPath(s.Account.ID, "/ldap/"+url.PathEscape(id)), f.M, nil)
			} else {
				_, err = p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/ldap"), f.M, nil)
			}
			if err != nil {
				m, ok := apiMessage(err)
				if !ok {
					p.fail(w, r, err)
					return
				}
				for _, l := range ldapErrLine.FindAllStringSubmatch(m, -1) {
					if field, ok := ldapFields[l[1]]; ok && f.Errors[field] == "" {
						f.Errors[field] = l[2]
					}
				}
				if len(f.Errors) == 0 {
					f.Errors[ldapField(m)] = m
				}
				f.M.BindPassword = "" // never sent back to the browser
				d.Form, status = f, apiStatus(err)
				break
			}
			msg = fmt.Sprintf("The LDAP authentication method for %s is saved.", f.M.Domain)
		case !ok:
			p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such LDAP authentication method.")
			return
		case op == "test":
			var res wire.LDAPTest
			if _, err := p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/ldap/"+url.PathEscape(id)+"/test"), nil, &res); err != nil {
				m, ok := apiMessage(err)
				if !ok {
					p.fail(w, r, err)
					return
				}
				d.TestDomain, d.TestError, status = ldapDomain(d.Methods, id), m, apiStatus(err)
				break
			}
			msg = fmt.Sprintf("The test of %s passed: %d groups in the directory", m.Domain, res.Total)
			if len(res.Groups) > 0 {
				msg += ": " + strings.Join(res.Groups[:min(len(res.Groups), 10)], ", ")
			}
			msg += "."
		case op == "remove":
			if _, err := p.call(r, s.Token, "DELETE", accountPath(s.Account.ID, "/ldap/"+url.PathEscape(id)), nil, nil); err != nil {
				p.fail(w, r, err)
				return
			}
			msg = fmt.Sprintf("The LDAP authentication method for %s is removed.", m.Domain)
		case op == "import":
			im := &ldapImport{M: m, Name: strings.TrimSpace(formValue(r, "name")), Description: strings.TrimSpace(formValue(r, "description"))}
			req := wire.LDAPGroupImport{Name: im.Name, Description: im.Description}
			if _, err := p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/ldap/"+url.PathEscape(id)+"/groups"), req, nil); err != nil {
				m, ok := apiMessage(err)
				if !ok {
					p.fail(w, r, err)
					return
				}
				im.Error, d.Import, status = m, im, apiStatus(err)
				break
			}
			msg = fmt.Sprintf("The LDAP group “%s” is imported.", im.Name)
		default:
			p.renderError(w, r, http.StatusBadRequest, "Bad request", "There is no such action.")
			return
		}
		if msg != "" {
			flash(w, msg)
			http.Redirect(w, r, "/authentication", http.StatusSeeOther)
			return
		}
	} else {
		q := r.URL.Query()
		if q.Get("add") != "" {
			d.Form = &ldapForm{M: wire.LDAPMethod{Enabled: true, GroupMode: "search"}}
		}
		for op, id := range map[string]string{"import": q.Get("import"), "remove": q.Get("remove"), "edit": q.Get("edit")} {
			if id == "" {
				continue
			}
			m, ok := find(id)
			if !ok {
				p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such LDAP authentication method.")
				return
			}
			switch op {
			case "import":
				d.Import = &ldapImport{M: m}
			case "edit":
				d.Form = &ldapForm{Edit: true, M: m}
			default:
				d.Remove = &m
			}
		}
	}
	p.render(w, r, status, "ldap", "Authentication", s, d)
}

func ldapFromForm(r *http.Request) wire.LDAPMethod {
	v := func(k string) string { return strings.TrimSpace(formValue(r, k)) }
	return wire.LDAPMethod{Enabled: v("enabled") == "on", Domain: v("domain"), URL: v("url"), StartTLS: v("start_tls") == "on",
		RootCAs: boundedPEM(r.PostFormValue("root_cas")), ServerName: v("server_name"), BindDN: v("bind_dn"), BindPassword: formValue(r, "bind_password"),
		BaseDN: v("base_dn"), UserFilter: v("user_filter"), UsernameAttr: v("username_attr"), EmailAttr: v("email_attr"),
		DisplayNameAttr: v("display_name_attr"), GroupMode: v("group_mode"), GroupBaseDN: v("group_base_dn"),
		GroupFilter: v("group_filter"), GroupNameAttr: v("group_name_attr")}
}

// ldapField is the form field a refusal without a field name is about.
func ldapField(msg string) string {
	if strings.Contains(strings.ToLower(msg), "domain") {
		return "domain"
	}
	return "form"
}

// boundedPEM is a pasted CA bundle, up to 32 KB (more is dropped and the
// API then uses the system's CAs — never a partial bundle).
func boundedPEM(v string) string {
	if len(v) > 32<<10 {
		return ""
	}
	return v
}

func ldapDomain(ms []wire.LDAPMethod, id string) string {
	for _, m := range ms {
		if m.ID == id {
			return m.Domain
		}
	}
	return ""
}
