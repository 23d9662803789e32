package views

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"keydesk/models/keys"
	"keydesk/models/usage"
)

// UsageRanges are the usage view's periods: query value and label.
var UsageRanges = []struct{ Value, Label string }{{"24h", "24 hours"}, {"7d", "7 days"}, {"30d", "30 days"}}

// UsageSeries is one series of the chart: a class of outcomes
// (usage.Classes), its label and its total over the period.
type UsageSeries struct {
	Class string
	Label string
	Total int64
}

// usageSeriesLabels name the chart's series, in usage.Classes order.
var usageSeriesLabels = map[string]string{
	"success":      "Successful (2xx)",
	"unauthorized": "Authentication failed (401)",
	"forbidden":    "Forbidden (403)",
	"limited":      "Rate limit or quota (429)",
	"client_error": "Client errors (other 4xx)",
	"server_error": "Server errors (5xx)",
}

// UsageBar is one bar of the chart: a period's calls per series (in
// usage.Classes order).
type UsageBar struct {
	Start time.Time
	// Label is the period as a table row names it; Description says it
	// all in words, for the bar's accessible name and tooltip.
	Label       string
	Description string
	BySeries    []int64
	Total       int64
}

// UsageView is a key's usage over a period.
type UsageView struct {
	Key       keys.APIKey
	Range     string
	RangeName string
	Bars      []UsageBar
	Series    []UsageSeries
	Succeeded int64
	Failed    int64
	// FailedBy is the failed calls by reason (every reason, in display
	// order, zeros included).
	FailedBy []OutcomeCount
	Clients  []usage.Client
	Now      time.Time
	// Freshness says how far behind the counts can be.
	Freshness string
	// Quota is the key's use of its quota this period (api_key_quota.templ).
	Quota QuotaUse
}

// OutcomeCount is a failure reason's count.
type OutcomeCount struct {
	Outcome string
	Label   string
	Count   int64
}

// OutcomeLabels name the failure reasons for people.
var OutcomeLabels = map[string]string{
	usage.OutcomeInactive:      "Key inactive (401)",
	usage.OutcomeExpired:       "Key expired (401)",
	usage.OutcomeOldKeyExpired: "Old key after its roll overlap ended (401)",
	usage.OutcomeWrongPartner:  "Wrong partner ID for the key (401)",
	usage.OutcomeNoPermission:  "Missing permission (403)",
	usage.OutcomeWrongAddress:  "Address not allowed (403)",
	usage.OutcomeRateLimited:   "Rate limit (429)",
	usage.OutcomeQuotaExceeded: "Quota exceeded (429)",
	usage.OutcomeClientError:   "Other client errors (4xx: not found, validation…)",
	usage.OutcomeServerError:   "Server errors (5xx)",
}

// NewUsageView sums counts (any resolution) into the period's bars: hourly
// for 24 hours, 6-hourly for 7 days, daily for 30 days. flushEvery is how
// often counted calls are written (how far behind the view can be).
func NewUsageView(key keys.APIKey, rangeValue string, counts []usage.Count, clients []usage.Client, now time.Time, flushEvery time.Duration) UsageView {
	v := UsageView{Key: key, Range: "24h", RangeName: "24 hours", Clients: clients, Now: now, Freshness: freshness(flushEvery)}
	step, n := time.Hour, 24
	switch rangeValue {
	case "7d":
		v.Range, v.RangeName, step, n = "7d", "7 days", 6*time.Hour, 28
	case "30d":
		v.Range, v.RangeName, step, n = "30d", "30 days", 24*time.Hour, 30
	}
	end := now.UTC().Truncate(step).Add(step)
	start := end.Add(-time.Duration(n) * step)
	for _, c := range usage.Classes {
		v.Series = append(v.Series, UsageSeries{Class: c.Name, Label: usageSeriesLabels[c.Name]})
	}
	v.Bars = make([]UsageBar, n)
	for i := range v.Bars {
		t := start.Add(time.Duration(i) * step)
		label := t.Format("Jan 2 15:04")
		if step == 24*time.Hour {
			label = t.Format("Jan 2")
		}
		v.Bars[i] = UsageBar{Start: t, Label: label, BySeries: make([]int64, len(v.Series))}
	}
	var inPeriod []usage.Count
	for _, c := range counts {
		b := c.Bucket.UTC()
		if b.Before(start) || !b.Before(end) {
			continue
		}
		inPeriod = append(inPeriod, c)
		bar := &v.Bars[int(b.Sub(start)/step)]
		s := seriesIndex(usage.ClassOf(c.Outcome))
		bar.BySeries[s] += c.Count
		bar.Total += c.Count
		v.Series[s].Total += c.Count
	}
	sum := usage.Summarize(inPeriod)
	v.Succeeded, v.Failed = sum.Successful, sum.Failed
	for _, c := range usage.Classes[1:] {
		for _, o := range c.Outcomes {
			v.FailedBy = append(v.FailedBy, OutcomeCount{Outcome: o, Label: OutcomeLabels[o], Count: sum.ByOutcome[o]})
		}
	}
	for i := range v.Bars {
		v.Bars[i].Description = v.describe(v.Bars[i], step)
	}
	return v
}

// seriesIndex is the index of a class in usage.Classes.
func seriesIndex(class string) int {
	for i, c := range usage.Classes {
		if c.Name == class {
			return i
		}
	}
	return len(usage.Classes) - 2 // client_error: ClassOf never says otherwise
}

// describe says a bar in words: its period and each series' calls.
func (v UsageView) describe(b UsageBar, step time.Duration) string {
	var period string
	switch step {
	case 24 * time.Hour:
		period = b.Start.Format("Mon Jan 2") + " (UTC)"
	default:
		period = b.Start.Format("Jan 2, 15:04") + "–" + b.Start.Add(step).Format("15:04") + " UTC"
	}
	if b.Total == 0 {
		return period + ": no requests"
	}
	var parts []string
	for i, n := range b.BySeries {
		if n > 0 {
			parts = append(parts, v.Series[i].Label+": "+count(n))
		}
	}
	return period + ": " + requests(b.Total) + ". " + strings.Join(parts, "; ")
}

// freshness says how far behind the counts can be: each instance counts
// calls in memory and writes them once per flushEvery.
func freshness(flushEvery time.Duration) string {
	if flushEvery <= 0 {
		return ""
	}
	every := "every " + duration(flushEvery)
	if flushEvery == time.Minute {
		every = "once a minute"
	}
	return "Calls are counted in memory and written " + every + ", so these numbers can be up to " + duration(flushEvery) + " behind."
}

// duration names a flush interval in words: "a minute", "30 seconds".
func duration(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "a minute"
	case d == time.Second:
		return "a second"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + " minutes"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + " seconds"
	default:
		return d.String()
	}
}

// requests is "1 request" or "N requests".
func requests(n int64) string {
	if n == 1 {
		return "1 request"
	}
	return count(n) + " requests"
}

// Since is where the view's counts start.
func (v UsageView) Since() time.Time { return v.Bars[0].Start }

// UsageSince is the start of a period's counts, for the loader.
func UsageSince(rangeValue string, now time.Time) time.Time {
	return NewUsageView(keys.APIKey{}, rangeValue, nil, nil, now, 0).Since()
}

// UsageSumPer is the resolution the loader sums a period's counts to
// (usage.Store.Sums): days for 30 days, hours otherwise. Every bar is a
// whole number of them.
func UsageSumPer(rangeValue string) string {
	if rangeValue == "30d" {
		return usage.Day
	}
	return usage.Hour
}

// AxisMax is the top of the chart's y axis: the tallest bar rounded up to
// 2, 4, 6, 8 or 10 times a power of ten, so that it and its half are
// round numbers (at least 2).
func (v UsageView) AxisMax() int64 {
	tallest := int64(0)
	for _, b := range v.Bars {
		tallest = max(tallest, b.Total)
	}
	for scale := int64(1); ; scale *= 10 {
		for _, m := range []int64{2, 4, 6, 8, 10} {
			if m*scale >= tallest {
				return m * scale
			}
		}
	}
}

// axisLabel is a y-axis tick's number, short: 1.5k, 2M.
func axisLabel(n int64) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1000 && n%100 == 0:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + "k"
	default:
		return count(n)
	}
}

// segment is one series' part of a bar, in percent of the plot.
type segment struct {
	Class  string
	Y, H   string
	Amount int64
}

// barShape is one bar: its slot and its stacked segments, in percent of
// the plot, successful at the bottom.
type barShape struct {
	Bar         UsageBar
	SlotX, Slot string
	X, W        string
	Segments    []segment
}

func (v UsageView) shapes() []barShape {
	out := make([]barShape, len(v.Bars))
	w := 100 / float64(len(v.Bars))
	top := float64(v.AxisMax())
	for i, b := range v.Bars {
		s := barShape{Bar: b, SlotX: pct(float64(i) * w), Slot: pct(w), X: pct(float64(i)*w + w*0.15), W: pct(w * 0.7)}
		base := 100.0
		for j, n := range b.BySeries {
			if n == 0 {
				continue
			}
			h := float64(n) / top * 100
			base -= h
			s.Segments = append(s.Segments, segment{Class: "usage-series-" + v.Series[j].Class, Y: pct(base), H: pct(h), Amount: n})
		}
		out[i] = s
	}
	return out
}

func pct(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) + "%" }

func count(n int64) string { return strconv.FormatInt(n, 10) }

// chartTitle is the chart's accessible name.
func (v UsageView) chartTitle() string {
	return fmt.Sprintf("Requests per %s by outcome, last %s. Focus a bar for its numbers; the table below has them all.", v.barName(), v.RangeName)
}

func (v UsageView) barName() string {
	switch v.Range {
	case "7d":
		return "6 hours"
	case "30d":
		return "day"
	}
	return "hour"
}

type requestsKey struct{}

// WithRequests24h carries each key's requests in the last 24 hours to the
// API Keys rows rendered with ctx.
func WithRequests24h(ctx context.Context, byKey map[int64]int64) context.Context {
	return context.WithValue(ctx, requestsKey{}, byKey)
}

func requests24h(ctx context.Context, keyID int64) (int64, bool) {
	m, ok := ctx.Value(requestsKey{}).(map[int64]int64)
	if !ok {
		return 0, false
	}
	return m[keyID], true
}
