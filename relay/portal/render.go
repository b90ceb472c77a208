package portal

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// navItem is an entry of the sidebar (spec 2.2), shown to members of type
// Min and up. todo marks a page the Portal does not have yet: it explains
// where to do it meanwhile.
type navItem struct {
	Section, Label, Path, Icon, Min string
	todo                            bool
}

var navItems = []navItem{
	{"ACCESS", "My sessions", "/sessions", "play", "user", false},
	{"ACCESS", "My devices", "/mydevices", "monitor", "user", false},
	{"MANAGE", "Users", "/users", "user", "group_manager", false},
	{"MANAGE", "Devices", "/devices", "monitor", "group_manager", false},
	{"MANAGE", "Groups", "/groups", "users", "group_manager", false},
	{"MANAGE", "Applications", "/applications", "grid", "admin", false},
	{"MANAGE", "Roles", "/roles", "shield", "group_manager", false},
	{"MANAGE", "Role assignments", "/assignments", "link", "group_manager", false},
	{"MANAGE", "Downloads", "/downloads", "download", "admin", false},
	{"SECURITY", "Account security", "/security", "lock", "admin", false},
	{"SECURITY", "Authentication", "/authentication", "key", "admin", false},
	{"SECURITY", "Logs", "/logs", "list", "user", false},
	{"ACCOUNT", "Configuration", "/configuration", "gear", "admin", false},
	{"", "My profile", "/profile", "", "user", false},
}

type navSection struct {
	Name  string
	Items []navLink
}

type navLink struct {
	Label, Path, Icon string
	Current           bool
}

// nav is the sidebar for s on the page at current.
func nav(s *session, current string) []navSection {
	var out []navSection
	for _, it := range navItems {
		if it.Section == "" || !s.AtLeast(it.Min) {
			continue
		}
		if len(out) == 0 || out[len(out)-1].Name != it.Section {
			out = append(out, navSection{Name: it.Section})
		}
		sec := &out[len(out)-1]
		sec.Items = append(sec.Items, navLink{Label: it.Label, Path: it.Path, Icon: it.Icon, Current: it.Path == current})
	}
	return out
}

// view is what every template gets.
type view struct {
	Title   string
	Path    string
	S       *session
	Nav     []navSection
	Flash   string
	Counts  *counts
	Version string
	Data    any
	Logo    logoView // the account's logos (branding.go)
}

type counts struct{ Users, Devices int }

var typeLabels = map[string]string{"owner": "Account owner", "admin": "Account administrator", "group_manager": "Group manager", "user": "User"}

var funcs = template.FuncMap{
	"icon": icon,
	"typeLabel": func(t string) string {
		if l, ok := typeLabels[t]; ok {
			return l
		}
		return t
	},
	"date": func(unix int64) string {
		if unix == 0 {
			return ""
		}
		return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04")
	},
	"ago":  ago,
	"join": strings.Join,
	"has":  func(list []string, v string) bool { return slices.Contains(list, v) },
	"kindLabel": func(k string) string {
		if l, ok := kindLabels[k]; ok {
			return l
		}
		return k
	},
	"roleType": func(t string) string { return roleTypes[t] },
	"groupName": func(gs []wire.Group, id string) string {
		for _, g := range gs {
			if g.ID == id {
				return g.Name
			}
		}
		return id
	},
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}

// parsePages parses each page template with the shared layouts.
func parsePages() map[string]*template.Template {
	base := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/_*.html"))
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if strings.HasPrefix(name, "_") {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, f))
	}
	return pages
}

// render writes page name: signed-in pages (s != nil) in the layout with
// the sidebar, the others on their own.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name, title string, s *session, data any) {
	v := view{Title: title, Path: r.URL.Path, S: s, Flash: takeFlash(w, r), Version: p.cfg.Version, Data: data}
	if s != nil {
		v.Nav = nav(s, r.URL.Path)
		v.Counts = p.counts(r, s)
		v.Logo = p.logos(r, s)
	}
	var buf bytes.Buffer
	t := p.pages[name]
	if t == nil {
		panic("portal: no page template " + name)
	}
	if err := t.ExecuteTemplate(&buf, "page", v); err != nil {
		p.log.Error("portal: rendering", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// ago is how long since unix, roughly, as the spec's user list words it
// ("57 minutes", "703 days").
func ago(unix int64) string {
	d := time.Since(time.Unix(unix, 0))
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

// counts are the title bar's figures, for those who may see them.
func (p *Portal) counts(r *http.Request, s *session) *counts {
	if !s.AtLeast("group_manager") {
		return nil
	}
	var c counts
	h, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/users?size=10"), nil, nil)
	if err != nil {
		return nil
	}
	fmt.Sscan(h.Get("X-Total-Count"), &c.Users)
	// One small page each: the count comes from X-Total-Count, so a
	// 10,000-device account costs no more than a small one.
	h, err = p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/devices?size=10"), nil, nil)
	if err != nil {
		return nil
	}
	fmt.Sscan(h.Get("X-Total-Count"), &c.Devices)
	return &c
}

type errorData struct{ Heading, Message string }

func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	p.render(w, r, status, "error", heading, nil, errorData{heading, msg})
}

// icons are 24×24 outline glyphs drawn with currentColor.
var icons = map[string]string{
	"home":     `<path d="M3 11l9-7 9 7v9a1 1 0 0 1-1 1h-5v-6H9v6H4a1 1 0 0 1-1-1z"/>`,
	"play":     `<circle cx="12" cy="12" r="9"/><path d="M10 8l6 4-6 4z"/>`,
	"monitor":  `<rect x="3" y="4" width="18" height="12" rx="1"/><path d="M8 20h8M12 16v4"/>`,
	"user":     `<circle cx="12" cy="8" r="4"/><path d="M4 21c0-4 4-6 8-6s8 2 8 6"/>`,
	"users":    `<circle cx="9" cy="8" r="3.5"/><path d="M2 20c0-3.5 3-5.5 7-5.5s7 2 7 5.5"/><path d="M16 4.5a3.5 3.5 0 0 1 0 7M18 14.8c2.4.7 4 2.4 4 5.2"/>`,
	"grid":     `<rect x="4" y="4" width="6" height="6"/><rect x="14" y="4" width="6" height="6"/><rect x="4" y="14" width="6" height="6"/><rect x="14" y="14" width="6" height="6"/>`,
	"shield":   `<path d="M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z"/>`,
	"link":     `<path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1"/><path d="M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/>`,
	"download": `<path d="M12 3v12M7 10l5 5 5-5M4 20h16"/>`,
	"lock":     `<rect x="5" y="11" width="14" height="10" rx="1"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>`,
	"list":     `<path d="M8 6h13M8 12h13M8 18h13M3 6h1M3 12h1M3 18h1"/>`,
	"gear":     `<circle cx="12" cy="12" r="3"/><path d="M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1"/>`,
	"filter":   `<path d="M3 5h18l-7 8v6l-4 2v-8z"/>`,
	"collapse": `<path d="M15 6l-6 6 6 6"/>`,
}

func icon(name string) template.HTML {
	return template.HTML(`<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">` + icons[name] + `</svg>`)
}
