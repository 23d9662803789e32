package views

import (
	"context"
	"strconv"
	"time"

	"keydesk/models/keys"
	"keydesk/models/metrics"
	"keydesk/models/usage"
)

// UsageRanges are the usage view's periods: query value and label.
var UsageRanges = []struct{ Value, Label string }{{"24h", "24 hours"}, {"7d", "7 days"}, {"30d", "30 days"}}

// UsageBar is one bar of the chart: a period's successful and failed calls.
type UsageBar struct {
	Start     time.Time
	Label     string
	Succeeded int64
	Failed    int64
}

// UsageView is a key's usage over a period.
type UsageView struct {
	Key       keys.APIKey
	Range     string
	RangeName string
	Bars      []UsageBar
	Succeeded int64
	// FailedBy is the failed calls by outcome (every failure outcome, in
	// display order, zeros included).
	FailedBy []OutcomeCount
	Failed   int64
	Clients  []usage.Client
	Now      time.Time
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
	metrics.OutcomeInvalid:       "Invalid credentials",
	metrics.OutcomeInactive:      "Key inactive",
	metrics.OutcomeExpired:       "Key expired",
	metrics.OutcomeForbidden:     "Outside permissions or addresses",
	metrics.OutcomeRateLimited:   "Rate-limited",
	metrics.OutcomeQuotaExceeded: "Quota exceeded",
}

// NewUsageView sums counts (any resolution) into the period's bars: hourly
// for 24 hours, 6-hourly for 7 days, daily for 30 days.
func NewUsageView(key keys.APIKey, rangeValue string, counts []usage.Count, clients []usage.Client, now time.Time) UsageView {
	v := UsageView{Key: key, Range: "24h", RangeName: "24 hours", Clients: clients, Now: now}
	step, n := time.Hour, 24
	switch rangeValue {
	case "7d":
		v.Range, v.RangeName, step, n = "7d", "7 days", 6*time.Hour, 28
	case "30d":
		v.Range, v.RangeName, step, n = "30d", "30 days", 24*time.Hour, 30
	}
	end := now.UTC().Truncate(step).Add(step)
	start := end.Add(-time.Duration(n) * step)
	v.Bars = make([]UsageBar, n)
	for i := range v.Bars {
		t := start.Add(time.Duration(i) * step)
		label := t.Format("Jan 2 15:04")
		if step == 24*time.Hour {
			label = t.Format("Jan 2")
		}
		v.Bars[i] = UsageBar{Start: t, Label: label}
	}
	failed := map[string]int64{}
	for _, c := range counts {
		b := c.Bucket.UTC()
		if b.Before(start) || !b.Before(end) {
			continue
		}
		bar := &v.Bars[int(b.Sub(start)/step)]
		if c.Outcome == metrics.OutcomeValid {
			bar.Succeeded += c.Count
			v.Succeeded += c.Count
		} else {
			bar.Failed += c.Count
			v.Failed += c.Count
			failed[c.Outcome] += c.Count
		}
	}
	for _, o := range metrics.Outcomes[1:] {
		v.FailedBy = append(v.FailedBy, OutcomeCount{Outcome: o, Label: OutcomeLabels[o], Count: failed[o]})
	}
	return v
}

// Since is where the view's counts start.
func (v UsageView) Since() time.Time { return v.Bars[0].Start }

// UsageSince is the start of a period's counts, for the loader.
func UsageSince(rangeValue string, now time.Time) time.Time {
	return NewUsageView(keys.APIKey{}, rangeValue, nil, nil, now).Since()
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

// chart geometry (SVG user units).
const (
	chartWidth  = 600
	chartHeight = 160
)

// max is the tallest bar's total (at least 1).
func (v UsageView) max() int64 {
	m := int64(1)
	for _, b := range v.Bars {
		m = max(m, b.Succeeded+b.Failed)
	}
	return m
}

// barRects are one bar's two rectangles: failed stacked on successful.
type barRect struct {
	X, W, YOK, HOK, YFail, HFail string
}

func (v UsageView) rects() []barRect {
	out := make([]barRect, len(v.Bars))
	w := float64(chartWidth) / float64(len(v.Bars))
	m := float64(v.max())
	for i, b := range v.Bars {
		hOK := float64(b.Succeeded) / m * chartHeight
		hFail := float64(b.Failed) / m * chartHeight
		out[i] = barRect{
			X: f(float64(i)*w + w*0.1), W: f(w * 0.8),
			YOK: f(chartHeight - hOK), HOK: f(hOK),
			YFail: f(chartHeight - hOK - hFail), HFail: f(hFail),
		}
	}
	return out
}

func f(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

func count(n int64) string { return strconv.FormatInt(n, 10) }

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
