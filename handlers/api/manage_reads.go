package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keydesk/models/audit"
	"keydesk/models/metrics"
	"keydesk/models/usage"
)

// UsageBucket is one period's counts of a key's calls.
type UsageBucket struct {
	Start      time.Time `json:"start"`
	Successful int64     `json:"successful"`
	Failed     int64     `json:"failed"`
}

// keyUsage is a key's usage over a range, as the console's usage view
// counts it.
type keyUsage struct {
	Identifier         string           `json:"identifier"`
	Range              string           `json:"range"`
	Since              time.Time        `json:"since"`
	SuccessfulRequests int64            `json:"successful_requests"`
	FailedRequests     int64            `json:"failed_requests"`
	FailedByReason     map[string]int64 `json:"failed_by_reason"`
	Buckets            []UsageBucket    `json:"buckets"`
}

// usageRanges are the ranges a usage read offers: its length and the
// resolution its buckets are summed to.
var usageRanges = map[string]struct {
	length time.Duration
	per    string
	step   time.Duration
}{
	"24h": {24 * time.Hour, usage.Hour, time.Hour},
	"7d":  {7 * 24 * time.Hour, usage.Hour, time.Hour},
	"30d": {30 * 24 * time.Hour, usage.Day, 24 * time.Hour},
}

// KeyUsage reads a key's usage over range (24h, 7d or 30d; 24h by
// default): successful and failed requests, failed split by reason, and
// per-hour (per-day for 30d) buckets.
func (m *Manage) KeyUsage(c echo.Context) error {
	rangeName := c.QueryParam("range")
	if rangeName == "" {
		rangeName = "24h"
	}
	r, ok := usageRanges[rangeName]
	if !ok {
		return invalidField(c, "range", "range must be 24h, 7d or 30d.")
	}
	k, err := m.loadKeyByIdentifier(c)
	if err != nil {
		return manageError(c, err)
	}
	since := m.now().UTC().Add(-r.length).Truncate(r.step)
	counts, err := m.usage.Sums(c.Request().Context(), managementKey(c).ProgramID, k.ID, since, r.per)
	if err != nil {
		return err
	}
	out := keyUsage{Identifier: k.Identifier, Range: rangeName, Since: since, FailedByReason: map[string]int64{}, Buckets: []UsageBucket{}}
	for _, o := range metrics.Outcomes[1:] {
		out.FailedByReason[o] = 0
	}
	byStart := map[time.Time]*UsageBucket{}
	for _, n := range counts {
		start := n.Bucket.UTC().Truncate(r.step)
		b := byStart[start]
		if b == nil {
			b = &UsageBucket{Start: start}
			byStart[start] = b
		}
		if n.Outcome == metrics.OutcomeValid {
			b.Successful += n.Count
			out.SuccessfulRequests += n.Count
		} else {
			b.Failed += n.Count
			out.FailedRequests += n.Count
			out.FailedByReason[n.Outcome] += n.Count
		}
	}
	for _, b := range byStart {
		out.Buckets = append(out.Buckets, *b)
	}
	slices.SortFunc(out.Buckets, func(a, b UsageBucket) int { return a.Start.Compare(b.Start) })
	return c.JSON(http.StatusOK, out)
}

// auditList is one page of audit events, newest first, each with its chain
// fields as in the JSON Lines export; NextAfter is the next page's cursor
// when HasMore.
type auditList struct {
	Data      []audit.JSONLine `json:"data"`
	HasMore   bool             `json:"has_more"`
	NextAfter string           `json:"next_after,omitempty"`
}

// ListAudit reads the program's audit trail, newest first: events since
// (RFC 3339), of action, older than the cursor after.
func (m *Manage) ListAudit(c echo.Context) error {
	limit, err := pageLimit(c)
	if err != nil || limit == 0 {
		return err
	}
	f := audit.Filter{Period: audit.PeriodAll}
	if raw := c.QueryParam("since"); raw != "" {
		since, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return invalidField(c, "since", "since must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z.")
		}
		f.Since = since.UTC()
	}
	if action := c.QueryParam("action"); action != "" {
		a, ok := audit.LookupAction(action)
		if !ok {
			return invalidField(c, "action", "action "+strconv.Quote(action)+" is not an audit action.")
		}
		f.Action = a.Name
	}
	req := audit.PageRequest{Limit: limit}
	if raw := c.QueryParam("after"); raw != "" {
		cur, err := audit.ParseCursor(raw)
		if errors.Is(err, audit.ErrInvalidCursor) {
			return invalidField(c, "after", "after must be a cursor from a previous page (next_after).")
		}
		req.Before = &cur
	}
	key := managementKey(c)
	page, err := m.audit.List(c.Request().Context(), key.ProgramID, f, req)
	if err != nil {
		return err
	}
	out := auditList{Data: make([]audit.JSONLine, 0, len(page.Events))}
	for i := range page.Events {
		out.Data = append(out.Data, audit.JSONLineOf(&page.Events[i], key.PartnerID))
	}
	if page.Older != nil {
		out.HasMore, out.NextAfter = true, page.Older.String()
	}
	return c.JSON(http.StatusOK, out)
}
