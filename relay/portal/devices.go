package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// deviceColumns is the devices listing (spec 4.3); the keys are the API's
// (store.DeviceColumns) but for Online, which the relay knows from its
// connections and shows without a filter.
var deviceColumns = []column{
	{Key: "name", Label: "Name", Text: true, Sort: true, Default: true},
	{Key: "hostname", Label: "Hostname", Text: true, Sort: true, Default: true},
	{Key: "online", Label: "Status", Default: true},
	{Key: "groups", Label: "Device groups", Text: true, Blanks: true, Default: true},
	{Key: "state", Label: "Enrollment", Values: []option{{"enrolled", "Enrolled"}, {"pending", "Pending"}, {"revoked", "Revoked"}}, Sort: true, Default: true},
	{Key: "os", Label: "Operating system", Values: []option{{"linux", "Linux"}, {"windows", "Windows"}, {"darwin", "macOS"}}, Blanks: true, Sort: true, Default: true},
	{Key: "user", Label: "Logged-in user", Text: true, Blanks: true, Sort: true, Default: true},
	{Key: "version", Label: "Host version", Text: true, Sort: true},
	{Key: "description", Label: "Description", Text: true, Blanks: true, Sort: true},
	{Key: "lastseen", Label: "Last seen", Sort: true},
	{Key: "enrolled", Label: "Enrolled", Sort: true},
}

// deviceFilterCols are the keys the API filters (all but Online).
func deviceFilterCols(cols []column) []string {
	var out []string
	for _, c := range cols {
		if c.Key != "online" {
			out = append(out, c.Key)
		}
	}
	return out
}

type devicesData struct {
	List      *listView
	CanManage bool
	Revoke    string       // the typed-confirmation error, when refused
	AttachTo  []wire.Group // device groups, for Attach to group (administrators)
}

func (p *Portal) handleDevices(w http.ResponseWriter, r *http.Request, s *session) {
	p.devicesPage(w, r, s, http.StatusOK, "", nil)
}

func (p *Portal) devicesPage(w http.ResponseWriter, r *http.Request, s *session, status int, revokeErr string, selected []string) {
	if !s.AtLeast("group_manager") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only group managers and up manage devices.")
		return
	}
	cols := deviceColumns
	if groups, err := p.groupOptions(r, s, "device"); err == nil {
		cols = withValues(cols, "groups", groups)
	}
	var devs []wire.Device
	lv, err := p.fetchList(r, s, "devices", "/devices", cols, deviceFilterCols(cols), "/devices", &devs)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	lv.Empty = "No devices match these filters. Devices appear here once a Host is installed with a deployment package (Downloads)."
	lv.Select, lv.SelForm = true, "devices-action"
	for _, d := range devs {
		rw := row{ID: d.ID, Label: d.Name, Selectable: true, Checked: slices.Contains(selected, d.ID)}
		for _, c := range lv.Cols {
			rw.Cells = append(rw.Cells, deviceCell(c.Key, d))
		}
		lv.Rows = append(lv.Rows, rw)
	}
	dd := devicesData{List: lv, CanManage: true, Revoke: revokeErr}
	if s.AtLeast("admin") {
		if dd.AttachTo, err = p.attachGroups(r, s, "device"); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	p.render(w, r, status, "devices", "Devices", s, dd)
}

func deviceCell(key string, d wire.Device) cell {
	switch key {
	case "name":
		return cell{Text: d.Name, Href: "/devices/" + url.PathEscape(d.ID)}
	case "hostname":
		return cell{Text: d.Hostname}
	case "online":
		if d.Online {
			return cell{Text: "Online", Class: "badge ok"}
		}
		return cell{Text: "Offline", Class: "badge off"}
	case "groups":
		return cell{List: d.Groups}
	case "state":
		c := cell{Text: strings.ToUpper(d.State[:1]) + d.State[1:]}
		switch d.State {
		case "pending":
			c.Class = "badge warn"
		case "revoked":
			c.Class = "badge off"
		}
		return c
	case "os":
		for _, o := range deviceColumns[5].Values {
			if o.Value == d.OS {
				return cell{Text: o.Label}
			}
		}
		return cell{Text: d.OS}
	case "user":
		return cell{Text: d.User}
	case "version":
		return cell{Text: d.Version}
	case "description":
		return cell{Text: d.Description}
	case "lastseen":
		return cell{Text: funcs["date"].(func(int64) string)(d.LastSeen)}
	}
	return cell{}
}

// groupOptions lists the account's groups of a kind ("device", or "user"
// for every user kind) as filter values.
func (p *Portal) groupOptions(r *http.Request, s *session, kind string) ([]option, error) {
	var gs []wire.Group
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/groups"), nil, &gs); err != nil {
		return nil, err
	}
	var out []option
	for _, g := range gs {
		if !g.Builtin && (g.Kind == "device") == (kind == "device") {
			out = append(out, option{g.Name, g.Name})
		}
	}
	return out, nil
}

// handleDeviceAction enrolls, revokes or removes the selected devices
// (spec 4.3.2, 4.5.7). Revoking needs the word "revoke" typed, as the API
// asks; a refusal changes nothing.
func (p *Portal) handleDeviceAction(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	ids := r.PostForm["id"]
	back := localNext(r.PostFormValue("back"))
	action := r.PostFormValue("action")
	if len(ids) == 0 || len(ids) > 100 {
		flash(w, "Select the devices first (at most 100 at once).")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	var method, suffix, done string
	var body any
	switch action {
	case "favorite", "unfavorite":
		// Add to / Remove from favorites (spec 4.3.3): the caller's own marks.
		method, done := "PUT", "%d device(s) added to your favorites."
		if action == "unfavorite" {
			method, done = "DELETE", "%d device(s) removed from your favorites."
		}
		p.eachSelected(w, r, s, ids, method, nil, func(id string) string { return "/api/v1/me/favorites/" + url.PathEscape(id) }, done, "devices", back)
		return
	case "enroll":
		method, suffix, done = "POST", "/enroll", "enrolled"
	case "remove":
		method, suffix, done = "DELETE", "", "removed"
	case "revoke":
		method, suffix, done = "POST", "/revoke", "revoked"
		body = wire.Confirm{Confirm: r.PostFormValue("confirm")}
		if r.PostFormValue("confirm") != "revoke" {
			// Checked here too so a typo sends nothing at all.
			r.URL.RawQuery = ""
			if u, err := url.Parse(back); err == nil {
				r.URL.RawQuery = u.RawQuery
			}
			p.devicesPage(w, r, s, http.StatusBadRequest, "Type revoke to confirm.", ids)
			return
		}
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "Unknown device action.")
		return
	}
	p.eachSelected(w, r, s, ids, method, body, func(id string) string {
		return accountPath(s.Account.ID, "/devices/"+url.PathEscape(id)+suffix)
	}, "%d device(s) "+done+".", "devices", back)
}
