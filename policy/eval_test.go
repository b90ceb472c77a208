package policy

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// evalNow is a Thursday afternoon in Bucharest: 2022-04-07 15:57 EEST.
var evalNow = time.Date(2022, 4, 7, 12, 57, 0, 0, time.UTC)

func mustSet(t testing.TB, ps ...Permission) Set {
	t.Helper()
	s, err := NewSet(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// evalBase is the fixture every evaluator test starts from; tests add
// roles and assignments.
//
//	users:   alice (support, helpdesk-ldap), bob (old-team, inactive group),
//	         carol (no group), dave (disabled), erin (support, no OnDemand)
//	devices: srv1 (servers), lap1 (laptops), old1 (retired, inactive group),
//	         pend1 (not enabled)
func evalBase(t testing.TB) Snapshot {
	return Snapshot{
		Groups: append(BuiltinGroups(),
			Group{ID: "support", Name: "Support", Kind: GroupUser, Active: true},
			Group{ID: "helpdesk", Name: "Helpdesk", Kind: GroupLDAP, Active: true},
			Group{ID: "old-team", Name: "Old team", Kind: GroupUser, Active: false},
			Group{ID: "approvers", Name: "Approvers", Kind: GroupAzureAD, Active: true},
			Group{ID: "servers", Name: "Servers", Kind: GroupDevice, Active: true},
			Group{ID: "laptops", Name: "Laptops", Kind: GroupDevice, Active: true},
			Group{ID: "retired", Name: "Retired", Kind: GroupDevice, Active: false},
		),
		Users: []User{
			{ID: "alice", Enabled: true, OnDemand: true, GroupIDs: []string{"support", "helpdesk"}},
			{ID: "bob", Enabled: true, OnDemand: true, GroupIDs: []string{"old-team"}},
			{ID: "carol", Enabled: true, OnDemand: true},
			{ID: "dave", Enabled: false, OnDemand: true, GroupIDs: []string{"support"}},
			{ID: "erin", Enabled: true, OnDemand: false, GroupIDs: []string{"support"}},
		},
		Devices: []Device{
			{ID: "srv1", Enabled: true, GroupIDs: []string{"servers"}},
			{ID: "lap1", Enabled: true, GroupIDs: []string{"laptops"}},
			{ID: "old1", Enabled: true, GroupIDs: []string{"retired"}},
			{ID: "pend1", Enabled: false, GroupIDs: []string{"servers"}},
		},
		Roles: append(PredefinedRoles(),
			Role{ID: "viewer", Name: "Viewer", Type: RoleDevice, Enabled: true,
				Permissions: mustSet(t, ViewScreen), ClientType: ClientAny},
			Role{ID: "files", Name: "Files", Type: RoleDevice, Enabled: true,
				Permissions: mustSet(t, FileTransfer, Chat), ClientType: ClientInstalledGuest},
			Role{ID: "off", Name: "Switched off", Type: RoleDevice, Enabled: false,
				Permissions: FullSet(), ClientType: ClientAny},
			Role{ID: "od-view", Name: "OnDemand view", Type: RoleOnDemand, Enabled: true,
				Permissions: mustSet(t, ViewScreen)},
			Role{ID: "od-bad", Name: "OnDemand files", Type: RoleOnDemand, Enabled: true,
				Permissions: mustSet(t, ViewScreen, FileTransfer)},
		),
	}
}

func dev(user, device string) Request {
	return Request{UserID: user, DeviceID: device, ClientType: ClientInstalledGuest, At: evalNow}
}

func asg(id, role string, users, devices []string) Assignment {
	return Assignment{ID: id, Name: "RA " + id, Active: true, RoleID: role, UserGroupIDs: users, DeviceGroupIDs: devices}
}

func g(ids ...string) []string { return ids }

// reasonMap is assignment ID (or "" for request-level) → codes.
func reasonMap(d Decision) map[string][]ReasonCode {
	m := map[string][]ReasonCode{}
	for _, r := range d.Reasons {
		m[r.AssignmentID] = append(m[r.AssignmentID], r.Code)
	}
	return m
}

func contributing(d Decision) []string {
	var ids []string
	for _, c := range d.Contributing {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestEvaluateDenials(t *testing.T) {
	weekend := &Schedule{StartDate: Date{2022, 1, 1}, AllDay: true, TimeZone: "Europe/Bucharest",
		Recurrence: Recurrence{Kind: RecurDaily, Daily: DailyWeekends}}
	tests := []struct {
		name    string
		mutate  func(*Snapshot)
		assigns []Assignment
		req     Request
		want    map[string][]ReasonCode
		detail  string // substring of some reason's String()
	}{
		{name: "no assignment at all", req: dev("alice", "srv1"),
			want: map[string][]ReasonCode{"": {ReasonNoGrant}}},
		{name: "unknown user", assigns: []Assignment{asg("a", RoleIDAdministrator, g(GroupIDEveryone), g(GroupIDEverything))},
			req: dev("mallory", "srv1"), want: map[string][]ReasonCode{"": {ReasonUnknownUser}}},
		{name: "disabled user", assigns: []Assignment{asg("a", RoleIDAdministrator, g(GroupIDEveryone), g(GroupIDEverything))},
			req: dev("dave", "srv1"), want: map[string][]ReasonCode{"": {ReasonUserDisabled}}},
		{name: "unknown device", assigns: []Assignment{asg("a", RoleIDAdministrator, g(GroupIDEveryone), g(GroupIDEverything))},
			req: dev("alice", "nope"), want: map[string][]ReasonCode{"": {ReasonUnknownDevice}}},
		{name: "disabled device", assigns: []Assignment{asg("a", RoleIDAdministrator, g(GroupIDEveryone), g(GroupIDEverything))},
			req: dev("alice", "pend1"), want: map[string][]ReasonCode{"": {ReasonDeviceDisabled}}},
		{name: "no time", assigns: []Assignment{asg("a", RoleIDAdministrator, g(GroupIDEveryone), g(GroupIDEverything))},
			req:  Request{UserID: "alice", DeviceID: "srv1", ClientType: ClientBrowser},
			want: map[string][]ReasonCode{"": {ReasonBadRequest}}},
		{name: "inactive assignment",
			assigns: []Assignment{{ID: "a", Active: false, RoleID: RoleIDAdministrator, UserGroupIDs: g("support"), DeviceGroupIDs: g("servers")}},
			req:     dev("alice", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonAssignmentInactive}}},
		{name: "removed role", assigns: []Assignment{asg("a", "gone", g("support"), g("servers"))},
			req: dev("alice", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonRoleRemoved}}},
		{name: "disabled role", assigns: []Assignment{asg("a", "off", g("support"), g("servers"))},
			req: dev("alice", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonRoleDisabled}}},
		{name: "invalid role (OnDemand with file transfer)", assigns: []Assignment{asg("a", "od-bad", g("support"), nil)},
			req:  Request{UserID: "alice", OnDemand: true, At: evalNow},
			want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonRoleInvalid}}, detail: "OnDemand roles may only hold"},
		{name: "inactive user group", assigns: []Assignment{asg("a", RoleIDAdministrator, g("old-team"), g("servers"))},
			req: dev("bob", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonUserGroupInactive}}},
		{name: "inactive device group", assigns: []Assignment{asg("a", RoleIDAdministrator, g("support"), g("retired"))},
			req: dev("alice", "old1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonDeviceGroupInactive}},
			detail: "device groups: Retired"},
		{name: "device not in group", assigns: []Assignment{asg("a", RoleIDAdministrator, g("support"), g("servers"))},
			req: dev("alice", "lap1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonDeviceNotInGroup}},
			detail: "device groups: Servers"},
		{name: "user not in group: only seen with Explain",
			assigns: []Assignment{asg("a", RoleIDAdministrator, g("support"), g("servers"))},
			req:     func() Request { r := dev("carol", "srv1"); r.Explain = true; return r }(),
			want:    map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonUserNotInGroup}}, detail: "user groups: Support"},
		{name: "user not in group, fast path: assignment not reachable, not listed",
			assigns: []Assignment{asg("a", RoleIDAdministrator, g("support"), g("servers"))},
			req:     dev("carol", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}}},
		{name: "client type: Web Support refuses an installed Guest",
			assigns: []Assignment{asg("a", RoleIDWebSupport, g("support"), g("servers"))},
			req:     dev("alice", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonClientType}},
			detail: "role allows browser, request is installed_guest"},
		{name: "client type unknown only matches ClientAny roles",
			assigns: []Assignment{asg("a", "files", g("support"), g("servers"))},
			req:     Request{UserID: "alice", DeviceID: "srv1", At: evalNow},
			want:    map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonClientType}}},
		{name: "outside schedule, with its description",
			assigns: []Assignment{func() Assignment {
				a := asg("a", RoleIDAdministrator, g("support"), g("servers"))
				a.Schedule = weekend
				return a
			}()},
			req:    dev("alice", "srv1"),
			want:   map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonOutsideSchedule}},
			detail: "From January 1, 2022, every weekend day, full time (Europe/Bucharest time)"},
		{name: "invalid schedule",
			assigns: []Assignment{func() Assignment {
				a := asg("a", RoleIDAdministrator, g("support"), g("servers"))
				a.Schedule = &Schedule{StartDate: Date{2022, 1, 1}, AllDay: true, TimeZone: "Nowhere/Land"}
				return a
			}()},
			req: dev("alice", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonScheduleInvalid}}},
		{name: "OnDemand role on a device session",
			assigns: []Assignment{asg("a", RoleIDFullAccessOnDemand, g("support"), nil)},
			req:     dev("alice", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonSessionKind}}},
		{name: "device role on an OnDemand session",
			assigns: []Assignment{asg("a", RoleIDAdministrator, g("support"), g("servers"))},
			req:     Request{UserID: "alice", OnDemand: true, At: evalNow},
			want:    map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonSessionKind}}},
		{name: "OnDemand disabled for the user",
			assigns: []Assignment{asg("a", RoleIDFullAccessOnDemand, g("support"), nil)},
			req:     Request{UserID: "erin", OnDemand: true, At: evalNow},
			want:    map[string][]ReasonCode{"": {ReasonOnDemandDisabled}}},
		{name: "confirm and whitelist roles alone grant nothing",
			mutate: func(s *Snapshot) {
				s.Roles = append(s.Roles, Role{ID: "wl", Name: "WL", Type: RoleWhitelistedApps, Enabled: true,
					Whitelist: WhitelistRules{Apps: []App{{ID: "np", Name: "Notepad", Enabled: true, Executable: "notepad.exe"}}}})
			},
			assigns: []Assignment{
				asg("c", RoleIDConfirmAccessRequired, g("support"), g("servers")),
				asg("w", "wl", g("support"), g("servers")),
			},
			req: dev("alice", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}}},
		{name: "assignment referencing only removed groups",
			assigns: []Assignment{asg("a", RoleIDAdministrator, g("support"), g("deleted-group"))},
			req:     dev("alice", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonDeviceNotInGroup}},
			detail: "no device group"},
		{name: "inactive built-in Everyone",
			mutate: func(s *Snapshot) {
				for i := range s.Groups {
					if s.Groups[i].ID == GroupIDEveryone {
						s.Groups[i].Active = false
					}
				}
			},
			assigns: []Assignment{asg("a", RoleIDAdministrator, g(GroupIDEveryone), g(GroupIDEverything))},
			req:     dev("carol", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonUserGroupInactive}}},
		{name: "check order: inactive assignment wins over everything else",
			assigns: []Assignment{{ID: "a", Active: false, RoleID: "gone", UserGroupIDs: g("old-team"), DeviceGroupIDs: g("retired"),
				Schedule: weekend}},
			req: dev("bob", "old1"), want: map[string][]ReasonCode{"": {ReasonNoGrant}, "a": {ReasonAssignmentInactive}}},
		{name: "no model", req: dev("alice", "srv1"), want: map[string][]ReasonCode{"": {ReasonNoModel}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := evalBase(t)
			if tt.mutate != nil {
				tt.mutate(&s)
			}
			s.Assignments = tt.assigns
			m := NewModel(s)
			if tt.name == "no model" {
				m = nil
			}
			d := Evaluate(m, tt.req)
			if d.Allowed || !d.Permissions.Empty() || d.Confirm.Required() || d.Whitelist != nil {
				t.Errorf("denied decision carries access: %+v", d)
			}
			if got := reasonMap(d); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("reasons = %v, want %v\n%v", got, tt.want, d.Reasons)
			}
			if tt.detail != "" && !slices.ContainsFunc(d.Reasons, func(r Reason) bool { return strings.Contains(r.String(), tt.detail) }) {
				t.Errorf("no reason mentions %q: %v", tt.detail, d.Reasons)
			}
		})
	}
}

func TestEvaluateGrants(t *testing.T) {
	officeHours := &Schedule{StartDate: Date{2022, 1, 1}, StartTime: tod(9, 0), EndTime: tod(17, 0), TimeZone: "Europe/Bucharest",
		Recurrence: Recurrence{Kind: RecurDaily, Daily: DailyWeekdays}}
	s := evalBase(t)
	s.Assignments = []Assignment{
		asg("1-view-everyone", "viewer", g(GroupIDEveryone), g(GroupIDEverything)),
		asg("2-files-support", "files", g("support"), g("servers", "laptops")),
		asg("3-admin-helpdesk", RoleIDAdministrator, g("helpdesk"), g("servers")),
		asg("4-od", RoleIDFullAccessOnDemand, g("support"), nil),
		asg("5-od-view-all", "od-view", g(GroupIDEveryone), nil),
	}
	s.Assignments[2].Schedule = officeHours
	m := NewModel(s)

	t.Run("union over device assignments", func(t *testing.T) {
		d := Evaluate(m, dev("alice", "srv1"))
		if !d.Allowed || d.Permissions != FullSet() {
			t.Fatalf("alice on srv1 = %+v", d)
		}
		if got, want := contributing(d), g("1-view-everyone", "2-files-support", "3-admin-helpdesk"); !reflect.DeepEqual(got, want) {
			t.Errorf("contributing = %v, want %v", got, want)
		}
		if d.Contributing[2].Status != StatusActiveBySchedule || d.Contributing[0].Status != StatusActive {
			t.Errorf("statuses = %v", d.Contributing)
		}
		if d.Contributing[1].Permissions != mustSet(t, FileTransfer, Chat) || d.Contributing[1].RoleName != "Files" {
			t.Errorf("contribution 2 = %+v", d.Contributing[1])
		}
		// OnDemand assignments reachable from alice's groups are reported.
		if got := reasonMap(d); !reflect.DeepEqual(got, map[string][]ReasonCode{"4-od": {ReasonSessionKind}, "5-od-view-all": {ReasonSessionKind}}) {
			t.Errorf("reasons = %v", got)
		}
	})
	t.Run("schedule ends: union shrinks", func(t *testing.T) {
		r := dev("alice", "srv1")
		r.At = time.Date(2022, 4, 7, 14, 0, 0, 0, time.UTC) // 17:00 in Bucharest
		d := Evaluate(m, r)
		if want := mustSet(t, ViewScreen, FileTransfer, Chat); !d.Allowed || d.Permissions != want {
			t.Fatalf("after hours = %v, want %v", d.Permissions.Strings(), want.Strings())
		}
		if rs := reasonMap(d)["3-admin-helpdesk"]; !reflect.DeepEqual(rs, []ReasonCode{ReasonOutsideSchedule}) {
			t.Errorf("reasons = %v", d.Reasons)
		}
	})
	t.Run("browser client drops installed-guest-only role", func(t *testing.T) {
		r := dev("alice", "lap1")
		r.ClientType = ClientBrowser
		d := Evaluate(m, r)
		if !d.Allowed || d.Permissions != mustSet(t, ViewScreen) {
			t.Fatalf("alice on lap1 via browser = %v", d.Permissions.Strings())
		}
	})
	t.Run("Everyone and Everything reach a user and device in no group", func(t *testing.T) {
		s2 := s
		s2.Devices = append(slices.Clone(s.Devices), Device{ID: "lonely", Enabled: true})
		d := Evaluate(NewModel(s2), dev("carol", "lonely"))
		if !d.Allowed || d.Permissions != mustSet(t, ViewScreen) {
			t.Fatalf("carol on lonely = %+v", d)
		}
	})
	t.Run("OnDemand: union over OnDemand assignments only", func(t *testing.T) {
		d := Evaluate(m, Request{UserID: "alice", OnDemand: true, DeviceID: "ignored", At: evalNow})
		if !d.Allowed || d.Permissions != OnDemandPermissions() {
			t.Fatalf("alice OnDemand = %+v", d)
		}
		if got := contributing(d); !reflect.DeepEqual(got, g("4-od", "5-od-view-all")) {
			t.Errorf("contributing = %v", got)
		}
		d = Evaluate(m, Request{UserID: "carol", OnDemand: true, At: evalNow})
		if !d.Allowed || d.Permissions != mustSet(t, ViewScreen) {
			t.Fatalf("carol OnDemand = %v", d.Permissions.Strings())
		}
	})
	t.Run("Explain does not change the decision", func(t *testing.T) {
		for _, u := range []string{"alice", "bob", "carol", "erin"} {
			for _, dv := range []string{"srv1", "lap1", "old1"} {
				r := dev(u, dv)
				a := Evaluate(m, r)
				r.Explain = true
				b := Evaluate(m, r)
				if a.Allowed != b.Allowed || a.Permissions != b.Permissions || !reflect.DeepEqual(a.Contributing, b.Contributing) {
					t.Errorf("%s on %s: Explain changed the decision", u, dv)
				}
				if len(b.Reasons) < len(a.Reasons) {
					t.Errorf("%s on %s: Explain lost reasons", u, dv)
				}
			}
		}
	})
}

func TestEvaluateConfirmAccess(t *testing.T) {
	base := evalBase(t)
	base.Roles = append(base.Roles,
		Role{ID: "email-locked", Name: "Email when locked", Type: RoleConfirmAccess, Enabled: true,
			Confirm: ConfirmRules{EmailGroupIDs: g("approvers", "support", "approvers"), EmailOnlyLocked: true}},
		Role{ID: "email-always", Name: "Email always", Type: RoleConfirmAccess, Enabled: true,
			Confirm: ConfirmRules{EmailGroupIDs: g("approvers")}},
		Role{ID: "local-strict", Name: "Local, no exceptions", Type: RoleConfirmAccess, Enabled: true,
			Confirm: ConfirmRules{Local: true}},
		Role{ID: "both-nouser", Name: "Local or email when no user", Type: RoleConfirmAccess, Enabled: true,
			Confirm: ConfirmRules{Local: true, ExceptNoUser: true, EmailGroupIDs: g("helpdesk"), EmailOnlyNoUser: true}},
		Role{ID: "nothing", Name: "Confirm nothing", Type: RoleConfirmAccess, Enabled: true},
	)
	type state struct{ locked, noUser, unknown bool }
	type want struct {
		local  bool
		email  []string
		waived []string // assignment IDs with ReasonConfirmWaived
	}
	tests := []struct {
		name  string
		roles []string
		cases map[state]want
	}{
		{"predefined Confirm Access Required: except locked, except no user", g(RoleIDConfirmAccessRequired), map[state]want{
			{}:                            {local: true},
			{locked: true}:                {waived: g("c0")},
			{noUser: true}:                {waived: g("c0")},
			{unknown: true}:               {local: true},
			{locked: true, unknown: true}: {local: true},
		}},
		{"email only when locked", g("email-locked"), map[state]want{
			{}:              {waived: g("c0")},
			{locked: true}:  {email: g("approvers", "support")},
			{noUser: true}:  {waived: g("c0")},
			{unknown: true}: {email: g("approvers", "support")},
		}},
		{"local without exceptions", g("local-strict"), map[state]want{
			{}:                           {local: true},
			{locked: true, noUser: true}: {local: true},
		}},
		{"both options in one role: each has its own condition", g("both-nouser"), map[state]want{
			{}:             {local: true},
			{noUser: true}: {email: g("helpdesk")},
			{locked: true}: {local: true},
		}},
		{"roles combine: local if any requires it, email groups unite", g(RoleIDConfirmAccessRequired, "email-always", "email-locked"), map[state]want{
			{}:             {local: true, email: g("approvers"), waived: g("c2")},
			{locked: true}: {email: g("approvers", "support"), waived: g("c0")},
		}},
		{"a confirm role that enables nothing", g("nothing"), map[state]want{
			{}: {waived: g("c0")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			s.Assignments = []Assignment{asg("grant", "viewer", g("support"), g("servers"))}
			for i, r := range tt.roles {
				s.Assignments = append(s.Assignments, asg("c"+string(rune('0'+i)), r, g("support"), g("servers")))
			}
			m := NewModel(s)
			for st, w := range tt.cases {
				r := dev("alice", "srv1")
				r.Locked, r.NoUser, r.StateUnknown = st.locked, st.noUser, st.unknown
				d := Evaluate(m, r)
				if !d.Allowed {
					t.Fatalf("%+v: denied: %v", st, d.Reasons)
				}
				if d.Confirm.Local != w.local || !slices.Equal(d.Confirm.EmailGroupIDs, w.email) {
					t.Errorf("%+v: confirm = %+v, want local=%v email=%v", st, d.Confirm, w.local, w.email)
				}
				if d.Confirm.Required() != (w.local || len(w.email) > 0) {
					t.Errorf("%+v: Required() = %v", st, d.Confirm.Required())
				}
				var waived []string
				for _, r := range d.Reasons {
					if r.Code == ReasonConfirmWaived {
						waived = append(waived, r.AssignmentID)
					}
				}
				if !slices.Equal(waived, w.waived) {
					t.Errorf("%+v: waived = %v, want %v (%v)", st, waived, w.waived, d.Reasons)
				}
			}
		})
	}
	t.Run("confirm roles do not apply to OnDemand", func(t *testing.T) {
		s := base
		s.Assignments = []Assignment{
			asg("od", RoleIDFullAccessOnDemand, g("support"), nil),
			asg("c", RoleIDConfirmAccessRequired, g("support"), g(GroupIDEverything)),
		}
		d := Evaluate(NewModel(s), Request{UserID: "alice", OnDemand: true, At: evalNow})
		if !d.Allowed || d.Confirm.Required() || !slices.Equal(reasonMap(d)["c"], []ReasonCode{ReasonSessionKind}) {
			t.Errorf("OnDemand decision = %+v", d)
		}
	})
	t.Run("confirm role on another device group does not apply", func(t *testing.T) {
		s := base
		s.Assignments = []Assignment{
			asg("grant", "viewer", g("support"), g("servers", "laptops")),
			asg("c", "local-strict", g("support"), g("laptops")),
		}
		m := NewModel(s)
		if d := Evaluate(m, dev("alice", "srv1")); d.Confirm.Required() {
			t.Errorf("srv1 requires confirmation: %+v", d.Confirm)
		}
		if d := Evaluate(m, dev("alice", "lap1")); !d.Confirm.Local {
			t.Errorf("lap1 does not require confirmation: %+v", d.Confirm)
		}
	})
}

func TestEvaluateWhitelist(t *testing.T) {
	notepad := App{ID: "np", Name: "Notepad", Enabled: true, Path: `%windir%\system32`, Executable: "notepad.exe"}
	calc := App{ID: "calc", Name: "Calculator", Enabled: true, Executable: "calc.exe"}
	paint := App{ID: "paint", Name: "Paint", Enabled: false, Executable: "mspaint.exe"}
	excel := App{Name: "Excel", Enabled: true, Path: `C:\Program Files\Office`, Executable: "excel.exe"}
	off := func(a App) App { a.Enabled = false; return a }
	base := evalBase(t)
	base.Roles = append(base.Roles,
		Role{ID: "wl-np", Name: "Notepad only", Type: RoleWhitelistedApps, Enabled: true,
			Whitelist: WhitelistRules{Apps: []App{notepad, paint}, ExceptLocked: true}},
		Role{ID: "wl-calc", Name: "Calc and notepad", Type: RoleWhitelistedApps, Enabled: true,
			Whitelist: WhitelistRules{Apps: []App{calc, notepad, excel, excel}, ExceptNoUser: true}},
		Role{ID: "wl-dead", Name: "All disabled", Type: RoleWhitelistedApps, Enabled: true,
			Whitelist: WhitelistRules{Apps: []App{paint, off(calc)}}},
		Role{ID: "wl-empty", Name: "No apps", Type: RoleWhitelistedApps, Enabled: true},
	)
	names := func(apps []App) []string {
		var out []string
		for _, a := range apps {
			out = append(out, a.Name)
		}
		return out
	}
	tests := []struct {
		name    string
		roles   []string
		locked  bool
		noUser  bool
		unknown bool
		want    []string // nil: no restriction
		reasons map[string][]ReasonCode
	}{
		{name: "no whitelist role: no restriction", want: nil, reasons: map[string][]ReasonCode{}},
		{name: "one role: its enabled apps only", roles: g("wl-np"), want: g("Notepad"), reasons: map[string][]ReasonCode{}},
		{name: "two roles: union, deduplicated, sorted by name", roles: g("wl-np", "wl-calc"),
			want: g("Calculator", "Excel", "Notepad"), reasons: map[string][]ReasonCode{}},
		{name: "except when locked lifts only that role", roles: g("wl-np", "wl-calc"), locked: true,
			want: g("Calculator", "Excel", "Notepad"), reasons: map[string][]ReasonCode{"w0": {ReasonWhitelistWaived}}},
		{name: "every enforced role excepted: no restriction", roles: g("wl-np"), locked: true,
			want: nil, reasons: map[string][]ReasonCode{"w0": {ReasonWhitelistWaived}}},
		{name: "except when no user logged in", roles: g("wl-calc"), noUser: true,
			want: nil, reasons: map[string][]ReasonCode{"w0": {ReasonWhitelistWaived}}},
		{name: "unknown host state: exceptions do not apply", roles: g("wl-np"), locked: true, unknown: true,
			want: g("Notepad"), reasons: map[string][]ReasonCode{}},
		{name: "all apps disabled: the assignment is disabled", roles: g("wl-dead"),
			want: nil, reasons: map[string][]ReasonCode{"w0": {ReasonAllAppsDisabled}}},
		{name: "no apps at all: the assignment is disabled", roles: g("wl-empty", "wl-np"),
			want: g("Notepad"), reasons: map[string][]ReasonCode{"w0": {ReasonAllAppsDisabled}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			s.Assignments = []Assignment{asg("grant", RoleIDAdministrator, g("support"), g("servers"))}
			for i, r := range tt.roles {
				s.Assignments = append(s.Assignments, asg("w"+string(rune('0'+i)), r, g("helpdesk"), g(GroupIDEverything)))
			}
			r := dev("alice", "srv1")
			r.Locked, r.NoUser, r.StateUnknown = tt.locked, tt.noUser, tt.unknown
			d := Evaluate(NewModel(s), r)
			if !d.Allowed || d.Permissions != FullSet() {
				t.Fatalf("whitelists changed the grant: %+v", d)
			}
			if (d.Whitelist == nil) != (tt.want == nil) || !slices.Equal(names(d.Whitelist), tt.want) {
				t.Errorf("whitelist = %v (nil %v), want %v", names(d.Whitelist), d.Whitelist == nil, tt.want)
			}
			if got := reasonMap(d); !reflect.DeepEqual(got, tt.reasons) {
				t.Errorf("reasons = %v, want %v", got, tt.reasons)
			}
		})
	}
	t.Run("status of an assignment whose apps are all disabled", func(t *testing.T) {
		s := base
		s.Assignments = []Assignment{asg("w", "wl-dead", g("support"), g("servers")), asg("ok", "wl-np", g("support"), g("servers"))}
		m := NewModel(s)
		if st, ok := m.AssignmentStatus("w", evalNow); !ok || st != StatusInactive {
			t.Errorf("status = %v, %v", st, ok)
		}
		if st, _ := m.AssignmentStatus("ok", evalNow); st != StatusActive {
			t.Errorf("status = %v", st)
		}
		if _, ok := m.AssignmentStatus("nope", evalNow); ok {
			t.Error("unknown assignment has a status")
		}
	})
}

func TestModelProblems(t *testing.T) {
	s := evalBase(t)
	s.Groups = append(s.Groups, Group{ID: "support", Kind: GroupUser}, Group{ID: "x", Kind: "robots"}, Group{Name: "no id", Kind: GroupUser})
	s.Users = append(s.Users, User{ID: "alice"}, User{ID: "frank", Enabled: true, GroupIDs: g("servers", "ghost")})
	s.Devices = append(s.Devices, Device{ID: "d9", Enabled: true, GroupIDs: g("support")})
	s.Roles = append(s.Roles, Role{ID: "viewer"}, Role{ID: "weird", Type: "superuser"}, Role{ID: "noclient", Type: RoleDevice})
	s.Assignments = []Assignment{
		asg("a", RoleIDAdministrator, g("servers"), g("support")), // kinds swapped
		asg("a", RoleIDAdministrator, g("support"), g("servers")), // duplicate ID
		asg("od", RoleIDFullAccessOnDemand, g("support"), g("servers")),
		{ID: "sched", RoleID: "viewer", Schedule: &Schedule{}},
	}
	m := NewModel(s)
	var msgs []string
	for _, err := range m.Problems() {
		msgs = append(msgs, err.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`duplicate group ID "support"`, `unknown kind "robots"`, `group "no id" has no ID`,
		`user "alice": missing or duplicate ID`, `user "frank": group "servers" is a device group`,
		`user "frank": unknown group "ghost"`, `device "d9": group "support" is a user group`,
		`duplicate role ID "viewer"`, `unknown type "superuser"`, `unknown client type ""`,
		`assignment "a": group "servers" is a device group`, `assignment "a" (RA a): missing or duplicate ID`,
		`OnDemand role with device groups`, `assignment "sched": policy: invalid schedule: no start date`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	// The swapped-kind assignment applies to nobody; the duplicate is dropped.
	if d := Evaluate(m, dev("alice", "srv1")); d.Allowed {
		t.Errorf("malformed assignment granted access: %+v", d)
	}
	// OnDemand assignment with device groups still works for OnDemand.
	if d := Evaluate(m, Request{UserID: "alice", OnDemand: true, At: evalNow}); !d.Allowed {
		t.Errorf("OnDemand denied: %v", d.Reasons)
	}
	if !errors.Is(m.Problems()[len(m.Problems())-1], ErrInvalidSchedule) && !strings.Contains(all, "invalid schedule") {
		t.Error("schedule problem not wrapped")
	}
}

func TestPredefinedRoles(t *testing.T) {
	for _, r := range PredefinedRoles() {
		if err := r.Validate(); err != nil || !r.Enabled {
			t.Errorf("%s: %v", r.Name, err)
		}
	}
	s := evalBase(t)
	s.Assignments = []Assignment{
		asg("admin", RoleIDAdministrator, g("support"), g("servers")),
		asg("web", RoleIDWebSupport, g("helpdesk"), g("laptops")),
	}
	m := NewModel(s)
	for _, c := range []struct {
		device string
		client ClientType
		want   bool
	}{
		{"srv1", ClientInstalledGuest, true}, {"srv1", ClientBrowser, true},
		{"lap1", ClientBrowser, true}, {"lap1", ClientInstalledGuest, false},
	} {
		r := dev("alice", c.device)
		r.ClientType = c.client
		if d := Evaluate(m, r); d.Allowed != c.want || (d.Allowed && d.Permissions != FullSet()) {
			t.Errorf("%s via %s: allowed %v %v", c.device, c.client, d.Allowed, d.Permissions.Strings())
		}
	}
}

func TestReasonString(t *testing.T) {
	r := Reason{AssignmentID: "a", AssignmentName: "admin", RoleName: "Administrator", Code: ReasonOutsideSchedule,
		Detail: "From April 7, 2022, every weekday, full time (Europe/Bucharest time)"}
	want := `role assignment "admin", role "Administrator": outside the schedule (From April 7, 2022, every weekday, full time (Europe/Bucharest time))`
	if r.String() != want {
		t.Errorf("got %s", r)
	}
	if got := (Reason{Code: ReasonUnknownUser, Detail: "mallory"}).String(); got != "unknown user (mallory)" {
		t.Errorf("got %s", got)
	}
	for code := range reasonText {
		if strings.Contains(Reason{Code: code}.String(), string(code)) {
			t.Errorf("%s has no text", code)
		}
	}
}
