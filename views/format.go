package views

import (
	"strconv"
	"time"
)

// relativeTime says how long ago t was, in words.
func relativeTime(t time.Time, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	default:
		return t.UTC().Format("Jan 2, 2006")
	}
}

// requestsText counts requests in words: "1 request", "5 requests".
func requestsText(n int64) string {
	if n == 1 {
		return "1 request"
	}
	return strconv.FormatInt(n, 10) + " requests"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// TimeText is the one way the console and its mails show an instant: the
// day, the minute and the zone, "Jan 21, 2027, 23:59 UTC".
func TimeText(t time.Time) string { return t.UTC().Format("Jan 2, 2006, 15:04") + " UTC" }

// lastWorkingMoment is the last instant before end, to the second: a key
// that stops at 2027-01-22 00:00 UTC works through Jan 21, until 23:59.
func lastWorkingMoment(end time.Time) time.Time { return end.UTC().Add(-time.Second) }

// untilText says how long until t, in words ("in 3 days").
func untilText(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d < time.Minute:
		return "in less than a minute"
	case d < time.Hour:
		return "in " + plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return "in " + plural(int(d/time.Hour), "hour")
	default:
		return "in " + plural(int(d/(24*time.Hour)), "day")
	}
}

// utcTitle is the exact UTC time shown on hover.
func utcTitle(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func idString(id int64) string { return strconv.FormatInt(id, 10) }
