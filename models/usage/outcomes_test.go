package usage_test

import (
	"testing"
	"time"

	"keydesk/models/usage"
)

func TestOutcomeOfStatus(t *testing.T) {
	for status, want := range map[int]string{
		200: usage.OutcomeSuccess, 201: usage.OutcomeSuccess, 204: usage.OutcomeSuccess,
		400: usage.OutcomeClientError, 404: usage.OutcomeClientError, 409: usage.OutcomeClientError, 422: usage.OutcomeClientError,
		500: usage.OutcomeServerError, 503: usage.OutcomeServerError,
	} {
		if got := usage.OutcomeOfStatus(status); got != want {
			t.Errorf("status %d: %q, want %q", status, got, want)
		}
	}
}

// Every outcome is in exactly one class; only "success" succeeds, and an
// outcome this version does not know is never counted as a success.
func TestOutcomeClasses(t *testing.T) {
	seen := map[string]string{}
	for _, c := range usage.Classes {
		for _, o := range c.Outcomes {
			if prev, ok := seen[o]; ok {
				t.Errorf("%s in %s and %s", o, prev, c.Name)
			}
			seen[o] = c.Name
			if usage.ClassOf(o) != c.Name {
				t.Errorf("ClassOf(%s) = %s, want %s", o, usage.ClassOf(o), c.Name)
			}
		}
	}
	for o, succeeds := range map[string]bool{usage.OutcomeSuccess: true, usage.OutcomeClientError: false, usage.OutcomeQuotaExceeded: false, "from_a_newer_version": false} {
		if usage.Succeeded(o) != succeeds {
			t.Errorf("Succeeded(%s) = %v", o, !succeeds)
		}
	}
	if len(seen) != 11 {
		t.Errorf("%d outcomes, want 11: %v", len(seen), seen)
	}
}

func TestSummarize(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s := usage.Summarize([]usage.Count{
		{Bucket: at, Outcome: usage.OutcomeSuccess, Count: 28},
		{Bucket: at.Add(time.Hour), Outcome: usage.OutcomeSuccess, Count: 2},
		{Bucket: at, Outcome: usage.OutcomeClientError, Count: 9},
		{Bucket: at, Outcome: usage.OutcomeNoPermission, Count: 2},
		{Bucket: at, Outcome: usage.OutcomeOldKeyExpired, Count: 1},
	})
	if s.Successful != 30 || s.Failed != 12 {
		t.Errorf("%d successful, %d failed; want 30, 12", s.Successful, s.Failed)
	}
	if s.ByOutcome[usage.OutcomeClientError] != 9 || s.ByOutcome[usage.OutcomeOldKeyExpired] != 1 || s.ByOutcome[usage.OutcomeQuotaExceeded] != 0 {
		t.Errorf("by outcome: %v", s.ByOutcome)
	}
	if _, ok := s.ByOutcome[usage.OutcomeQuotaExceeded]; !ok {
		t.Error("a reason without calls is missing (want it at 0)")
	}
}
