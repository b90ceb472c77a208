package portal

import (
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

var (
	typeOptions = []option{{"owner", "Account owner"}, {"admin", "Account administrator"}, {"group_manager", "Group manager"}, {"user", "User"}}
	onOff       = []option{{"on", "Enabled"}, {"off", "Disabled"}}
)

// userColumns is the users listing (spec 4.1); the keys are the API's
// (store.MemberColumns).
var userColumns = []column{
	{Key: "name", Label: "Name", Text: true, Blanks: true, Sort: true, Default: true},
	{Key: "email", Label: "Email", Text: true, Sort: true, Default: true},
	{Key: "type", Label: "User type", Values: typeOptions, Sort: true, Default: true},
	{Key: "groups", Label: "Groups", Text: true, Blanks: true, Default: true},
	{Key: "status", Label: "Status", Values: []option{{"enabled", "Enabled"}, {"disabled", "Disabled"}}, Sort: true, Default: true},
	{Key: "auth", Label: "Authentication", Values: []option{{"internal", "Internal"}, {"ldap", "LDAP"}}, Sort: true},
	{Key: "mfa", Label: "Email (MFA)", Values: onOff, Sort: true},
	{Key: "ondemand", Label: "OnDemand Sessions", Values: onOff, Sort: true, Default: true},
	{Key: "created", Label: "Created", Sort: true},
}

type usersData struct {
	List        *listView
	CanInvite   bool
	CanRemove   bool
	Invite      inviteForm
	InviteTypes []option
	Invites     []wire.Invite // pending: resend or withdraw (spec 4.1.1)
	AttachTo    []wire.Group  // local user groups, for Attach to group (administrators)
}

type inviteForm struct {
	Open     bool // show the dialog (a refused invitation)
	Emails   string
	Type     string
	RCAction string
	OnDemand bool
	MFA      bool
	Error    string
}

func (p *Portal) handleUsers(w http.ResponseWriter, r *http.Request, s *session) {
	p.usersPage(w, r, s, http.StatusOK, inviteForm{Type: "user", RCAction: "browser", OnDemand: true})
}

func (p *Portal) usersPage(w http.ResponseWriter, r *http.Request, s *session, status int, inv inviteForm) {
	if !s.AtLeast("group_manager") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only group managers and up manage users.")
		return
	}
	cols := userColumns
	if groups, err := p.groupOptions(r, s, "user"); err == nil {
		cols = withValues(cols, "groups", groups)
	}
	var users []wire.Member
	lv, err := p.fetchList(r, s, "users", "/users", cols, colKeys(cols), "/users", &users)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	lv.Empty = "No users match these filters."
	lv.Select, lv.SelForm = true, "users-remove"
	for _, u := range users {
		rw := row{ID: u.ID, Label: u.Email, Selectable: u.ID != s.User.ID && rank(u.Type) < rank(s.Member.Type)}
		for _, c := range lv.Cols {
			rw.Cells = append(rw.Cells, userCell(c.Key, u))
		}
		lv.Rows = append(lv.Rows, rw)
	}
	d := usersData{List: lv, CanInvite: true, CanRemove: true, Invite: inv}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/invites"), nil, &d.Invites); err != nil {
		p.fail(w, r, err)
		return
	}
	if s.AtLeast("admin") {
		if d.AttachTo, err = p.attachGroups(r, s, "user"); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	for _, o := range typeOptions[1:] {
		if rank(o.Value) <= rank(s.Member.Type) {
			d.InviteTypes = append(d.InviteTypes, o)
		}
	}
	p.render(w, r, status, "users", "Users", s, d)
}

func userCell(key string, u wire.Member) cell {
	yes := func(b bool) string {
		if b {
			return "Enabled"
		}
		return "Disabled"
	}
	switch key {
	case "name":
		return cell{Text: u.Name, Href: "/users/" + url.PathEscape(u.ID)}
	case "email":
		return cell{Text: u.Email, Href: "/users/" + url.PathEscape(u.ID)}
	case "type":
		return cell{Text: typeLabels[u.Type]}
	case "groups":
		return cell{List: u.Groups}
	case "status":
		c := cell{Text: yes(!u.Disabled), Class: "badge ok"}
		if u.Disabled {
			c.Class = "badge off"
		}
		if u.Locked {
			c.Text, c.Class = "Locked", "badge warn"
		}
		return c
	case "auth":
		if u.Auth == "ldap" {
			return cell{Text: "LDAP"}
		} else if u.Auth == "oidc" {
			return cell{Text: "OpenID Connect"}
		}
		return cell{Text: "Internal"}
	case "mfa":
		return cell{Text: yes(u.MFA)}
	case "ondemand":
		return cell{Text: yes(u.OnDemand)}
	case "created":
		return cell{Text: funcs["date"].(func(int64) string)(u.CreatedAt)}
	}
	return cell{}
}

func colKeys(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Key
	}
	return out
}

func withValues(cols []column, key string, vals []option) []column {
	out := make([]column, len(cols))
	copy(out, cols)
	for i := range out {
		if out[i].Key == key {
			out[i].Values = vals
		}
	}
	return out
}

// maxInvites bounds the addresses of one Invite users form.
const maxInvites = 50

// handleInviteUsers is the Invite users dialog (spec 4.1.1): several
// addresses at once with the advanced settings for all of them. Every
// address is checked before any invitation goes out, so a typo sends
// nothing.
func (p *Portal) handleInviteUsers(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	inv := inviteForm{Open: true, Emails: r.PostFormValue("emails"), Type: r.PostFormValue("type"),
		RCAction: r.PostFormValue("rc_action"), OnDemand: r.PostFormValue("ondemand") == "on", MFA: r.PostFormValue("mfa") == "on"}
	emails := strings.FieldsFunc(inv.Emails, func(c rune) bool { return c == ',' || c == ';' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
	switch {
	case len(emails) == 0:
		inv.Error = "Enter at least one email address."
	case len(emails) > maxInvites:
		inv.Error = fmt.Sprintf("At most %d addresses at once.", maxInvites)
	}
	for _, e := range emails {
		if a, err := mail.ParseAddress(e); inv.Error == "" && (err != nil || a.Address != e) {
			inv.Error = fmt.Sprintf("“%s” is not an email address (like name@example.com); nothing was sent.", e)
		}
	}
	if inv.Error != "" {
		p.usersPage(w, r, s, http.StatusBadRequest, inv)
		return
	}
	var sent []string
	for i, e := range emails {
		od := inv.OnDemand
		req := wire.InviteRequest{Email: e, Type: inv.Type, RCAction: inv.RCAction, OnDemand: &od, MFA: inv.MFA}
		if _, err := p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/invites"), req, nil); err != nil {
			msg, ok := apiMessage(err)
			if !ok {
				p.fail(w, r, err)
				return
			}
			inv.Error = e + ": " + msg
			if i > 0 {
				inv.Error += " Invitations sent before it: " + strings.Join(sent, ", ") + "."
			}
			inv.Emails = strings.Join(emails[i:], "\n")
			p.usersPage(w, r, s, http.StatusBadRequest, inv)
			return
		}
		sent = append(sent, e)
	}
	flash(w, fmt.Sprintf("Invitation sent to %s.", strings.Join(sent, ", ")))
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

// handleRemoveUsers removes the selected users (spec 4.1.6, 4.1.7).
func (p *Portal) handleRemoveUsers(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	p.eachSelected(w, r, s, r.PostForm["id"], "DELETE", nil, func(id string) string {
		return accountPath(s.Account.ID, "/users/"+url.PathEscape(id))
	}, "%d user(s) removed.", "users to remove", localNext(r.PostFormValue("back")))
}
