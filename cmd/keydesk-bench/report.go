package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// verdicts of a row.
const (
	verdictMet     = "met"
	verdictMissed  = "MISSED"
	verdictSkipped = "skipped"
	verdictInfo    = "-"
)

// row is one line of the results table.
type row struct {
	scenario   string
	throughput string
	p50, p99   string
	claim      string // the measured ratio or value that carries the claim, with its target
	verdict    string
}

type report struct {
	rows  []row
	notes []string
}

func (r *report) add(x row) { r.rows = append(r.rows, x) }
func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func verdict(ok bool) string {
	if ok {
		return verdictMet
	}
	return verdictMissed
}

func (r *report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tthroughput\tp50\tp99\tclaim (measured vs target)\tverdict")
	fmt.Fprintln(tw, "--------\t----------\t---\t---\t--------------------------\t-------")
	for _, x := range r.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.scenario, dash(x.throughput), dash(x.p50), dash(x.p99), x.claim, x.verdict)
	}
	tw.Flush()
	if len(r.notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Notes (all measured in this run):")
		for _, n := range r.notes {
			fmt.Fprintln(w, "  - "+n)
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ms formats a duration in milliseconds with sensible precision.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

func rps(v float64) string { return fmt.Sprintf("%.0f req/s", v) }

func kb(n int) string { return fmt.Sprintf("%.1f KB", float64(n)/1024) }

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// quantile is the nearest-rank quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func sortDurations(d []time.Duration) []time.Duration {
	out := append([]time.Duration(nil), d...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// machine describes the host the numbers come from.
func machine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := "unknown"
	if total, err := procFieldKB("/proc/meminfo", "MemTotal:"); err == nil {
		mem = fmt.Sprintf("%.1f GiB", float64(total)/(1<<20))
	}
	vegeta := "?"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tsenart/vegeta/v12" {
				vegeta = d.Version
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s memory, %s %s/%s, load generator vegeta %s in the same process as the bench",
		runtime.NumCPU(), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH, vegeta)
}
