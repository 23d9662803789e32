package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/sync/errgroup"

	"keydesk/models/apiauth"
	"keydesk/models/database"
	"keydesk/models/usage"
	"keydesk/routes"
	"keydesk/views"
)

// Targets of issue 13 (usage, metrics, Redis limits).
const (
	targetUsageAuthRatio = 0.90
	targetRedisAuthRatio = 0.80
	targetUsagePageP99   = 50 * time.Millisecond
)

// scenarioUsageCounting is scenario 7: scenario 1's authenticated/baseline
// ratio is with per-key usage counting on (every `keydesk serve` counts);
// this checks that the counts of that load did reach key_usage's minute
// rows (the server flushes once a minute, so the full run waits for one
// flush; each count is in its hour row too, not summed here).
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
		if err := b.db.Raw(`SELECT COALESCE(SUM(count), 0) FROM key_usage WHERE resolution = ?`, usage.Minute).Scan(&counted).Error; err != nil {
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
		claim:    fmt.Sprintf("%s; key_usage minutes hold %d verifications (>= scenario 1's %d calls: %v)", claim, counted, b.authCalls, counted1),
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
	b.waitForServerAQuotaLeases()
	healthz := staticGet(s.base + "/healthz")
	called, control := b.seed.loadKeys()
	auth, controlLoad := keyTargets(s.base, called), controlTargets(s.base, control)
	if w := attack(everyKeyOnce(s.base, b.seed.keys), b.cfg.conns, time.Minute, "redis-warmup-keys"); w.StatusCodes["200"] != len(b.seed.keys) {
		return fmt.Errorf("warm-up with every key: %s %v", statuses(w), w.Errors)
	}
	attack(healthz, b.cfg.conns, b.cfg.warmup, "redis-warmup-healthz")
	attack(auth, b.cfg.conns, b.cfg.warmup, "redis-warmup-auth")
	if controlLoad != nil {
		attack(controlLoad, b.cfg.conns, b.cfg.warmup, "redis-warmup-control")
	}
	pair := measurePaired(s.cmd.Process.Pid, healthz, auth, controlLoad, b.cfg.conns, b.cfg.duration, "redis")
	baseline, authed, baseCPU, authCPU := pair.baseline.all, pair.auth.all, pair.baseline.cpu.use(), pair.auth.cpu.use()
	backend, _ := getBody(s.base + "/readyz")
	ratio := pair.ratio()
	allOK := onlyStatus(authed, http.StatusOK) && onlyStatus(baseline, http.StatusOK)
	b.rep.add(row{
		scenario:   fmt.Sprintf("8 auth GET /v2/loyalty/program, Redis limits (%d conns%s)", b.cfg.conns, quotaLabel(control)),
		throughput: rps(pair.auth.rate()),
		p50:        ms(authed.Latencies.P50),
		p99:        ms(authed.Latencies.P99),
		claim:      fmt.Sprintf("auth/baseline %.2f, median of %d alternating rounds %s (>= %.2f; Kong with rate limiting 0.76); baseline %s; all 200: %v", ratio, pairRounds, pair.roundsText(), targetRedisAuthRatio, rps(pair.baseline.rate()), allOK),
		verdict:    verdict(ratio >= targetRedisAuthRatio && allOK),
	})
	b.rep.note("scenario 8: a second server with KEYDESK_REDIS_URL; /readyz said %s", backend)
	b.reportControl("8", pair)
	b.rep.note("scenario 8 CPU, baseline: %s", baseCPU)
	b.rep.note("scenario 8 CPU, authenticated: %s", authCPU)
	return nil
}

// waitForServerAQuotaLeases waits, when every key has a quota, until
// server A has settled the quota leases scenario 1 left it: each ends
// within apiauth.QuotaLongLease of its last renewal, and one spent from is
// renewed once more before it is given back, so A is done two lease
// lifetimes after its last call. Without the wait, A's 4000 settlements
// (PostgreSQL transactions) share the two cores with scenario 8's
// measurement of the other server. In a full run the scenarios between
// take longer than that and nothing is waited for.
func (b *bench) waitForServerAQuotaLeases() {
	if benchLimits.Quota == 0 || b.aKeysLoadedUntil.IsZero() {
		return
	}
	settled := b.aKeysLoadedUntil.Add(2*apiauth.QuotaLongLease + 2*time.Second)
	if wait := time.Until(settled); wait > 0 {
		logf("waiting %s for server A's quota leases to settle", wait.Round(time.Second))
		time.Sleep(wait)
		b.rep.note("scenario 8: measured after server A's quota leases from scenario 1 had settled (waited %s)", wait.Round(time.Second))
	}
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

// scenarioUsagePage is scenario 9: the usage view of one of 20 keys over
// ?range=30d at concurrency 1, each key with 30 days of minute buckets
// (the worst case: before the retention job deletes any minute). They are
// written the way traffic writes them: usage.Store.Write once per minute
// of the 30 days, oldest first, with that minute's counts of all 20 keys
// (what a server's once-a-minute flush writes), so each hour row is
// updated 60 times, as in production: successful calls every minute,
// client errors every 7th, rate-limited calls every 10th and a server
// error every 241st. It also times the API Keys list, whose 20 rows each
// show their key's requests in the last 24 hours.
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
	store := usage.NewStore(b.db, database.SystemClock)
	// On PostgreSQL the 30 days are split into a few stretches written
	// side by side, like several instances flushing (each hour row is
	// still written once per minute); SQLite writes one transaction at a
	// time, so it gets one stretch.
	stretches := 1
	if b.pgStats != nil {
		stretches = 4
	}
	minutes := days * 24 * 60
	var g errgroup.Group
	var counts atomic.Int64
	for w := range stretches {
		from, to := minutes*w/stretches, minutes*(w+1)/stretches // minutes before now, (from, to]
		g.Go(func() error {
			batch := make([]usage.Count, 0, 2*len(b.seed.consoleKeys))
			for m := to; m > from; m-- {
				bucket := now.Add(-time.Duration(m) * time.Minute)
				batch = batch[:0]
				for _, k := range b.seed.consoleKeys {
					batch = append(batch, usage.Count{KeyID: k.ID, ProgramID: programID, Bucket: bucket, Outcome: usage.OutcomeSuccess, Count: int64(1 + m%37)})
					if m%7 == 0 {
						batch = append(batch, usage.Count{KeyID: k.ID, ProgramID: programID, Bucket: bucket, Outcome: usage.OutcomeClientError, Count: int64(1 + m%2)})
					}
					if m%10 == 0 {
						batch = append(batch, usage.Count{KeyID: k.ID, ProgramID: programID, Bucket: bucket, Outcome: usage.OutcomeRateLimited, Count: int64(1 + m%3)})
					}
					if m%241 == 0 {
						batch = append(batch, usage.Count{KeyID: k.ID, ProgramID: programID, Bucket: bucket, Outcome: usage.OutcomeServerError, Count: 1})
					}
				}
				// Scenario 1's load may have counted some recent minutes: added to.
				if err := store.Write(context.Background(), batch, nil); err != nil {
					return fmt.Errorf("seed key_usage: %w", err)
				}
				counts.Add(int64(len(batch)))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	seeded := time.Since(started)
	var minuteRows, hourRows int64
	if err := b.db.Raw(`SELECT COUNT(*) FROM key_usage WHERE resolution = ? AND program_id = ?`, usage.Minute, programID).Scan(&minuteRows).Error; err != nil {
		return err
	}
	if err := b.db.Raw(`SELECT COUNT(*) FROM key_usage WHERE resolution = ? AND program_id = ?`, usage.Hour, programID).Scan(&hourRows).Error; err != nil {
		return err
	}

	c := b.console
	if c == nil {
		if c, err = signIn(b.a.base, b.seed.adminEmail, b.seed.adminPass); err != nil {
			return err
		}
	}
	var targets []vegeta.Target
	for _, k := range b.seed.consoleKeys {
		targets = append(targets, vegeta.Target{Method: http.MethodGet, URL: b.a.base + routes.APIKeyUsage(k.ID) + "?range=30d", Header: http.Header{"Cookie": {c.cookieHeader()}}})
	}
	body, err := c.get(routes.APIKeyUsage(b.seed.consoleKeys[0].ID) + "?range=30d")
	if err != nil {
		return err
	}
	// The page (hour rows) shows exactly the minute rows' successful calls.
	shown, err := shownSucceeded(body)
	if err != nil {
		return err
	}
	var inMinutes int64
	if err := b.db.Raw(`SELECT COALESCE(SUM(count), 0) FROM key_usage WHERE key_id = ? AND resolution = ? AND outcome = ? AND bucket >= ?`,
		b.seed.consoleKeys[0].ID, usage.Minute, usage.OutcomeSuccess, views.UsageSince("30d", time.Now())).Scan(&inMinutes).Error; err != nil {
		return err
	}
	if shown != inMinutes {
		return fmt.Errorf("the usage page shows %d successful calls, the minute rows hold %d", shown, inMinutes)
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
		claim:      fmt.Sprintf("p99 %s (< %s); every minute still in key_usage, the page reads the day rows kept at flush", ms(m.Latencies.P99), ms(targetUsagePageP99)),
		verdict:    verdict(m.Latencies.P99 < targetUsagePageP99),
	})
	list, err := b.timeKeysList(c, "")
	if err != nil {
		return err
	}
	if b.pgStats != nil {
		// In production autovacuum would have vacuumed and analysed the
		// table after these million updates; this machine's PostgreSQL
		// runs with it off. Without it the hour rows' dead versions (each
		// updated 60 times) are read too, and without statistics the
		// planner may range over the program's rows rather than the key's.
		started := time.Now()
		if err := b.db.Exec(`VACUUM (ANALYZE) key_usage`).Error; err != nil {
			return fmt.Errorf("vacuum key_usage: %w", err)
		}
		vacuumed := attack(vegeta.NewStaticTargeter(targets...), 1, b.cfg.consoleDuration, "usage-page-vacuumed")
		if !onlyStatus(vacuumed, http.StatusOK) {
			return fmt.Errorf("usage page after vacuum: %s %v", statuses(vacuumed), vacuumed.Errors)
		}
		b.rep.add(row{
			scenario:   "9 usage page ?range=30d, same data after VACUUM (ANALYZE) key_usage (1 conn)",
			throughput: rps(okRate(vacuumed)),
			p50:        ms(vacuumed.Latencies.P50),
			p99:        ms(vacuumed.Latencies.P99),
			claim:      fmt.Sprintf("p99 %s (< %s); VACUUM (ANALYZE) took %s", ms(vacuumed.Latencies.P99), ms(targetUsagePageP99), time.Since(started).Round(time.Millisecond)),
			verdict:    verdict(vacuumed.Latencies.P99 < targetUsagePageP99),
		})
		if _, err := b.timeKeysList(c, ", after VACUUM (ANALYZE)"); err != nil {
			return err
		}
	}
	// The steady state: the retention job deletes minutes older than 48
	// hours (their hours hold them), so a real key never holds 30 days of
	// minutes.
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
		claim:      fmt.Sprintf("p99 %s (< %s); %d minute rows deleted", ms(steady.Latencies.P99), ms(targetUsagePageP99), rolled),
		verdict:    verdict(steady.Latencies.P99 < targetUsagePageP99),
	})
	if _, err := b.timeKeysList(c, ", same data after the rollup"); err != nil {
		return err
	}
	b.rep.note("scenario 9: the API Keys list, %s of HTML, shows each of the %d keys' requests in 24 hours", kb(len(list)), len(b.seed.consoleKeys))
	b.rep.note("scenario 9: %d minute counts written through usage.Store.Write in %d flushes (one per minute of %d days, all %d keys each; client errors every 7th minute, rate_limited every 10th, a server error every 241st; %d stretches of days side by side) in %s, leaving %d minute rows and %d hour rows; %d sequential loads of the %d keys' usage pages over 30 days, %s of HTML each, timed by the client over loopback",
		counts.Load(), minutes, days, len(b.seed.consoleKeys), stretches, seeded.Round(time.Millisecond), minuteRows, hourRows, m.Requests, len(b.seed.consoleKeys), kb(len(body)))
	return nil
}

var requests24h = regexp.MustCompile(`data-requests-24h>([0-9]+) request`)

// timeKeysList times the API Keys list (20 keys, each row with its
// 24-hour count) at concurrency 1, after checking that every row shows
// its count; it returns the page.
func (b *bench) timeKeysList(c *consoleClient, when string) ([]byte, error) {
	page, err := c.get(routes.APIKeys)
	if err != nil {
		return nil, err
	}
	// Each row says it once (a row may lay it out twice, for narrow and
	// wide screens).
	shown := requests24h.FindAllSubmatch(page, -1)
	if len(shown) < len(b.seed.consoleKeys) {
		return nil, fmt.Errorf("the API Keys list shows %d 24-hour counts for %d keys", len(shown), len(b.seed.consoleKeys))
	}
	target := vegeta.Target{Method: http.MethodGet, URL: b.a.base + routes.APIKeys, Header: http.Header{"Cookie": {c.cookieHeader()}}}
	attack(vegeta.NewStaticTargeter(target), 1, b.cfg.warmup/2, "keys-list-warmup")
	m := attack(vegeta.NewStaticTargeter(target), 1, b.cfg.consoleDuration, "keys-list")
	if !onlyStatus(m, http.StatusOK) {
		return nil, fmt.Errorf("API Keys list under load: %s %v", statuses(m), m.Errors)
	}
	b.rep.add(row{
		scenario:   fmt.Sprintf("9 API Keys list, %d keys with their 24-hour counts%s (1 conn)", len(b.seed.consoleKeys), when),
		throughput: rps(okRate(m)),
		p50:        ms(m.Latencies.P50),
		p99:        ms(m.Latencies.P99),
		claim:      fmt.Sprintf("p99 %s (< %s)", ms(m.Latencies.P99), ms(targetUsagePageP99)),
		verdict:    verdict(m.Latencies.P99 < targetUsagePageP99),
	})
	return page, nil
}

var succeededCount = regexp.MustCompile(`data-usage="succeeded">([0-9]+)<`)

// shownSucceeded reads the successful calls a usage page shows.
func shownSucceeded(body []byte) (int64, error) {
	m := succeededCount.FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("the usage page shows no successful count")
	}
	return strconv.ParseInt(string(m[1]), 10, 64)
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
