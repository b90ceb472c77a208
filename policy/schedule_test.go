package policy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func schedLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("tz database lacks %s: %v", name, err)
	}
	return loc
}

func mustDate(t testing.TB, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func tod(h, m int) TimeOfDay { return TimeOfDay{h, m} }

// wall parses "2006-01-02 15:04:05" in zone (unambiguous wall times only).
func wall(t testing.TB, zone, s string) time.Time {
	t.Helper()
	ts, err := time.ParseInLocation(time.DateTime, s, schedLoc(t, zone))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func utc(t testing.TB, s string) time.Time { return wall(t, "UTC", s) }

type instantCase struct {
	at   string // wall time in the schedule's zone, or UTC if it ends in Z
	want bool
}

func checkInstants(t *testing.T, s *Schedule, cases []instantCase) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, c := range cases {
		var at time.Time
		if strings.HasSuffix(c.at, "Z") {
			at = utc(t, strings.TrimSuffix(c.at, "Z"))
		} else {
			at = wall(t, orUTC(s.TimeZone), c.at)
		}
		if got := s.ActiveAt(at); got != c.want {
			t.Errorf("%s: ActiveAt(%s) = %v, want %v", s.Describe(), c.at, got, c.want)
		}
	}
}

func orUTC(z string) string {
	if z == "" {
		return "UTC"
	}
	return z
}

func TestScheduleRecurrences(t *testing.T) {
	tests := []struct {
		name  string
		s     Schedule
		cases []instantCase
	}{
		{
			name: "spec example: daily every day, full time, from April 2 2021",
			s: Schedule{StartDate: Date{2021, 4, 2}, AllDay: true, TimeZone: "Europe/Bucharest",
				Recurrence: Recurrence{Kind: RecurDaily}},
			cases: []instantCase{
				{"2021-04-01 23:59:59", false}, {"2021-04-02 00:00:00", true},
				{"2021-04-02 23:59:59", true}, {"2030-12-31 12:00:00", true},
			},
		},
		{
			name: "spec example: every weekday, full time, from Thursday April 7 2022",
			s: Schedule{StartDate: Date{2022, 4, 7}, AllDay: true, TimeZone: "Europe/Bucharest",
				Recurrence: Recurrence{Kind: RecurDaily, Daily: DailyWeekdays}},
			cases: []instantCase{
				{"2022-04-06 12:00:00", false}, // Wednesday before the start
				{"2022-04-07 00:00:00", true}, {"2022-04-08 23:59:59", true},
				{"2022-04-09 00:00:00", false}, {"2022-04-10 23:59:59", false},
				{"2022-04-11 00:00:00", true},
				{"2022-04-06 21:00:00Z", true}, {"2022-04-06 20:59:59Z", false}, // Bucharest midnight in UTC
			},
		},
		{
			name: "daily weekends only, 10:00-12:00",
			s: Schedule{StartDate: Date{2022, 4, 1}, StartTime: tod(10, 0), EndTime: tod(12, 0),
				Recurrence: Recurrence{Kind: RecurDaily, Daily: DailyWeekends}},
			cases: []instantCase{
				{"2022-04-01 11:00:00", false}, {"2022-04-02 09:59:59", false},
				{"2022-04-02 10:00:00", true}, {"2022-04-03 11:59:59", true},
				{"2022-04-03 12:00:00", false}, {"2022-04-04 11:00:00", false},
			},
		},
		{
			name: "every 3 days 09:00-17:00, anchored on the start date",
			s: Schedule{StartDate: Date{2022, 1, 1}, StartTime: tod(9, 0), EndTime: tod(17, 0),
				Recurrence: Recurrence{Kind: RecurDaily, Interval: 3}},
			cases: []instantCase{
				{"2022-01-01 08:59:59", false}, {"2022-01-01 09:00:00", true},
				{"2022-01-01 16:59:59", true}, {"2022-01-01 17:00:00", false},
				{"2022-01-02 10:00:00", false}, {"2022-01-03 10:00:00", false},
				{"2022-01-04 10:00:00", true}, {"2022-01-31 10:00:00", true},
				{"2022-02-01 10:00:00", false}, {"2022-02-03 10:00:00", true},
				{"2024-12-31 10:00:00", (daysFromCivil(2024, 12, 31)-daysFromCivil(2022, 1, 1))%3 == 0},
			},
		},
		{
			name: "every 2 days 22:00-06:00 crosses midnight; window belongs to its start day",
			s: Schedule{StartDate: Date{2022, 1, 3}, StartTime: tod(22, 0), EndTime: tod(6, 0),
				Recurrence: Recurrence{Kind: RecurDaily, Interval: 2}, EndDate: Date{2022, 1, 7}},
			cases: []instantCase{
				{"2022-01-03 01:00:00", false}, // the Jan 2 window would be before the start
				{"2022-01-03 21:59:59", false}, {"2022-01-03 22:00:00", true},
				{"2022-01-04 00:00:00", true}, {"2022-01-04 05:59:59", true},
				{"2022-01-04 06:00:00", false}, {"2022-01-04 22:00:00", false},
				{"2022-01-05 01:00:00", false}, {"2022-01-05 22:00:00", true},
				// End date inclusive: the Jan 7 window runs into Jan 8.
				{"2022-01-07 22:00:00", true}, {"2022-01-08 05:59:59", true},
				{"2022-01-08 06:00:00", false}, {"2022-01-09 22:00:00", false},
			},
		},
		{
			name: "end time 24:00",
			s: Schedule{StartDate: Date{2022, 1, 1}, StartTime: tod(20, 0), EndTime: tod(24, 0),
				Recurrence: Recurrence{Kind: RecurDaily, Interval: 2}},
			cases: []instantCase{
				{"2022-01-01 19:59:59", false}, {"2022-01-01 20:00:00", true},
				{"2022-01-01 23:59:59", true}, {"2022-01-02 00:00:00", false},
			},
		},
		{
			name: "every 2 weeks on Monday and Friday from Wednesday April 6 2022",
			s: Schedule{StartDate: Date{2022, 4, 6}, AllDay: true, TimeZone: "America/New_York",
				Recurrence: Recurrence{Kind: RecurWeekly, Interval: 2, Weekdays: []time.Weekday{time.Friday, time.Monday}}},
			cases: []instantCase{
				{"2022-04-04 12:00:00", false}, // Monday of the start week, before the start
				{"2022-04-08 00:00:00", true}, {"2022-04-08 23:59:59", true},
				{"2022-04-11 12:00:00", false}, {"2022-04-15 12:00:00", false},
				{"2022-04-18 00:00:00", true}, {"2022-04-22 12:00:00", true},
				{"2022-04-25 12:00:00", false}, {"2022-05-02 12:00:00", true},
				{"2022-04-20 12:00:00", false}, // Wednesday is not chosen
			},
		},
		{
			name: "weeks start on Monday: start on a Sunday, every 2 weeks on Monday",
			s: Schedule{StartDate: Date{2022, 4, 10}, AllDay: true,
				Recurrence: Recurrence{Kind: RecurWeekly, Interval: 2, Weekdays: []time.Weekday{time.Monday, time.Sunday}}},
			cases: []instantCase{
				{"2022-04-10 12:00:00", true},  // Sunday, week 0
				{"2022-04-11 12:00:00", false}, // Monday, week 1
				{"2022-04-17 12:00:00", false}, // Sunday, week 1
				{"2022-04-18 12:00:00", true},  // Monday, week 2
				{"2022-04-24 12:00:00", true},  // Sunday, week 2
			},
		},
		{
			name: "weekly Sunday 23:00-01:00 runs into Monday",
			s: Schedule{StartDate: Date{2022, 4, 1}, StartTime: tod(23, 0), EndTime: tod(1, 0),
				Recurrence: Recurrence{Kind: RecurWeekly, Weekdays: []time.Weekday{time.Sunday}}},
			cases: []instantCase{
				{"2022-04-03 22:59:59", false}, {"2022-04-03 23:00:00", true},
				{"2022-04-04 00:59:59", true}, {"2022-04-04 01:00:00", false},
				{"2022-04-04 23:30:00", false}, {"2022-04-10 23:30:00", true},
			},
		},
		{
			name: "monthly on the 31st skips shorter months",
			s: Schedule{StartDate: Date{2022, 1, 15}, AllDay: true, TimeZone: "Asia/Kolkata",
				Recurrence: Recurrence{Kind: RecurMonthly, MonthDay: 31}},
			cases: []instantCase{
				{"2022-01-31 00:00:00", true}, {"2022-02-28 12:00:00", false},
				{"2022-03-01 12:00:00", false}, {"2022-03-31 23:59:59", true},
				{"2022-04-30 12:00:00", false}, {"2022-05-01 12:00:00", false},
				{"2022-05-31 12:00:00", true},
				{"2022-01-30 18:30:00Z", true}, {"2022-01-30 18:29:59Z", false}, // +05:30 zone
			},
		},
		{
			name: "monthly on the last day",
			s: Schedule{StartDate: Date{2022, 1, 1}, AllDay: true,
				Recurrence: Recurrence{Kind: RecurMonthly, LastDay: true}},
			cases: []instantCase{
				{"2022-01-31 12:00:00", true}, {"2022-01-30 12:00:00", false},
				{"2022-02-28 12:00:00", true}, {"2024-02-28 12:00:00", false},
				{"2024-02-29 12:00:00", true}, {"2022-04-30 12:00:00", true},
				{"2022-04-29 12:00:00", false}, {"2022-12-31 23:59:59", true},
			},
		},
		{
			name: "every 3 months on the 10th, anchored on the start month",
			s: Schedule{StartDate: Date{2022, 1, 15}, StartTime: tod(9, 0), EndTime: tod(10, 0),
				Recurrence: Recurrence{Kind: RecurMonthly, Interval: 3, MonthDay: 10}},
			cases: []instantCase{
				{"2022-01-10 09:30:00", false}, // before the start date
				{"2022-03-10 09:30:00", false}, {"2022-04-10 08:59:59", false},
				{"2022-04-10 09:00:00", true}, {"2022-04-10 09:59:59", true},
				{"2022-04-10 10:00:00", false}, {"2022-07-10 09:30:00", true},
				{"2023-01-10 09:30:00", true}, {"2023-02-10 09:30:00", false},
			},
		},
		{
			name: "yearly on February 29 occurs only in leap years",
			s: Schedule{StartDate: Date{2021, 6, 1}, AllDay: true,
				Recurrence: Recurrence{Kind: RecurYearly, Month: time.February, MonthDay: 29}},
			cases: []instantCase{
				{"2022-02-28 12:00:00", false}, {"2022-03-01 12:00:00", false},
				{"2024-02-29 00:00:00", true}, {"2024-03-01 00:00:00", false},
				{"2028-02-29 12:00:00", true}, {"2100-02-28 12:00:00", false},
			},
		},
		{
			name: "every 3 years on February 29 from 2020: 2020, 2032 (2023..2029 are not leap)",
			s: Schedule{StartDate: Date{2020, 1, 1}, AllDay: true,
				Recurrence: Recurrence{Kind: RecurYearly, Interval: 3, Month: time.February, MonthDay: 29}},
			cases: []instantCase{
				{"2020-02-29 12:00:00", true}, {"2024-02-29 12:00:00", false},
				{"2028-02-29 12:00:00", false}, {"2032-02-29 12:00:00", true},
			},
		},
		{
			name: "yearly New Year's Eve 22:00-02:00 crosses the year",
			s: Schedule{StartDate: Date{2022, 1, 1}, StartTime: tod(22, 0), EndTime: tod(2, 0), TimeZone: "Europe/Bucharest",
				Recurrence: Recurrence{Kind: RecurYearly, Month: time.December, MonthDay: 31}, EndDate: Date{2023, 12, 31}},
			cases: []instantCase{
				{"2022-01-01 01:00:00", false}, // the 2021 window is before the start
				{"2022-12-31 21:59:59", false}, {"2022-12-31 22:00:00", true},
				{"2023-01-01 01:59:59", true}, {"2023-01-01 02:00:00", false},
				{"2024-01-01 01:00:00", true}, // last occurrence starts on the end date
				{"2024-12-31 23:00:00", false},
			},
		},
		{
			name: "no recurrence, all day, no end date: from the start on, indefinitely",
			s:    Schedule{StartDate: Date{2022, 4, 7}, AllDay: true, TimeZone: "Europe/Bucharest"},
			cases: []instantCase{
				{"2022-04-06 23:59:59", false}, {"2022-04-07 00:00:00", true},
				{"2099-01-01 00:00:00", true},
			},
		},
		{
			name: "no recurrence: one span from start date/time to end date/time",
			s: Schedule{StartDate: Date{2022, 4, 7}, StartTime: tod(9, 0), EndTime: tod(17, 0),
				EndDate: Date{2022, 4, 9}, TimeZone: "America/New_York"},
			cases: []instantCase{
				{"2022-04-07 08:59:59", false}, {"2022-04-07 09:00:00", true},
				{"2022-04-08 03:00:00", true}, {"2022-04-09 16:59:59", true},
				{"2022-04-09 17:00:00", false}, {"2022-04-10 10:00:00", false},
			},
		},
		{
			name: "no recurrence, all day, end date inclusive",
			s:    Schedule{StartDate: Date{2022, 4, 7}, AllDay: true, EndDate: Date{2022, 4, 9}},
			cases: []instantCase{
				{"2022-04-09 23:59:59", true}, {"2022-04-10 00:00:00", false},
			},
		},
		{
			name: "recurring end date: nothing starts after it",
			s: Schedule{StartDate: Date{2022, 4, 7}, StartTime: tod(9, 0), EndTime: tod(17, 0),
				Recurrence: Recurrence{Kind: RecurDaily}, EndDate: Date{2022, 4, 9}},
			cases: []instantCase{
				{"2022-04-09 16:59:59", true}, {"2022-04-09 17:00:00", false},
				{"2022-04-10 09:00:00", false},
			},
		},
		{
			name: "Bucharest office hours seen from UTC, summer and winter",
			s: Schedule{StartDate: Date{2022, 1, 1}, StartTime: tod(9, 0), EndTime: tod(17, 0), TimeZone: "Europe/Bucharest",
				Recurrence: Recurrence{Kind: RecurDaily, Daily: DailyWeekdays}},
			cases: []instantCase{
				{"2022-04-07 05:59:59Z", false}, {"2022-04-07 06:00:00Z", true},
				{"2022-04-07 13:59:59Z", true}, {"2022-04-07 14:00:00Z", false},
				{"2022-01-10 06:59:59Z", false}, {"2022-01-10 07:00:00Z", true},
				{"2022-01-10 14:59:59Z", true}, {"2022-01-10 15:00:00Z", false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkInstants(t, &tt.s, tt.cases) })
	}
}

// activeMinutes counts the minutes m in [from, to) with s active at m.
func activeMinutes(s *Schedule, from, to time.Time) int {
	n := 0
	for m := from; m.Before(to); m = m.Add(time.Minute) {
		if s.ActiveAt(m) {
			n++
		}
	}
	return n
}

// TestScheduleDST pins the wall-clock semantics across both transitions in
// two zones. 2024 transitions: New York 03-10 07:00Z (02:00 EST → 03:00
// EDT) and 11-03 06:00Z (02:00 EDT → 01:00 EST); Bucharest 03-31 01:00Z
// (03:00 EET → 04:00 EEST) and 10-27 01:00Z (04:00 EEST → 03:00 EET).
func TestScheduleDST(t *testing.T) {
	daily := func(zone string, from, to TimeOfDay) *Schedule {
		return &Schedule{StartDate: Date{2024, 1, 1}, StartTime: from, EndTime: to, TimeZone: zone,
			Recurrence: Recurrence{Kind: RecurDaily}}
	}
	tests := []struct {
		name     string
		s        *Schedule
		day      string // the local day scanned, midnight to midnight in the schedule's zone
		minutes  int    // active real minutes that day
		instants []instantCase
		days     int // days scanned, default 1
	}{
		{
			name: "New York spring forward, 01:30-03:00: ends at the jump after 30 real minutes",
			s:    daily("America/New_York", tod(1, 30), tod(3, 0)), day: "2024-03-10", minutes: 30,
			instants: []instantCase{
				{"2024-03-10 06:29:59Z", false}, {"2024-03-10 06:30:00Z", true},
				{"2024-03-10 06:59:59Z", true}, {"2024-03-10 07:00:00Z", false},
			},
		},
		{
			name: "Bucharest spring forward, 01:30-03:00: untouched, 90 minutes",
			s:    daily("Europe/Bucharest", tod(1, 30), tod(3, 0)), day: "2024-03-31", minutes: 90,
			instants: []instantCase{
				{"2024-03-30 23:29:59Z", false}, {"2024-03-30 23:30:00Z", true},
				{"2024-03-31 00:59:59Z", true}, {"2024-03-31 01:00:00Z", false},
			},
		},
		{
			name: "New York fall back, 01:00-02:30: the repeated hour counts twice, 150 minutes",
			s:    daily("America/New_York", tod(1, 0), tod(2, 30)), day: "2024-11-03", minutes: 150,
			instants: []instantCase{
				{"2024-11-03 04:59:59Z", false}, {"2024-11-03 05:00:00Z", true}, // 01:00 EDT
				{"2024-11-03 05:59:59Z", true}, {"2024-11-03 06:00:00Z", true}, // 01:59:59 EDT, 01:00 EST
				{"2024-11-03 07:29:59Z", true}, {"2024-11-03 07:30:00Z", false}, // 02:30 EST
			},
		},
		{
			name: "Bucharest fall back, 01:00-02:30: untouched, 90 minutes",
			s:    daily("Europe/Bucharest", tod(1, 0), tod(2, 30)), day: "2024-10-27", minutes: 90,
			instants: []instantCase{
				{"2024-10-26 21:59:59Z", false}, {"2024-10-26 22:00:00Z", true},
				{"2024-10-26 23:29:59Z", true}, {"2024-10-26 23:30:00Z", false},
			},
		},
		{
			name: "Bucharest fall back, 03:00-04:00: the repeated hour, twice",
			s:    daily("Europe/Bucharest", tod(3, 0), tod(4, 0)), day: "2024-10-27", minutes: 120,
			instants: []instantCase{
				{"2024-10-27 00:00:00Z", true}, // 03:00 EEST
				{"2024-10-27 01:00:00Z", true}, // 03:00 EET
				{"2024-10-27 01:59:59Z", true}, {"2024-10-27 02:00:00Z", false},
			},
		},
		{
			name: "New York fall back, 00:00-01:30: end inside the repeated hour, active again for its repeat",
			s:    daily("America/New_York", tod(0, 0), tod(1, 30)), day: "2024-11-03", minutes: 90 + 30,
			instants: []instantCase{
				{"2024-11-03 05:29:59Z", true}, {"2024-11-03 05:30:00Z", false}, // 01:30 EDT
				{"2024-11-03 06:00:00Z", true}, {"2024-11-03 06:29:59Z", true}, // 01:00-01:29 EST
				{"2024-11-03 06:30:00Z", false},
			},
		},
		{
			name: "New York spring forward, 02:30-04:00: starts at the jump",
			s:    daily("America/New_York", tod(2, 30), tod(4, 0)), day: "2024-03-10", minutes: 60,
			instants: []instantCase{
				{"2024-03-10 06:59:59Z", false}, {"2024-03-10 07:00:00Z", true},
				{"2024-03-10 07:59:59Z", true}, {"2024-03-10 08:00:00Z", false},
			},
		},
		{
			name: "New York spring forward, 02:10-02:50: inside the gap, no occurrence that day",
			s:    daily("America/New_York", tod(2, 10), tod(2, 50)), day: "2024-03-10", minutes: 0,
		},
		{
			name: "New York all day: 23 hours on spring-forward day",
			s: &Schedule{StartDate: Date{2024, 3, 10}, EndDate: Date{2024, 3, 10}, AllDay: true,
				TimeZone: "America/New_York", Recurrence: Recurrence{Kind: RecurDaily}},
			day: "2024-03-10", minutes: 23 * 60,
		},
		{
			name: "New York all day: 25 hours on fall-back day",
			s: &Schedule{StartDate: Date{2024, 11, 3}, EndDate: Date{2024, 11, 3}, AllDay: true,
				TimeZone: "America/New_York", Recurrence: Recurrence{Kind: RecurDaily}},
			day: "2024-11-03", minutes: 25 * 60,
		},
		{
			name: "New York Saturday 22:00-06:00 across spring forward: 7 real hours",
			s: &Schedule{StartDate: Date{2024, 3, 9}, EndDate: Date{2024, 3, 9}, StartTime: tod(22, 0), EndTime: tod(6, 0),
				TimeZone: "America/New_York", Recurrence: Recurrence{Kind: RecurWeekly, Weekdays: []time.Weekday{time.Saturday}}},
			day: "2024-03-09", minutes: 7 * 60, days: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkInstants(t, tt.s, tt.instants)
			d := mustDate(t, tt.day)
			loc := schedLoc(t, tt.s.TimeZone)
			from := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
			to := time.Date(d.Year, d.Month, d.Day+max(tt.days, 1), 0, 0, 0, 0, loc)
			if got := activeMinutes(tt.s, from, to); got != tt.minutes {
				t.Errorf("active minutes around %s = %d, want %d", tt.day, got, tt.minutes)
			}
		})
	}
}

func TestScheduleDescribe(t *testing.T) {
	base := func(r Recurrence) Schedule {
		return Schedule{StartDate: Date{2022, 4, 7}, AllDay: true, TimeZone: "Europe/Bucharest", Recurrence: r}
	}
	timed := func(s Schedule, from, to TimeOfDay) Schedule {
		s.AllDay, s.StartTime, s.EndTime = false, from, to
		return s
	}
	withEnd := func(s Schedule, d Date) Schedule { s.EndDate = d; return s }
	tests := []struct {
		s    Schedule
		want string
	}{
		{base(Recurrence{Kind: RecurDaily, Daily: DailyWeekdays}),
			"From April 7, 2022, every weekday, full time (Europe/Bucharest time)"},
		{Schedule{StartDate: Date{2021, 4, 2}, AllDay: true, TimeZone: "Europe/Bucharest", Recurrence: Recurrence{Kind: RecurDaily}},
			"From April 2, 2021, every day, full time (Europe/Bucharest time)"},
		{base(Recurrence{Kind: RecurDaily, Daily: DailyWeekends}),
			"From April 7, 2022, every weekend day, full time (Europe/Bucharest time)"},
		{timed(base(Recurrence{Kind: RecurDaily, Interval: 3}), tod(9, 0), tod(17, 30)),
			"From April 7, 2022, every 3 days, from 09:00 to 17:30 (Europe/Bucharest time)"},
		{timed(base(Recurrence{Kind: RecurWeekly, Weekdays: []time.Weekday{time.Sunday, time.Monday, time.Friday}}), tod(22, 0), tod(6, 0)),
			"From April 7, 2022, every week on Monday, Friday and Sunday, from 22:00 to 06:00 (next day) (Europe/Bucharest time)"},
		{base(Recurrence{Kind: RecurWeekly, Interval: 2, Weekdays: []time.Weekday{time.Tuesday}}),
			"From April 7, 2022, every 2 weeks on Tuesday, full time (Europe/Bucharest time)"},
		{withEnd(base(Recurrence{Kind: RecurMonthly, MonthDay: 31}), Date{2022, 12, 31}),
			"From April 7, 2022, every month on the 31st, full time, until December 31, 2022 (Europe/Bucharest time)"},
		{base(Recurrence{Kind: RecurMonthly, Interval: 2, MonthDay: 2}),
			"From April 7, 2022, every 2 months on the 2nd, full time (Europe/Bucharest time)"},
		{base(Recurrence{Kind: RecurMonthly, MonthDay: 13}),
			"From April 7, 2022, every month on the 13th, full time (Europe/Bucharest time)"},
		{base(Recurrence{Kind: RecurMonthly, LastDay: true}),
			"From April 7, 2022, every month on the last day, full time (Europe/Bucharest time)"},
		{base(Recurrence{Kind: RecurYearly, Interval: 4, Month: time.February, MonthDay: 29}),
			"From April 7, 2022, every 4 years on February 29, full time (Europe/Bucharest time)"},
		{base(Recurrence{}), "From April 7, 2022, full time (Europe/Bucharest time)"},
		{withEnd(base(Recurrence{}), Date{2022, 5, 1}), "From April 7, 2022 until May 1, 2022, full time (Europe/Bucharest time)"},
		{withEnd(timed(base(Recurrence{}), tod(9, 0), tod(17, 0)), Date{2022, 5, 1}),
			"From April 7, 2022 09:00 until May 1, 2022 17:00 (Europe/Bucharest time)"},
		{timed(base(Recurrence{}), tod(9, 0), tod(17, 0)), "From April 7, 2022 09:00, with no end (Europe/Bucharest time)"},
		{Schedule{StartDate: Date{2022, 4, 7}, AllDay: true}, "From April 7, 2022, full time (UTC time)"},
		{Schedule{StartDate: Date{2022, 4, 7}, AllDay: true, TimeZone: "Mars/Olympus"},
			`invalid schedule (time zone "Mars/Olympus": unknown time zone Mars/Olympus)`},
	}
	for _, tt := range tests {
		if got := tt.s.Describe(); got != tt.want {
			t.Errorf("Describe() =\n %q, want\n %q", got, tt.want)
		}
	}
	var nilSched *Schedule
	if nilSched.Describe() != "no schedule" || nilSched.ActiveAt(time.Now()) {
		t.Error("nil schedule")
	}
}

func TestScheduleValidate(t *testing.T) {
	ok := Schedule{StartDate: Date{2022, 4, 7}, StartTime: tod(9, 0), EndTime: tod(17, 0), TimeZone: "Europe/Bucharest",
		Recurrence: Recurrence{Kind: RecurDaily}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid schedule: %v", err)
	}
	bad := map[string]func(s *Schedule){
		"unknown zone":             func(s *Schedule) { s.TimeZone = "Europe/Atlantis" },
		"Local zone":               func(s *Schedule) { s.TimeZone = "Local" },
		"no start date":            func(s *Schedule) { s.StartDate = Date{} },
		"February 30":              func(s *Schedule) { s.StartDate = Date{2022, 2, 30} },
		"bad end date":             func(s *Schedule) { s.EndDate = Date{2022, 13, 1} },
		"end before start":         func(s *Schedule) { s.EndDate = Date{2022, 4, 6} },
		"equal times":              func(s *Schedule) { s.EndTime = s.StartTime },
		"00:00 to 24:00":           func(s *Schedule) { s.StartTime, s.EndTime = tod(0, 0), tod(24, 0) },
		"start 24:00":              func(s *Schedule) { s.StartTime = tod(24, 0) },
		"minute 60":                func(s *Schedule) { s.EndTime = tod(10, 60) },
		"24:30":                    func(s *Schedule) { s.EndTime = tod(24, 30) },
		"negative interval":        func(s *Schedule) { s.Recurrence.Interval = -1 },
		"weekdays with interval":   func(s *Schedule) { s.Recurrence = Recurrence{Kind: RecurDaily, Daily: DailyWeekdays, Interval: 2} },
		"unknown daily mode":       func(s *Schedule) { s.Recurrence.Daily = "fortnightly" },
		"weekly without weekdays":  func(s *Schedule) { s.Recurrence = Recurrence{Kind: RecurWeekly} },
		"weekly bad weekday":       func(s *Schedule) { s.Recurrence = Recurrence{Kind: RecurWeekly, Weekdays: []time.Weekday{7}} },
		"monthly day 0":            func(s *Schedule) { s.Recurrence = Recurrence{Kind: RecurMonthly} },
		"monthly day 32":           func(s *Schedule) { s.Recurrence = Recurrence{Kind: RecurMonthly, MonthDay: 32} },
		"yearly April 31":          func(s *Schedule) { s.Recurrence = Recurrence{Kind: RecurYearly, Month: time.April, MonthDay: 31} },
		"yearly month 13":          func(s *Schedule) { s.Recurrence = Recurrence{Kind: RecurYearly, Month: 13, MonthDay: 1} },
		"unknown recurrence":       func(s *Schedule) { s.Recurrence.Kind = "hourly" },
		"one-off span ends before": func(s *Schedule) { s.Recurrence = Recurrence{}; s.EndDate = s.StartDate; s.EndTime = tod(8, 0) },
	}
	for name, mutate := range bad {
		s := ok
		mutate(&s)
		err := s.Validate()
		if !errors.Is(err, ErrInvalidSchedule) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidSchedule", name, err)
		}
		if s.ActiveAt(time.Date(2023, 1, 2, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: an invalid schedule is active", name)
		}
	}
	// No recurrence without an end date ignores the end time.
	s := Schedule{StartDate: Date{2022, 4, 7}, StartTime: tod(9, 0), EndTime: tod(9, 0)}
	if err := s.Validate(); err != nil {
		t.Errorf("open-ended span: %v", err)
	}
}

func TestParseDateAndTime(t *testing.T) {
	if d, err := ParseDate("2024-02-29"); err != nil || d != (Date{2024, 2, 29}) || d.String() != "2024-02-29" {
		t.Errorf("ParseDate = %v, %v", d, err)
	}
	for _, s := range []string{"2023-02-29", "2024-2-3", "x", ""} {
		if _, err := ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q) accepted", s)
		}
	}
	for s, want := range map[string]TimeOfDay{"00:00": {0, 0}, "09:30": {9, 30}, "23:59": {23, 59}, "24:00": {24, 0}} {
		if got, err := ParseTimeOfDay(s); err != nil || got != want || got.String() != s {
			t.Errorf("ParseTimeOfDay(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"24:01", "9:30", "09:3", "09:60", "-1:00", "0930", ""} {
		if _, err := ParseTimeOfDay(s); err == nil {
			t.Errorf("ParseTimeOfDay(%q) accepted", s)
		}
	}
}

func TestCivilDays(t *testing.T) {
	for z := int64(-800_000); z <= 800_000; z += 7 {
		d := civilFromDays(z)
		if got := d.days(); got != z {
			t.Fatalf("round trip %d → %v → %d", z, d, got)
		}
		tm := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
		if tm.Unix() != z*86400 || tm.Weekday() != weekdayOfDays(z) {
			t.Fatalf("day %d: %v disagrees with time (weekday %v vs %v)", z, d, weekdayOfDays(z), tm.Weekday())
		}
	}
}

func TestAssignmentStatusAt(t *testing.T) {
	s := &Schedule{StartDate: Date{2022, 4, 7}, AllDay: true, TimeZone: "Europe/Bucharest",
		Recurrence: Recurrence{Kind: RecurDaily, Daily: DailyWeekdays}}
	thu := wall(t, "Europe/Bucharest", "2022-04-07 15:57:00")
	sat := wall(t, "Europe/Bucharest", "2022-04-09 15:57:00")
	tests := []struct {
		a    Assignment
		at   time.Time
		want string
	}{
		{Assignment{Active: true}, sat, "Active"},
		{Assignment{Active: true, Schedule: s}, thu, "Active, due to schedule"},
		{Assignment{Active: true, Schedule: s}, sat, "Inactive, due to schedule"},
		{Assignment{Active: false, Schedule: s}, thu, "Inactive"},
		{Assignment{Active: false}, thu, "Inactive"},
		{Assignment{Active: true, Schedule: &Schedule{}}, thu, "Inactive, due to schedule"},
	}
	for i, tt := range tests {
		if got := tt.a.StatusAt(tt.at).String(); got != tt.want {
			t.Errorf("%d: StatusAt = %q, want %q", i, got, tt.want)
		}
	}
}

// naiveOccurs is an independent, slow reference for occurrence days built
// on the time package's calendar arithmetic.
func naiveOccurs(s *Schedule, y int, m time.Month, d int) bool {
	day := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
	start := time.Date(s.StartDate.Year, s.StartDate.Month, s.StartDate.Day, 12, 0, 0, 0, time.UTC)
	if day.Before(start) {
		return false
	}
	if !s.EndDate.IsZero() && day.After(time.Date(s.EndDate.Year, s.EndDate.Month, s.EndDate.Day, 12, 0, 0, 0, time.UTC)) {
		return false
	}
	r := s.Recurrence
	n := max(r.Interval, 1)
	switch r.Kind {
	case RecurDaily:
		switch r.Daily {
		case DailyWeekdays:
			return day.Weekday() != time.Saturday && day.Weekday() != time.Sunday
		case DailyWeekends:
			return day.Weekday() == time.Saturday || day.Weekday() == time.Sunday
		}
		for c := start; !c.After(day); c = c.AddDate(0, 0, n) {
			if c.Equal(day) {
				return true
			}
		}
	case RecurWeekly:
		chosen := false
		for _, wd := range r.Weekdays {
			chosen = chosen || wd == day.Weekday()
		}
		if !chosen {
			return false
		}
		mon := start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7))
		for w := mon; !w.After(day); w = w.AddDate(0, 0, 7*n) {
			if day.Before(w.AddDate(0, 0, 7)) {
				return true
			}
		}
	case RecurMonthly:
		for k := 0; ; k++ {
			first := time.Date(s.StartDate.Year, s.StartDate.Month+time.Month(n*k), 1, 12, 0, 0, 0, time.UTC)
			if first.After(day) {
				return false
			}
			if first.Year() != y || first.Month() != m {
				continue
			}
			want := r.MonthDay
			if r.LastDay {
				want = first.AddDate(0, 1, -1).Day()
			}
			c := time.Date(y, m, want, 12, 0, 0, 0, time.UTC)
			return c.Month() == m && c.Day() == d
		}
	case RecurYearly:
		for yr := s.StartDate.Year; yr <= y; yr += n {
			if yr == y {
				c := time.Date(y, r.Month, r.MonthDay, 12, 0, 0, 0, time.UTC)
				return c.Month() == r.Month && m == r.Month && d == r.MonthDay
			}
		}
	}
	return false
}

func naiveActive(s *Schedule, loc *time.Location, at time.Time) bool {
	lt := at.In(loc)
	y, m, d := lt.Date()
	sec := lt.Hour()*3600 + lt.Minute()*60 + lt.Second()
	from, to := s.StartTime.minutes()*60, s.EndTime.minutes()*60
	prev := time.Date(y, m, d-1, 12, 0, 0, 0, time.UTC)
	switch {
	case s.AllDay:
		return naiveOccurs(s, y, m, d)
	case from < to:
		return naiveOccurs(s, y, m, d) && sec >= from && sec < to
	default:
		return (naiveOccurs(s, y, m, d) && sec >= from) || (naiveOccurs(s, prev.Year(), prev.Month(), prev.Day()) && sec < to)
	}
}

// TestScheduleMatchesReference compares ActiveAt with the naive reference
// on random recurring schedules and instants.
func TestScheduleMatchesReference(t *testing.T) {
	zones := []string{"UTC", "Europe/Bucharest", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Kiritimati"}
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []RecurrenceKind{RecurDaily, RecurWeekly, RecurMonthly, RecurYearly}
	checked := 0
	for i := 0; i < 1200; i++ {
		start := civilFromDays(daysFromCivil(2018, 1, 1) + rng.Int64N(3000))
		s := Schedule{StartDate: start, TimeZone: zones[rng.IntN(len(zones))], AllDay: rng.IntN(4) == 0,
			StartTime: tod(rng.IntN(24), rng.IntN(4)*15), EndTime: tod(rng.IntN(24), rng.IntN(4)*15)}
		if rng.IntN(3) == 0 {
			s.EndDate = civilFromDays(start.days() + rng.Int64N(1500))
		}
		r := Recurrence{Kind: kinds[rng.IntN(len(kinds))], Interval: rng.IntN(5)}
		switch r.Kind {
		case RecurDaily:
			r.Daily = []DailyMode{DailyEveryN, DailyEveryN, DailyWeekdays, DailyWeekends}[rng.IntN(4)]
			if r.Daily != DailyEveryN {
				r.Interval = 1
			}
		case RecurWeekly:
			for wd := time.Sunday; wd <= time.Saturday; wd++ {
				if rng.IntN(3) == 0 {
					r.Weekdays = append(r.Weekdays, wd)
				}
			}
		case RecurMonthly:
			r.MonthDay, r.LastDay = 1+rng.IntN(31), rng.IntN(5) == 0
		case RecurYearly:
			r.Month = time.Month(1 + rng.IntN(12))
			r.MonthDay = 1 + rng.IntN(daysIn(2000, r.Month))
			if rng.IntN(4) == 0 {
				r.Month, r.MonthDay = time.February, 29
			}
		}
		s.Recurrence = r
		if s.Validate() != nil {
			continue
		}
		loc := schedLoc(t, s.TimeZone)
		base := time.Date(start.Year, start.Month, start.Day, 0, 0, 0, 0, time.UTC).Add(-48 * time.Hour)
		for j := 0; j < 40; j++ {
			at := base.Add(time.Duration(rng.Int64N(int64(4 * 365 * 24 * time.Hour))))
			if j%4 == 0 { // probe window edges
				at = time.Date(at.Year(), at.Month(), at.Day(), s.StartTime.Hour, s.StartTime.Minute, 0, 0, loc).Add(time.Duration(rng.IntN(3)-1) * time.Second)
			}
			checked++
			if got, want := s.ActiveAt(at), naiveActive(&s, loc, at); got != want {
				t.Fatalf("%s\nat %s (%s): ActiveAt = %v, reference %v", s.Describe(), at.UTC(), at.In(loc), got, want)
			}
		}
	}
	if checked < 20000 {
		t.Fatalf("only %d instants checked", checked)
	}
}

func ExampleSchedule_Describe() {
	s := Schedule{StartDate: Date{2022, 4, 7}, AllDay: true, TimeZone: "Europe/Bucharest",
		Recurrence: Recurrence{Kind: RecurDaily, Daily: DailyWeekdays}}
	fmt.Println(s.Describe())
	// Output: From April 7, 2022, every weekday, full time (Europe/Bucharest time)
}

// FuzzScheduleActiveAt: any schedule that validates agrees with the naive
// reference at any instant, and Describe never panics.
func FuzzScheduleActiveAt(f *testing.F) {
	f.Add(int64(19000), uint8(1), uint8(0), uint8(0), uint8(9*4), uint8(17*4), uint8(0), uint8(0), uint8(0), int64(0), int64(1_650_000_000))
	f.Add(int64(19450), uint8(2), uint8(2), uint8(0b0100001), uint8(22*4), uint8(6*4), uint8(0), uint8(0), uint8(1), int64(30), int64(1_710_050_400))
	f.Add(int64(18262), uint8(3), uint8(1), uint8(31), uint8(0), uint8(0), uint8(1), uint8(0), uint8(2), int64(0), int64(1_700_000_000))
	f.Add(int64(18262), uint8(4), uint8(3), uint8(29), uint8(0), uint8(0), uint8(1), uint8(2), uint8(3), int64(0), int64(1_709_164_800))
	zones := []string{"UTC", "Europe/Bucharest", "America/New_York", "Australia/Lord_Howe"}
	f.Fuzz(func(t *testing.T, startDay int64, kind, interval, param, from, to, allDay, month, zone uint8, endAfter, unix int64) {
		if startDay < -50_000 || startDay > 50_000 || endAfter < 0 || endAfter > 5000 || unix < -2e9 || unix > 4e9 {
			t.Skip()
		}
		s := Schedule{StartDate: civilFromDays(startDay), AllDay: allDay%2 == 1, TimeZone: zones[int(zone)%len(zones)],
			StartTime: tod(int(from)/4%24, int(from)%4*15), EndTime: tod(int(to)/4%25, int(to)%4*15)}
		if s.EndTime.Hour == 24 {
			s.EndTime.Minute = 0
		}
		if endAfter > 0 {
			s.EndDate = civilFromDays(startDay + endAfter)
		}
		r := Recurrence{Kind: []RecurrenceKind{RecurNone, RecurDaily, RecurWeekly, RecurMonthly, RecurYearly}[kind%5], Interval: int(interval % 6)}
		switch r.Kind {
		case RecurDaily:
			r.Daily = []DailyMode{DailyEveryN, DailyWeekdays, DailyWeekends}[param%3]
		case RecurWeekly:
			for wd := time.Sunday; wd <= time.Saturday; wd++ {
				if param&(1<<wd) != 0 {
					r.Weekdays = append(r.Weekdays, wd)
				}
			}
		case RecurMonthly:
			r.MonthDay, r.LastDay = int(param%33), param >= 200
		case RecurYearly:
			r.Month, r.MonthDay = time.Month(1+month%12), int(param%32)
		}
		s.Recurrence = r
		_ = s.Describe()
		if s.Validate() != nil || r.Kind == RecurNone {
			return
		}
		at := time.Unix(unix, 0)
		if got, want := s.ActiveAt(at), naiveActive(&s, schedLoc(t, s.TimeZone), at); got != want {
			t.Fatalf("%s at %s: ActiveAt = %v, reference %v", s.Describe(), at.UTC(), got, want)
		}
	})
}
