// Command auditbench measures the audit trail's page latency at scale on
// PostgreSQL: it seeds a fresh schema with a million events (one
// INSERT … SELECT generate_series, no per-row round trips), then times the
// first page and a deep page of the common filters through the same store
// code the page uses, and streams the whole trail as CSV to show its memory
// stays flat.
//
//	go run ./cmd/auditbench -database-url 'postgres://postgres@127.0.0.1:5432/keydesk_dev?sslmode=disable'
//
// The seeded rows carry placeholder hashes: they measure latency, not the
// chain (VerifyChain would report them broken). The schema is dropped at the
// end unless -keep is given.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"keydesk/models/database"
	"math"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"keydesk/models"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/migrations"
	"keydesk/models/outbox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "auditbench:", err)
		os.Exit(1)
	}
}

type benchCase struct {
	name string
	in   audit.FilterInput
}

func run() error {
	ctx := context.Background()
	defaultURL := os.Getenv("TEST_DATABASE_URL")
	if defaultURL == "" {
		defaultURL = os.Getenv("DATABASE_URL")
	}
	dbURL := flag.String("database-url", defaultURL, "PostgreSQL URL (default $TEST_DATABASE_URL, then $DATABASE_URL)")
	events := flag.Int("events", 1_000_000, "events to seed in the measured program")
	runs := flag.Int("runs", 15, "timed runs per query (after 2 warm-up runs)")
	keep := flag.Bool("keep", false, "keep the benchmark schema (and print its name)")
	doCSV := flag.Bool("csv", true, "also stream the whole trail as CSV and report time and heap")
	flag.Parse()
	if !database.IsPostgresURL(*dbURL) {
		return errors.New("a postgres:// URL is required (-database-url or TEST_DATABASE_URL)")
	}

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	schema := "auditbench_" + hex.EncodeToString(suffix)
	admin, err := database.Open(*dbURL)
	if err != nil {
		return err
	}
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if *keep {
		fmt.Println("schema kept:", schema)
	} else {
		defer admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	}
	u, err := url.Parse(*dbURL)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := database.Open(u.String())
	if err != nil {
		return err
	}
	if _, err := migrations.Migrate(context.Background(), db); err != nil {
		return err
	}
	keyring, err := keys.NewKeyring([]byte("auditbench-master-key-32-bytes!!"))
	if err != nil {
		return err
	}
	store, err := models.New(db, keyring, database.SystemClock, outbox.Options{})
	if err != nil {
		return err
	}
	var trgm int64
	db.Raw(`SELECT COUNT(*) FROM pg_indexes WHERE schemaname = ? AND indexname = 'audit_events_target_name_trgm'`, schema).Scan(&trgm)

	big, err := store.Keys.CreateProgram(ctx, audit.Actor{}, "Bench Store")
	if err != nil {
		return err
	}
	other, err := store.Keys.CreateProgram(ctx, audit.Actor{}, "Neighbour Store")
	if err != nil {
		return err
	}
	var ids, names []string
	for i := range 20 {
		k, err := store.Keys.Generate(ctx, big.ID, audit.Actor{Email: "admin0@bench.test"}, keys.KeyInput{Name: fmt.Sprintf("Integration %02d", i)})
		if err != nil {
			return err
		}
		ids, names = append(ids, k.Identifier), append(names, k.Name)
	}

	// Seed: events spread evenly over the last 30 days, newest now.
	start := time.Now()
	span := 30 * 24 * time.Hour
	step := span.Seconds() / float64(*events)
	seed := func(programID int64, n int, seqBase int64) error {
		return db.Exec(`
INSERT INTO audit_events (program_id, seq, prev_hash, hash, occurred_at, actor_id, actor_email, action,
	target_type, target_id, target_name, outcome, ip, user_agent, request_id, details, hash_version, key_version)
SELECT ?, ? + g, md5((g - 1)::text), md5(g::text),
	now() - ((? - g) * ? * interval '1 second'),
	1 + g % 8, 'admin' || (g % 8) || '@bench.test',
	CASE WHEN g % 1000 = 0 THEN 'api_key.deleted' ELSE (?::text[])[1 + g % 6] END,
	'api_key', (?::text[])[1 + g % 20],
	CASE WHEN g % 10000 = 0 THEN 'Rare zzrare key' ELSE (?::text[])[1 + g % 20] END,
	'success', '198.51.100.' || (g % 250), 'Mozilla/5.0 (bench)', md5((g * 7)::text),
	'{"before":{"name":"a"},"after":{"name":"b"}}', 1, 0
FROM generate_series(1, ?) AS g`,
			programID, seqBase, n, step,
			pgArray([]string{audit.ActionKeyRevealed, audit.ActionKeyCopied, audit.ActionSignIn, audit.ActionKeyUpdated, audit.ActionReauthSucceeded, audit.ActionKeyGenerated}),
			pgArray(ids), pgArray(names), n).Error
	}
	// Bulk load: drop the secondary indexes, insert, then build them again
	// (the same definitions, so the queries run against the real schema).
	var indexes []struct{ Indexname, Indexdef string }
	if err := db.Raw(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'audit_events' AND indexdef NOT LIKE 'CREATE UNIQUE%'`).Scan(&indexes).Error; err != nil {
		return err
	}
	for _, ix := range indexes {
		if err := db.Exec(`DROP INDEX ` + ix.Indexname).Error; err != nil {
			return err
		}
	}
	var bigSeq, otherSeq int64
	db.Raw(`SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE program_id = ?`, big.ID).Scan(&bigSeq)
	db.Raw(`SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE program_id = ?`, other.ID).Scan(&otherSeq)
	if err := seed(big.ID, *events, bigSeq); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := seed(other.ID, *events/10, otherSeq); err != nil {
		return fmt.Errorf("seed the neighbour: %w", err)
	}
	db.Exec(`SET maintenance_work_mem = '256MB'`)
	for _, ix := range indexes {
		if err := db.Exec(ix.Indexdef).Error; err != nil {
			return fmt.Errorf("rebuild %s: %w", ix.Indexname, err)
		}
	}
	if err := db.Exec(`VACUUM ANALYZE audit_events`).Error; err != nil {
		return err
	}
	fmt.Printf("seeded %d events (+%d in a neighbouring program) and rebuilt %d indexes in %s; trigram index: %v\n",
		*events, *events/10, len(indexes), time.Since(start).Round(time.Millisecond), trgm == 1)
	fmt.Println("note: seeded rows carry placeholder hashes (latency benchmark, not a valid chain)")

	now := time.Now().UTC()
	customDay := now.AddDate(0, 0, -20).Format("2006-01-02")
	cases := []benchCase{
		{"default (30 days)", audit.FilterInput{}},
		{"last 24 hours", audit.FilterInput{Period: "24h"}},
		{"all time", audit.FilterInput{Period: "all"}},
		{"custom day (20 days ago)", audit.FilterInput{From: customDay, To: customDay}},
		{"action (common)", audit.FilterInput{Action: audit.ActionKeyRevealed}},
		{"action (rare, 0.1%)", audit.FilterInput{Action: audit.ActionKeyDeleted}},
		{"actor", audit.FilterInput{Actor: "admin3@bench.test"}},
		{"API key by name", audit.FilterInput{APIKey: "integration 07"}},
		{"API key by identifier", audit.FilterInput{APIKey: ids[11]}},
		{"search (common)", audit.FilterInput{Search: "ration 1"}},
		{"search (rare, 0.01%)", audit.FilterInput{Search: "zzrare"}},
		{"7 days + action + actor", audit.FilterInput{Period: "7d", Action: audit.ActionKeyRevealed, Actor: "admin2@bench.test"}},
		// The seeded data never pairs these two: the worst case of combined
		// filters, where no index alone finds the (absent) rows.
		{"action + actor, no match", audit.FilterInput{Period: "7d", Action: audit.ActionKeyCopied, Actor: "admin2@bench.test"}},
		{"API key + action", audit.FilterInput{APIKey: "Integration 04", Action: audit.ActionKeyRevealed}},
		{"API key + action, no match", audit.FilterInput{APIKey: "Integration 04", Action: audit.ActionKeyCopied}},
		{"search + action (common)", audit.FilterInput{Search: "ration 0", Action: audit.ActionKeyRevealed}},
		{"search + action (rare)", audit.FilterInput{Search: "zzrare", Action: audit.ActionKeyDeleted}},
		// Every event bears a name the search matches, but never with this action.
		{"search + action, no match", audit.FilterInput{Search: "ration 04", Action: audit.ActionKeyCopied}},
	}
	fmt.Printf("\n%-28s %8s %10s %10s %8s %10s %10s\n", "filter", "rows", "first p50", "first max", "rows", "deep p50", "deep max")
	worst := time.Duration(0)
	for _, c := range cases {
		f, err := c.in.Resolve(now)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		// The deep page starts halfway through the filter's time range: with
		// events spread evenly, about half the matches are newer than it.
		from := f.Since
		if from.IsZero() {
			from = now.Add(-span)
		}
		until := f.Until
		if until.IsZero() || until.After(now) {
			until = now
		}
		deep := &audit.Cursor{At: from.Add(until.Sub(from) / 2), ID: math.MaxInt64}
		firstRows, firstP50, firstMax, err := timeQuery(ctx, store, big.ID, f, audit.PageRequest{}, *runs)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		deepRows, deepP50, deepMax, err := timeQuery(ctx, store, big.ID, f, audit.PageRequest{Before: deep}, *runs)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		worst = max(worst, firstP50, deepP50)
		fmt.Printf("%-28s %8d %10s %10s %8d %10s %10s\n", c.name, firstRows, ms(firstP50), ms(firstMax), deepRows, ms(deepP50), ms(deepMax))
	}
	verdict := "within"
	if worst >= 50*time.Millisecond {
		verdict = "OVER"
	}
	fmt.Printf("\nworst p50: %s (%s the 50 ms target)\n", ms(worst), verdict)

	if *doCSV {
		f, _ := audit.FilterInput{Period: "all"}.Resolve(now)
		var peak atomic.Uint64
		done := make(chan struct{})
		go func() {
			var m runtime.MemStats
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
				}
			}
		}()
		cw := &countingWriter{}
		t0 := time.Now()
		rows, err := store.Audit.WriteCSV(ctx, cw, big.ID, f)
		close(done)
		if err != nil {
			return err
		}
		d := time.Since(t0)
		fmt.Printf("CSV of all %d events: %s, %.1f MB written, %.0f rows/s, peak heap in use %.1f MB\n",
			rows, d.Round(time.Millisecond), float64(cw.n)/1e6, float64(rows)/d.Seconds(), float64(peak.Load())/1e6)
	}
	return nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

// timeQuery runs one page query 2 + runs times and returns the rows of the
// page and the median and maximum of the timed runs.
func timeQuery(ctx context.Context, store *models.Stores, programID int64, f audit.Filter, req audit.PageRequest, runs int) (rows int, p50, worst time.Duration, err error) {
	var times []time.Duration
	for i := range runs + 2 {
		t0 := time.Now()
		page, err := store.Audit.List(ctx, programID, f, req)
		d := time.Since(t0)
		if err != nil {
			return 0, 0, 0, err
		}
		rows = len(page.Events)
		if i >= 2 {
			times = append(times, d)
		}
	}
	slices.Sort(times)
	return rows, times[len(times)/2], times[len(times)-1], nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// pgArray writes a text[] literal.
func pgArray(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return "{" + strings.Join(quoted, ",") + "}"
}
