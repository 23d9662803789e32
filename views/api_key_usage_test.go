package views

import (
	"testing"
	"time"

	"keydesk/models/keys"
	"keydesk/models/usage"
)

// The y axis tops out at a round number at or above the tallest bar, whose
// half is round too.
func TestUsageAxisMax(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	for tallest, want := range map[int64]int64{0: 2, 1: 2, 2: 2, 3: 4, 7: 8, 9: 10, 11: 20, 25: 40, 61: 80, 99: 100, 101: 200, 4500: 6000, 1_999_999: 2_000_000} {
		var counts []usage.Count
		if tallest > 0 {
			counts = []usage.Count{{Bucket: now, Outcome: usage.OutcomeSuccess, Count: tallest}}
		}
		v := NewUsageView(keys.APIKey{}, "24h", counts, nil, now, time.Minute)
		if got := v.AxisMax(); got != want {
			t.Errorf("tallest %d: axis max %d, want %d", tallest, got, want)
		}
	}
	for n, want := range map[int64]string{2: "2", 40: "40", 3000: "3k", 1500: "1.5k", 2_000_000: "2M", 1234: "1234"} {
		if got := axisLabel(n); got != want {
			t.Errorf("axisLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

// The view says how far behind it can be: the real flush interval.
func TestUsageFreshness(t *testing.T) {
	for every, want := range map[time.Duration]string{
		time.Minute:      "Calls are counted in memory and written once a minute, so these numbers can be up to a minute behind.",
		30 * time.Second: "Calls are counted in memory and written every 30 seconds, so these numbers can be up to 30 seconds behind.",
		5 * time.Minute:  "Calls are counted in memory and written every 5 minutes, so these numbers can be up to 5 minutes behind.",
	} {
		if got := freshness(every); got != want {
			t.Errorf("%v: %q", every, got)
		}
	}
}

// A bar names its period and each class's calls; the segments stack from
// the bottom in class order (5 calls: an axis of 6).
func TestUsageBarDescription(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	hour := now.Truncate(time.Hour)
	v := NewUsageView(keys.APIKey{}, "24h", []usage.Count{
		{Bucket: hour, Outcome: usage.OutcomeSuccess, Count: 3},
		{Bucket: hour, Outcome: usage.OutcomeClientError, Count: 1},
		{Bucket: hour.Add(15 * time.Minute), Outcome: usage.OutcomeQuotaExceeded, Count: 1},
	}, nil, now, time.Minute)
	last := v.Bars[len(v.Bars)-1]
	if want := "Dec 7, 10:00–11:00 UTC: 5 requests. Successful (2xx): 3; Rate limit or quota (429): 1; Client errors (other 4xx): 1"; last.Description != want {
		t.Errorf("last bar: %q\nwant %q", last.Description, want)
	}
	if got := v.Bars[0].Description; got != "Dec 6, 11:00–12:00 UTC: no requests" {
		t.Errorf("first bar: %q", got)
	}
	segs := v.shapes()[len(v.Bars)-1].Segments
	if len(segs) != 3 || segs[0].Class != "usage-series-success" || segs[0].Y != "50.000%" || segs[0].H != "50.000%" {
		t.Errorf("segments: %+v", segs)
	}
}
