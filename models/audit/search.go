package audit

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"keydesk/models/database"
)

// The search filter matches events whose target name contains the text,
// in any case, with LIKE's wildcards taken literally.

func searchWhere(q *gorm.DB, search string) *gorm.DB {
	return q.Where(`lower(target_name) LIKE ? ESCAPE '\'`, searchPattern(search))
}

// searchPattern is the LIKE pattern of a search: the lowered text, its
// wildcards escaped, anywhere in the name.
func searchPattern(search string) string {
	return "%" + escapeLike(strings.ToLower(search)) + "%"
}

// escapeLike escapes LIKE's wildcards with a backslash.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// searchWalk is how many events, newest first, a search on PostgreSQL
// checks in time order before it asks the trigram indexes instead.
const searchWalk = 1000

// maxSearchRows bounds the events a search with an action reads name by
// name (findByTargetNames): each matching name reads at most one page of
// its events, so a page of n events is read that way when at most
// maxSearchRows/n names match (98 for the console's page of 50).
const maxSearchRows = 5000

// find reads up to n events matching f (and where, the page's cursor
// condition) in order. SQLite, and a filter without a search, run the
// query as it is. On PostgreSQL the planner, left alone with a search,
// walks the other filters' index in time order and checks every event
// against the search, which reads every event of the action when nothing
// matches (600 ms at 1M events); so a search is answered in steps:
//
//   - With an action, the search is first matched against the distinct
//     lowered target names the program's events of that action bear
//     (audit_target_names, kept by a trigger on PostgreSQL). None: no
//     event matches, and no event is read. Up to maxSearchRows/n names:
//     the events are read name by name by exact index ranges
//     (findByTargetNames).
//   - Otherwise it checks only the searchWalk newest events of the other
//     filters; a full page among them is the answer (a common term).
//   - Otherwise it runs the query with index scans off, in a transaction
//     of its own, so the planner combines the trigram indexes
//     (audit_events_action_search with an action) in a bitmap and sorts
//     the few matches.
func (s *Store) find(ctx context.Context, programID int64, f Filter, where func(*gorm.DB) *gorm.DB, order string, n int) ([]Event, error) {
	var events []Event
	if f.Search == "" || !database.IsPostgres(s.db) {
		q, err := s.scope(ctx, programID, f)
		if err != nil {
			return nil, err
		}
		err = where(q).Order(order).Limit(n).Find(&events).Error
		return events, err
	}
	if f.Action != "" {
		maxNames := max(1, maxSearchRows/n)
		var names []string
		err := s.targetNamesMatching(ctx, programID, f.Action, f.Search).Order("name").Limit(maxNames+1).Pluck("name", &names).Error
		if err != nil {
			return nil, fmt.Errorf("audit: unable to match the search against target names: %w", err)
		}
		if len(names) == 0 {
			return []Event{}, nil
		}
		if len(names) <= maxNames {
			return s.findByTargetNames(ctx, programID, f, where, order, n)
		}
	}
	others := f
	others.Search = ""
	walk, err := s.scope(ctx, programID, others)
	if err != nil {
		return nil, err
	}
	walk = where(walk).Order(order).Limit(searchWalk)
	q := s.db.WithContext(ctx).Table("(?) AS audit_events", walk)
	if err := searchWhere(q, f.Search).Order(order).Limit(n).Find(&events).Error; err != nil || len(events) == n {
		return events, err
	}
	events = events[:0]
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`SET LOCAL enable_indexscan = off`).Error; err != nil {
			return err
		}
		q, err := s.scopeIn(ctx, tx, programID, f)
		if err != nil {
			return err
		}
		return where(q).Order(order).Limit(n).Find(&events).Error
	})
	return events, err
}

// targetNamesMatching selects (column name) the distinct lowered target
// names of the program's events of action that the search matches
// (PostgreSQL only: the table is kept by a trigger there).
func (s *Store) targetNamesMatching(ctx context.Context, programID int64, action, search string) *gorm.DB {
	q := s.db.WithContext(ctx).Table("audit_target_names").Select("name").Where("program_id = ?", programID)
	if a, ok := LookupAction(action); ok && len(a.Formerly) > 0 {
		// A name may be listed under the action's name and a former one.
		q = q.Distinct("name")
	}
	return whereAction(q, action).Where(`name LIKE ? ESCAPE '\'`, searchPattern(search))
}

// findByTargetNames answers a search with an action by the target names it
// matches: for each name, the first n events of that action and name in
// order (one range of audit_events_action_name_time, with the period and
// cursor in it), then the first n of those. The search holds for an event
// exactly when its lowered target name is one of the matching names, so
// the condition on the name replaces the search.
func (s *Store) findByTargetNames(ctx context.Context, programID int64, f Filter, where func(*gorm.DB) *gorm.DB, order string, n int) ([]Event, error) {
	byName := f
	byName.Search = ""
	q, err := s.scope(ctx, programID, byName)
	if err != nil {
		return nil, err
	}
	perName := where(q).Where("lower(target_name) = names.name").Order(order).Limit(n)
	var events []Event
	err = s.db.WithContext(ctx).
		Table("(?) AS names CROSS JOIN LATERAL (?) AS audit_events", s.targetNamesMatching(ctx, programID, f.Action, f.Search), perName).
		Select("audit_events.*").Order(order).Limit(n).Find(&events).Error
	return events, err
}
