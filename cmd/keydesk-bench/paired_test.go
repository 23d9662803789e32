package main

import (
	"fmt"
	"math"
	"testing"
)

// Each side of a load runs in each position of a round equally often over
// pairRounds rounds, with two sides and with a control.
func TestOrderOfRoundRotatesEverySide(t *testing.T) {
	for _, n := range []int{2, 3} {
		seen := make([][]int, n) // side → count per position
		for i := range n {
			seen[i] = make([]int, n)
		}
		for i := range pairRounds {
			order := orderOfRound(i, n)
			if len(order) != n {
				t.Fatalf("round %d of %d sides: %v", i, n, order)
			}
			for pos, side := range order {
				seen[side][pos]++
			}
		}
		for side, positions := range seen {
			for pos, count := range positions {
				if count != pairRounds/n {
					t.Errorf("%d sides: side %d ran in position %d %d times, want %d", n, side, pos, count, pairRounds/n)
				}
			}
		}
	}
	if fmt.Sprint(orderOfRound(0, 2), orderOfRound(1, 2)) != "[0 1] [1 0]" {
		t.Errorf("two sides: baseline first in even rounds, got %v %v", orderOfRound(0, 2), orderOfRound(1, 2))
	}
}

// The quota's cost is the median of the rounds' differences, not the
// difference of the medians.
func TestCostOfWhatControlLacks(t *testing.T) {
	// A baseline of 1000 per second each round: rates read as ratios.
	p := pairedLoad{
		baseline: &loadSide{rates: []float64{1000, 1000, 1000, 1000, 1000, 1000}},
		auth:     &loadSide{rates: []float64{800, 600, 820, 810, 950, 790}},
		control:  &loadSide{rates: []float64{830, 640, 840, 840, 970, 820}},
	}
	if got := p.costOfWhatControlLacks(); math.Abs(got-0.03) > 1e-9 {
		t.Errorf("cost %.4f, want 0.03", got)
	}
	if got := p.ratio(); math.Abs(got-0.805) > 1e-9 {
		t.Errorf("median of six %.4f, want the mean of the middle two, 0.805", got)
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of three %v", got)
	}
}
