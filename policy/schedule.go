package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Date is a civil (calendar) date with no time zone: the schedule's start
// and end dates are days on the wall calendar of the schedule's zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the civil date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate parses "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("policy: bad date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// IsZero reports whether d is the zero Date ("not set").
func (d Date) IsZero() bool { return d == Date{} }

// Valid reports whether d is a real calendar day (no February 30).
func (d Date) Valid() bool {
	return d.Month >= time.January && d.Month <= time.December &&
		d.Day >= 1 && d.Day <= daysIn(d.Year, d.Month)
}

// String formats d as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// long formats d as the portal does: "April 7, 2022".
func (d Date) long() string {
	return fmt.Sprintf("%s %d, %d", d.Month, d.Day, d.Year)
}

// days is the number of days since 1970-01-01 (proleptic Gregorian).
func (d Date) days() int64 { return daysFromCivil(d.Year, d.Month, d.Day) }

// daysFromCivil and civilFromDays are H. Hinnant's algorithms: exact,
// branch-light and free of time zones, so occurrence tests never touch the
// time package's zone machinery.
func daysFromCivil(y int, m time.Month, d int) int64 {
	yy := int64(y)
	if m <= 2 {
		yy--
	}
	era := yy
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := yy - era*400
	mp := (int64(m) + 9) % 12
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func civilFromDays(z int64) Date {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return Date{int(y), time.Month(m), int(d)}
}

// weekdayOfDays: 1970-01-01 was a Thursday.
func weekdayOfDays(z int64) time.Weekday {
	return time.Weekday(((z % 7) + 7 + 4) % 7)
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y int, m time.Month) int {
	switch m {
	case time.February:
		if isLeap(y) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// TimeOfDay is a wall-clock time in minutes precision. 24:00 is allowed as
// an end time (midnight at the end of the day).
type TimeOfDay struct {
	Hour   int
	Minute int
}

// ParseTimeOfDay parses "15:04" (and "24:00").
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	t := TimeOfDay{hh, mm}
	if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || !t.valid() {
		return TimeOfDay{}, fmt.Errorf("policy: bad time of day %q: want HH:MM", s)
	}
	return t, nil
}

func (t TimeOfDay) minutes() int { return t.Hour*60 + t.Minute }

func (t TimeOfDay) valid() bool {
	return t.Hour >= 0 && t.Minute >= 0 && t.Minute < 60 && t.minutes() <= 24*60
}

// String formats t as HH:MM.
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }

// RecurrenceKind is how a schedule repeats.
type RecurrenceKind string

const (
	RecurNone    RecurrenceKind = "" // one continuous span, see Schedule
	RecurDaily   RecurrenceKind = "daily"
	RecurWeekly  RecurrenceKind = "weekly"
	RecurMonthly RecurrenceKind = "monthly"
	RecurYearly  RecurrenceKind = "yearly"
)

// DailyMode selects the days of a daily recurrence.
type DailyMode string

const (
	DailyEveryN   DailyMode = ""         // every Interval days, counted from the start date
	DailyWeekdays DailyMode = "weekdays" // Monday to Friday
	DailyWeekends DailyMode = "weekends" // Saturday and Sunday
)

// Recurrence is the portal's recurrence settings. Only the fields of Kind
// are read.
type Recurrence struct {
	Kind RecurrenceKind
	// Interval is "every N" days/weeks/months/years; 0 means 1. Counting
	// starts at the start date (its day, its Monday-based week, its month,
	// its year). Must be 0 or 1 for DailyWeekdays and DailyWeekends.
	Interval int
	// Daily picks every-N days, weekdays only or weekends only.
	Daily DailyMode
	// Weekdays are the days of a weekly recurrence (at least one).
	Weekdays []time.Weekday
	// MonthDay is the day of the month (1–31) for monthly and yearly
	// recurrences. A monthly day that a month lacks (31 in April, 30 in
	// February) has no occurrence that month: it is skipped, not moved.
	MonthDay int
	// LastDay makes a monthly recurrence fall on each month's last day
	// (MonthDay is then ignored).
	LastDay bool
	// Month is the month of a yearly recurrence. February 29 occurs only in
	// leap years that are also on the every-N-years cycle.
	Month time.Month
}

// Schedule restricts a role assignment to time windows. All fields are wall
// clock values in TimeZone; see the package documentation for the exact
// semantics (midnight crossing, DST, end date).
type Schedule struct {
	// StartDate is the first day the schedule can be active. Required.
	StartDate Date
	// AllDay makes each occurrence last the whole day ("full time");
	// StartTime and EndTime are then ignored.
	AllDay bool
	// StartTime and EndTime bound each occurrence. EndTime earlier than
	// StartTime crosses midnight: the window belongs to the day it starts
	// and ends on the next day. Equal times are invalid (use AllDay).
	StartTime TimeOfDay
	EndTime   TimeOfDay
	// TimeZone is an IANA name such as "Europe/Bucharest"; "" means UTC.
	TimeZone string
	// Recurrence: RecurNone makes the schedule one continuous span from
	// StartDate StartTime until EndDate EndTime, or forever without an
	// EndDate (the spec's "applies indefinitely").
	Recurrence Recurrence
	// EndDate is the last day (inclusive) on which an occurrence may start;
	// zero means no end date. A window that starts on EndDate and crosses
	// midnight runs to its end on the next day.
	EndDate Date
}

// Schedule errors.
var ErrInvalidSchedule = errors.New("policy: invalid schedule")

var locCache sync.Map // zone name → *time.Location

// loadLocation is time.LoadLocation with a cache: the tz database is read
// once per zone name, so evaluation after the model is built does no I/O.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if name == "Local" {
		// "Local" is the machine's zone, not a schedule setting.
		return nil, errors.New("zone \"Local\" is not allowed")
	}
	if l, ok := locCache.Load(name); ok {
		return l.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locCache.Store(name, loc)
	return loc, nil
}

// Validate reports why s can never be evaluated; an invalid schedule is
// never active.
func (s *Schedule) Validate() error {
	_, err := s.compile()
	return err
}

func schedErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSchedule, fmt.Sprintf(format, a...))
}

// compiledSchedule is a validated Schedule with its zone loaded and its
// dates turned into day numbers.
type compiledSchedule struct {
	loc      *time.Location
	start    int64 // day number of StartDate
	end      int64 // day number of EndDate, or maxDay
	startSec int64
	endSec   int64 // may be ≤ startSec: crosses midnight
	allDay   bool
	cross    bool
	kind     RecurrenceKind
	n        int64
	daily    DailyMode
	wdMask   uint8
	startMon int64 // Monday of the start week (weekly)
	startYM  int64 // year*12+month-1 of the start date (monthly)
	startY   int
	monthDay int
	lastDay  bool
	month    time.Month
}

const maxDay = int64(1) << 40

func (s *Schedule) compile() (*compiledSchedule, error) {
	if s == nil {
		return nil, schedErr("no schedule")
	}
	loc, err := loadLocation(s.TimeZone)
	if err != nil {
		return nil, schedErr("time zone %q: %v", s.TimeZone, err)
	}
	if s.StartDate.IsZero() {
		return nil, schedErr("no start date")
	}
	if !s.StartDate.Valid() {
		return nil, schedErr("start date %s is not a calendar day", s.StartDate)
	}
	c := &compiledSchedule{
		loc: loc, start: s.StartDate.days(), end: maxDay,
		allDay: s.AllDay, kind: s.Recurrence.Kind,
	}
	if !s.EndDate.IsZero() {
		if !s.EndDate.Valid() {
			return nil, schedErr("end date %s is not a calendar day", s.EndDate)
		}
		c.end = s.EndDate.days()
		if c.end < c.start {
			return nil, schedErr("end date %s is before start date %s", s.EndDate, s.StartDate)
		}
	}
	if s.AllDay {
		c.startSec, c.endSec = 0, 86400
	} else {
		if !s.StartTime.valid() || s.StartTime.minutes() >= 24*60 {
			return nil, schedErr("start time %s", s.StartTime)
		}
		if !s.EndTime.valid() {
			return nil, schedErr("end time %s", s.EndTime)
		}
		if s.Recurrence.Kind != RecurNone && s.StartTime.minutes() == s.EndTime.minutes()%(24*60) {
			return nil, schedErr("start and end time are both %s; use all day", s.StartTime)
		}
		c.startSec = int64(s.StartTime.minutes()) * 60
		c.endSec = int64(s.EndTime.minutes()) * 60
		c.cross = c.endSec < c.startSec
	}
	r := s.Recurrence
	if r.Interval < 0 {
		return nil, schedErr("interval %d", r.Interval)
	}
	c.n = int64(max(r.Interval, 1))
	switch r.Kind {
	case RecurNone:
		if !s.EndDate.IsZero() && !s.AllDay && c.end == c.start && c.endSec <= c.startSec {
			return nil, schedErr("span ends before it starts")
		}
	case RecurDaily:
		switch r.Daily {
		case DailyEveryN:
		case DailyWeekdays, DailyWeekends:
			if c.n != 1 {
				return nil, schedErr("daily %s takes no interval", r.Daily)
			}
		default:
			return nil, schedErr("daily mode %q", r.Daily)
		}
		c.daily = r.Daily
	case RecurWeekly:
		if len(r.Weekdays) == 0 {
			return nil, schedErr("weekly recurrence needs at least one weekday")
		}
		for _, wd := range r.Weekdays {
			if wd < time.Sunday || wd > time.Saturday {
				return nil, schedErr("weekday %d", wd)
			}
			c.wdMask |= 1 << wd
		}
		c.startMon = mondayOf(c.start)
	case RecurMonthly:
		if !r.LastDay && (r.MonthDay < 1 || r.MonthDay > 31) {
			return nil, schedErr("day of month %d", r.MonthDay)
		}
		c.monthDay, c.lastDay = r.MonthDay, r.LastDay
		c.startYM = int64(s.StartDate.Year)*12 + int64(s.StartDate.Month) - 1
	case RecurYearly:
		if r.Month < time.January || r.Month > time.December {
			return nil, schedErr("month %d", r.Month)
		}
		if r.MonthDay < 1 || r.MonthDay > daysIn(2000, r.Month) { // 2000: leap, so Feb 29 is allowed
			return nil, schedErr("%s has no day %d", r.Month, r.MonthDay)
		}
		c.month, c.monthDay, c.startY = r.Month, r.MonthDay, s.StartDate.Year
	default:
		return nil, schedErr("recurrence %q", r.Kind)
	}
	return c, nil
}

func mondayOf(day int64) int64 {
	return day - int64((weekdayOfDays(day)+6)%7)
}

// occurs reports whether an occurrence starts on day number day.
func (c *compiledSchedule) occurs(day int64) bool {
	if day < c.start || day > c.end {
		return false
	}
	switch c.kind {
	case RecurDaily:
		switch c.daily {
		case DailyWeekdays:
			wd := weekdayOfDays(day)
			return wd != time.Saturday && wd != time.Sunday
		case DailyWeekends:
			wd := weekdayOfDays(day)
			return wd == time.Saturday || wd == time.Sunday
		}
		return (day-c.start)%c.n == 0
	case RecurWeekly:
		if c.wdMask&(1<<weekdayOfDays(day)) == 0 {
			return false
		}
		return ((mondayOf(day)-c.startMon)/7)%c.n == 0
	case RecurMonthly:
		d := civilFromDays(day)
		if (int64(d.Year)*12+int64(d.Month)-1-c.startYM)%c.n != 0 {
			return false
		}
		if c.lastDay {
			return d.Day == daysIn(d.Year, d.Month)
		}
		return d.Day == c.monthDay
	case RecurYearly:
		d := civilFromDays(day)
		return d.Month == c.month && d.Day == c.monthDay && int64(d.Year-c.startY)%c.n == 0
	}
	return false
}

// activeAt applies wall-clock semantics: t is converted to the schedule's
// zone and its calendar day and clock reading are compared with the
// windows. Sub-second parts are ignored.
func (c *compiledSchedule) activeAt(t time.Time) bool {
	lt := t.In(c.loc)
	y, mo, d := lt.Date()
	hh, mm, ss := lt.Clock()
	day := daysFromCivil(y, mo, d)
	sec := int64(hh*3600 + mm*60 + ss)
	if c.kind == RecurNone {
		if day < c.start || (day == c.start && sec < c.startSec) {
			return false
		}
		if c.end == maxDay {
			return true
		}
		return day < c.end || (day == c.end && sec < c.endSec)
	}
	switch {
	case c.allDay:
		return c.occurs(day)
	case !c.cross:
		return sec >= c.startSec && sec < c.endSec && c.occurs(day)
	default:
		return (sec >= c.startSec && c.occurs(day)) || (sec < c.endSec && c.occurs(day-1))
	}
}

// ActiveAt reports whether the schedule is active at instant t. An invalid
// schedule (see Validate) is never active. The first use of a time zone
// reads the tz database; later uses are served from a cache.
func (s *Schedule) ActiveAt(t time.Time) bool {
	c, err := s.compile()
	if err != nil {
		return false
	}
	return c.activeAt(t)
}

var weekdayOrder = []time.Weekday{
	time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday,
}

func ordinal(n int) string {
	suf := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suf = "st"
		case 2:
			suf = "nd"
		case 3:
			suf = "rd"
		}
	}
	return strconv.Itoa(n) + suf
}

func every(n int, unit string) string {
	if n <= 1 {
		return "every " + unit
	}
	return fmt.Sprintf("every %d %ss", n, unit)
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// Describe renders the schedule the way the portal shows it, e.g.
// "From April 7, 2022, every weekday, full time (Europe/Bucharest time)".
// An invalid schedule is described as such.
func (s *Schedule) Describe() string {
	if s == nil {
		return "no schedule"
	}
	if err := s.Validate(); err != nil {
		return "invalid schedule (" + strings.TrimPrefix(err.Error(), ErrInvalidSchedule.Error()+": ") + ")"
	}
	zone := s.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	tz := " (" + zone + " time)"
	r := s.Recurrence
	if r.Kind == RecurNone {
		if s.AllDay {
			if s.EndDate.IsZero() {
				return "From " + s.StartDate.long() + ", full time" + tz
			}
			return "From " + s.StartDate.long() + " until " + s.EndDate.long() + ", full time" + tz
		}
		if s.EndDate.IsZero() {
			return "From " + s.StartDate.long() + " " + s.StartTime.String() + ", with no end" + tz
		}
		return "From " + s.StartDate.long() + " " + s.StartTime.String() +
			" until " + s.EndDate.long() + " " + s.EndTime.String() + tz
	}
	var rec string
	switch r.Kind {
	case RecurDaily:
		switch r.Daily {
		case DailyWeekdays:
			rec = "every weekday"
		case DailyWeekends:
			rec = "every weekend day"
		default:
			rec = every(r.Interval, "day")
		}
	case RecurWeekly:
		var names []string
		for _, wd := range weekdayOrder {
			for _, x := range r.Weekdays {
				if x == wd {
					names = append(names, wd.String())
					break
				}
			}
		}
		rec = every(r.Interval, "week") + " on " + joinAnd(names)
	case RecurMonthly:
		if r.LastDay {
			rec = every(r.Interval, "month") + " on the last day"
		} else {
			rec = every(r.Interval, "month") + " on the " + ordinal(r.MonthDay)
		}
	case RecurYearly:
		rec = every(r.Interval, "year") + " on " + r.Month.String() + " " + strconv.Itoa(r.MonthDay)
	}
	times := "full time"
	if !s.AllDay {
		times = "from " + s.StartTime.String() + " to " + s.EndTime.String()
		if s.EndTime.minutes() < s.StartTime.minutes() {
			times += " (next day)"
		}
	}
	out := "From " + s.StartDate.long() + ", " + rec + ", " + times
	if !s.EndDate.IsZero() {
		out += ", until " + s.EndDate.long()
	}
	return out + tz
}

// Status is a role assignment's status as the portal shows it.
type Status int

const (
	StatusInactive           Status = iota // "Inactive"
	StatusActive                           // "Active"
	StatusActiveBySchedule                 // "Active, due to schedule"
	StatusInactiveBySchedule               // "Inactive, due to schedule"
)

// String returns the portal's wording.
func (s Status) String() string {
	switch s {
	case StatusActive:
		return "Active"
	case StatusActiveBySchedule:
		return "Active, due to schedule"
	case StatusInactiveBySchedule:
		return "Inactive, due to schedule"
	}
	return "Inactive"
}

// scheduleStatus combines an Active flag and an optional schedule.
func scheduleStatus(active bool, c *compiledSchedule, hasSchedule bool, t time.Time) Status {
	switch {
	case !active:
		return StatusInactive
	case !hasSchedule:
		return StatusActive
	case c != nil && c.activeAt(t):
		return StatusActiveBySchedule
	}
	return StatusInactiveBySchedule
}
