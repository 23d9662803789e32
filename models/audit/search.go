package audit

import (
	"context"
	"strings"

	"gorm.io/gorm"

	"keydesk/models/database"
)

// The search filter matches events whose target name contains the text,
// in any case, with LIKE's wildcards taken literally.

func searchWhere(q *gorm.DB, search string) *gorm.DB {
	return q.Where(`lower(target_name) LIKE ? ESCAPE '\'`, "%"+escapeLike(strings.ToLower(search))+"%")
}

// searchWalk is how many events, newest first, a search on PostgreSQL
// checks in time order before it asks the trigram indexes instead.
const searchWalk = 1000

// find reads up to n events matching f (and where, the page's cursor
// condition) in order. On PostgreSQL a search is answered in two steps:
// left alone, the planner walks the other filters' index in time order
// and checks every event against the search, which reads every event of
// the action when nothing matches (600 ms at 1M events). So it first
// checks only the searchWalk newest events of the other filters; a full
// page among them is the answer (a common term). Otherwise it runs the
// query with index scans off, in a transaction of its own, so the
// planner combines the trigram indexes (audit_events_action_search with
// an action) in a bitmap and sorts the few matches.
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

// escapeLike escapes LIKE's wildcards with a backslash.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
