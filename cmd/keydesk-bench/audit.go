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

// scenarioAudit is scenario 5.
func (b *bench) scenarioAudit(ctx context.Context) error {
	if b.cfg.smoke {
		b.rep.add(row{scenario: "5 audit trail at 1M events", claim: "not run in smoke mode (seeding 1M events takes minutes)", verdict: verdictSkipped})
		return nil
	}
	if !b.cfg.audit {
		b.rep.add(row{scenario: "5 audit trail at 1M events", claim: "not run (-audit=false)", verdict: verdictSkipped})
		return nil
	}
	pkgs, err := findAuditBenchmarks()
	if err != nil {
		return err
	}
	if len(pkgs) == 0 {
		b.rep.add(row{scenario: "5 audit trail at 1M events", claim: "no BenchmarkAudit* in the tree yet: see BENCHMARKS.md", verdict: verdictSkipped})
		return nil
	}
	for pkg, names := range pkgs {
		args := []string{"test", "-run", "^$", "-bench", "^(" + strings.Join(names, "|") + ")$", "-benchtime", "1s", "-count", "1", "-timeout", "30m", pkg}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Env = os.Environ()
		if b.pgStats != nil {
			// The audit benchmarks find PostgreSQL as the tests do.
			cmd.Env = append(cmd.Env, "TEST_DATABASE_URL="+b.cfg.database)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		logf("go %s", strings.Join(args, " "))
		started := time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go test -bench in %s: %w\n%s", pkg, err, out.String())
		}
		rows := 0
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
			if m == nil {
				continue
			}
			rows++
			b.rep.add(auditRow(m[1], m[2]))
		}
		if rows == 0 {
			return fmt.Errorf("go test -bench in %s printed no result:\n%s", pkg, out.String())
		}
		b.rep.note("scenario 5: go %s (%s in all, seeding included); ns/op is the time of one page query in the process, without HTTP", strings.Join(args, " "), time.Since(started).Round(time.Second))
	}
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
