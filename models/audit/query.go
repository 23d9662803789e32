package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"keydesk/models/input"
)

// Time periods of the audit trail filter.
const (
	Period24h    = "24h"
	Period7d     = "7d"
	Period30d    = "30d"
	PeriodAll    = "all"
	PeriodCustom = "custom"
)

// Periods lists the periods in the order the filter offers them.
var Periods = []string{Period24h, Period7d, Period30d, PeriodAll, PeriodCustom}

// DefaultPeriod is the period of an unfiltered audit trail.
const DefaultPeriod = Period30d

// PageSize is how many events one page of the audit trail shows.
const PageSize = 50

// auditDateLayout is the layout of the custom range's dates (an HTML date input).
const auditDateLayout = "2006-01-02"

// MaxFilterLength bounds every free-text filter (the console's inputs
// carry it as their maxlength).
const MaxFilterLength = 200

var auditPeriodLength = map[string]time.Duration{
	Period24h: 24 * time.Hour,
	Period7d:  7 * 24 * time.Hour,
	Period30d: 30 * 24 * time.Hour,
}

// FilterInput is an audit trail filter as the admin typed it.
type FilterInput struct {
	Period string
	From   string // YYYY-MM-DD, first day of a custom range
	To     string // YYYY-MM-DD, last day of a custom range (inclusive)
	Action string
	Actor  string // the actor's email
	APIKey string // a key's name or identifier
	Search string // free text within the target's name
	// Location is the admin's time zone, in which the custom range's days
	// begin and end; nil means UTC.
	Location *time.Location
}

// Filter is a validated audit trail filter. Since and Until bound the
// occurrence time as [Since, Until); a zero bound is open.
type Filter struct {
	Period string
	From   string
	To     string
	Action string
	Actor  string
	APIKey string
	Search string
	Since  time.Time
	Until  time.Time
}

// Resolve validates the input against now. Fields that are wrong are named
// in the ValidationError; the returned filter is only usable when it is nil.
func (in FilterInput) Resolve(now time.Time) (Filter, error) {
	errs := input.ValidationError{}
	loc := in.Location
	if loc == nil {
		loc = time.UTC
	}
	f := Filter{
		Period: strings.TrimSpace(in.Period),
		From:   strings.TrimSpace(in.From),
		To:     strings.TrimSpace(in.To),
		Action: strings.TrimSpace(in.Action),
		Actor:  input.NormalizeEmail(in.Actor),
		APIKey: strings.TrimSpace(in.APIKey),
		Search: strings.TrimSpace(in.Search),
	}
	if f.From != "" || f.To != "" {
		// Dates typed in the custom range win over the period menu.
		f.Period = PeriodCustom
	}
	if f.Period == "" {
		f.Period = DefaultPeriod
	}
	switch {
	case !slices.Contains(Periods, f.Period):
		errs["period"] = "Choose a time period from the list."
	case f.Period == PeriodCustom:
		if f.From != "" {
			d, err := time.ParseInLocation(auditDateLayout, f.From, loc)
			if err != nil {
				errs["from"] = "Enter the first day as YYYY-MM-DD."
			} else {
				f.Since = d.UTC()
			}
		}
		if f.To != "" {
			d, err := time.ParseInLocation(auditDateLayout, f.To, loc)
			if err != nil {
				errs["to"] = "Enter the last day as YYYY-MM-DD."
			} else {
				f.Until = d.AddDate(0, 0, 1).UTC()
			}
		}
		if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
			errs["to"] = "The last day must be on or after the first day."
		}
	case f.Period != PeriodAll:
		f.Since = now.Add(-auditPeriodLength[f.Period]).UTC()
	}
	if f.Action != "" {
		// A former name (an old bookmark) filters as the action it is now.
		if a, ok := LookupAction(f.Action); ok {
			f.Action = a.Name
		} else {
			errs["action"] = "Choose an action from the list."
		}
	}
	for field, v := range map[string]string{"actor": f.Actor, "api_key": f.APIKey, "search": f.Search} {
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxFilterLength {
			errs[field] = fmt.Sprintf("Enter at most %d characters.", MaxFilterLength)
		}
	}
	if len(errs) > 0 {
		return f, errs
	}
	return f, nil
}

// IsDefault reports whether the filter narrows nothing beyond the default period.
func (f Filter) IsDefault() bool {
	return f.Period == DefaultPeriod && f.Action == "" && f.Actor == "" && f.APIKey == "" && f.Search == ""
}

// Describe lists the filter's non-empty criteria, for the audit event of a download.
func (f Filter) Describe() map[string]any {
	d := map[string]any{"period": f.Period}
	for k, v := range map[string]string{"from": f.From, "to": f.To, "action": f.Action, "actor": f.Actor, "api_key": f.APIKey, "search": f.Search} {
		if v != "" {
			d[k] = v
		}
	}
	if !f.Since.IsZero() {
		d["since"] = f.Since.UTC().Format(time.RFC3339)
	}
	if !f.Until.IsZero() {
		d["until"] = f.Until.UTC().Format(time.RFC3339)
	}
	return d
}

// Cursor is a position in the newest-first order of (occurred_at, id).
type Cursor struct {
	At time.Time
	ID int64
}

// ErrInvalidCursor is returned for a page cursor that keydesk did not write.
var ErrInvalidCursor = errors.New("invalid page cursor")

// String encodes the cursor for a URL: microseconds since the epoch and the id.
func (c Cursor) String() string {
	return strconv.FormatInt(c.At.UnixMicro(), 10) + "_" + strconv.FormatInt(c.ID, 10)
}

// ParseCursor decodes Cursor.String.
func ParseCursor(s string) (Cursor, error) {
	at, id, ok := strings.Cut(s, "_")
	if !ok {
		return Cursor{}, ErrInvalidCursor
	}
	micros, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || n <= 0 || micros < 0 {
		return Cursor{}, ErrInvalidCursor
	}
	return Cursor{At: time.UnixMicro(micros).UTC(), ID: n}, nil
}

func cursorOf(e *Event) Cursor { return Cursor{At: e.OccurredAt.UTC(), ID: e.ID} }

// PageRequest asks for the page of events just older than Before, just
// newer than After, or the newest page when neither is set.
type PageRequest struct {
	Before *Cursor
	After  *Cursor
	Limit  int
}

// Page is one page of events, newest first, with the cursors of the
// neighbouring pages (nil when there is none).
type Page struct {
	Events []Event
	Older  *Cursor
	Newer  *Cursor
}

// criteria is a filter resolved to the sets of stored values it accepts:
// the actor and API key filters match by substring, so they are first
// turned into the actor emails and key identifiers they match (a few
// values, looked up in indexes), and the events are then selected by
// equality on indexed columns. A nil set accepts any value; an empty one
// none (then no event matches and none is read).
type criteria struct {
	Filter
	actions []string // stored action names (a former name included)
	actors  []string // actor_email values
	keyIDs  []string // target_id values of API key events
}

// none reports whether a set of the criteria is empty: nothing matches.
func (c *criteria) none() bool {
	return (c.actors != nil && len(c.actors) == 0) || (c.keyIDs != nil && len(c.keyIDs) == 0)
}

// resolve looks up the actors and API keys f's filters match.
func (s *Store) resolve(ctx context.Context, programID int64, f Filter) (*criteria, error) {
	c := &criteria{Filter: f}
	if f.Action != "" {
		c.actions = []string{f.Action}
		if a, ok := LookupAction(f.Action); ok {
			c.actions = a.StoredNames()
		}
	}
	if f.Actor != "" {
		actors, err := s.actorsMatching(ctx, programID, f.Actor)
		if err != nil {
			return nil, err
		}
		c.actors = actors
	}
	if f.APIKey != "" {
		ids, err := s.apiKeyIdentifiersMatching(ctx, programID, f.APIKey)
		if err != nil {
			return nil, err
		}
		c.keyIDs = ids
	}
	return c, nil
}

// scope narrows a query on audit_events to one program and a filter.
// The program condition comes first and always: no filter can reach another
// program's events.
func (s *Store) scope(ctx context.Context, programID int64, f Filter) (*gorm.DB, error) {
	c, err := s.resolve(ctx, programID, f)
	if err != nil {
		return nil, err
	}
	return scopeIn(s.db.WithContext(ctx), programID, c), nil
}

// scopeIn is the query of c's events on db (a transaction).
func scopeIn(db *gorm.DB, programID int64, c *criteria) *gorm.DB {
	q := db.Model(&Event{}).Where("program_id = ?", programID)
	if c.none() {
		return q.Where("1 = 0")
	}
	if !c.Since.IsZero() {
		q = q.Where("occurred_at >= ?", c.Since.UTC())
	}
	if !c.Until.IsZero() {
		q = q.Where("occurred_at < ?", c.Until.UTC())
	}
	q = whereIn(q, "action", c.actions)
	q = whereIn(q, "actor_email", c.actors)
	if c.keyIDs != nil {
		q = whereIn(q.Where("target_type = ?", TargetAPIKey), "target_id", c.keyIDs)
	}
	if c.Search != "" {
		q = searchWhere(q, c.Search)
	}
	return q
}

// whereIn keeps the rows whose column is one of values (any when nil).
func whereIn(q *gorm.DB, column string, values []string) *gorm.DB {
	switch {
	case values == nil:
		return q
	case len(values) == 1:
		return q.Where(column+" = ?", values[0])
	default:
		return q.Where(column+" IN ?", values)
	}
}

// maxFilterValues bounds the actors or keys one filter text resolves to.
const maxFilterValues = 500

// actorsMatching lists the distinct actors of the program's events whose
// actor name contains text, in any case (an email's prefix or any part of
// it; an API key actor's "api_key:kdi_…"). The distinct actors are read by
// a loose scan of audit_events_actor_time (one index probe per actor), so
// the cost does not grow with the events.
func (s *Store) actorsMatching(ctx context.Context, programID int64, text string) ([]string, error) {
	actors := []string{}
	err := s.db.WithContext(ctx).Raw(`
WITH RECURSIVE actors (email) AS (
	SELECT MIN(actor_email) FROM audit_events WHERE program_id = ?
	UNION ALL
	SELECT (SELECT MIN(e.actor_email) FROM audit_events e WHERE e.program_id = ? AND e.actor_email > actors.email)
	FROM actors WHERE actors.email IS NOT NULL
)
SELECT email FROM actors WHERE email IS NOT NULL AND email <> '' AND lower(email) LIKE ? ESCAPE '\'
ORDER BY email LIMIT ?`, programID, programID, searchPattern(text), maxFilterValues).Scan(&actors).Error
	if err != nil {
		return nil, fmt.Errorf("audit: unable to match the actor filter: %w", err)
	}
	return actors, nil
}

// apiKeyIdentifiersMatching resolves an API key filter to key identifiers:
// the program's current keys whose name or identifier contains the text
// (in any case), and, when no current key matches, the keys whose name in
// the program's events contains it (a deleted or renamed key). A deleted
// key is also found by its whole identifier.
func (s *Store) apiKeyIdentifiersMatching(ctx context.Context, programID int64, text string) ([]string, error) {
	ids := []string{}
	pattern := searchPattern(text)
	err := s.db.WithContext(ctx).Table("api_keys").
		Where(`program_id = ? AND (lower(identifier) LIKE ? ESCAPE '\' OR lower(name) LIKE ? ESCAPE '\')`, programID, pattern, pattern).
		Order("identifier").Limit(maxFilterValues).Pluck("identifier", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("audit: unable to look up API keys for the audit filter: %w", err)
	}
	if len(ids) == 0 {
		names, err := s.targetNamesLike(ctx, programID, text, nil)
		if err != nil {
			return nil, err
		}
		if len(names) > 0 {
			err = s.db.WithContext(ctx).Model(&Event{}).
				Where("program_id = ? AND target_type = ? AND lower(target_name) IN ? AND target_id <> ''", programID, TargetAPIKey, names).
				Distinct("target_id").Order("target_id").Limit(maxFilterValues).Pluck("target_id", &ids).Error
			if err != nil {
				return nil, fmt.Errorf("audit: unable to look up past API key names for the audit filter: %w", err)
			}
		}
	}
	if !slices.Contains(ids, text) && strings.HasPrefix(text, apiKeyIdentifierPrefix) {
		// A deleted key is still found by its identifier.
		ids = append(ids, text)
	}
	return ids, nil
}

// apiKeyIdentifierPrefix starts every API key identifier (keys.IdentifierPrefix;
// keys sits above audit, so it is not imported here).
const apiKeyIdentifierPrefix = "kdi_"

// List returns one page of a program's events matching f, newest
// first, by keyset pagination on (occurred_at, id): the cost of a page does
// not grow with its depth.
func (s *Store) List(ctx context.Context, programID int64, f Filter, req PageRequest) (*Page, error) {
	limit := req.Limit
	if limit <= 0 || limit > 500 {
		limit = PageSize
	}
	page := &Page{}
	switch {
	case req.After != nil:
		events, err := s.find(ctx, programID, f, func(q *gorm.DB) *gorm.DB {
			return q.Where("(occurred_at, id) > (?, ?)", req.After.At.UTC(), req.After.ID)
		}, "occurred_at ASC, id ASC", limit+1)
		if err != nil {
			return nil, fmt.Errorf("audit: unable to list newer audit events: %w", err)
		}
		if len(events) <= limit {
			// Nothing newer than this page: it is the newest page.
			return s.List(ctx, programID, f, PageRequest{Limit: limit})
		}
		events = events[:limit]
		slices.Reverse(events)
		page.Events = events
		newer := cursorOf(&events[0])
		page.Newer = &newer
		older := cursorOf(&events[len(events)-1])
		page.Older = &older
		return page, nil
	}
	events, err := s.find(ctx, programID, f, func(q *gorm.DB) *gorm.DB {
		if req.Before != nil {
			return q.Where("(occurred_at, id) < (?, ?)", req.Before.At.UTC(), req.Before.ID)
		}
		return q
	}, "occurred_at DESC, id DESC", limit+1)
	if err != nil {
		return nil, fmt.Errorf("audit: unable to list audit events: %w", err)
	}
	if len(events) > limit {
		events = events[:limit]
		older := cursorOf(&events[len(events)-1])
		page.Older = &older
	}
	page.Events = events
	if req.Before != nil && len(events) > 0 {
		newer := cursorOf(&events[0])
		page.Newer = &newer
	}
	return page, nil
}

// Actors lists the emails of a program's admins, for the actor filter.
func (s *Store) Actors(ctx context.Context, programID int64) ([]string, error) {
	var emails []string
	err := s.db.WithContext(ctx).Table("admins").Joins("JOIN memberships ON memberships.admin_id = admins.id").
		Where("memberships.program_id = ?", programID).Order("admins.email").Pluck("admins.email", &emails).Error
	if err != nil {
		return nil, fmt.Errorf("audit: unable to list the program's admins: %w", err)
	}
	return emails, nil
}

// Verification is the outcome of checking one program's chain.
type Verification struct {
	Verified int64
	Break    *ChainBreak
}

// VerifyTrail checks a program's chain on an admin's request and records
// that the check was made, with its outcome.
func (s *Store) VerifyTrail(ctx context.Context, programID int64, actor Actor) (Verification, error) {
	n, brk, err := s.VerifyChain(ctx, programID)
	if err != nil {
		return Verification{}, fmt.Errorf("audit: unable to verify the audit trail: %w", err)
	}
	entry := Entry{Action: ActionAuditVerified, TargetType: TargetAuditTrail, Details: map[string]any{"verified": n}}
	if brk != nil {
		entry.Outcome = OutcomeFailure
		entry.Details["broken_at_seq"] = brk.Seq
		entry.Details["broken_event_id"] = brk.EventID
		entry.Details["reason"] = brk.Reason
	}
	if err := s.Record(ctx, programID, actor, entry); err != nil {
		return Verification{}, err
	}
	return Verification{Verified: n, Break: brk}, nil
}
