package audit_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// capturedQuery is one statement the store ran, with its arguments.
type capturedQuery struct {
	sql  string
	vars []any
}

// captureQueries records every query statement run on db until stop.
func captureQueries(t *testing.T, db *gorm.DB) (queries func() []capturedQuery, reset func()) {
	t.Helper()
	var mu sync.Mutex
	var got []capturedQuery
	record := func(tx *gorm.DB) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, capturedQuery{sql: tx.Statement.SQL.String(), vars: slices.Clone(tx.Statement.Vars)})
	}
	name := "test:capture:" + t.Name()
	if err := db.Callback().Query().After("gorm:query").Register(name, record); err != nil {
		t.Fatal(err)
	}
	if err := db.Callback().Row().After("gorm:row").Register(name, record); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = db.Callback().Query().Remove(name)
		_ = db.Callback().Row().Remove(name)
	})
	return func() []capturedQuery {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(got)
		}, func() {
			mu.Lock()
			defer mu.Unlock()
			got = nil
		}
}

// explain is the plan of q, with sequential scans off (the test table is
// small, where a sequential scan would win anyway; what matters is which
// index the planner takes when it reads an index).
func explain(t *testing.T, db *gorm.DB, q capturedQuery) string {
	t.Helper()
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sqlDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), `RESET enable_seqscan`)
	rows, err := conn.QueryContext(context.Background(), "EXPLAIN "+q.sql, q.vars...)
	if err != nil {
		t.Fatalf("explain %s: %v", q.sql, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line sql.NullString
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line.String)
	}
	return strings.Join(plan, "\n")
}

// Issue 27: on PostgreSQL a page is read distinct values first. A search
// that matches no target name reads no event at all; a search, alone or
// with another filter, reads exact ranges of the index made for that
// combination; an actor matched by prefix reads the actor index per actor.
func TestAuditPagePlansUseTheValueIndexes(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.Postgres(t))
	ctx := context.Background()
	fx := modeltest.Seed(t, store, "Plans")
	other := modeltest.Seed(t, store, "Neighbour")
	// 20 000 events: actor g%8, key and name g%20, action g%6; the
	// neighbour has the same names.
	for _, p := range []struct {
		id int64
		n  int
	}{{fx.Program.ID, 20000}, {other.Program.ID, 2000}} {
		var base int64
		store.DB.Raw(`SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE program_id = ?`, p.id).Scan(&base)
		err := store.DB.Exec(`
INSERT INTO audit_events (program_id, seq, prev_hash, hash, occurred_at, actor_id, actor_email, action,
	target_type, target_id, target_name, outcome, details, hash_version, key_version)
SELECT ?, ? + g, md5((g - 1)::text), md5(g::text), now() - ((? - g) * interval '1 minute'),
	1 + g % 8, 'admin' || (g % 8) || '@plans.test',
	(ARRAY['api_key.revealed','api_key.copied','signin.succeeded','api_key.updated','reauth.succeeded','api_key.generated'])[1 + g % 6],
	'api_key', 'kdi_plan' || lpad((g % 20)::text, 2, '0'), 'Integration ' || lpad((g % 20)::text, 2, '0'),
	'success', '{}', 1, 0
FROM generate_series(1, ?) AS g`, p.id, base, p.n, p.n).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := store.DB.Exec(`ANALYZE audit_events; ANALYZE audit_target_names`).Error; err != nil {
		t.Fatal(err)
	}
	queries, reset := captureQueries(t, store.DB)
	cases := []struct {
		name  string
		in    audit.FilterInput
		index string // in the plan of the page query; "" when no event may be read
		rows  int
	}{
		{"search, no match", audit.FilterInput{Search: "no such name"}, "", 0},
		{"search + action, no match", audit.FilterInput{Search: "integration 04", Action: audit.ActionKeyCopied}, "", 0},
		{"search, one name", audit.FilterInput{Search: "integration 07"}, "audit_events_name_time", 50},
		{"search + action", audit.FilterInput{Search: "integration 07", Action: audit.ActionKeyCopied}, "audit_events_action_name_time", 50},
		{"search + actor", audit.FilterInput{Search: "integration 01", Actor: "admin1"}, "audit_events_actor_name_time", 50},
		{"search + actor, no match", audit.FilterInput{Search: "integration 01", Actor: "admin0"}, "audit_events_actor_name_time", 0},
		{"search + API key", audit.FilterInput{Search: "integration 0", APIKey: "kdi_plan04"}, "audit_events_target_name_time", 50},
		{"actor by prefix, 8 actors", audit.FilterInput{Actor: "admin"}, "audit_events_actor_time", 50},
	}
	for _, tc := range cases {
		f, err := tc.in.Resolve(store.Now())
		if err != nil {
			t.Fatal(err)
		}
		reset()
		page, err := store.Audit.List(ctx, fx.Program.ID, f, audit.PageRequest{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(page.Events) != tc.rows {
			t.Errorf("%s: %d events, want %d", tc.name, len(page.Events), tc.rows)
		}
		for _, e := range page.Events {
			if e.ProgramID != fx.Program.ID {
				t.Fatalf("%s: event of program %d", tc.name, e.ProgramID)
			}
		}
		var pageQuery *capturedQuery
		var ran []string
		for _, q := range queries() {
			ran = append(ran, q.sql)
			if strings.Contains(q.sql, "audit_events") && strings.Contains(q.sql, "ORDER BY occurred_at DESC") {
				pageQuery = &q
			}
		}
		if tc.index == "" {
			for _, q := range ran {
				if strings.Contains(q, `"audit_events"`) || strings.Contains(q, "audit_events ") {
					t.Errorf("%s: read events although no target name matches: %s", tc.name, q)
				}
			}
			continue
		}
		if pageQuery == nil {
			t.Fatalf("%s: no page query among %q", tc.name, ran)
		}
		plan := explain(t, store.DB, *pageQuery)
		if !strings.Contains(plan, tc.index) || strings.Contains(plan, "Bitmap") {
			t.Errorf("%s: plan does not read %s by index ranges:\n%s\n%s", tc.name, tc.index, pageQuery.sql, plan)
		}
	}
	// The no-match search asks the names table, by an index of its own.
	reset()
	f, _ := audit.FilterInput{Search: "no such name"}.Resolve(store.Now())
	if _, err := store.Audit.List(ctx, fx.Program.ID, f, audit.PageRequest{}); err != nil {
		t.Fatal(err)
	}
	ran := queries()
	if len(ran) != 1 || !strings.Contains(ran[0].sql, "audit_target_names") {
		t.Fatalf("no-match search ran %v", ran)
	}
	if plan := explain(t, store.DB, ran[0]); !strings.Contains(plan, "audit_target_names_pkey") && !strings.Contains(plan, "audit_target_names_name_trgm") {
		t.Fatalf("names lookup plan:\n%s", plan)
	}
}
