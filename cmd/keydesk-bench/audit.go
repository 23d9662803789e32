package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// scenarioAudit is scenario 5: cmd/auditbench seeds 1M events into a
// throwaway PostgreSQL schema and times the first and a deep page of the
// common filters through the store code the page uses; its table becomes
// rows here.
func (b *bench) scenarioAudit(ctx context.Context) error {
	const name = "5 audit trail at 1M events"
	switch {
	case b.cfg.smoke:
		b.rep.add(row{scenario: name, claim: "not run in smoke mode (seeding 1M events takes minutes)", verdict: verdictSkipped})
		return nil
	case !b.cfg.audit:
		b.rep.add(row{scenario: name, claim: "not run (-audit=false)", verdict: verdictSkipped})
		return nil
	case b.pgStats == nil:
		b.rep.add(row{scenario: name, claim: "needs PostgreSQL (set BENCH_DATABASE_URL)", verdict: verdictSkipped})
		return nil
	}
	args := []string{"run", "./cmd/auditbench", "-database-url", b.cfg.database, "-csv=false", "-runs", "9"}
	cmd := exec.CommandContext(ctx, "go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	logf("go run ./cmd/auditbench (seeds 1M events, about two minutes)")
	started := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("auditbench: %w\n%s", err, out.String())
	}
	rows := 0
	inTable := false
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "filter ") {
			inTable = true
			continue
		}
		if !inTable || len(line) < 29 || strings.TrimSpace(line) == "" {
			inTable = inTable && strings.TrimSpace(line) != ""
			continue
		}
		// rows, first p50, first max, rows, deep p50, deep max; each
		// time is printed as "0.80 ms".
		f := strings.Fields(line[28:])
		if len(f) != 10 {
			continue
		}
		first, err1 := strconv.ParseFloat(f[1], 64)
		deep, err2 := strconv.ParseFloat(f[6], 64)
		limit := float64(targetAuditLatency) / float64(time.Millisecond)
		verdict := verdictMet
		if err1 != nil || err2 != nil || first >= limit || deep >= limit {
			verdict = verdictMissed
		}
		b.rep.add(row{
			scenario: "5 audit: " + strings.TrimSpace(line[:28]),
			p50:      f[1] + " ms first / " + f[6] + " ms deep",
			claim:    "page query p50 < " + ms(targetAuditLatency),
			verdict:  verdict,
		})
		rows++
	}
	if rows == 0 {
		return fmt.Errorf("auditbench printed no result:\n%s", out.String())
	}
	b.rep.note("scenario 5: go %s (%s in all, seeding included); p50 is one page query in the process through the store, without HTTP; seeded rows carry placeholder hashes", strings.Join(args, " "), time.Since(started).Round(time.Second))
	return nil
}
