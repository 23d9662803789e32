package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// pairRounds is how many alternating rounds a paired load is split into.
const pairRounds = 5

// pairedLoad is a baseline route and an authenticated route loaded in
// alternating rounds (baseline first in even rounds, authenticated first
// in odd ones), so that a slow stretch of the shared machine (a flush, a
// neighbour's build) falls on both sides instead of on one 10 s run.
type pairedLoad struct {
	baseline, auth         *vegeta.Metrics // every round's results together: latencies, status codes
	baselineRate, authRate float64         // 2xx per second over the rounds' own durations
	ratios                 []float64       // auth/baseline of each round, in round order
	baseCPU, authCPU       cpuUse
}

// ratio is the median of the rounds' ratios.
func (p pairedLoad) ratio() float64 {
	r := slices.Clone(p.ratios)
	slices.Sort(r)
	return r[len(r)/2]
}

// roundsText lists the rounds' ratios ("0.91 0.88 0.93 0.90 0.92").
func (p pairedLoad) roundsText() string {
	parts := make([]string, len(p.ratios))
	for i, r := range p.ratios {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(parts, " ")
}

// measurePaired loads baseline and auth for d each in all, in pairRounds
// alternating rounds against the server whose process is pid.
func measurePaired(pid int, baseline, auth vegeta.Targeter, conns int, d time.Duration, name string) pairedLoad {
	p := pairedLoad{baseline: &vegeta.Metrics{}, auth: &vegeta.Metrics{}}
	var baseOK, authOK float64
	var baseTime, authTime time.Duration
	var baseCPU, authCPU cpuDelta
	round := max(d/pairRounds, 100*time.Millisecond)
	for i := range pairRounds {
		var rates [2]float64
		for _, side := range sidesOfRound(i) {
			tr, all, cpu := baseline, p.baseline, &baseCPU
			if side == 1 {
				tr, all, cpu = auth, p.auth, &authCPU
			}
			before := takeCPUSample(pid)
			m := attackInto(tr, conns, round, fmt.Sprintf("%s-%d-%d", name, i, side), all)
			cpu.add(before, takeCPUSample(pid), m.Requests)
			rates[side] = okRate(m)
			ok := m.Success * float64(m.Requests)
			if side == 0 {
				baseOK, baseTime = baseOK+ok, baseTime+m.Duration
			} else {
				authOK, authTime = authOK+ok, authTime+m.Duration
			}
		}
		p.ratios = append(p.ratios, rates[1]/rates[0])
	}
	p.baseline.Close()
	p.auth.Close()
	p.baselineRate, p.authRate = baseOK/baseTime.Seconds(), authOK/authTime.Seconds()
	p.baseCPU, p.authCPU = baseCPU.use(), authCPU.use()
	return p
}

// sidesOfRound is the order of a round: baseline (0) first in even rounds.
func sidesOfRound(i int) [2]int {
	if i%2 == 0 {
		return [2]int{0, 1}
	}
	return [2]int{1, 0}
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
