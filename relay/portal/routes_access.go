package portal

import (
	"net/http"
	"slices"
	"strings"
)

// routesAccess registers Roles, Role assignments, LDAP, change owner and
// the Portal logo.
func (p *Portal) routesAccess(mux *http.ServeMux) {
	mux.Handle("GET /roles", p.page(p.handleRoles))
	mux.Handle("POST /roles", p.page(p.handleRoles))
	mux.Handle("GET /assignments", p.page(p.handleAssignments))
	mux.Handle("POST /assignments", p.page(p.handleAssignments))
	mux.Handle("GET /authentication", p.page(p.handleLDAP))
	mux.Handle("POST /authentication", p.page(p.handleLDAP))
	mux.Handle("GET /branding/{shape}", p.page(p.handleBranding))
	mux.Handle("POST /configuration/logo/{shape}", p.page(p.ownerOnly(p.handleLogoUpload)))
	mux.Handle("POST /configuration/owner", p.page(p.ownerOnly(p.handleChangeOwner)))
}

// ownerOnly: pages only the account owner uses (the API decides too).
func (p *Portal) ownerOnly(h pageHandler) pageHandler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !s.AtLeast("owner") {
			p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only the account owner does this.")
			return
		}
		h(w, r, s)
	}
}

// The template functions of these pages. Added here rather than in
// render.go to keep that shared file's edits small; a name another page
// set already is a build-time panic, caught by every test.
func init() {
	for k, f := range map[string]any{
		"list":       func(v ...string) []string { return v },
		"permLabel":  permLabel,
		"clientType": func(c string) string { return clientTypes[c] },
		"recurLabel": func(k string) string { return recurLabels[k] },
		"title":      func(s string) string { return strings.ToUpper(s[:1]) + s[1:] },
		"inc":        func(i int) int { return i + 1 },
	} {
		if _, dup := funcs[k]; dup {
			panic("portal: template function " + k + " defined twice")
		}
		funcs[k] = f
	}
	// "has" is the same in main's render.go (h-pman): set only if missing.
	if _, ok := funcs["has"]; !ok {
		funcs["has"] = func(list []string, v string) bool { return slices.Contains(list, v) }
	}
}

func init() {
	icons["key"] = `<circle cx="8" cy="15" r="4"/><path d="M11 12l9-9M16 7l3 3M14 9l2 2"/>`
}

var clientTypes = map[string]string{"any": "Any", "installed_guest": "Installed Guest", "browser": "Browser"}
