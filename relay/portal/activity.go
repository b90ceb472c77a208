package portal

import (
	"fmt"
	"net/http"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// The Dashboard's activity chart (spec 2.2): this week against last week
// for active users, remote sessions and enrolled devices, drawn as inline
// SVG on the server — no script, nothing the CSP would have to allow —
// with the figures as a table for screen readers and keyboards.

const (
	chartW, chartH = 308, 120 // the plot; labels go below
	chartPad       = 4
)

type activityChart struct {
	Metrics  []metricChart
	Days     []string // this week's local dates, for the table
	LastDays []string
	TimeZone string
	LogsURL  string // "View more logs": the log from last week's first day
}

type metricChart struct {
	ID, Name   string
	This, Last int   // the week's totals
	ThisDays   []int // per day, for the table
	LastDays   []int
	Bars       []chartBar
	Labels     []chartLabel
	Max        int
	Summary    string // the chart's text alternative
}

type chartBar struct {
	X, Y, W, H int
	Class      string // "this" or "last"
	Title      string
}

type chartLabel struct {
	X    int
	Text string
}

// fetchActivity asks the API for the account's last 14 days.
func (p *Portal) fetchActivity(r *http.Request, s *session) (*activityChart, error) {
	var act wire.Activity
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/activity?days=7"), nil, &act); err != nil {
		return nil, err
	}
	return buildChart(act), nil
}

// buildChart lays the bars out: per metric, seven day pairs (last week's
// day beside this week's same weekday), scaled to the metric's maximum.
func buildChart(act wire.Activity) *activityChart {
	n := len(act.Days) / 2
	c := &activityChart{TimeZone: act.TimeZone}
	if n == 0 {
		return c
	}
	last, this := act.Days[:n], act.Days[n:2*n]
	for i := range n {
		c.Days = append(c.Days, this[i].Date)
		c.LastDays = append(c.LastDays, last[i].Date)
	}
	c.LogsURL = "/logs?from=" + last[0].Date
	metrics := []struct {
		id, name string
		get      func(wire.ActivityDay) int
	}{
		{"users", "Active users", func(d wire.ActivityDay) int { return d.ActiveUsers }},
		{"sessions", "Remote sessions", func(d wire.ActivityDay) int { return d.RemoteSessions }},
		{"enrolled", "Enrolled devices", func(d wire.ActivityDay) int { return d.EnrolledDevices }},
	}
	slot := (chartW - 2*chartPad) / n
	barW := max((slot-6)/2, 2)
	for _, m := range metrics {
		mc := metricChart{ID: m.id, Name: m.name}
		for i := range n {
			t, l := m.get(this[i]), m.get(last[i])
			mc.ThisDays, mc.LastDays = append(mc.ThisDays, t), append(mc.LastDays, l)
			mc.This += t
			mc.Last += l
			mc.Max = max(mc.Max, t, l)
		}
		scale := max(mc.Max, 1)
		for i := range n {
			x := chartPad + i*slot + (slot-2*barW-2)/2
			day := weekday(this[i].Date)
			for j, b := range []struct {
				v     int
				class string
				date  string
			}{{mc.LastDays[i], "last", last[i].Date}, {mc.ThisDays[i], "this", this[i].Date}} {
				h := b.v * (chartH - chartPad) / scale
				if b.v > 0 && h < 2 {
					h = 2
				}
				mc.Bars = append(mc.Bars, chartBar{X: x + j*(barW+2), Y: chartH - h, W: barW, H: h, Class: b.class,
					Title: fmt.Sprintf("%s %s: %d", day, b.date, b.v)})
			}
			mc.Labels = append(mc.Labels, chartLabel{X: chartPad + i*slot + slot/2, Text: day})
		}
		mc.Summary = fmt.Sprintf("%s: %d this week, %d last week", m.name, mc.This, mc.Last)
		c.Metrics = append(c.Metrics, mc)
	}
	return c
}

func weekday(date string) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return date
	}
	return t.Weekday().String()[:3]
}
