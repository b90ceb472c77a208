package policy

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// genWorld builds a small random Snapshot with every kind of oddity the
// evaluator must handle: inactive and built-in groups, disabled users and
// devices, disabled/invalid/removed roles, confirm and whitelist roles,
// schedules (some invalid), dangling group IDs.
type genWorld struct {
	rng             *rand.Rand
	s               Snapshot
	roles, ugs, dgs []string
}

var genSchedules = []*Schedule{
	{StartDate: Date{2022, 1, 1}, StartTime: tod(9, 0), EndTime: tod(17, 0), TimeZone: "Europe/Bucharest",
		Recurrence: Recurrence{Kind: RecurDaily, Daily: DailyWeekdays}},
	{StartDate: Date{2022, 1, 1}, StartTime: tod(22, 0), EndTime: tod(6, 0), TimeZone: "America/New_York",
		Recurrence: Recurrence{Kind: RecurWeekly, Weekdays: []time.Weekday{time.Friday, time.Saturday}}},
	{StartDate: Date{2022, 1, 3}, AllDay: true, Recurrence: Recurrence{Kind: RecurDaily, Interval: 2}},
	{StartDate: Date{2022, 1, 1}, AllDay: true, Recurrence: Recurrence{Kind: RecurMonthly, LastDay: true}},
	{StartDate: Date{2022, 1, 1}, AllDay: true, EndDate: Date{2022, 6, 30}},
	{StartDate: Date{2022, 1, 1}, AllDay: true, TimeZone: "Invalid/Zone"},
}

func (w *genWorld) pick(xs []string) string { return xs[w.rng.IntN(len(xs))] }

func (w *genWorld) subset(xs []string, max int) []string {
	var out []string
	for range w.rng.IntN(max + 1) {
		out = append(out, w.pick(xs))
	}
	return out
}

func (w *genWorld) chance(p float64) bool { return w.rng.Float64() < p }

func newGenWorld(seed uint64) *genWorld {
	w := &genWorld{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	s := &w.s
	s.Groups = []Group{
		{ID: GroupIDEveryone, Kind: GroupUser, Active: w.chance(0.9), Builtin: true},
		{ID: GroupIDEverything, Kind: GroupDevice, Active: w.chance(0.9), Builtin: true},
	}
	var ugs, dgs []string
	for i := range 6 {
		id := fmt.Sprintf("ug%d", i)
		ugs = append(ugs, id)
		s.Groups = append(s.Groups, Group{ID: id, Kind: []GroupKind{GroupUser, GroupLDAP, GroupAzureAD}[i%3], Active: w.chance(0.8)})
	}
	for i := range 5 {
		id := fmt.Sprintf("dg%d", i)
		dgs = append(dgs, id)
		s.Groups = append(s.Groups, Group{ID: id, Kind: GroupDevice, Active: w.chance(0.8)})
	}
	for i := range 5 {
		s.Users = append(s.Users, User{ID: fmt.Sprintf("u%d", i), Enabled: w.chance(0.9), OnDemand: w.chance(0.8),
			GroupIDs: w.subset(ugs, 3)})
	}
	for i := range 5 {
		s.Devices = append(s.Devices, Device{ID: fmt.Sprintf("d%d", i), Enabled: w.chance(0.9), GroupIDs: w.subset(dgs, 3)})
	}
	apps := []App{
		{ID: "a1", Name: "Notepad", Enabled: true}, {ID: "a2", Name: "Calc", Enabled: true},
		{ID: "a3", Name: "Paint", Enabled: false},
	}
	var roles []string
	for i := range 8 {
		r := Role{ID: fmt.Sprintf("r%d", i), Enabled: w.chance(0.85)}
		switch w.rng.IntN(6) {
		case 0, 1, 2:
			r.Type = RoleDevice
			for _, p := range AllPermissions {
				if w.chance(0.3) {
					r.Permissions = r.Permissions.Union(mustSetW(p))
				}
			}
			r.ClientType = []ClientType{ClientAny, ClientBrowser, ClientInstalledGuest, ""}[w.rng.IntN(4)]
		case 3:
			r.Type = RoleOnDemand
			r.Permissions = []Set{mustSetW(ViewScreen), OnDemandPermissions(), mustSetW(Chat)}[w.rng.IntN(3)]
		case 4:
			r.Type = RoleConfirmAccess
			r.Confirm = ConfirmRules{Local: w.chance(0.6), ExceptLocked: w.chance(0.5), ExceptNoUser: w.chance(0.5),
				EmailGroupIDs: w.subset(ugs, 2), EmailOnlyLocked: w.chance(0.3), EmailOnlyNoUser: w.chance(0.3)}
		case 5:
			r.Type = RoleWhitelistedApps
			for _, a := range apps {
				if w.chance(0.5) {
					r.Whitelist.Apps = append(r.Whitelist.Apps, a)
				}
			}
			r.Whitelist.ExceptLocked, r.Whitelist.ExceptNoUser = w.chance(0.5), w.chance(0.5)
		}
		roles = append(roles, r.ID)
		s.Roles = append(s.Roles, r)
	}
	roles = append(roles, "removed-role")
	w.roles = roles
	w.ugs = append(ugs, GroupIDEveryone, "deleted-ug")
	w.dgs = append(dgs, GroupIDEverything, "deleted-dg")
	for i := range 12 {
		s.Assignments = append(s.Assignments, w.assignment(fmt.Sprintf("as%02d", i)))
	}
	return w
}

func (w *genWorld) assignment(id string) Assignment {
	a := Assignment{ID: id, Active: w.chance(0.85), RoleID: w.pick(w.roles),
		UserGroupIDs: w.subset(w.ugs, 3), DeviceGroupIDs: w.subset(w.dgs, 3)}
	if w.chance(0.3) {
		a.Schedule = genSchedules[w.rng.IntN(len(genSchedules))]
	}
	return a
}

func (w *genWorld) request() Request {
	r := Request{
		UserID:     fmt.Sprintf("u%d", w.rng.IntN(6)), // u5 is unknown
		DeviceID:   fmt.Sprintf("d%d", w.rng.IntN(6)),
		OnDemand:   w.chance(0.2),
		ClientType: []ClientType{ClientBrowser, ClientInstalledGuest, ""}[w.rng.IntN(3)],
		At:         time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(w.rng.Int64N(int64(365 * 24 * time.Hour)))),
		Locked:     w.chance(0.3), NoUser: w.chance(0.2), StateUnknown: w.chance(0.1),
	}
	return r
}

// mustSetW is mustSet without a testing.TB (inputs are constants).
func mustSetW(ps ...Permission) Set { s, _ := NewSet(ps...); return s }

func subsetOf(a, b Set) bool { return b.Union(a) == b }

// naiveApplies re-derives "does this assignment grant its permissions" from
// the Snapshot without any index.
func naiveApplies(s *Snapshot, a *Assignment, req Request) bool {
	groups := map[string]Group{}
	for _, g := range s.Groups {
		if _, dup := groups[g.ID]; !dup {
			groups[g.ID] = g
		}
	}
	var role *Role
	for i := range s.Roles {
		if s.Roles[i].ID == a.RoleID {
			role = &s.Roles[i]
			break
		}
	}
	if !a.Active || role == nil || !role.Enabled || role.Validate() != nil {
		return false
	}
	if req.OnDemand != (role.Type == RoleOnDemand) || (role.Type != RoleDevice && role.Type != RoleOnDemand) {
		return false
	}
	in := func(ids []string, memberOf []string, device bool) bool {
		for _, id := range ids {
			g, ok := groups[id]
			if !ok || !g.Active || (g.Kind == GroupDevice) != device {
				continue
			}
			if g.Builtin || slices.Contains(memberOf, id) {
				return true
			}
		}
		return false
	}
	var user *User
	for i := range s.Users {
		if s.Users[i].ID == req.UserID {
			user = &s.Users[i]
		}
	}
	if user == nil || !user.Enabled || (req.OnDemand && !user.OnDemand) || !in(a.UserGroupIDs, user.GroupIDs, false) {
		return false
	}
	if !req.OnDemand {
		var device *Device
		for i := range s.Devices {
			if s.Devices[i].ID == req.DeviceID {
				device = &s.Devices[i]
			}
		}
		if device == nil || !device.Enabled || !in(a.DeviceGroupIDs, device.GroupIDs, true) {
			return false
		}
		if role.ClientType != ClientAny && role.ClientType != req.ClientType {
			return false
		}
	}
	return a.Schedule == nil || a.Schedule.ActiveAt(req.At)
}

func TestEvaluateProperties(t *testing.T) {
	const worlds, requests = 300, 40
	for seed := range uint64(worlds) {
		w := newGenWorld(seed)
		m := NewModel(w.s)
		extra := w.assignment("zz-extra")
		extra.Active = true
		withExtra := w.s
		withExtra.Assignments = append(slices.Clone(w.s.Assignments), extra)
		mExtra := NewModel(withExtra)
		victim := w.rng.IntN(len(w.s.Assignments))
		deact := w.s
		deact.Assignments = slices.Clone(w.s.Assignments)
		deact.Assignments[victim].Active = false
		mDeact := NewModel(deact)
		groupOff := w.s
		groupOff.Groups = slices.Clone(w.s.Groups)
		groupOff.Groups[w.rng.IntN(len(groupOff.Groups))].Active = false
		mGroupOff := NewModel(groupOff)

		for range requests {
			req := w.request()
			d := Evaluate(m, req)
			ctx := func() string { return fmt.Sprintf("seed %d, request %+v", seed, req) }

			// Index-free reference for the permissions.
			var want Set
			for i := range w.s.Assignments {
				if naiveApplies(&w.s, &w.s.Assignments[i], req) {
					r := w.s.Roles[slices.IndexFunc(w.s.Roles, func(r Role) bool { return r.ID == w.s.Assignments[i].RoleID })]
					want = want.Union(r.Permissions)
				}
			}
			if d.Permissions != want || d.Allowed != !want.Empty() {
				t.Fatalf("%s: permissions %v, reference %v", ctx(), d.Permissions.Strings(), want.Strings())
			}
			// Decision invariants.
			var union Set
			for _, c := range d.Contributing {
				union = union.Union(c.Permissions)
			}
			if d.Allowed && union != d.Permissions {
				t.Fatalf("%s: contributions %v do not add up to %v", ctx(), union.Strings(), d.Permissions.Strings())
			}
			if !d.Allowed && (d.Confirm.Required() || d.Whitelist != nil || len(d.Reasons) == 0) {
				t.Fatalf("%s: denial carries access or lacks reasons: %+v", ctx(), d)
			}
			if d.Whitelist != nil && len(d.Whitelist) == 0 {
				t.Fatalf("%s: empty non-nil whitelist", ctx())
			}
			seen := map[string]bool{}
			for _, c := range d.Contributing {
				seen[c.ID] = true
			}
			for _, r := range d.Reasons {
				if r.AssignmentID != "" && seen[r.AssignmentID] {
					t.Fatalf("%s: %s both contributes and has a reason", ctx(), r.AssignmentID)
				}
				seen[r.AssignmentID] = true
			}
			// Explain changes reasons only.
			ex := req
			ex.Explain = true
			if de := Evaluate(m, ex); de.Allowed != d.Allowed || de.Permissions != d.Permissions ||
				!slices.Equal(de.Confirm.EmailGroupIDs, d.Confirm.EmailGroupIDs) || de.Confirm.Local != d.Confirm.Local {
				t.Fatalf("%s: Explain changed the decision", ctx())
			}
			// Adding an assignment never removes permissions.
			if dx := Evaluate(mExtra, req); !subsetOf(d.Permissions, dx.Permissions) || (d.Allowed && !dx.Allowed) {
				t.Fatalf("%s: adding %+v removed permissions: %v → %v", ctx(), extra, d.Permissions.Strings(), dx.Permissions.Strings())
			}
			// Deactivating an assignment or a group never adds any.
			if dd := Evaluate(mDeact, req); !subsetOf(dd.Permissions, d.Permissions) || (dd.Allowed && !d.Allowed) {
				t.Fatalf("%s: deactivating %s added permissions: %v → %v", ctx(), w.s.Assignments[victim].ID, d.Permissions.Strings(), dd.Permissions.Strings())
			}
			if dg := Evaluate(mGroupOff, req); !subsetOf(dg.Permissions, d.Permissions) {
				t.Fatalf("%s: deactivating a group added permissions", ctx())
			}
		}
	}
}

// TestEvaluateConcurrent: one Model, many goroutines, the same answers as
// one goroutine (the scratch pool must never leak state between calls).
func TestEvaluateConcurrent(t *testing.T) {
	w := newGenWorld(7)
	for i := range 200 {
		w.s.Assignments = append(w.s.Assignments, w.assignment(fmt.Sprintf("more%03d", i)))
	}
	m := NewModel(w.s)
	var reqs []Request
	var want []Decision
	for i := range 300 {
		r := w.request()
		r.Explain = i%3 == 0
		reqs = append(reqs, r)
		want = append(want, Evaluate(m, r))
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for k := range 5 * len(reqs) {
				i := (k*7 + g*13) % len(reqs)
				if got := Evaluate(m, reqs[i]); !reflect.DeepEqual(got, want[i]) {
					errs <- fmt.Errorf("goroutine %d, request %d: %+v != %+v", g, i, got, want[i])
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
