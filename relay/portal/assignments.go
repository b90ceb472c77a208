package portal

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Role assignments (spec 4.4.6–4.4.9): add, edit, remove; the schedule
// dialog (4.4.8) with every recurrence the API models and its time zone;
// and the Check permissions dialog (4.4.12). Dialogs open from the URL
// (?add=1, ?edit=ID, ?schedule=ID, ?unschedule=ID, ?remove=ID, ?check=1).

type assignmentsData struct {
	List        *listView
	Assignments []wire.Assignment // all of them, for actions and dialogs only
	Roles       []wire.RoleInfo
	RoleNames   map[string]string // id → name
	RoleTypes   map[string]string // id → type
	Groups      []wire.Group
	GroupNames  map[string]string
	Users       []wire.Member
	Devices     []wire.Device
	CanEdit     bool
	Form        *assignmentForm
	Schedule    *scheduleForm
	Confirm     *assignmentConfirm
	Check       checkForm
	Weekdays    []string
	Months      []string
	TimeZones   []string
}

type assignmentForm struct {
	Edit   bool
	A      wire.Assignment
	Errors map[string]string
}

// scheduleForm is the "Schedule for NAME" dialog.
type scheduleForm struct {
	A        wire.Assignment
	S        wire.Schedule
	Monthly  string // day, last
	Interval int
	Errors   map[string]string // field → the API's refusal ("form": above the fields)
}

// scheduleField is the schedule dialog's field an API refusal is about.
func scheduleField(msg string) string {
	l := strings.ToLower(msg)
	switch {
	case strings.Contains(l, "timezone"), strings.Contains(l, "time zone"):
		return "timezone"
	case strings.Contains(l, "start_date"), strings.Contains(l, "start date"):
		return "start_date"
	case strings.Contains(l, "end_date"), strings.Contains(l, "end date"):
		return "end_date"
	case strings.Contains(l, "start_time"), strings.Contains(l, "end_time"), strings.Contains(l, "time of day"), strings.Contains(l, "all_day"):
		return "times"
	case strings.Contains(l, "recurrence"), strings.Contains(l, "weekday"), strings.Contains(l, "interval"), strings.Contains(l, "month"),
		strings.Contains(l, "day"):
		return "recurrence"
	}
	return "form"
}

// assignmentConfirm asks before removing an assignment or its schedule.
type assignmentConfirm struct {
	Op   string // remove, unschedule
	A    wire.Assignment
	Text string
}

type checkForm struct {
	Open                                       bool
	User, Device, Client, Date, Time, TimeZone string
	ValidAt                                    string // the checked moment in the asked time zone
	Result                                     *wire.CheckResult
	Error                                      string
}

var recurLabels = map[string]string{"": "No recurrence", "daily": "Daily", "weekly": "Weekly", "monthly": "Monthly", "yearly": "Yearly"}

var weekdays = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// timeZones are suggestions for the time zone fields; any IANA name is
// accepted (the API checks it).
var timeZones = []string{"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Madrid",
	"Europe/Rome", "Europe/Amsterdam", "Europe/Copenhagen", "Europe/Stockholm", "Europe/Warsaw", "Europe/Bucharest", "Europe/Athens",
	"Europe/Helsinki", "Europe/Istanbul", "Europe/Moscow", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore",
	"Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland", "America/Sao_Paulo", "America/New_York",
	"America/Chicago", "America/Denver", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu"}

// statusLabel is an assignment's status as the spec words it.
func statusLabel(st string, active bool) string {
	switch st {
	case "active":
		return "Active"
	case "active_due_to_schedule":
		return "Active, due to schedule"
	case "inactive_due_to_schedule":
		return "Inactive, due to schedule"
	case "inactive":
		return "Inactive"
	}
	if active {
		return "Active"
	}
	return "Inactive"
}

func (p *Portal) handleAssignments(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("group_manager") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only group managers and up see role assignments.")
		return
	}
	d := &assignmentsData{RoleNames: map[string]string{}, RoleTypes: map[string]string{}, GroupNames: map[string]string{},
		CanEdit: s.AtLeast("admin"), Weekdays: weekdays, Months: monthNames, TimeZones: timeZones}
	q := r.URL.Query()
	type get struct {
		path string
		out  any
	}
	calls := []get{{"/roles", &d.Roles}, {"/groups", &d.Groups}, {"/users", &d.Users}, {"/devices", &d.Devices}}
	// The listing asks for its page; the whole list only where an action or
	// a dialog names an assignment that may be on another page.
	if r.Method == http.MethodPost || slices.ContainsFunc(assignmentOps, func(op string) bool { return q.Get(op) != "" }) {
		calls = append(calls, get{"/assignments", &d.Assignments})
	}
	for _, c := range calls {
		if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, c.path), nil, c.out); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	for _, ro := range d.Roles {
		d.RoleNames[ro.ID], d.RoleTypes[ro.ID] = ro.Name, ro.Type
	}
	for _, g := range d.Groups {
		d.GroupNames[g.ID] = g.Name
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		if !d.CanEdit {
			p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only account administrators change role assignments.")
			return
		}
		if err := parseForm(w, r); err != nil {
			p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		var done bool
		if done, status = p.assignmentAction(w, r, s, d); done {
			return
		}
		p.renderAssignments(w, r, status, s, d)
		return
	}
	find := func(id string) (wire.Assignment, bool) {
		i := slices.IndexFunc(d.Assignments, func(a wire.Assignment) bool { return a.ID == id })
		if i < 0 {
			return wire.Assignment{}, false
		}
		return d.Assignments[i], true
	}
	if d.CanEdit {
		for _, op := range assignmentOps {
			id := q.Get(op)
			if id == "" {
				continue
			}
			a, ok := find(id)
			if !ok {
				p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such role assignment.")
				return
			}
			switch op {
			case "edit":
				d.Form = &assignmentForm{Edit: true, A: a}
			case "schedule":
				// A new schedule starts today in the account's time zone.
				var cfg wire.AccountConfig
				if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/config"), nil, &cfg); err != nil {
					p.fail(w, r, err)
					return
				}
				d.Schedule = newScheduleForm(a, cfg.TimeZone, p.cfg.Clock().UTC().Format("2006-01-02"))
			case "unschedule":
				d.Confirm = &assignmentConfirm{Op: op, A: a, Text: "Are you sure you want to remove the schedule for the role assignment?"}
			case "remove":
				d.Confirm = &assignmentConfirm{Op: op, A: a, Text: "Are you sure you want to remove the role assignment?"}
			}
		}
		if q.Get("add") != "" {
			d.Form = &assignmentForm{A: wire.Assignment{Active: true}}
		}
	}
	if q.Get("check") != "" {
		status = p.checkPermissions(r, s, d)
	}
	p.renderAssignments(w, r, status, s, d)
}

// assignmentOps are the row actions' dialogs (?OP=ID).
var assignmentOps = []string{"edit", "schedule", "unschedule", "remove"}

// renderAssignments draws the page around the listing.
func (p *Portal) renderAssignments(w http.ResponseWriter, r *http.Request, status int, s *session, d *assignmentsData) {
	lv, err := p.assignmentsList(r, s, d)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d.List = lv
	p.render(w, r, status, "assignments", "Role assignments", s, d)
}

func newScheduleForm(a wire.Assignment, tz, today string) *scheduleForm {
	f := &scheduleForm{A: a, Monthly: "day", Interval: 1}
	if a.Schedule != nil {
		f.S = *a.Schedule
		if f.S.Recurrence.LastDay {
			f.Monthly = "last"
		}
		if f.S.Recurrence.Interval > 0 {
			f.Interval = f.S.Recurrence.Interval
		}
	} else {
		f.S = wire.Schedule{StartDate: today, AllDay: true, TimeZone: tz}
	}
	return f
}

// checkPermissions runs the Check permissions dialog (4.4.12): the API's
// decision for the user on the device at a date and time in a time zone.
func (p *Portal) checkPermissions(r *http.Request, s *session, d *assignmentsData) int {
	q := r.URL.Query()
	c := checkForm{Open: true, User: q.Get("user"), Device: q.Get("device"), Client: q.Get("client"), Date: q.Get("date"), Time: q.Get("time"), TimeZone: q.Get("timezone")}
	v := url.Values{"user": {c.User}, "device": {c.Device}}
	for k, val := range map[string]string{"client": c.Client, "date": c.Date, "time": c.Time, "timezone": c.TimeZone} {
		if val != "" {
			v.Set(k, val)
		}
	}
	status := http.StatusOK
	var res wire.CheckResult
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/check?"+v.Encode()), nil, &res); err != nil {
		msg, ok := apiMessage(err)
		if !ok {
			msg = "The permissions could not be checked; try again."
		}
		c.Error, status = msg, apiStatus(err)
	} else {
		c.Result = &res
		zone := cmp.Or(c.TimeZone, "UTC")
		if loc, err := time.LoadLocation(zone); err == nil {
			c.ValidAt = res.At.In(loc).Format("2006-01-02, 15:04") + " (" + zone + ")"
		}
	}
	d.Check = c
	return status
}

// assignmentAction runs a posted form. done: the answer is written.
func (p *Portal) assignmentAction(w http.ResponseWriter, r *http.Request, s *session, d *assignmentsData) (done bool, status int) {
	if formValue(r, "op") == "remove_many" {
		// Spec 4.4.9: the selected ones, each through the API.
		ids := formValues(r, "id")
		for _, id := range ids {
			if _, err := p.call(r, s.Token, "DELETE", accountPath(s.Account.ID, "/assignments/"+url.PathEscape(id)), nil, nil); err != nil {
				p.fail(w, r, err)
				return true, 0
			}
		}
		flash(w, fmt.Sprintf("%d role assignments are removed.", len(ids)))
		http.Redirect(w, r, "/assignments", http.StatusSeeOther)
		return true, 0
	}
	id := formValue(r, "id")
	path := accountPath(s.Account.ID, "/assignments/"+url.PathEscape(id))
	var cur wire.Assignment
	if id != "" {
		i := slices.IndexFunc(d.Assignments, func(a wire.Assignment) bool { return a.ID == id })
		if i < 0 {
			p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such role assignment.")
			return true, 0
		}
		cur = d.Assignments[i]
	}
	var msg string
	switch op := formValue(r, "op"); op {
	case "add", "edit":
		f := &assignmentForm{Edit: op == "edit", Errors: map[string]string{}}
		f.A = wire.Assignment{ID: id, Name: strings.TrimSpace(formValue(r, "name")), Description: strings.TrimSpace(formValue(r, "description")),
			Active: formValue(r, "active") == "on", RoleID: formValue(r, "role"),
			UserGroups: nonNil(formValues(r, "user_group")), DeviceGroups: nonNil(formValues(r, "device_group"))}
		if d.RoleTypes[f.A.RoleID] == "ondemand" {
			f.A.DeviceGroups = []string{} // OnDemand roles take no device groups
		}
		var err error
		if f.Edit {
			f.A.Schedule = cur.Schedule
			req := f.A
			req.ID = ""
			_, err = p.call(r, s.Token, "PUT", path, req, nil)
		} else {
			_, err = p.call(r, s.Token, "POST", accountPath(s.Account.ID, "/assignments"), f.A, nil)
		}
		if err != nil {
			m, ok := apiMessage(err)
			if !ok {
				p.fail(w, r, err)
				return true, 0
			}
			f.Errors[assignmentField(m)] = m
			d.Form = f
			return false, apiStatus(err)
		}
		msg = fmt.Sprintf("The role assignment “%s” is saved.", f.A.Name)
	case "schedule":
		f := newScheduleForm(cur, "", "")
		f.S = scheduleFromForm(r)
		f.Monthly = formValue(r, "monthly")
		f.Interval = f.S.Recurrence.Interval
		req := cur
		req.ID, req.Status, req.Schedule = "", "", &f.S
		if _, err := p.call(r, s.Token, "PUT", path, req, nil); err != nil {
			m, ok := apiMessage(err)
			if !ok {
				p.fail(w, r, err)
				return true, 0
			}
			f.Errors = map[string]string{scheduleField(m): m}
			d.Schedule = f
			return false, apiStatus(err)
		}
		msg = fmt.Sprintf("The schedule was set for the following role assignment: %s", cur.Name)
	case "unschedule":
		req := cur
		req.ID, req.Status, req.Schedule = "", "", nil
		if _, err := p.call(r, s.Token, "PUT", path, req, nil); err != nil {
			p.fail(w, r, err)
			return true, 0
		}
		msg = fmt.Sprintf("The schedule was removed from the role assignment: %s", cur.Name)
	case "remove":
		if _, err := p.call(r, s.Token, "DELETE", path, nil, nil); err != nil {
			p.fail(w, r, err)
			return true, 0
		}
		msg = fmt.Sprintf("The role assignment “%s” is removed.", cur.Name)
	default:
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "There is no such action.")
		return true, 0
	}
	flash(w, msg)
	http.Redirect(w, r, "/assignments", http.StatusSeeOther)
	return true, 0
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// scheduleFromForm reads the schedule dialog: the fields of the chosen
// recurrence only.
func scheduleFromForm(r *http.Request) wire.Schedule {
	sc := wire.Schedule{StartDate: formValue(r, "start_date"), AllDay: formValue(r, "all_day") == "on",
		TimeZone: strings.TrimSpace(formValue(r, "timezone")), EndDate: formValue(r, "end_date")}
	if !sc.AllDay {
		sc.StartTime, sc.EndTime = formValue(r, "start_time"), formValue(r, "end_time")
	}
	num := func(k string) int { n, _ := strconv.Atoi(formValue(r, k)); return n }
	rc := wire.Recurrence{Kind: formValue(r, "recurrence")}
	switch rc.Kind {
	case "daily":
		rc.Daily = formValue(r, "daily")
		if rc.Daily == "" {
			rc.Interval = num("daily_interval")
		}
	case "weekly":
		rc.Interval, rc.Weekdays = num("weekly_interval"), formValues(r, "weekday")
	case "monthly":
		rc.Interval = num("monthly_interval")
		if formValue(r, "monthly") == "last" {
			rc.LastDay = true
		} else {
			rc.MonthDay = num("month_day")
		}
	case "yearly":
		rc.Interval, rc.Month, rc.MonthDay = num("yearly_interval"), num("month"), num("year_day")
	}
	sc.Recurrence = rc
	return sc
}

// assignmentField is the dialog field an API refusal is about.
func assignmentField(msg string) string {
	l := strings.ToLower(msg)
	switch {
	case strings.HasPrefix(l, "name"), strings.Contains(l, "assignment named"):
		return "name"
	case strings.HasPrefix(l, "description"):
		return "description"
	case strings.Contains(l, "role"):
		return "role"
	case strings.HasPrefix(l, "user_groups"), strings.Contains(l, "a user group is needed"):
		return "user_groups"
	case strings.Contains(l, "device_groups"), strings.Contains(l, "device group"), strings.Contains(l, "ondemand"):
		return "device_groups"
	case strings.Contains(l, "group"):
		return "user_groups"
	}
	return "form"
}
