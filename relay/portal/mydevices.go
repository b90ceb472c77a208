package portal

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/tandem-rc/tandem/transport/wire"
)

// myDevicesData is My devices (spec 3.1): the devices the user may
// control in this account, favorites first (4.3.3).
type myDevicesData struct {
	Devices  []wire.Device
	RCAction string
}

func (p *Portal) handleMyDevices(w http.ResponseWriter, r *http.Request, s *session) {
	var all []wire.Device
	if _, err := p.call(r, s.Token, "GET", "/api/v1/devices", nil, &all); err != nil {
		p.fail(w, r, err)
		return
	}
	d := myDevicesData{RCAction: s.Member.RCAction}
	for _, dev := range all {
		if dev.AccountID == s.Account.ID {
			d.Devices = append(d.Devices, dev)
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
