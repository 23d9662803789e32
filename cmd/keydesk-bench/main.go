// Command keydesk-bench measures keydesk against the published numbers of
// API gateways: it builds the real server, seeds a database, runs each
// scenario against `keydesk serve` processes on loopback with vegeta as
// the load generator, and prints one table. Every number it prints is
// measured in that run.
//
//	go run ./cmd/keydesk-bench            # the full run (make bench)
//	go run ./cmd/keydesk-bench -smoke     # about 1 s per scenario, for CI
//	go run ./cmd/keydesk-bench -only 4,9  # only scenarios 4 and 9
//
// The database is PostgreSQL when -database, BENCH_DATABASE_URL or
// DATABASE_URL is a postgres:// URL (a fresh schema in it, dropped at the
// end), otherwise a fresh embedded SQLite file.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"keydesk/models/database"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gorm.io/gorm"

	"keydesk/models"
	"keydesk/models/keys"
	"keydesk/models/migrations"
	"keydesk/models/outbox"
)

type config struct {
	duration        time.Duration
	warmup          time.Duration
	proofDuration   time.Duration
	consoleDuration time.Duration
	conns           int
	programs        int
	keysPerProgram  int
	trials          int
	database        string
	keep            bool
	smoke           bool
	audit           bool
	profileDir      string
	only            string
}

type bench struct {
	cfg       config
	dir       string
	bin       string
	dbURL     string
	masterKey string
	pgStats   *gorm.DB // PostgreSQL only: reads pg_stat_database
	db        *gorm.DB // the bench's own connection (seeding, usage checks)
	store     *models.Stores
	authRatio float64 // scenario 1's authenticated/baseline ratio
	authCalls uint64  // scenario 1's measured authenticated requests
	seed      *seeded
	a, b      *server
	console   *consoleClient
	pacedRate int // half of the baseline's maximum rate, from scenario 1
	// aKeysLoadedUntil is when scenario 1's last call with the seeded keys
	// reached server A (zero: it made none).
	aKeysLoadedUntil time.Time
	rep              report
	only             map[int]bool // the scenarios -only names; nil runs every one
}

func main() {
	os.Exit(run())
}

func run() int {
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each measured load (scenarios 1 and 2)")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured warm-up before scenario 1 (and half of it before 4)")
	flag.DurationVar(&cfg.proofDuration, "proof-duration", 3*time.Second, "length of each PostgreSQL transaction-count phase of scenario 2")
	flag.DurationVar(&cfg.consoleDuration, "console-duration", 5*time.Second, "length of the sequential console page loads (scenario 4)")
	flag.IntVar(&cfg.conns, "conns", 32, "concurrent connections of each load")
	flag.IntVar(&cfg.programs, "programs", 200, "programs to seed")
	flag.IntVar(&cfg.keysPerProgram, "keys", keys.MaxAPIKeysPerProgram, "API keys per program")
	flag.IntVar(&cfg.trials, "trials", 50, "revocation trials (scenario 3, PostgreSQL only)")
	flag.StringVar(&cfg.database, "database", "", "database URL (default $BENCH_DATABASE_URL, then $DATABASE_URL, then a fresh SQLite file)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory (binary, logs, SQLite file) and the PostgreSQL schema")
	flag.BoolVar(&cfg.smoke, "smoke", false, "a quick run (about 1 s per scenario, fewer programs and trials) that only proves the bench works")
	flag.BoolVar(&cfg.audit, "audit", true, "run the audit-trail benchmark (scenario 5)")
	flag.StringVar(&cfg.profileDir, "profile", "", "instead of the scenarios, run scenario 1's loads against an in-process server and write CPU profiles (healthz.pprof, auth.pprof) into this directory")
	flag.StringVar(&cfg.only, "only", "", "run only these scenarios, comma-separated numbers (e.g. 9 or 4,9); 2, 6 and 7 read scenario 1's results, so they run it too")
	flag.Int64Var(&benchLimits.Quota, "quota", benchLimits.Quota, "every seeded key's daily quota (0: none), never reached")
	flag.Parse()
	if benchLimits.Quota == 0 {
		benchLimits.QuotaPeriod = ""
	}
	if cfg.smoke {
		cfg.duration, cfg.warmup, cfg.proofDuration, cfg.consoleDuration = time.Second, 500*time.Millisecond, 500*time.Millisecond, time.Second
		cfg.programs, cfg.trials = min(cfg.programs, 20), min(cfg.trials, 5)
	}
	if cfg.database == "" {
		cfg.database = os.Getenv("BENCH_DATABASE_URL")
	}
	if cfg.database == "" {
		cfg.database = os.Getenv("DATABASE_URL")
	}
	only, err := parseOnly(cfg.only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keydesk-bench:", err)
		return 2
	}
	if cfg.keysPerProgram < 1 || cfg.keysPerProgram > keys.MaxAPIKeysPerProgram || cfg.programs < 1 || cfg.conns < 1 || cfg.trials < 1 {
		fmt.Fprintf(os.Stderr, "keydesk-bench: -programs, -conns, -trials must be positive and -keys 1..%d\n", keys.MaxAPIKeysPerProgram)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{cfg: cfg, only: only}
	defer b.cleanup()
	if err := b.run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "keydesk-bench:", err)
		return 1
	}
	return 0
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

var dropSchema func() error

func (b *bench) run(ctx context.Context) error {
	started := time.Now()
	loadBefore := loadAverage()
	dir, err := os.MkdirTemp("", "keydesk-bench-")
	if err != nil {
		return err
	}
	b.dir = dir
	logf("building ./cmd/keydesk into %s", dir)
	if b.bin, err = buildServer(dir); err != nil {
		return err
	}

	dbLabel := ""
	if database.IsPostgresURL(b.cfg.database) {
		u, err := url.Parse(b.cfg.database)
		if err != nil {
			return fmt.Errorf("database URL: %w", err)
		}
		if b.dbURL, dropSchema, err = freshPostgresSchema(b.cfg.database); err != nil {
			return err
		}
		su, _ := url.Parse(b.dbURL)
		dbLabel = fmt.Sprintf("PostgreSQL %s, fresh schema %s", u.Redacted(), su.Query().Get("search_path"))
	} else {
		if b.cfg.database != "" {
			logf("ignoring non-PostgreSQL database %q: the bench seeds a fresh SQLite file", b.cfg.database)
		}
		b.dbURL = "sqlite:" + filepath.Join(dir, "bench.db")
		dbLabel = "SQLite (embedded default, pure Go), fresh file " + filepath.Join(dir, "bench.db")
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	b.masterKey = base64.StdEncoding.EncodeToString(raw)

	db, err := database.Open(b.dbURL)
	if err != nil {
		return err
	}
	if _, err := migrations.Migrate(context.Background(), db); err != nil {
		return err
	}
	keyring, err := keys.NewKeyring(raw)
	if err != nil {
		return err
	}
	workers := 1
	if database.IsPostgresURL(b.dbURL) {
		workers = 4
		b.pgStats = db
	} else {
		defer closeDB(db)
	}
	logf("seeding %d programs x %d keys on %s", b.cfg.programs, b.cfg.keysPerProgram, dbLabel)
	// Private webhook targets allowed, as the servers allow them: scenario
	// 10's receiver listens on 127.0.0.1.
	store, err := models.New(db, keyring, database.SystemClock, outbox.Options{AllowPrivateTargets: true})
	if err != nil {
		return err
	}
	b.db, b.store = db, store
	if b.seed, err = seed(store, b.cfg.programs, b.cfg.keysPerProgram, workers); err != nil {
		return err
	}
	logf("seeded %d keys in %s", len(b.seed.keys), b.seed.took.Round(time.Millisecond))
	if b.cfg.profileDir != "" {
		return b.profileScenario1(ctx, b.cfg.profileDir, store, raw)
	}

	if b.a, err = startServer("server-a", b.bin, dir, b.dbURL, b.masterKey); err != nil {
		return err
	}
	failed := 0
	step := func(n int, name string, fn func() error) {
		if ctx.Err() != nil || !b.runs(n) {
			return
		}
		logf("scenario %s", name)
		if err := fn(); err != nil {
			failed++
			b.rep.add(row{scenario: name, claim: "error: " + err.Error(), verdict: "FAILED"})
		}
	}
	if b.runs(1) || b.runs(2) || b.runs(6) || b.runs(7) {
		authMetrics, err := b.scenarioAuth()
		if err != nil {
			return err
		}
		if b.runs(6) {
			b.scenarioMemory()
		}
		step(2, "2 bad-key flood", func() error { return b.scenarioFlood(authMetrics) })
	}
	step(4, "4 console", b.scenarioConsole)
	step(3, "3 revocation", func() error { return b.scenarioRevocation(ctx) })
	step(5, "5 audit trail", func() error { return b.scenarioAudit(ctx) })
	step(7, "7 usage counting", b.scenarioUsageCounting)
	step(8, "8 Redis rate limits", b.scenarioRedisLimits)
	step(9, "9 usage page", b.scenarioUsagePage)
	step(10, "10 webhook delivery", func() error { return b.scenarioDelivery(ctx, store) })
	step(11, "11 management call", b.scenarioManage)
	step(12, "12 leak alert", func() error { return b.scenarioLeak(ctx) })
	if err := ctx.Err(); err != nil {
		return err
	}

	fmt.Println()
	fmt.Println("keydesk-bench results")
	fmt.Println("machine:  " + machine())
	fmt.Println("database: " + dbLabel)
	fmt.Printf("seed:     %d programs x %d keys (+ a default key each) in %s; load spread over all %d keys\n",
		b.cfg.programs, b.cfg.keysPerProgram, b.seed.took.Round(time.Millisecond), len(b.seed.keys))
	fmt.Printf("load:     load average %s before the run, %s after\n", loadBefore, loadAverage())
	if b.only != nil {
		fmt.Println("only:     scenarios " + b.cfg.only)
	}
	if b.cfg.smoke {
		fmt.Println("mode:     SMOKE (short runs: the numbers only prove the bench works)")
	}
	fmt.Println()
	b.rep.print(os.Stdout)
	fmt.Printf("\ntotal bench time %s\n", time.Since(started).Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d scenario(s) failed", failed)
	}
	return nil
}

// lastScenario is the highest scenario number -only accepts.
const lastScenario = 12

// parseOnly reads -only: nil when empty (every scenario), else the set of
// scenario numbers it lists.
func parseOnly(list string) (map[int]bool, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	only := map[int]bool{}
	for _, field := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 || n > lastScenario {
			return nil, fmt.Errorf("-only %q: want scenario numbers 1..%d separated by commas", list, lastScenario)
		}
		only[n] = true
	}
	return only, nil
}

// runs says whether scenario n is to run.
func (b *bench) runs(n int) bool { return b.only == nil || b.only[n] }

func (b *bench) cleanup() {
	b.b.stop()
	b.a.stop()
	if b.pgStats != nil {
		closeDB(b.pgStats)
	}
	if b.cfg.keep {
		logf("kept %s", b.dir)
		return
	}
	if dropSchema != nil {
		if err := dropSchema(); err != nil {
			logf("dropping the bench schema: %v", err)
		}
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}
