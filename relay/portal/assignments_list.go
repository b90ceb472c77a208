package portal

import (
	"cmp"
	"net/http"
	"net/url"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// assignmentColumns is the role assignments listing (spec 4.4.6); the keys
// are the API's (store.AssignmentColumns). Role, user and device groups
// filter by the names shown; their value lists are the account's.
var assignmentColumns = []column{
	{Key: "name", Label: "Name", Text: true, Sort: true, Default: true},
	{Key: "role", Label: "Role", Blanks: true, Sort: true, Default: true},
	{Key: "user_groups", Label: "User groups", Text: true, Blanks: true, Sort: true, Default: true},
	{Key: "device_groups", Label: "Device groups", Text: true, Blanks: true, Sort: true, Default: true},
	{Key: "active", Label: "Status", Values: []option{{"yes", "Active"}, {"no", "Inactive"}}, Sort: true, Default: true},
	{Key: "schedule", Label: "Schedule", Values: []option{{"yes", "Scheduled"}, {"no", "Not scheduled"}}, Sort: true, Default: true},
	{Key: "description", Label: "Description", Text: true, Blanks: true, Sort: true},
}

// maxFilterOptions bounds a value list drawn from the account's roles or
// groups; the text filter ("contains") reaches the others.
const maxFilterOptions = 100

// assignmentsList is the listing of role assignments the request's
// parameters ask for: roles and groups by name, each row's Edit,
// Schedule, Remove schedule and Remove, and multi-select for Remove.
func (p *Portal) assignmentsList(r *http.Request, s *session, d *assignmentsData) (*listView, error) {
	var roles, users, devices []option
	for _, ro := range d.Roles {
		roles = append(roles, option{ro.Name, ro.Name})
	}
	for _, g := range d.Groups {
		if g.Kind == "device" {
			devices = append(devices, option{g.Name, g.Name})
		} else {
			users = append(users, option{g.Name, g.Name})
		}
	}
	cols := withValues(assignmentColumns, "role", roles[:min(len(roles), maxFilterOptions)])
	cols = withValues(cols, "user_groups", users[:min(len(users), maxFilterOptions)])
	cols = withValues(cols, "device_groups", devices[:min(len(devices), maxFilterOptions)])
	var as []wire.Assignment
	lv, err := p.fetchList(r, s, "assignments", "/assignments", cols, colKeys(cols), "/assignments", &as)
	if err != nil {
		return nil, err
	}
	lv.Empty = "No role assignments match these filters."
	lv.RowData = "assignment"
	lv.Select, lv.SelForm, lv.Actions = d.CanEdit, "assignments-remove", d.CanEdit
	for _, a := range as {
		rw := row{ID: a.ID, Label: a.Name, Data: a.Name, Selectable: d.CanEdit}
		if d.CanEdit {
			rw.Actions = assignmentActions(a)
		}
		for _, c := range lv.Cols {
			rw.Cells = append(rw.Cells, assignmentCell(c.Key, a, d))
		}
		lv.Rows = append(lv.Rows, rw)
	}
	return lv, nil
}

func assignmentActions(a wire.Assignment) []rowAction {
	esc := url.QueryEscape(a.ID)
	sched := "Schedule"
	if a.Schedule != nil {
		sched = "Change schedule"
	}
	out := []rowAction{{Label: "Edit", Aria: "Edit " + a.Name, Href: "/assignments?edit=" + esc},
		{Label: sched, Aria: sched + " of " + a.Name, Href: "/assignments?schedule=" + esc}}
	if a.Schedule != nil {
		out = append(out, rowAction{Label: "Remove schedule", Aria: "Remove schedule of " + a.Name, Href: "/assignments?unschedule=" + esc})
	}
	return append(out, rowAction{Label: "Remove", Aria: "Remove " + a.Name, Class: "danger", Href: "/assignments?remove=" + esc})
}

func assignmentCell(key string, a wire.Assignment, d *assignmentsData) cell {
	names := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = id // a group removed meanwhile: its id
			if n, ok := d.GroupNames[id]; ok {
				out[i] = n
			}
		}
		return out
	}
	switch key {
	case "name":
		c := cell{Text: a.Name}
		if a.Description != "" {
			c.Sub = append(c.Sub, a.Description)
		}
		if a.CreatedBy != "" || a.ModifiedBy != "" { // the audit log tells
			c.Sub = append(c.Sub, "Created by "+cmp.Or(a.CreatedBy, "-")+" · Modified by "+cmp.Or(a.ModifiedBy, "-"))
		}
		return c
	case "role":
		if n, ok := d.RoleNames[a.RoleID]; ok {
			return cell{Text: n}
		}
		return cell{Text: "(removed)", Class: "muted"}
	case "user_groups":
		return cell{List: names(a.UserGroups)}
	case "device_groups":
		return cell{List: names(a.DeviceGroups)}
	case "active":
		l := statusLabel(a.Status, a.Active)
		if strings.HasPrefix(l, "Active") {
			return cell{Text: l, Class: "badge ok"}
		}
		return cell{Text: l, Class: "badge off"}
	case "schedule":
		if a.Schedule == nil {
			return cell{Text: "None", Class: "muted"}
		}
		return cell{Text: a.Schedule.Summary}
	case "description":
		return cell{Text: a.Description}
	}
	return cell{}
}
