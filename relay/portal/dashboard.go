package portal

import (
	"net/http"
	"slices"

	"github.com/tandem-rc/tandem/transport/wire"
)

// dashboardData is the Dashboard (spec 2.2): devices and users at a
// glance and the account's details, each part for those who may read it.
type dashboardData struct {
	Devices  *deviceStats
	Users    *userStats
	Account  *wire.AccountConfig
	Mine     int            // devices a member below group manager may reach
	Activity *activityChart // administrators
}

type deviceStats struct{ Total, Online, Pending, Groups int }

type userStats struct{ Total, LDAP, Groups, LDAPGroups int }

func (p *Portal) handleDashboard(w http.ResponseWriter, r *http.Request, s *session) {
	d := dashboardData{}
	if s.AtLeast("group_manager") {
		// Counted by the relay, not by listing: a 10,000-device account's
		// Dashboard reads no device row.
		var c wire.AccountCounts
		if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/counts"), nil, &c); err != nil {
			p.fail(w, r, err)
			return
		}
		d.Devices = &deviceStats{Total: c.Devices, Online: c.OnlineDevices, Pending: c.PendingDevices, Groups: c.DeviceGroups}
		d.Users = &userStats{Total: c.Users, LDAP: c.LDAPUsers, Groups: c.UserGroups, LDAPGroups: c.LDAPGroups}
	} else {
		// A member's own devices: the API evaluates their role assignments.
		var mine []wire.Device
		if _, err := p.call(r, s.Token, "GET", "/api/v1/devices", nil, &mine); err != nil {
			p.fail(w, r, err)
			return
		}
		for _, dev := range mine {
			if dev.AccountID == s.Account.ID {
				d.Mine++
			}
		}
	}
	if s.AtLeast("admin") {
		var ac wire.AccountConfig
		if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/config"), nil, &ac); err != nil {
			p.fail(w, r, err)
			return
		}
		d.Account = &ac
		var err error
		if d.Activity, err = p.fetchActivity(r, s); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	p.render(w, r, http.StatusOK, "dashboard", "Dashboard", s, d)
}

// handleSwitchAccount is the account switcher (spec 4.1.3): the choice is
// checked against the user's accounts on every page anyway.
func (p *Portal) handleSwitchAccount(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	id := r.PostFormValue("account")
	if !slices.ContainsFunc(s.User.Accounts, func(a wire.Ref) bool { return a.ID == id }) {
		p.renderError(w, r, http.StatusNotFound, "Not found", "You are not a member of that account.")
		return
	}
	setCookie(w, accountCookie, id, 400*24*3600e9)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleNotYet is a sidebar page the Portal does not have yet.
func (p *Portal) handleNotYet(w http.ResponseWriter, r *http.Request, s *session) {
	title := "Portal"
	for _, it := range navItems {
		if it.Path == r.URL.Path {
			title = it.Label
			if !s.AtLeast(it.Min) {
				p.renderError(w, r, http.StatusForbidden, "Not allowed", "Your user type does not include this page.")
				return
			}
		}
	}
	p.render(w, r, http.StatusOK, "notyet", title, s, nil)
}
