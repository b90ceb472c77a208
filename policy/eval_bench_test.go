package policy

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchWorld: 10 000 role assignments, 1 000 groups (600 user groups incl.
// Everyone, 400 device groups incl. Everything), 5 000 users in 4 groups
// each, 20 000 devices in 3 groups each, 60 roles of every type, a quarter
// of the assignments scheduled (shared schedules, several zones), 1 % of
// them for Everyone and 0.5 % on Everything.
func benchWorld() (Snapshot, []Request) {
	rng := rand.New(rand.NewPCG(42, 4242))
	s := Snapshot{Groups: BuiltinGroups()}
	var ugs, dgs []string
	ugs = append(ugs, GroupIDEveryone)
	dgs = append(dgs, GroupIDEverything)
	for i := range 599 {
		id := fmt.Sprintf("ug%03d", i)
		ugs = append(ugs, id)
		s.Groups = append(s.Groups, Group{ID: id, Kind: GroupUser, Active: rng.IntN(20) != 0})
	}
	for i := range 399 {
		id := fmt.Sprintf("dg%03d", i)
		dgs = append(dgs, id)
		s.Groups = append(s.Groups, Group{ID: id, Kind: GroupDevice, Active: rng.IntN(20) != 0})
	}
	pick := func(xs []string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = xs[1+rng.IntN(len(xs)-1)] // never the built-in
		}
		return out
	}
	for i := range 5000 {
		s.Users = append(s.Users, User{ID: fmt.Sprintf("u%04d", i), Enabled: true, OnDemand: true, GroupIDs: pick(ugs, 4)})
	}
	for i := range 20000 {
		s.Devices = append(s.Devices, Device{ID: fmt.Sprintf("d%05d", i), Enabled: true, GroupIDs: pick(dgs, 3)})
	}
	s.Roles = PredefinedRoles()
	for i := range 60 {
		r := Role{ID: fmt.Sprintf("r%02d", i), Enabled: rng.IntN(10) != 0}
		switch i % 6 {
		case 0, 1, 2:
			r.Type, r.ClientType = RoleDevice, []ClientType{ClientAny, ClientBrowser, ClientInstalledGuest}[i%3]
			for _, p := range AllPermissions {
				if rng.IntN(3) == 0 {
					r.Permissions = r.Permissions.Union(mustSetW(p))
				}
			}
		case 3:
			r.Type, r.Permissions = RoleOnDemand, OnDemandPermissions()
		case 4:
			r.Type = RoleConfirmAccess
			r.Confirm = ConfirmRules{Local: true, ExceptLocked: true, EmailGroupIDs: pick(ugs, 2), EmailOnlyNoUser: true}
		case 5:
			r.Type = RoleWhitelistedApps
			r.Whitelist = WhitelistRules{ExceptNoUser: true, Apps: []App{
				{ID: "np", Name: "Notepad", Enabled: true, Executable: "notepad.exe"},
				{ID: fmt.Sprintf("app%d", i), Name: fmt.Sprintf("App %d", i), Enabled: rng.IntN(4) != 0, Executable: "x.exe"},
			}}
		}
		s.Roles = append(s.Roles, r)
	}
	scheds := []*Schedule{}
	zones := []string{"Europe/Bucharest", "America/New_York", "UTC", "Asia/Tokyo"}
	for i := range 20 {
		scheds = append(scheds, &Schedule{StartDate: Date{2022, 1, 1 + i}, StartTime: tod(8+i%4, 0), EndTime: tod((17+i*3)%24, 30),
			TimeZone: zones[i%len(zones)],
			Recurrence: []Recurrence{
				{Kind: RecurDaily, Daily: DailyWeekdays},
				{Kind: RecurWeekly, Interval: 2, Weekdays: []time.Weekday{time.Monday, time.Thursday}},
				{Kind: RecurMonthly, MonthDay: 1 + i},
				{Kind: RecurDaily, Interval: 3},
			}[i%4]})
	}
	for i := range 10000 {
		a := Assignment{ID: fmt.Sprintf("as%05d", i), Active: rng.IntN(10) != 0,
			RoleID:         s.Roles[rng.IntN(len(s.Roles))].ID,
			UserGroupIDs:   pick(ugs, 1+rng.IntN(3)),
			DeviceGroupIDs: pick(dgs, 1+rng.IntN(3)),
		}
		if rng.IntN(100) == 0 {
			a.UserGroupIDs = []string{GroupIDEveryone}
		}
		if rng.IntN(200) == 0 {
			a.DeviceGroupIDs = []string{GroupIDEverything}
		}
		if rng.IntN(4) == 0 {
			a.Schedule = scheds[rng.IntN(len(scheds))]
		}
		s.Assignments = append(s.Assignments, a)
	}
	var reqs []Request
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for range 1024 {
		reqs = append(reqs, Request{
			UserID:     s.Users[rng.IntN(len(s.Users))].ID,
			DeviceID:   s.Devices[rng.IntN(len(s.Devices))].ID,
			ClientType: []ClientType{ClientBrowser, ClientInstalledGuest}[rng.IntN(2)],
			At:         base.Add(time.Duration(rng.Int64N(int64(60 * 24 * time.Hour)))),
			Locked:     rng.IntN(5) == 0,
		})
	}
	return s, reqs
}

func BenchmarkEvaluate(b *testing.B) {
	s, reqs := benchWorld()
	m := NewModel(s)
	for _, mode := range []string{"device", "explain", "ondemand"} {
		b.Run(mode, func(b *testing.B) {
			allowed, considered := 0, 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := reqs[i%len(reqs)]
				r.Explain = mode == "explain"
				r.OnDemand = mode == "ondemand"
				d := Evaluate(m, r)
				if d.Allowed {
					allowed++
				}
				considered += len(d.Contributing) + len(d.Reasons)
				i++
			}
			b.ReportMetric(float64(considered)/float64(i), "assignments/op")
			b.ReportMetric(float64(allowed)/float64(i), "allowed/op")
		})
	}
}

func BenchmarkNewModel(b *testing.B) {
	s, _ := benchWorld()
	b.ReportAllocs()
	for b.Loop() {
		NewModel(s)
	}
}

func BenchmarkScheduleActiveAt(b *testing.B) {
	s := &Schedule{StartDate: Date{2022, 1, 1}, StartTime: tod(22, 0), EndTime: tod(6, 0), TimeZone: "Europe/Bucharest",
		Recurrence: Recurrence{Kind: RecurMonthly, Interval: 2, LastDay: true}}
	c, err := s.compile()
	if err != nil {
		b.Fatal(err)
	}
	t := time.Date(2024, 3, 31, 23, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		c.activeAt(t)
	}
}
