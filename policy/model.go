package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// RoleType is the kind of a role (spec 4.4.1).
type RoleType string

const (
	// RoleDevice grants session permissions on installed Hosts.
	RoleDevice RoleType = "device"
	// RoleOnDemand grants permissions in OnDemand sessions (view screen,
	// keyboard and mouse only); its assignments have no device groups.
	RoleOnDemand RoleType = "ondemand"
	// RoleConfirmAccess adds a confirmation (local prompt and/or email).
	RoleConfirmAccess RoleType = "confirm_access"
	// RoleWhitelistedApps restricts sessions to a list of applications.
	RoleWhitelistedApps RoleType = "whitelisted_apps"
)

// ClientType is the technician's client: an installed Guest or the
// browser ("Control through browser").
type ClientType string

const (
	ClientInstalledGuest ClientType = "installed_guest"
	ClientBrowser        ClientType = "browser"
	// ClientAny, on a role, accepts both clients. A request whose client is
	// unknown ("" or anything else) only matches ClientAny roles.
	ClientAny ClientType = "any"
)

// ConfirmRules are the settings of a Confirm access role (spec 4.4.10).
type ConfirmRules struct {
	// Local: the local user at the Host must confirm ("Enable confirm
	// access"), except when ExceptLocked and the computer is locked, or
	// ExceptNoUser and no user is logged in.
	Local        bool
	ExceptLocked bool
	ExceptNoUser bool
	// EmailGroupIDs: "Enable confirm access via email"; members of these
	// user groups receive the request. If EmailOnlyLocked and/or
	// EmailOnlyNoUser is set, email confirmation is required only in (any
	// of) those states; with neither set it is always required.
	EmailGroupIDs   []string
	EmailOnlyLocked bool
	EmailOnlyNoUser bool
}

// App is an application of the account's Applications list (spec 4.3.5).
type App struct {
	ID          string
	Name        string
	Enabled     bool
	Path        string // may contain environment variables, e.g. %windir%\system32
	Executable  string // e.g. notepad.exe
	Description string
}

// WhitelistRules are the settings of a Whitelisted applications role
// (spec 4.4.11).
type WhitelistRules struct {
	Apps []App
	// The whitelist is not enforced for the session when the computer is
	// locked (ExceptLocked) or nobody is logged in (ExceptNoUser).
	ExceptLocked bool
	ExceptNoUser bool
}

// Role is a named set of permissions or restrictions. Only the fields of
// its Type are read.
type Role struct {
	ID          string
	Name        string
	Description string
	Type        RoleType
	Enabled     bool
	// Permissions: any of the nine for Device roles; only ViewScreen and
	// KeyboardMouse for OnDemand roles.
	Permissions Set
	// ClientType (Device roles): which technician client the role covers.
	ClientType ClientType
	Confirm    ConfirmRules   // Confirm access roles
	Whitelist  WhitelistRules // Whitelisted applications roles
}

// OnDemandPermissions is the widest set an OnDemand role may hold.
func OnDemandPermissions() Set {
	s, _ := NewSet(ViewScreen, KeyboardMouse)
	return s
}

// Validate reports whether r is well formed. An invalid role never
// applies; its assignments are denied with ReasonRoleInvalid.
func (r *Role) Validate() error {
	if r.ID == "" {
		return errors.New("policy: role has no ID")
	}
	name := cmp.Or(r.Name, r.ID)
	switch r.Type {
	case RoleDevice:
		switch r.ClientType {
		case ClientInstalledGuest, ClientBrowser, ClientAny:
		default:
			return fmt.Errorf("policy: role %q: unknown client type %q", name, r.ClientType)
		}
	case RoleOnDemand:
		od := OnDemandPermissions()
		if od.Union(r.Permissions) != od {
			return fmt.Errorf("policy: role %q: OnDemand roles may only hold %v, not %v",
				name, od.Strings(), r.Permissions.Strings())
		}
	case RoleConfirmAccess, RoleWhitelistedApps:
	default:
		return fmt.Errorf("policy: role %q: unknown type %q", name, r.Type)
	}
	return nil
}

// Assignment is a role assignment: a role for some user groups on some
// device groups, optionally restricted by a schedule (spec 4.4.6–4.4.8).
// It applies to a user on a device if the user is in one of the active user
// groups and the device in one of the active device groups (OR within each
// list, AND between them).
type Assignment struct {
	ID             string
	Name           string
	Description    string
	Active         bool
	RoleID         string
	UserGroupIDs   []string
	DeviceGroupIDs []string // ignored (must be empty) for OnDemand roles
	Schedule       *Schedule
}

// StatusAt is the status the portal shows for a: its Active flag combined
// with its schedule at t. It does not know about the role; see
// Model.AssignmentStatus for that.
func (a *Assignment) StatusAt(t time.Time) Status {
	var c *compiledSchedule
	if a.Schedule != nil {
		c, _ = a.Schedule.compile()
	}
	return scheduleStatus(a.Active, c, a.Schedule != nil, t)
}

// GroupKind tells user groups from device groups.
type GroupKind string

const (
	GroupUser    GroupKind = "user"      // local user group
	GroupLDAP    GroupKind = "ldap_user" // imported LDAP group, synced at login
	GroupAzureAD GroupKind = "azure_ad_user"
	GroupDevice  GroupKind = "device"
)

// IsUserKind reports whether k is one of the user group kinds.
func (k GroupKind) IsUserKind() bool {
	return k == GroupUser || k == GroupLDAP || k == GroupAzureAD
}

// Group is a user or device group. An inactive group makes no assignment
// apply through it (spec 4.2.7). A Builtin user group ("Everyone")
// contains every user, a Builtin device group ("Everything") every device,
// whatever the members lists say.
type Group struct {
	ID          string
	Name        string
	Description string
	Kind        GroupKind
	Active      bool
	Builtin     bool
}

// User is a portal user as far as access goes.
type User struct {
	ID   string
	Name string
	// Enabled: inactive users are denied everything.
	Enabled bool
	// OnDemand: "OnDemand Sessions are enabled for this user".
	OnDemand bool
	// GroupIDs: the user groups (local, LDAP, Azure AD) the user is in.
	GroupIDs []string
}

// Device is an enrolled Host.
type Device struct {
	ID   string
	Name string
	// Enabled: false for pending, revoked or otherwise unusable devices;
	// they are denied everything.
	Enabled  bool
	GroupIDs []string
}

// Snapshot is everything the evaluator needs, as plain data the relay's
// store fills. NewModel indexes it.
type Snapshot struct {
	Users       []User
	Devices     []Device
	Groups      []Group
	Roles       []Role
	Assignments []Assignment
}

// Well-known IDs of the predefined roles and built-in groups.
const (
	RoleIDAdministrator         = "administrator"
	RoleIDWebSupport            = "web-support"
	RoleIDFullAccessOnDemand    = "full-access-ondemand"
	RoleIDConfirmAccessRequired = "confirm-access-required"
	GroupIDEveryone             = "everyone"
	GroupIDEverything           = "everything"
)

// PredefinedRoles returns the spec's predefined roles (4.4.1), enabled.
func PredefinedRoles() []Role {
	return []Role{
		{ID: RoleIDAdministrator, Name: "Administrator", Type: RoleDevice, Enabled: true,
			Permissions: FullSet(), ClientType: ClientAny,
			Description: "Provides full access to the remote device when using the Control through browser option or an installed Guest."},
		{ID: RoleIDWebSupport, Name: "Web Support", Type: RoleDevice, Enabled: true,
			Permissions: FullSet(), ClientType: ClientBrowser,
			Description: "Provides full access to the Control through browser option. Access from an installed Guest is not allowed."},
		{ID: RoleIDFullAccessOnDemand, Name: "Full Access", Type: RoleOnDemand, Enabled: true,
			Permissions: OnDemandPermissions(),
			Description: "Provides full access to the remote device when using the OnDemand Session. This role does not apply to regular Guests and Hosts."},
		{ID: RoleIDConfirmAccessRequired, Name: "Confirm Access Required", Type: RoleConfirmAccess, Enabled: true,
			Confirm:     ConfirmRules{Local: true, ExceptLocked: true, ExceptNoUser: true},
			Description: "Requires that the local user at a remote device to confirm a session before it starts; except for when the computer is locked, or no one is logged in."},
	}
}

// BuiltinGroups returns "Everyone" (every user) and "Everything" (every
// device), active.
func BuiltinGroups() []Group {
	return []Group{
		{ID: GroupIDEveryone, Name: "Everyone", Kind: GroupUser, Active: true, Builtin: true},
		{ID: GroupIDEverything, Name: "Everything", Kind: GroupDevice, Active: true, Builtin: true},
	}
}

// Model is an indexed, immutable Snapshot. It is safe for concurrent use;
// build a new one when the data change.
type Model struct {
	groups      []cGroup
	groupIdx    map[string]int32
	users       map[string]*cUser
	devices     map[string]*cDevice
	roles       map[string]*cRole
	assigns     []cAssign // sorted by ID
	assignIdx   map[string]int32
	byUserGroup [][]int32 // group → assignments naming it as a user group
	byDevGroup  [][]int32 // group → assignments naming it as a device group
	problems    []error
	activeGrp   []uint64  // bitset of active groups
	scratch     sync.Pool // *scratch sized for this model
}

// scratch is per-evaluation working memory; its bitsets are all zero
// between uses.
type scratch struct {
	bits   []uint64 // candidate assignments
	userIn []uint64 // groups the user is in
	devIn  []uint64 // groups the device is in
}

// bitset helpers over []uint64.
func bitTest(b []uint64, i int32) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func bitSet(b []uint64, i int32)       { b[i>>6] |= 1 << (i & 63) }
func bitClear(b []uint64, i int32)     { b[i>>6] &^= 1 << (i & 63) }

type cGroup struct {
	id, name string
	kind     GroupKind
	active   bool
	builtin  bool
}

type cUser struct {
	enabled, onDemand bool
	groups            []int32 // sorted; user-kind groups incl. built-ins
}

type cDevice struct {
	enabled bool
	groups  []int32 // sorted; device groups incl. built-ins
}

type cRole struct {
	id, name string
	typ      RoleType
	enabled  bool
	err      error
	perms    Set
	client   ClientType
	confirm  ConfirmRules
	wl       WhitelistRules
	apps     []App // enabled whitelist apps
}

type cAssign struct {
	id, name     string
	active       bool
	roleID       string
	role         *cRole // nil: removed
	userGroups   []int32
	deviceGroups []int32
	hasSched     bool
	sched        *compiledSchedule // nil with hasSched: invalid
	schedErr     error
	schedDesc    string
	userText     string // "user groups: A, B" for reasons
	deviceText   string
}

// NewModel indexes s. It never fails: rows that are malformed (duplicate
// IDs, invalid roles or schedules, memberships of the wrong group kind,
// references to unknown groups) are kept out of every decision they would
// take part in, and reported by Problems. Building loads the schedules'
// time zones, so Evaluate does no I/O.
func NewModel(s Snapshot) *Model {
	m := &Model{
		groupIdx:  make(map[string]int32, len(s.Groups)),
		users:     make(map[string]*cUser, len(s.Users)),
		devices:   make(map[string]*cDevice, len(s.Devices)),
		roles:     make(map[string]*cRole, len(s.Roles)),
		assignIdx: make(map[string]int32, len(s.Assignments)),
	}
	problem := func(format string, a ...any) {
		m.problems = append(m.problems, fmt.Errorf("policy: "+format, a...))
	}

	var userBuiltins, devBuiltins []int32
	for _, g := range s.Groups {
		if g.ID == "" {
			problem("group %q has no ID", g.Name)
			continue
		}
		if _, dup := m.groupIdx[g.ID]; dup {
			problem("duplicate group ID %q", g.ID)
			continue
		}
		if !g.Kind.IsUserKind() && g.Kind != GroupDevice {
			problem("group %q: unknown kind %q", g.ID, g.Kind)
			continue
		}
		i := int32(len(m.groups))
		m.groupIdx[g.ID] = i
		m.groups = append(m.groups, cGroup{g.ID, cmp.Or(g.Name, g.ID), g.Kind, g.Active, g.Builtin})
		if g.Builtin {
			if g.Kind == GroupDevice {
				devBuiltins = append(devBuiltins, i)
			} else {
				userBuiltins = append(userBuiltins, i)
			}
		}
	}
	m.byUserGroup = make([][]int32, len(m.groups))
	m.byDevGroup = make([][]int32, len(m.groups))

	// memberOf resolves a member's group IDs to sorted, deduplicated indices
	// of groups of the right kind, plus the built-ins.
	memberOf := func(what, id string, ids []string, device bool, builtins []int32) []int32 {
		gs := slices.Clone(builtins)
		for _, gid := range ids {
			i, ok := m.groupIdx[gid]
			if !ok {
				problem("%s %q: unknown group %q", what, id, gid)
				continue
			}
			if (m.groups[i].kind == GroupDevice) != device {
				problem("%s %q: group %q is a %s group", what, id, gid, m.groups[i].kind)
				continue
			}
			gs = append(gs, i)
		}
		slices.Sort(gs)
		return slices.Clip(slices.Compact(gs))
	}
	for _, u := range s.Users {
		if u.ID == "" || m.users[u.ID] != nil {
			problem("user %q: missing or duplicate ID", u.ID)
			continue
		}
		m.users[u.ID] = &cUser{u.Enabled, u.OnDemand, memberOf("user", u.ID, u.GroupIDs, false, userBuiltins)}
	}
	for _, d := range s.Devices {
		if d.ID == "" || m.devices[d.ID] != nil {
			problem("device %q: missing or duplicate ID", d.ID)
			continue
		}
		m.devices[d.ID] = &cDevice{d.Enabled, memberOf("device", d.ID, d.GroupIDs, true, devBuiltins)}
	}

	for i := range s.Roles {
		r := &s.Roles[i]
		if r.ID != "" && m.roles[r.ID] != nil {
			problem("duplicate role ID %q", r.ID)
			continue
		}
		cr := &cRole{id: r.ID, name: cmp.Or(r.Name, r.ID), typ: r.Type, enabled: r.Enabled,
			perms: r.Permissions, client: r.ClientType}
		if err := r.Validate(); err != nil {
			cr.err = err
			problem("%v", err)
		}
		switch r.Type {
		case RoleConfirmAccess:
			cr.confirm = r.Confirm
			cr.confirm.EmailGroupIDs = sortedUnique(r.Confirm.EmailGroupIDs)
		case RoleWhitelistedApps:
			cr.wl = r.Whitelist
			for _, a := range r.Whitelist.Apps {
				if a.Enabled {
					cr.apps = append(cr.apps, a)
				}
			}
		}
		if r.ID != "" {
			m.roles[r.ID] = cr
		}
	}

	as := slices.Clone(s.Assignments)
	slices.SortStableFunc(as, func(a, b Assignment) int { return cmp.Compare(a.ID, b.ID) })
	for i := range as {
		a := &as[i]
		if a.ID == "" || (i > 0 && as[i-1].ID == a.ID) {
			problem("assignment %q (%s): missing or duplicate ID", a.ID, a.Name)
			continue
		}
		ca := cAssign{id: a.ID, name: cmp.Or(a.Name, a.ID), active: a.Active, roleID: a.RoleID,
			role: m.roles[a.RoleID]}
		ca.userGroups, ca.userText = m.assignGroups(a, a.UserGroupIDs, false, problem)
		if ca.role != nil && ca.role.typ == RoleOnDemand {
			if len(a.DeviceGroupIDs) > 0 {
				problem("assignment %q: OnDemand role with device groups; they are ignored", a.ID)
			}
		} else {
			ca.deviceGroups, ca.deviceText = m.assignGroups(a, a.DeviceGroupIDs, true, problem)
		}
		if a.Schedule != nil {
			ca.hasSched = true
			ca.sched, ca.schedErr = a.Schedule.compile()
			ca.schedDesc = a.Schedule.Describe()
			if ca.schedErr != nil {
				problem("assignment %q: %v", a.ID, ca.schedErr)
			}
		}
		idx := int32(len(m.assigns))
		m.assigns = append(m.assigns, ca)
		m.assignIdx[a.ID] = idx
		for _, g := range ca.userGroups {
			m.byUserGroup[g] = append(m.byUserGroup[g], idx)
		}
		for _, g := range ca.deviceGroups {
			m.byDevGroup[g] = append(m.byDevGroup[g], idx)
		}
	}
	// Keep every assignment's group lists in one arena: evaluation walks
	// hundreds of them and locality matters more than anything else there.
	total := 0
	for i := range m.assigns {
		total += len(m.assigns[i].userGroups) + len(m.assigns[i].deviceGroups)
	}
	arena := make([]int32, 0, total)
	for i := range m.assigns {
		a := &m.assigns[i]
		n := len(arena)
		arena = append(arena, a.userGroups...)
		a.userGroups = arena[n:len(arena):len(arena)]
		n = len(arena)
		arena = append(arena, a.deviceGroups...)
		a.deviceGroups = arena[n:len(arena):len(arena)]
	}
	gw := (len(m.groups) + 63) / 64
	m.activeGrp = make([]uint64, gw)
	for i, g := range m.groups {
		if g.active {
			bitSet(m.activeGrp, int32(i))
		}
	}
	aw := (len(m.assigns) + 63) / 64
	m.scratch.New = func() any {
		return &scratch{bits: make([]uint64, aw), userIn: make([]uint64, gw), devIn: make([]uint64, gw)}
	}
	return m
}

// assignGroups resolves an assignment's group list to indices of groups of
// the right kind and a text naming them for reasons.
func (m *Model) assignGroups(a *Assignment, ids []string, device bool, problem func(string, ...any)) ([]int32, string) {
	var gs []int32
	var names []string
	for _, gid := range ids {
		i, ok := m.groupIdx[gid]
		if !ok {
			problem("assignment %q: unknown (removed) group %q", a.ID, gid)
			continue
		}
		if (m.groups[i].kind == GroupDevice) != device {
			problem("assignment %q: group %q is a %s group", a.ID, gid, m.groups[i].kind)
			continue
		}
		gs = append(gs, i)
	}
	slices.Sort(gs)
	gs = slices.Clip(slices.Compact(gs))
	for _, g := range gs {
		names = append(names, m.groups[g].name)
	}
	what := "user"
	if device {
		what = "device"
	}
	if len(names) == 0 {
		return gs, "no " + what + " group"
	}
	return gs, what + " groups: " + strings.Join(names, ", ")
}

func sortedUnique(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}

// Problems lists what NewModel found malformed; each item is excluded from
// the decisions it would take part in (deny by default).
func (m *Model) Problems() []error { return slices.Clone(m.problems) }

// AssignmentStatus is the portal status of the assignment at t, including
// the role: a removed, disabled or invalid role, or a whitelist role whose
// applications are all disabled, makes it "Inactive". ok is false for an
// unknown assignment.
func (m *Model) AssignmentStatus(id string, t time.Time) (s Status, ok bool) {
	i, ok := m.assignIdx[id]
	if !ok {
		return StatusInactive, false
	}
	a := &m.assigns[i]
	if a.roleProblem() != "" {
		return StatusInactive, true
	}
	return scheduleStatus(a.active, a.sched, a.hasSched, t), true
}

// roleProblem is the reason code that makes the assignment's role unusable,
// or "".
func (a *cAssign) roleProblem() ReasonCode {
	switch {
	case a.role == nil:
		return ReasonRoleRemoved
	case a.role.err != nil:
		return ReasonRoleInvalid
	case !a.role.enabled:
		return ReasonRoleDisabled
	case a.role.typ == RoleWhitelistedApps && len(a.role.apps) == 0:
		return ReasonAllAppsDisabled
	}
	return ""
}
