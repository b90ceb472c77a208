package portal

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/tandem-rc/tandem/internal/launchlink"
	"github.com/tandem-rc/tandem/transport/wire"
)

// myDevicesData is My devices (spec 3.1): the devices the user may
// control in this account, favorites first (4.3.3).
type myDevicesData struct {
	Devices  []wire.Device
	RCAction string
	// Launch is each device's Remote control: a tandem:// link the
	// desktop Guest handles (checked here as strictly as the Guest does,
	// so html/template may keep its scheme).
	Launch map[string]template.URL
}

func (p *Portal) handleMyDevices(w http.ResponseWriter, r *http.Request, s *session) {
	var all []wire.Device
	if _, err := p.call(r, s.Token, "GET", "/api/v1/devices", nil, &all); err != nil {
		p.fail(w, r, err)
		return
	}
	d := myDevicesData{RCAction: s.Member.RCAction, Launch: map[string]template.URL{}}
	relay := p.publicURL(r)
	for _, dev := range all {
		if dev.AccountID == s.Account.ID {
			d.Devices = append(d.Devices, dev)
			if link := launchlink.Build(relay, dev.ID); launchlink.Valid(link) {
				d.Launch[dev.ID] = template.URL(link)
			}
		}
	}
	slices.SortStableFunc(d.Devices, func(a, b wire.Device) int {
		switch {
		case a.Favorite == b.Favorite:
			return 0
		case a.Favorite:
			return -1
		}
		return 1
	})
	p.render(w, r, http.StatusOK, "mydevices", "My devices", s, d)
}

// handleFavorite marks or unmarks a favorite device.
func (p *Portal) handleFavorite(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	method := "PUT"
	if r.PostFormValue("on") != "1" {
		method = "DELETE"
	}
	if _, err := p.call(r, s.Token, method, "/api/v1/me/favorites/"+url.PathEscape(formValue(r, "id")), nil, nil); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/mydevices", http.StatusSeeOther)
}

// publicURL is how clients reach the relay: the configured public URL, or
// this request's origin.
func (p *Portal) publicURL(r *http.Request) string {
	if p.cfg.PublicURL != "" {
		return p.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
