package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The audit trail's own benchmark (1M events, first and deep pages with
// common filters) lives beside the audit code as Go benchmarks: any
// Benchmark* in an audit*_test.go file, or named BenchmarkAudit*.
// Scenario 5 runs them and reports their numbers.
var auditBenchFunc = regexp.MustCompile(`(?m)^func (Benchmark\w*)\(b \*testing\.B\)`)

// findAuditBenchmarks returns the audit benchmarks by package (./dir).
func findAuditBenchmarks() (map[string][]string, error) {
	found := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		auditFile := strings.HasPrefix(filepath.Base(path), "audit")
		for _, m := range auditBenchFunc.FindAllSubmatch(src, -1) {
			name := string(m[1])
			if !auditFile && !strings.HasPrefix(name, "BenchmarkAudit") {
				continue
			}
			pkg := "./" + filepath.Dir(path)
			found[pkg] = append(found[pkg], name)
		}
		return nil
	})
	return found, err
}

// benchLine is one result line of `go test -bench`:
// BenchmarkName-N  iterations  value unit  value unit ...
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

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
		verdict := verdictMet
		if err1 != nil || err2 != nil || first >= 50 || deep >= 50 {
			verdict = verdictMissed
		}
		b.rep.add(row{
			scenario: "5 audit: " + strings.TrimSpace(line[:28]),
			p50:      f[1] + " ms first / " + f[6] + " ms deep",
			claim:    "page query p50 < 50 ms",
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

// auditRow turns a benchmark's metrics into a row: ns/op, and any
// p50/p99 metrics the benchmark reports (e.g. "12.3 p99-ms").
func auditRow(name, metrics string) row {
	r := row{scenario: "5 audit: " + strings.TrimPrefix(name, "Benchmark")}
	f := strings.Fields(metrics)
	var perOp time.Duration
	var extra []string
	for i := 0; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			continue
		}
		unit := f[i+1]
		switch {
		case unit == "ns/op":
			perOp = time.Duration(v)
		case strings.Contains(unit, "p50"):
			r.p50 = f[i] + " " + unit
		case strings.Contains(unit, "p99"):
			r.p99 = f[i] + " " + unit
		case unit == "B/op" || unit == "allocs/op":
		default:
			extra = append(extra, f[i]+" "+unit)
		}
	}
	if r.p50 == "" {
		r.p50 = ms(perOp) + " (mean)"
	}
	r.claim = fmt.Sprintf("%s per query (< %s)", ms(perOp), ms(targetAuditLatency))
	if len(extra) > 0 {
		r.claim += "; " + strings.Join(extra, ", ")
	}
	r.verdict = verdict(perOp > 0 && perOp < targetAuditLatency)
	return r
}
