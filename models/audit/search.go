package audit

import (
	"context"
	"fmt"
	"slices"
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

// maxSearchRows bounds the events one page reads value by value
// (findByValues): each combination of values reads at most one page of
// its events, so a page of n events is read that way when at most
// maxSearchRows/n combinations remain (98 for the console's page of 50).
const maxSearchRows = 5000

// valueIndexes are the indexes of audit_events whose leading columns after
// program_id are equalities on filter values and whose next are
// (occurred_at DESC, id DESC), the order of a page, in the order find
// prefers them: an index with more of the filter's columns reads fewer
// rows that another condition then removes.
var valueIndexes = [][]string{
	{"action", "lower(target_name)"},      // audit_events_action_name_time
	{"actor_email", "lower(target_name)"}, // audit_events_actor_name_time
	{"target_id", "lower(target_name)"},   // audit_events_target_name_time
	{"actor_email", "action"},             // audit_events_actor_action_time
	{"target_id", "action"},               // audit_events_target_action_time
	{"lower(target_name)"},                // audit_events_name_time
	{"action"},                            // audit_events_action_time
	{"actor_email"},                       // audit_events_actor_time
	{"target_id"},                         // audit_events_target_time
}

// find reads up to n events matching f (and where, the page's cursor
// condition) in order. SQLite runs the query as it is. PostgreSQL, left
// alone with a set of values or a search, walks one filter's index in time
// order and checks every event against the others, which reads every
// event of that filter when few or none match; so a page is answered
// distinct values first:
//
//   - The filters become sets of stored values: the actions (a former
//     name included), the actors and API keys the texts match (resolve),
//     and for a search the distinct lowered target names the program's
//     events bear that contain it (audit_target_names, kept by a
//     trigger). An empty set: no event matches, and no event is read.
//   - The first of valueIndexes whose columns all have a set, and whose
//     combinations of values number at most maxSearchRows/n, reads each
//     combination's first n events in order (one exact index range, the
//     period and cursor in it, the other filters checked on those rows),
//     and keeps the first n of those (findByValues).
//   - A search matching more names than that checks the searchWalk newest
//     events of the other filters; a full page among them is the answer
//     (a common term). Otherwise it runs the query with index scans off,
//     in a transaction of its own, so the planner combines the trigram
//     indexes in a bitmap and sorts the matches.
func (s *Store) find(ctx context.Context, programID int64, f Filter, where func(*gorm.DB) *gorm.DB, order string, n int) ([]Event, error) {
	events := []Event{}
	c, err := s.resolve(ctx, programID, f)
	if err != nil {
		return nil, err
	}
	if c.none() {
		return events, nil
	}
	if !database.IsPostgres(s.db) {
		err := where(scopeIn(s.db.WithContext(ctx), programID, c)).Order(order).Limit(n).Find(&events).Error
		return events, err
	}
	sets := map[string][]string{"action": c.actions, "actor_email": c.actors, "target_id": c.keyIDs}
	if c.Search != "" {
		names, err := s.targetNamesLike(ctx, programID, c.Search, c.actions)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return events, nil
		}
		sets["lower(target_name)"] = names
	}
	maxCombinations := max(1, maxSearchRows/n)
	for _, columns := range valueIndexes {
		combinations := 1
		for _, col := range columns {
			combinations *= len(sets[col]) // 0 when the filter has no set
		}
		if combinations > 0 && combinations <= maxCombinations {
			return s.findByValues(ctx, programID, c, columns, sets, where, order, n)
		}
	}
	if c.Search == "" {
		err := where(scopeIn(s.db.WithContext(ctx), programID, c)).Order(order).Limit(n).Find(&events).Error
		return events, err
	}
	others := *c
	others.Search = ""
	walk := where(scopeIn(s.db.WithContext(ctx), programID, &others)).Order(order).Limit(searchWalk)
	q := s.db.WithContext(ctx).Table("(?) AS audit_events", walk)
	if err := searchWhere(q, c.Search).Order(order).Limit(n).Find(&events).Error; err != nil || len(events) == n {
		return events, err
	}
	events = events[:0]
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`SET LOCAL enable_indexscan = off`).Error; err != nil {
			return err
		}
		return where(scopeIn(tx, programID, c)).Order(order).Limit(n).Find(&events).Error
	})
	return events, err
}

// maxSearchNames bounds the target names a search is matched against
// (more than any page reads value by value).
const maxSearchNames = maxSearchRows + 1

// targetNamesLike lists the distinct lowered target names of the
// program's events (of one of actions, unless nil) that contain text, in
// any case. PostgreSQL reads them from audit_target_names (every (action,
// name) pair of the program's events, kept by a trigger); SQLite from the
// events.
func (s *Store) targetNamesLike(ctx context.Context, programID int64, text string, actions []string) ([]string, error) {
	names := []string{}
	var err error
	if database.IsPostgres(s.db) {
		q := s.db.WithContext(ctx).Table("audit_target_names").Where("program_id = ?", programID)
		q = whereIn(q, "action", actions).Where(`name LIKE ? ESCAPE '\'`, searchPattern(text))
		err = q.Distinct("name").Order("name").Limit(maxSearchNames).Pluck("name", &names).Error
	} else {
		err = s.db.WithContext(ctx).Raw(`SELECT DISTINCT lower(target_name) AS name FROM audit_events WHERE program_id = ? AND lower(target_name) LIKE ? ESCAPE '\' ORDER BY name LIMIT ?`,
			programID, searchPattern(text), maxSearchNames).Scan(&names).Error
	}
	if err != nil {
		return nil, fmt.Errorf("audit: unable to match the search against target names: %w", err)
	}
	return names, nil
}

// findByValues reads a page by the values of columns (an index of
// valueIndexes): for each combination of the columns' values, the first n
// events of the criteria with exactly those values, in order (one range
// of the index, with the period and cursor in it), then the first n of
// those. The condition on the values replaces the filter it came from
// (a search holds for an event exactly when its lowered target name is
// one of the matching names); the other filters stay as conditions.
func (s *Store) findByValues(ctx context.Context, programID int64, c *criteria, columns []string, sets map[string][]string, where func(*gorm.DB) *gorm.DB, order string, n int) ([]Event, error) {
	rest := *c
	combos := [][]string{{}}
	for _, col := range columns {
		switch col {
		case "action":
			rest.actions = nil
		case "actor_email":
			rest.actors = nil
		case "target_id":
			rest.keyIDs = nil
		case "lower(target_name)":
			rest.Search = ""
		}
		var next [][]string
		for _, combo := range combos {
			for _, v := range sets[col] {
				next = append(next, append(slices.Clone(combo), v))
			}
		}
		combos = next
	}
	inner := where(scopeIn(s.db.WithContext(ctx), programID, &rest))
	if c.keyIDs != nil && rest.keyIDs == nil {
		inner = inner.Where("target_type = ?", TargetAPIKey)
	}
	arrays := make([]any, len(columns))
	vs := make([]string, len(columns))
	for i, col := range columns {
		vs[i] = fmt.Sprintf("v%d", i)
		values := make([]string, len(combos))
		for j, combo := range combos {
			values[j] = combo[i]
		}
		arrays[i] = pgTextArray(values)
		inner = inner.Where(col + " = values_." + vs[i])
	}
	inner = inner.Order(order).Limit(n)
	unnest := "unnest(" + strings.TrimSuffix(strings.Repeat("?::text[], ", len(columns)), ", ") + ") AS values_(" + strings.Join(vs, ", ") + ")"
	events := []Event{}
	err := s.db.WithContext(ctx).
		Table(unnest+" CROSS JOIN LATERAL (?) AS audit_events", append(arrays, inner)...).
		Select("audit_events.*").Order(order).Limit(n).Find(&events).Error
	return events, err
}

// pgTextArray writes a PostgreSQL text[] literal.
func pgTextArray(items []string) string {
	quoted := make([]string, len(items))
	escape := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	for i, s := range items {
		quoted[i] = `"` + escape.Replace(s) + `"`
	}
	return "{" + strings.Join(quoted, ",") + "}"
}
