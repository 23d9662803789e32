package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"gorm.io/gorm/clause"

	"keydesk/models/database"
	"keydesk/models/usage"
	"keydesk/web/paths"
)

// Targets of issue 13 (usage, metrics, Redis limits).
const (
	targetUsageAuthRatio = 0.90
	targetRedisAuthRatio = 0.80
	targetUsagePageP99   = 50 * time.Millisecond
)

// scenarioUsageCounting is scenario 7: scenario 1's authenticated/baseline
// ratio is with per-key usage counting on (every `keydesk serve` counts);
// this checks that the counts of that load did reach key_usage (the server
// flushes once a minute, so the full run waits for one flush).
func (b *bench) scenarioUsageCounting() error {
	const name = "7 auth/baseline with usage counting on"
	claim := fmt.Sprintf("auth/baseline %.2f (>= %.2f; scenario 1's run)", b.authRatio, targetUsageAuthRatio)
	if b.cfg.smoke {
		b.rep.add(row{scenario: name, claim: claim + "; flush not awaited in smoke mode", verdict: verdict(b.authRatio >= targetUsageAuthRatio)})
		return nil
	}
	var counted int64
	deadline := time.Now().Add(75 * time.Second)
	for {
		if err := b.db.Raw(`SELECT COALESCE(SUM(count), 0) FROM key_usage`).Scan(&counted).Error; err != nil {
			return err
		}
		if uint64(counted) >= b.authCalls || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	counted1 := uint64(counted) >= b.authCalls
	b.rep.add(row{
		scenario: name,
		claim:    fmt.Sprintf("%s; key_usage holds %d verifications (>= scenario 1's %d calls: %v)", claim, counted, b.authCalls, counted1),
		verdict:  verdict(b.authRatio >= targetUsageAuthRatio && counted1),
	})
	return nil
}

// redisURL is the Redis the bench shares limits through: KEYDESK_REDIS_URL,
// else TEST_REDIS_URL (what CI sets).
func redisURL() string {
	if u := os.Getenv("KEYDESK_REDIS_URL"); u != "" {
		return u
	}
	return os.Getenv("TEST_REDIS_URL")
}

// scenarioRedisLimits is scenario 8: scenario 1's pair of loads against a
// second server whose per-key rate limits go through Redis (budgets leased
// a few units at a time, leases asked for in batches).
func (b *bench) scenarioRedisLimits() error {
	const name = "8 auth/baseline with Redis rate limits"
	url := redisURL()
	if url == "" {
		b.rep.add(row{scenario: name, claim: "needs Redis (set KEYDESK_REDIS_URL or TEST_REDIS_URL)", verdict: verdictSkipped})
		return nil
	}
	s, err := startServer("server-redis", b.bin, b.dir, b.dbURL, b.masterKey, "KEYDESK_REDIS_URL="+url)
	if err != nil {
		return err
	}
	defer s.stop()
	if ready, err := http.Get(s.base + "/readyz"); err == nil {
		drain(ready)
	}
	healthz := staticGet(s.base + "/healthz")
	auth := keyTargets(s.base, b.seed.keys)
	if w := attack(everyKeyOnce(s.base, b.seed.keys), b.cfg.conns, time.Minute, "redis-warmup-keys"); w.StatusCodes["200"] != len(b.seed.keys) {
		return fmt.Errorf("warm-up with every key: %s %v", statuses(w), w.Errors)
	}
	attack(healthz, b.cfg.conns, b.cfg.warmup, "redis-warmup-healthz")
	attack(auth, b.cfg.conns, b.cfg.warmup, "redis-warmup-auth")
	baseline, baseCPU := b.measureOn(s, healthz, "redis-baseline")
	authed, authCPU := b.measureOn(s, auth, "redis-auth")
	backend, _ := getBody(s.base + "/readyz")
	ratio := okRate(authed) / okRate(baseline)
	allOK := onlyStatus(authed, http.StatusOK) && onlyStatus(baseline, http.StatusOK)
	b.rep.add(row{
		scenario:   fmt.Sprintf("8 auth GET /v2/loyalty/program, Redis limits (%d conns)", b.cfg.conns),
		throughput: rps(okRate(authed)),
		p50:        ms(authed.Latencies.P50),
		p99:        ms(authed.Latencies.P99),
		claim:      fmt.Sprintf("auth/baseline %.2f (>= %.2f; Kong with rate limiting 0.76); baseline %s; all 200: %v", ratio, targetRedisAuthRatio, rps(okRate(baseline)), allOK),
		verdict:    verdict(ratio >= targetRedisAuthRatio && allOK),
	})
	b.rep.note("scenario 8: a second server with KEYDESK_REDIS_URL; /readyz said %s", backend)
	b.rep.note("scenario 8 CPU, baseline: %s", baseCPU)
	b.rep.note("scenario 8 CPU, authenticated: %s", authCPU)
	return nil
}

func (b *bench) measureOn(s *server, tr vegeta.Targeter, name string) (*vegeta.Metrics, cpuUse) {
	before := takeCPUSample(s.cmd.Process.Pid)
	m := attack(tr, b.cfg.conns, b.cfg.duration, name)
	return m, cpuBetween(before, takeCPUSample(s.cmd.Process.Pid), m.Requests)
}

func getBody(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	return strings.TrimSpace(string(buf[:n])), nil
}

// usageRow is one key_usage row, for seeding.
type usageRow struct {
	KeyID      int64
	ProgramID  int64
	Resolution string
	Bucket     time.Time
	Outcome    string
	Count      int64
}

func (usageRow) TableName() string { return "key_usage" }

// scenarioUsagePage is scenario 9: the usage view of one of 20 keys, each
// with 30 days of minute buckets seeded directly into key_usage (the worst
// case: before any rollup to hours), over ?range=30d, at concurrency 1.
func (b *bench) scenarioUsagePage() error {
	days := 30
	if b.cfg.smoke {
		days = 2
	}
	programID, err := b.consoleProgramID()
	if err != nil {
		return err
	}
	started := time.Now()
	now := time.Now().UTC().Truncate(time.Minute)
	minutes := days * 24 * 60
	rows := make([]usageRow, 0, 4000)
	total := 0
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		// Scenario 1's load has already counted some recent minutes.
		err := b.db.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 1000).Error
		total += len(rows)
		rows = rows[:0]
		return err
	}
	for _, k := range b.seed.consoleKeys {
		for m := 1; m <= minutes; m++ {
			bucket := now.Add(-time.Duration(m) * time.Minute)
			rows = append(rows, usageRow{k.ID, programID, usage.Minute, bucket, "valid", int64(1 + m%37)})
			if m%10 == 0 {
				rows = append(rows, usageRow{k.ID, programID, usage.Minute, bucket, "rate_limited", int64(1 + m%3)})
			}
			if len(rows) >= 4000 {
				if err := flush(); err != nil {
					return fmt.Errorf("seed key_usage: %w", err)
				}
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("seed key_usage: %w", err)
	}
	seeded := time.Since(started)

	c := b.console
	if c == nil {
		if c, err = signIn(b.a.base, b.seed.adminEmail, b.seed.adminPass); err != nil {
			return err
		}
	}
	var targets []vegeta.Target
	for _, k := range b.seed.consoleKeys {
		targets = append(targets, vegeta.Target{Method: http.MethodGet, URL: b.a.base + paths.APIKeyUsage(k.ID) + "?range=30d", Header: http.Header{"Cookie": {c.cookieHeader()}}})
	}
	body, err := c.get(paths.APIKeyUsage(b.seed.consoleKeys[0].ID) + "?range=30d")
	if err != nil {
		return err
	}
	attack(vegeta.NewStaticTargeter(targets...), 1, b.cfg.warmup/2, "usage-warmup")
	m := attack(vegeta.NewStaticTargeter(targets...), 1, b.cfg.consoleDuration, "usage-page")
	if !onlyStatus(m, http.StatusOK) {
		return fmt.Errorf("usage page under load: %s %v", statuses(m), m.Errors)
	}
	b.rep.add(row{
		scenario:   fmt.Sprintf("9 usage page ?range=30d, %d keys x %d days of minutes (1 conn)", len(b.seed.consoleKeys), days),
		throughput: rps(okRate(m)),
		p50:        ms(m.Latencies.P50),
		p99:        ms(m.Latencies.P99),
		claim:      fmt.Sprintf("p99 %s (< %s)", ms(m.Latencies.P99), ms(targetUsagePageP99)),
		verdict:    verdict(m.Latencies.P99 < targetUsagePageP99),
	})
	// The steady state: the retention job folds minutes older than 48
	// hours into hours, so a real key never holds 30 days of minutes.
	rolled, err := usage.NewStore(b.db, database.SystemClock).Rollup(context.Background())
	if err != nil {
		return fmt.Errorf("roll up key_usage: %w", err)
	}
	attack(vegeta.NewStaticTargeter(targets...), 1, b.cfg.warmup/2, "usage-warmup-rolled")
	steady := attack(vegeta.NewStaticTargeter(targets...), 1, b.cfg.consoleDuration, "usage-page-rolled")
	if !onlyStatus(steady, http.StatusOK) {
		return fmt.Errorf("usage page after rollup: %s %v", statuses(steady), steady.Errors)
	}
	b.rep.add(row{
		scenario:   "9 usage page ?range=30d, same data after the retention job's rollup (1 conn)",
		throughput: rps(okRate(steady)),
		p50:        ms(steady.Latencies.P50),
		p99:        ms(steady.Latencies.P99),
		claim:      fmt.Sprintf("p99 %s (< %s); %d rows folded into hours", ms(steady.Latencies.P99), ms(targetUsagePageP99), rolled),
		verdict:    verdict(steady.Latencies.P99 < targetUsagePageP99),
	})
	b.rep.note("scenario 9: %d key_usage rows seeded in %s (one minute bucket per key per minute, rate_limited every 10th); %d sequential loads of the 20 keys' usage pages over 30 days, %s of HTML each, timed by the client over loopback",
		total, seeded.Round(time.Millisecond), m.Requests, kb(len(body)))
	return nil
}

// consoleProgramID is the program of the console keys.
func (b *bench) consoleProgramID() (int64, error) {
	var id int64
	err := b.db.Raw(`SELECT program_id FROM api_keys WHERE id = ?`, b.seed.consoleKeys[0].ID).Scan(&id).Error
	if err == nil && id == 0 {
		err = fmt.Errorf("no program for console key %d", b.seed.consoleKeys[0].ID)
	}
	return id, err
}
