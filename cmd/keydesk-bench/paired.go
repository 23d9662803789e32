package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// pairRounds is how many alternating rounds a paired load is split into:
// a multiple of 2 and 3, so that with a control too each side runs in
// each position of a round equally often.
const pairRounds = 6

// pairedLoad is a baseline route and an authenticated route (and, when
// given, a control: the authenticated route with keys that lack what is
// measured, such as a quota) loaded in alternating rounds, each round in
// another order, so that a slow stretch of the shared machine (a flush, a
// neighbour's build) falls on every side instead of on one 10 s run.
type pairedLoad struct {
	baseline, auth *loadSide
	control        *loadSide // nil without one
}

// loadSide is one side's results over the rounds.
type loadSide struct {
	all   *vegeta.Metrics // every round's results together: latencies, status codes
	rates []float64       // 2xx per second of each round, in round order
	ok    float64
	took  time.Duration
	cpu   cpuDelta
}

// rate is the side's 2xx per second over its rounds' own durations.
func (s *loadSide) rate() float64 { return s.ok / s.took.Seconds() }

// ratiosTo is s's rate over base's, round by round.
func (s *loadSide) ratiosTo(base *loadSide) []float64 {
	r := make([]float64, len(s.rates))
	for i := range r {
		r[i] = s.rates[i] / base.rates[i]
	}
	return r
}

// ratios are auth/baseline of each round.
func (p pairedLoad) ratios() []float64 { return p.auth.ratiosTo(p.baseline) }

// controlRatios are control/baseline of each round.
func (p pairedLoad) controlRatios() []float64 { return p.control.ratiosTo(p.baseline) }

// ratio is the median of the rounds' ratios.
func (p pairedLoad) ratio() float64 {
	return median(p.ratios())
}

// controlRatio is the median of the rounds' control/baseline ratios.
func (p pairedLoad) controlRatio() float64 {
	return median(p.controlRatios())
}

// costOfWhatControlLacks is the median over the rounds of control/baseline
// minus auth/baseline: what the measured feature costs of the ratio, each
// round's two sides having run seconds apart.
func (p pairedLoad) costOfWhatControlLacks() float64 {
	auth, control := p.ratios(), p.controlRatios()
	d := make([]float64, len(auth))
	for i := range auth {
		d[i] = control[i] - auth[i]
	}
	return median(d)
}

func median(values []float64) float64 {
	v := slices.Clone(values)
	slices.Sort(v)
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// roundsText lists the rounds' ratios ("0.91 0.88 0.93 0.90 0.92").
func (p pairedLoad) roundsText() string {
	return ratiosText(p.ratios())
}

func ratiosText(ratios []float64) string {
	parts := make([]string, len(ratios))
	for i, r := range ratios {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(parts, " ")
}

// measurePaired loads baseline and auth (and control, unless nil) for d
// each in all, in pairRounds alternating rounds against the server whose
// process is pid.
func measurePaired(pid int, baseline, auth, control vegeta.Targeter, conns int, d time.Duration, name string) pairedLoad {
	targets := []vegeta.Targeter{baseline, auth}
	if control != nil {
		targets = append(targets, control)
	}
	sides := make([]*loadSide, len(targets))
	for i := range sides {
		sides[i] = &loadSide{all: &vegeta.Metrics{}}
	}
	round := max(d/pairRounds, 100*time.Millisecond)
	for i := range pairRounds {
		for _, s := range orderOfRound(i, len(sides)) {
			side := sides[s]
			before := takeCPUSample(pid)
			m := attackInto(targets[s], conns, round, fmt.Sprintf("%s-%d-%d", name, i, s), side.all)
			side.cpu.add(before, takeCPUSample(pid), m.Requests)
			side.rates = append(side.rates, okRate(m))
			side.ok += m.Success * float64(m.Requests)
			side.took += m.Duration
		}
	}
	for _, side := range sides {
		side.all.Close()
	}
	p := pairedLoad{baseline: sides[0], auth: sides[1]}
	if control != nil {
		p.control = sides[2]
	}
	return p
}

// orderOfRound is the order of round i's n sides: the sides rotate, so
// that over the rounds each side runs first, second, … alike (with two,
// baseline first in even rounds).
func orderOfRound(i, n int) []int {
	order := make([]int, n)
	for j := range order {
		order[j] = (i + j) % n
	}
	return order
}

// cpuDelta sums the CPU used over several attacks.
type cpuDelta struct {
	sum      cpuSample
	requests uint64
}

func (c *cpuDelta) add(before, after cpuSample, requests uint64) {
	c.sum.server += after.server - before.server
	c.sum.self += after.self - before.self
	c.sum.busy += after.busy - before.busy
	c.sum.total += after.total - before.total
	c.requests += requests
}

func (c *cpuDelta) use() cpuUse {
	return cpuBetween(cpuSample{}, c.sum, c.requests)
}
