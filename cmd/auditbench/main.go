// Command auditbench measures the audit trail's page latency at scale: it
// seeds a fresh schema (PostgreSQL, by COPY) or a fresh SQLite file with a
// million events by default (-events 10000000 for ten million), then times
// the first page, the next page (by the first page's cursor) and a deep page
// of every filter of the Audit Trail viewer through the same store code the
// page uses, and streams the whole trail as CSV and as JSON Lines to show
// that memory stays flat.
//
//	go run ./cmd/auditbench -database-url 'postgres://postgres@127.0.0.1:5432/keydesk_dev?sslmode=disable'
//	go run ./cmd/auditbench -database-url 'postgres://…' -events 10000000
//	go run ./cmd/auditbench -database-url sqlite:/tmp/auditbench.db
//	go run ./cmd/auditbench -database-url 'postgres://…' -migration   # the last migration on a seeded trail, under appends
//
// The seeded rows carry placeholder hashes: they measure latency, not the
// chain (VerifyChain would report them broken). The schema (or file) is
// dropped at the end unless -keep is given.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"keydesk/models"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/database"
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

// seedActions are the actions of the seeded events, by g % 6.
var seedActions = []string{audit.ActionKeyRevealed, audit.ActionKeyCopied, audit.ActionSignIn, audit.ActionKeyUpdated, audit.ActionReauthSucceeded, audit.ActionKeyGenerated}

// auditColumns are the columns the seed writes.
var auditColumns = []string{"program_id", "seq", "prev_hash", "hash", "occurred_at", "actor_id", "actor_email", "action",
	"target_type", "target_id", "target_name", "outcome", "ip", "user_agent", "request_id", "details", "hash_version", "key_version"}

func run() error {
	ctx := context.Background()
	defaultURL := os.Getenv("TEST_DATABASE_URL")
	if defaultURL == "" {
		defaultURL = os.Getenv("DATABASE_URL")
	}
	dbURL := flag.String("database-url", defaultURL, "PostgreSQL URL or sqlite:PATH (default $TEST_DATABASE_URL, then $DATABASE_URL)")
	events := flag.Int("events", 1_000_000, "events to seed in the measured program (another program gets a tenth)")
	runs := flag.Int("runs", 100, "timed runs per query (after 2 warm-up runs)")
	keep := flag.Bool("keep", false, "keep the benchmark schema or file (and print its name)")
	doExport := flag.Bool("export", true, "also stream the whole trail as CSV and JSON Lines and report time and peak RSS")
	doMigration := flag.Bool("migration", false, "seed at the schema version before the last migration, then time the last migration while events are appended")
	reuse := flag.String("schema", "", "measure a schema an earlier -keep run seeded (PostgreSQL) instead of seeding a new one")
	flag.Parse()
	postgres := database.IsPostgresURL(*dbURL)
	if !postgres && !strings.HasPrefix(*dbURL, "sqlite:") {
		return errors.New("a postgres:// or sqlite: URL is required (-database-url or TEST_DATABASE_URL)")
	}

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "auditbench_" + hex.EncodeToString(suffix)
	if *reuse != "" {
		name = *reuse
	}
	benchURL := *dbURL
	if postgres && *reuse != "" {
		u, err := url.Parse(*dbURL)
		if err != nil {
			return err
		}
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		benchURL = u.String()
	} else if postgres {
		admin, err := database.Open(*dbURL)
		if err != nil {
			return err
		}
		if err := admin.Exec("CREATE SCHEMA " + name).Error; err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		if !*keep {
			defer admin.Exec("DROP SCHEMA " + name + " CASCADE")
		}
		u, err := url.Parse(*dbURL)
		if err != nil {
			return err
		}
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		benchURL = u.String()
	} else {
		dir := filepath.Dir(strings.TrimPrefix(*dbURL, "sqlite:"))
		benchURL = "sqlite:" + filepath.Join(dir, name+".db")
		if !*keep {
			defer func() {
				for _, ext := range []string{"", "-wal", "-shm"} {
					os.Remove(strings.TrimPrefix(benchURL, "sqlite:") + ext)
				}
			}()
		}
	}
	if *keep {
		fmt.Println("kept:", name)
	}
	db, err := database.Open(benchURL)
	if err != nil {
		return err
	}
	var big, other *accounts.Program
	var ids, names []string
	now := time.Now().UTC()
	span := 30 * 24 * time.Hour
	keyring, err := keys.NewKeyring([]byte("auditbench-master-key-32-bytes!!"))
	if err != nil {
		return err
	}
	store, err := models.New(db, keyring, database.SystemClock, outbox.Options{})
	if err != nil {
		return err
	}
	if *reuse != "" {
		var programs []accounts.Program
		if err := db.Order("id").Find(&programs).Error; err != nil || len(programs) < 2 {
			return fmt.Errorf("schema %s holds no seeded programs (%v)", name, err)
		}
		big = &programs[0]
		if err := db.Table("api_keys").Where("program_id = ?", big.ID).Order("name").Pluck("identifier", &ids).Error; err != nil {
			return err
		}
		if err := db.Table("api_keys").Where("program_id = ?", big.ID).Order("name").Pluck("name", &names).Error; err != nil {
			return err
		}
		var newest time.Time
		if err := db.Raw(`SELECT MAX(occurred_at) FROM audit_events WHERE program_id = ?`, big.ID).Scan(&newest).Error; err != nil {
			return err
		}
		// The filters' periods are relative to now: measure as of the newest event.
		now = newest.UTC().Add(time.Second)
		fmt.Printf("measuring schema %s as of %s\n", name, now.Format(time.RFC3339))
	} else {
		target := migrations.SchemaVersion()
		if *doMigration {
			target--
		}
		if _, err := migrations.MigrateTo(ctx, db, target); err != nil {
			return err
		}

		big, err = store.Keys.CreateProgram(ctx, audit.Actor{}, "Bench Store")
		if err != nil {
			return err
		}
		other, err = store.Keys.CreateProgram(ctx, audit.Actor{}, "Neighbour Store")
		if err != nil {
			return err
		}
		for i := range 20 {
			k, err := store.Keys.Generate(ctx, big.ID, audit.Actor{Email: "admin0@bench.test"}, keys.KeyInput{Name: fmt.Sprintf("Integration %02d", i)})
			if err != nil {
				return err
			}
			ids, names = append(ids, k.Identifier), append(names, k.Name)
		}

		// Seed: events spread evenly over the last 30 days, newest now. Bulk
		// load: drop the secondary indexes, load, then build them again (the
		// same definitions, so the queries run against the real schema).
		start := time.Now()
		indexes, err := secondaryIndexes(db, postgres)
		if err != nil {
			return err
		}
		for _, ix := range indexes {
			if err := db.Exec(`DROP INDEX ` + ix.Name).Error; err != nil {
				return err
			}
		}
		seed := func(programID int64, n int) error {
			var seqBase int64
			if err := db.Raw(`SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE program_id = ?`, programID).Scan(&seqBase).Error; err != nil {
				return err
			}
			rows := &seedRows{programID: programID, seqBase: seqBase, n: n, now: now, step: span / time.Duration(n), ids: ids, names: names}
			load := insertRows
			if postgres {
				load = func(_ *gorm.DB, rows *seedRows) error { return copyRows(ctx, benchURL, rows) }
			}
			if err := load(db, rows); err != nil {
				return err
			}
			// The chain's head moves to the last seeded event, so events the
			// store appends afterwards (-migration) follow it.
			return db.Exec(`UPDATE audit_heads SET seq = ?, hash = ? WHERE program_id = ?`, seqBase+int64(n), fmt.Sprintf("%064x", n), programID).Error
		}
		if err := seed(big.ID, *events); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if err := seed(other.ID, *events/10); err != nil {
			return fmt.Errorf("seed the neighbour: %w", err)
		}
		loaded := time.Since(start)
		if postgres {
			db.Exec(`SET maintenance_work_mem = '512MB'`)
		}
		for _, ix := range indexes {
			if err := db.Exec(ix.Def).Error; err != nil {
				return fmt.Errorf("rebuild %s: %w", ix.Name, err)
			}
		}
		analyze := `ANALYZE`
		if postgres {
			analyze = `VACUUM ANALYZE audit_events`
		}
		if err := db.Exec(analyze).Error; err != nil {
			return err
		}
		fmt.Printf("seeded %d events (+%d in a neighbouring program) in %s, rebuilt %d indexes and analysed: %s in all\n",
			*events, *events/10, loaded.Round(time.Second), len(indexes), time.Since(start).Round(time.Second))
		fmt.Println("note: seeded rows carry placeholder hashes (latency benchmark, not a valid chain)")

	}
	if *doMigration {
		return timeMigration(ctx, db, store, big.ID)
	}

	customDay := now.AddDate(0, 0, -20).Format("2006-01-02")
	cases := []benchCase{
		{"default (30 days)", audit.FilterInput{}},
		{"last 24 hours", audit.FilterInput{Period: "24h"}},
		{"all time", audit.FilterInput{Period: "all"}},
		{"custom day (20 days ago)", audit.FilterInput{From: customDay, To: customDay}},
		{"action (common)", audit.FilterInput{Action: audit.ActionKeyRevealed}},
		{"action (rare, 0.1%)", audit.FilterInput{Action: audit.ActionKeyDeleted}},
		{"actor", audit.FilterInput{Actor: "admin3@bench.test"}},
		{"actor by prefix (1 of 8)", audit.FilterInput{Actor: "admin3"}},
		{"actor by substring (all 8)", audit.FilterInput{Actor: "@bench"}},
		{"API key by name", audit.FilterInput{APIKey: "integration 07"}},
		{"API key by identifier", audit.FilterInput{APIKey: ids[11]}},
		{"API key by prefix (10 of 20)", audit.FilterInput{APIKey: "Integration 1"}},
		{"search, many (50%)", audit.FilterInput{Search: "ration 1"}},
		{"search, a key's name (5%)", audit.FilterInput{Search: "integration 07"}},
		{"search, rare (0.01%)", audit.FilterInput{Search: "zzrare"}},
		{"search, none", audit.FilterInput{Search: "no such name"}},
		{"search, all time", audit.FilterInput{Period: "all", Search: "integration 07"}},
		{"search + 24 hours", audit.FilterInput{Period: "24h", Search: "integration 07"}},
		{"search + custom day", audit.FilterInput{From: customDay, To: customDay, Search: "integration 07"}},
		{"search + action", audit.FilterInput{Search: "ration 0", Action: audit.ActionKeyRevealed}},
		{"search + action (rare)", audit.FilterInput{Search: "zzrare", Action: audit.ActionKeyDeleted}},
		// Every event bears a name the search matches, but never with this action.
		{"search + action, none", audit.FilterInput{Search: "ration 04", Action: audit.ActionKeyCopied}},
		{"search + actor", audit.FilterInput{Search: "integration 01", Actor: "admin1"}},
		// Actor g%8 and name g%20 meet only when equal modulo 4.
		{"search + actor, none seeded", audit.FilterInput{Search: "integration 01", Actor: "admin0"}},
		{"search + API key", audit.FilterInput{Search: "ration 0", APIKey: "Integration 04"}},
		{"search + API key, none", audit.FilterInput{Search: "integration 05", APIKey: "Integration 04"}},
		{"7 days + action + actor", audit.FilterInput{Period: "7d", Action: audit.ActionKeyRevealed, Actor: "admin2@bench.test"}},
		// The seeded data never pairs these two: the worst case of combined
		// filters, where no index alone finds the (absent) rows.
		{"action + actor, none", audit.FilterInput{Period: "7d", Action: audit.ActionKeyCopied, Actor: "admin2@bench.test"}},
		{"API key + action", audit.FilterInput{APIKey: "Integration 04", Action: audit.ActionKeyRevealed}},
		{"API key + action, none", audit.FilterInput{APIKey: "Integration 04", Action: audit.ActionKeyCopied}},
	}
	fmt.Printf("\n%d timed runs per page; p50 / p99 in ms\n\n", *runs)
	fmt.Println("| filter | rows | first page | next page | deep page |")
	fmt.Println("|---|---|---|---|---|")
	worst := time.Duration(0)
	for _, c := range cases {
		f, err := c.in.Resolve(now)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		first, err := timeQuery(ctx, store, big.ID, f, audit.PageRequest{}, *runs)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		var next timing
		if first.older != nil {
			if next, err = timeQuery(ctx, store, big.ID, f, audit.PageRequest{Before: first.older}, *runs); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
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
		deep, err := timeQuery(ctx, store, big.ID, f, audit.PageRequest{Before: &audit.Cursor{At: from.Add(until.Sub(from) / 2), ID: math.MaxInt64}}, *runs)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		worst = max(worst, first.p99, next.p99, deep.p99)
		fmt.Printf("| %s | %d / %d / %d | %s | %s | %s |\n", c.name, first.rows, next.rows, deep.rows, first, next, deep)
	}
	fmt.Printf("\nworst p99: %s ms\n", ms(worst))

	if *doExport {
		f, _ := audit.FilterInput{Period: "all"}.Resolve(now)
		for _, format := range []string{"CSV", "JSON Lines"} {
			before, err := resetPeakRSS()
			if err != nil {
				return err
			}
			cw := &countingWriter{}
			t0 := time.Now()
			var rows int64
			if format == "CSV" {
				rows, err = store.Audit.WriteCSV(ctx, cw, big.ID, f)
			} else {
				rows, err = store.Audit.WriteJSONL(ctx, cw, big.ID, big.PartnerID, f)
			}
			if err != nil {
				return err
			}
			d := time.Since(t0)
			peak, _ := procStatusKiB("VmHWM")
			fmt.Printf("%s of all %d events: %s, %.1f MB written, %.0f rows/s; RSS %.1f MiB before, peak %.1f MiB (+%.1f MiB)\n",
				format, rows, d.Round(time.Millisecond), float64(cw.n)/1e6, float64(rows)/d.Seconds(),
				float64(before)/1024, float64(peak)/1024, float64(peak-before)/1024)
		}
	}
	return nil
}

// seedRows generates the seeded events of one program: g = 1…n, spread
// evenly up to now; actor g%8, API key g%20 (its name the target name),
// action g%6, with a rare action (g%1000) and a rare name (g%10000).
type seedRows struct {
	programID int64
	seqBase   int64
	n         int
	now       time.Time
	step      time.Duration
	ids       []string
	names     []string
	g         int
}

func (r *seedRows) Next() bool {
	r.g++
	return r.g <= r.n
}

func (r *seedRows) Values() ([]any, error) {
	g := r.g
	action := seedActions[g%6]
	if g%1000 == 0 {
		action = audit.ActionKeyDeleted
	}
	name := r.names[g%20]
	if g%10000 == 0 {
		name = "Rare zzrare key"
	}
	return []any{
		r.programID, r.seqBase + int64(g), fmt.Sprintf("%064x", g-1), fmt.Sprintf("%064x", g),
		r.now.Add(-time.Duration(r.n-g) * r.step), int64(1 + g%8), "admin" + strconv.Itoa(g%8) + "@bench.test", action,
		"api_key", r.ids[g%20], name, "success", "198.51.100." + strconv.Itoa(g%250), "Mozilla/5.0 (bench)",
		fmt.Sprintf("%032x", g*7), `{"before":{"name":"a"},"after":{"name":"b"}}`, int32(1), int64(0),
	}, nil
}

func (r *seedRows) Err() error { return nil }

// copyRows loads rows with COPY on a connection of its own.
func copyRows(ctx context.Context, dbURL string, rows *seedRows) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"audit_events"}, auditColumns, rows)
	return err
}

// insertRows loads rows into SQLite, 500 to a statement, 100 000 to a transaction.
func insertRows(db *gorm.DB, rows *seedRows) error {
	const perStatement, perTx = 500, 100_000
	placeholders := "(" + strings.TrimSuffix(strings.Repeat("?,", len(auditColumns)), ",") + ")"
	for rows.g < rows.n {
		err := db.Transaction(func(tx *gorm.DB) error {
			for i := 0; i < perTx/perStatement && rows.g < rows.n; i++ {
				var args []any
				k := 0
				for ; k < perStatement && rows.Next(); k++ {
					v, _ := rows.Values()
					args = append(args, v...)
				}
				if k == 0 {
					break
				}
				stmt := "INSERT INTO audit_events (" + strings.Join(auditColumns, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(placeholders+",", k), ",")
				if err := tx.Exec(stmt, args...).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

type index struct{ Name, Def string }

// secondaryIndexes lists audit_events' indexes other than the unique ones.
func secondaryIndexes(db *gorm.DB, postgres bool) ([]index, error) {
	var out []index
	q := `SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'audit_events' AND indexdef NOT LIKE 'CREATE UNIQUE%'`
	if !postgres {
		q = `SELECT name, sql AS def FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'`
	}
	return out, db.Raw(q).Scan(&out).Error
}

// timeMigration applies the last migration to the seeded trail while
// another goroutine appends events through the store, and reports how long
// it took and how long the appends waited.
func timeMigration(ctx context.Context, db *gorm.DB, store *models.Stores, programID int64) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appends []time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			t0 := time.Now()
			err := store.Audit.Record(ctx, programID, audit.Actor{Email: "admin1@bench.test"}, audit.Entry{Action: audit.ActionKeyCopied, TargetType: "api_key", TargetName: "during the migration"})
			if err != nil {
				fmt.Fprintln(os.Stderr, "append during the migration:", err)
				return
			}
			appends = append(appends, time.Since(t0))
		}
	}()
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	applied, err := migrations.Migrate(ctx, db)
	took := time.Since(t0)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	slices.Sort(appends)
	if len(appends) == 0 {
		return errors.New("no event was appended during the migration")
	}
	fmt.Printf("migration %d applied (%d) in %s; %d events appended meanwhile (one every 20 ms), append p50 %s ms, max %s ms\n",
		migrations.SchemaVersion(), applied, took.Round(time.Millisecond), len(appends), ms(appends[len(appends)/2]), ms(appends[len(appends)-1]))
	return nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

// timing is one page query's result and latencies.
type timing struct {
	rows     int
	p50, p99 time.Duration
	older    *audit.Cursor
}

func (t timing) String() string {
	if t.rows == 0 && t.p99 == 0 {
		return "—"
	}
	return ms(t.p50) + " / " + ms(t.p99)
}

// timeQuery runs one page query 2 + runs times and returns the rows of the
// page and the median and 99th percentile of the timed runs. Every event
// must be the program's: the bench fails on another program's event.
func timeQuery(ctx context.Context, store *models.Stores, programID int64, f audit.Filter, req audit.PageRequest, runs int) (timing, error) {
	var times []time.Duration
	var t timing
	for i := range runs + 2 {
		t0 := time.Now()
		page, err := store.Audit.List(ctx, programID, f, req)
		d := time.Since(t0)
		if err != nil {
			return t, err
		}
		for _, e := range page.Events {
			if e.ProgramID != programID {
				return t, fmt.Errorf("event #%d of program %d listed for program %d", e.ID, e.ProgramID, programID)
			}
		}
		t.rows, t.older = len(page.Events), page.Older
		if i >= 2 {
			times = append(times, d)
		}
	}
	slices.Sort(times)
	t.p50 = times[len(times)/2]
	t.p99 = times[int(math.Ceil(0.99*float64(len(times))))-1]
	return t, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

// resetPeakRSS resets the process's peak RSS (VmHWM) to its current RSS
// and returns that, in KiB.
func resetPeakRSS() (int64, error) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, fmt.Errorf("reset the peak RSS: %w", err)
	}
	return procStatusKiB("VmRSS")
}

// procStatusKiB reads a "kB" field of /proc/self/status.
func procStatusKiB(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/self/status", field)
}
