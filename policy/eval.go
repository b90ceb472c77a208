package policy

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"time"
)

// Request is one access question: may this user, now, open a session on
// this device (or an OnDemand session) with this client, given the Host's
// state?
type Request struct {
	UserID string
	// DeviceID is the Host; ignored for OnDemand requests.
	DeviceID string
	// OnDemand asks for an OnDemand session instead of a device session.
	OnDemand bool
	// ClientType is the technician's client (device sessions). An unknown
	// client only matches roles with ClientAny.
	ClientType ClientType
	// At is the instant to evaluate; required.
	At time.Time
	// Locked and NoUser are the Host's state as reported by the Host:
	// the computer is at the lock screen; nobody is logged in.
	Locked bool
	NoUser bool
	// StateUnknown says the Host cannot report Locked/NoUser. Then no
	// "except when" exception applies and every "only when" condition
	// counts as met: confirmations are required and whitelists enforced
	// (the spec's behaviour for Hosts without state support).
	StateUnknown bool
	// Explain also considers assignments that reach the device but not the
	// user, so Reasons can say "user not in group" (the portal's Check
	// permissions view). It costs time proportional to those assignments;
	// the decision itself is the same.
	Explain bool
}

// ConfirmRequirement is the resolved confirm-access requirement of a
// session. If both are set, whichever confirmation comes first grants the
// session (spec 4.4.10.1).
type ConfirmRequirement struct {
	// Local: the local user at the Host must confirm.
	Local bool
	// EmailGroupIDs: an email request goes to the members of these user
	// groups; any of them may confirm. Sorted, unique.
	EmailGroupIDs []string
}

// Required reports whether any confirmation is needed.
func (c ConfirmRequirement) Required() bool { return c.Local || len(c.EmailGroupIDs) > 0 }

// AssignmentRef names an assignment that applied and what it gave.
type AssignmentRef struct {
	ID       string
	Name     string
	RoleID   string
	RoleName string
	RoleType RoleType
	// Permissions the assignment granted (Device and OnDemand roles).
	Permissions Set
	// Status is StatusActive or StatusActiveBySchedule.
	Status Status
}

// ReasonCode classifies why something did not apply or was denied.
type ReasonCode string

// Request-level reasons (Reason.AssignmentID is empty).
const (
	ReasonNoModel          ReasonCode = "no_model"
	ReasonBadRequest       ReasonCode = "bad_request"
	ReasonUnknownUser      ReasonCode = "unknown_user"
	ReasonUserDisabled     ReasonCode = "user_disabled"
	ReasonOnDemandDisabled ReasonCode = "ondemand_disabled"
	ReasonUnknownDevice    ReasonCode = "unknown_device"
	ReasonDeviceDisabled   ReasonCode = "device_disabled"
	// ReasonNoGrant: no Device (or OnDemand) assignment gave a permission.
	ReasonNoGrant ReasonCode = "no_grant"
)

// Assignment-level reasons, in the order they are checked: an assignment
// gets the first that holds.
const (
	ReasonAssignmentInactive  ReasonCode = "assignment_inactive"
	ReasonRoleRemoved         ReasonCode = "role_removed"
	ReasonRoleInvalid         ReasonCode = "role_invalid"
	ReasonRoleDisabled        ReasonCode = "role_disabled"
	ReasonAllAppsDisabled     ReasonCode = "all_apps_disabled"
	ReasonSessionKind         ReasonCode = "session_kind"
	ReasonUserGroupInactive   ReasonCode = "user_group_inactive"
	ReasonUserNotInGroup      ReasonCode = "user_not_in_group"
	ReasonDeviceGroupInactive ReasonCode = "device_group_inactive"
	ReasonDeviceNotInGroup    ReasonCode = "device_not_in_group"
	ReasonClientType          ReasonCode = "client_type"
	ReasonScheduleInvalid     ReasonCode = "schedule_invalid"
	ReasonOutsideSchedule     ReasonCode = "outside_schedule"
	// The assignment matched but its confirm/whitelist role is waived by
	// an exception (locked, no user) or requires nothing.
	ReasonConfirmWaived   ReasonCode = "confirm_waived"
	ReasonWhitelistWaived ReasonCode = "whitelist_waived"
)

var reasonText = map[ReasonCode]string{
	ReasonNoModel:             "no access model is loaded",
	ReasonBadRequest:          "the request is incomplete",
	ReasonUnknownUser:         "unknown user",
	ReasonUserDisabled:        "the user is inactive",
	ReasonOnDemandDisabled:    "OnDemand Sessions are disabled for the user",
	ReasonUnknownDevice:       "unknown device",
	ReasonDeviceDisabled:      "the device is not enrolled or is disabled",
	ReasonNoGrant:             "no role assignment grants access",
	ReasonAssignmentInactive:  "the role assignment is inactive",
	ReasonRoleRemoved:         "the role was removed",
	ReasonRoleInvalid:         "the role is invalid",
	ReasonRoleDisabled:        "the role is disabled",
	ReasonAllAppsDisabled:     "every application of the whitelist is disabled",
	ReasonSessionKind:         "the role does not apply to this kind of session",
	ReasonUserGroupInactive:   "the user's group is inactive",
	ReasonUserNotInGroup:      "the user is in none of the user groups",
	ReasonDeviceGroupInactive: "the device's group is inactive",
	ReasonDeviceNotInGroup:    "the device is in none of the device groups",
	ReasonClientType:          "the role does not allow this client type",
	ReasonScheduleInvalid:     "the schedule is invalid",
	ReasonOutsideSchedule:     "outside the schedule",
	ReasonConfirmWaived:       "confirm access is not required",
	ReasonWhitelistWaived:     "the application whitelist is not enforced",
}

// Reason explains one thing that was considered and did not apply, or why
// the request was denied.
type Reason struct {
	AssignmentID   string // empty for request-level reasons
	AssignmentName string
	RoleName       string
	Code           ReasonCode
	Detail         string // e.g. the schedule description or group names
}

// String renders the reason for people (audit log, Check permissions).
func (r Reason) String() string {
	s := cmp.Or(reasonText[r.Code], string(r.Code))
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	if r.AssignmentID != "" {
		s = fmt.Sprintf("role assignment %q, role %q: %s", r.AssignmentName, r.RoleName, s)
	}
	return s
}

// Decision is the evaluator's answer.
type Decision struct {
	// Allowed: at least one applicable Device (OnDemand) assignment
	// granted a permission.
	Allowed bool
	// Permissions is the union over applicable Device (or OnDemand)
	// assignments. Empty when not Allowed.
	Permissions Set
	// Confirm is the union of the applicable confirm-access requirements.
	// Zero when not Allowed.
	Confirm ConfirmRequirement
	// Whitelist is nil when no whitelist applies (no restriction), else the
	// union of the enabled applications of the applicable whitelist roles
	// (never empty), sorted by name. Nil when not Allowed.
	Whitelist []App
	// Contributing lists the assignments that applied, by ID.
	Contributing []AssignmentRef
	// Reasons: request-level reasons first, then one per considered
	// assignment that did not apply, by assignment ID.
	Reasons []Reason
}

// Evaluate decides req against m. It is pure, does no I/O and is safe for
// concurrent use. It considers only the assignments reachable from the
// user's groups (plus, with req.Explain, those reachable from the device's
// groups). See the package documentation for the rules.
func Evaluate(m *Model, req Request) Decision {
	var d Decision
	deny := func(code ReasonCode, detail string) Decision {
		d.Reasons = append(d.Reasons, Reason{Code: code, Detail: detail})
		return d
	}
	if m == nil {
		return deny(ReasonNoModel, "")
	}
	if req.At.IsZero() {
		return deny(ReasonBadRequest, "no time given")
	}
	u := m.users[req.UserID]
	if u == nil {
		return deny(ReasonUnknownUser, req.UserID)
	}
	if !u.enabled {
		return deny(ReasonUserDisabled, "")
	}
	var dev *cDevice
	if req.OnDemand {
		if !u.onDemand {
			return deny(ReasonOnDemandDisabled, "")
		}
	} else {
		dev = m.devices[req.DeviceID]
		if dev == nil {
			return deny(ReasonUnknownDevice, req.DeviceID)
		}
		if !dev.enabled {
			return deny(ReasonDeviceDisabled, "")
		}
	}

	// Mark the candidate assignments in a bitset: it deduplicates them and
	// yields them in ID order without sorting. The user's and the device's
	// groups go into bitsets too, so matching is a few bit tests. The
	// scratch is returned to the pool only after a clean pass (all zero).
	sc := m.scratch.Get().(*scratch)
	n, lo, hi := 0, len(sc.bits), -1
	mark := func(lists [][]int32, groups []int32) {
		for _, g := range groups {
			for _, i := range lists[g] {
				if !bitTest(sc.bits, i) {
					bitSet(sc.bits, i)
					n++
					lo, hi = min(lo, int(i>>6)), max(hi, int(i>>6))
				}
			}
		}
	}
	mark(m.byUserGroup, u.groups)
	for _, g := range u.groups {
		bitSet(sc.userIn, g)
	}
	if dev != nil {
		if req.Explain {
			mark(m.byDevGroup, dev.groups)
		}
		for _, g := range dev.groups {
			bitSet(sc.devIn, g)
		}
	}
	d.Reasons = make([]Reason, 0, n+1)
	var acc accumulator
	for w := lo; w <= hi; w++ {
		word := sc.bits[w]
		sc.bits[w] = 0
		for word != 0 {
			i := w<<6 | bits.TrailingZeros64(word)
			word &= word - 1
			m.apply(&d, &acc, &m.assigns[i], sc, &req)
		}
	}
	for _, g := range u.groups {
		bitClear(sc.userIn, g)
	}
	if dev != nil {
		for _, g := range dev.groups {
			bitClear(sc.devIn, g)
		}
	}
	m.scratch.Put(sc)

	if acc.perms.Empty() {
		what := "no applicable Device role assignment"
		if req.OnDemand {
			what = "no applicable OnDemand role assignment"
		}
		d.Reasons = slices.Insert(d.Reasons, 0, Reason{Code: ReasonNoGrant, Detail: what})
		return d
	}
	d.Allowed = true
	d.Permissions = acc.perms
	d.Confirm = acc.confirm
	d.Confirm.EmailGroupIDs = sortedUnique(acc.confirm.EmailGroupIDs)
	if acc.whitelisted {
		d.Whitelist = uniqueApps(acc.apps)
	}
	return d
}

// accumulator collects what the applicable assignments give.
type accumulator struct {
	perms       Set
	confirm     ConfirmRequirement
	apps        []App
	whitelisted bool
}

// apply evaluates one candidate assignment into the decision.
func (m *Model) apply(d *Decision, acc *accumulator, a *cAssign, sc *scratch, req *Request) {
	code, detail := m.check(a, sc, req)
	if code == "" {
		switch a.role.typ {
		case RoleConfirmAccess:
			local, email, why := resolveConfirm(&a.role.confirm, req)
			if !local && !email {
				code, detail = ReasonConfirmWaived, why
				break
			}
			acc.confirm.Local = acc.confirm.Local || local
			if email {
				acc.confirm.EmailGroupIDs = append(acc.confirm.EmailGroupIDs, a.role.confirm.EmailGroupIDs...)
			}
		case RoleWhitelistedApps:
			if why := whitelistWaived(&a.role.wl, req); why != "" {
				code, detail = ReasonWhitelistWaived, why
				break
			}
			acc.whitelisted = true
			acc.apps = append(acc.apps, a.role.apps...)
		default:
			acc.perms = acc.perms.Union(a.role.perms)
		}
	}
	if code != "" {
		d.Reasons = append(d.Reasons, Reason{a.id, a.name, m.roleName(a), code, detail})
		return
	}
	ref := AssignmentRef{ID: a.id, Name: a.name, RoleID: a.role.id, RoleName: a.role.name,
		RoleType: a.role.typ, Status: StatusActive}
	if a.hasSched {
		ref.Status = StatusActiveBySchedule
	}
	if a.role.typ == RoleDevice || a.role.typ == RoleOnDemand {
		ref.Permissions = a.role.perms
	}
	d.Contributing = append(d.Contributing, ref)
}

func (m *Model) roleName(a *cAssign) string {
	if a.role == nil {
		return a.roleID
	}
	return a.role.name
}

// check returns the first reason why a does not apply to the request, or
// "" if it does.
func (m *Model) check(a *cAssign, sc *scratch, req *Request) (ReasonCode, string) {
	if !a.active {
		return ReasonAssignmentInactive, ""
	}
	switch code := a.roleProblem(); code {
	case "":
	case ReasonRoleInvalid:
		return code, a.role.err.Error()
	case ReasonRoleRemoved:
		return code, a.roleID
	default:
		return code, ""
	}
	r := a.role
	if req.OnDemand != (r.typ == RoleOnDemand) {
		if req.OnDemand {
			return ReasonSessionKind, "the role applies to device sessions only"
		}
		return ReasonSessionKind, "OnDemand roles apply to OnDemand sessions only"
	}
	if code := m.matchGroups(a.userGroups, sc.userIn, ReasonUserGroupInactive, ReasonUserNotInGroup); code != "" {
		return code, a.userText
	}
	if !req.OnDemand {
		if code := m.matchGroups(a.deviceGroups, sc.devIn, ReasonDeviceGroupInactive, ReasonDeviceNotInGroup); code != "" {
			return code, a.deviceText
		}
		if r.typ == RoleDevice && r.client != ClientAny && r.client != req.ClientType {
			return ReasonClientType, fmt.Sprintf("role allows %s, request is %s", r.client, cmp.Or(req.ClientType, "unknown"))
		}
	}
	if a.hasSched {
		if a.sched == nil {
			return ReasonScheduleInvalid, a.schedErr.Error()
		}
		if !a.sched.activeAt(req.At) {
			return ReasonOutsideSchedule, a.schedDesc
		}
	}
	return "", ""
}

// matchGroups: is some group of want, which the member is in (bitset),
// active?
func (m *Model) matchGroups(want []int32, member []uint64, inactive, notIn ReasonCode) ReasonCode {
	code := notIn
	for _, g := range want {
		if bitTest(member, g) {
			if bitTest(m.activeGrp, g) {
				return ""
			}
			code = inactive
		}
	}
	return code
}

// resolveConfirm applies the exceptions of one confirm-access role to the
// Host state. why explains a role that requires nothing.
func resolveConfirm(c *ConfirmRules, req *Request) (local, email bool, why string) {
	locked := req.Locked && !req.StateUnknown
	noUser := req.NoUser && !req.StateUnknown
	if c.Local {
		switch {
		case c.ExceptLocked && locked:
			why = "computer is locked"
		case c.ExceptNoUser && noUser:
			why = "no user is logged in"
		default:
			local = true
		}
	}
	if len(c.EmailGroupIDs) > 0 {
		switch {
		case !c.EmailOnlyLocked && !c.EmailOnlyNoUser, req.StateUnknown:
			email = true
		case c.EmailOnlyLocked && req.Locked, c.EmailOnlyNoUser && req.NoUser:
			email = true
		default:
			why = joinWhy(why, "email confirmation only when "+onlyWhen(c))
		}
	}
	if !c.Local && len(c.EmailGroupIDs) == 0 {
		why = "the role enables no confirmation"
	}
	return local, email, why
}

func onlyWhen(c *ConfirmRules) string {
	switch {
	case c.EmailOnlyLocked && c.EmailOnlyNoUser:
		return "locked or no user is logged in"
	case c.EmailOnlyLocked:
		return "locked"
	}
	return "no user is logged in"
}

func joinWhy(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// whitelistWaived returns why the whitelist is not enforced, or "".
func whitelistWaived(w *WhitelistRules, req *Request) string {
	if req.StateUnknown {
		return ""
	}
	switch {
	case w.ExceptLocked && req.Locked:
		return "computer is locked"
	case w.ExceptNoUser && req.NoUser:
		return "no user is logged in"
	}
	return ""
}

func appKey(a *App) string {
	if a.ID != "" {
		return a.ID
	}
	return a.Path + "\x00" + a.Executable
}

// uniqueApps sorts by name (then key) and drops repeats of the same app.
func uniqueApps(apps []App) []App {
	out := slices.Clone(apps)
	slices.SortStableFunc(out, func(a, b App) int { return cmp.Compare(appKey(&a), appKey(&b)) })
	out = slices.CompactFunc(out, func(a, b App) bool { return appKey(&a) == appKey(&b) })
	slices.SortFunc(out, func(a, b App) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(appKey(&a), appKey(&b)))
	})
	return out
}
