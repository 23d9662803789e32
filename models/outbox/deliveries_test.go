package outbox_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// TestBackoffDoublesUpToAnHourWithJitter: the wait after the n-th failed
// attempt is base·2^(n-1), at most an hour, of which between half and all
// is taken.
func TestBackoffDoublesUpToAnHourWithJitter(t *testing.T) {
	base := 10 * time.Second
	for attempt := 1; attempt <= 20; attempt++ {
		full := base << (attempt - 1)
		if attempt > 10 || full > time.Hour {
			full = time.Hour
		}
		lowest, highest := full, time.Duration(0)
		for range 200 {
			d := outbox.Backoff(attempt, base)
			if d < full/2 || d > full {
				t.Fatalf("Backoff(%d, %v) = %v, want between %v and %v", attempt, base, d, full/2, full)
			}
			lowest, highest = min(lowest, d), max(highest, d)
		}
		// Jitter: 200 draws spread over the upper half, not one value.
		if highest-lowest < full/8 {
			t.Errorf("Backoff(%d): draws within %v..%v, want them spread over %v..%v", attempt, lowest, highest, full/2, full)
		}
	}
}

// fixture is a program with its test stores on a clock the test moves.
type fixture struct {
	s   *modeltest.Stores
	p   int64
	now time.Time
	mu  sync.Mutex
}

// newFixture's outbox allows private targets (no name lookups in these
// tests); mail is off.
func newFixture(t *testing.T, db modeltest.Database) *fixture {
	return newFixtureWith(t, db, outbox.Options{AllowPrivateTargets: true})
}

func newFixtureWith(t *testing.T, db modeltest.Database, opts outbox.Options) *fixture {
	s := modeltest.NewStoresWith(t, db, opts)
	f := &fixture{s: s, now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s.SetClock(func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now })
	p, err := s.Keys.CreateProgram(t.Context(), audit.Actor{}, "Outbox")
	if err != nil {
		t.Fatal(err)
	}
	f.p = p.ID
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) set(at time.Time) {
	f.mu.Lock()
	f.now = at
	f.mu.Unlock()
}

func (f *fixture) endpoint(t *testing.T, url string, events ...string) *outbox.Endpoint {
	t.Helper()
	ep, secret, err := f.s.Outbox.CreateEndpoint(t.Context(), f.p, audit.Actor{}, outbox.EndpointInput{URL: url, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" {
		t.Fatal("no signing secret")
	}
	return ep
}

// enqueue writes n events of type eventType and dispatches them.
func (f *fixture) enqueue(t *testing.T, eventType string, n int) {
	t.Helper()
	err := f.s.DB.Transaction(func(tx *gorm.DB) error {
		for i := range n {
			if err := f.s.Outbox.Enqueue(tx, f.p, eventType, audit.Actor{AdminID: 1, Email: "a@example.test"}, map[string]any{"n": i}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.Outbox.Dispatch(t.Context(), 1000); err != nil || got != n {
		t.Fatalf("dispatched %d events (%v), want %d", got, err, n)
	}
}

func (f *fixture) deliveries(t *testing.T, endpointID int64) []outbox.Delivery {
	t.Helper()
	ds, err := f.s.Outbox.Deliveries(t.Context(), f.p, endpointID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestRetryScheduleEndsAfterMaxRetryAge fails every attempt of one delivery,
// each as soon as it is due: each wait is the backoff of its attempt, the
// delivery stays pending while its next attempt falls within MaxRetryAge
// of the event and is marked failed, and not claimed again, once it would
// not.
func TestRetryScheduleEndsAfterMaxRetryAge(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		ep := f.endpoint(t, "https://hooks.example.com/k", outbox.EventKeyCreated)
		f.enqueue(t, outbox.EventKeyCreated, 1)
		created := f.now
		base := time.Minute
		var last *outbox.Claim
		for attempt := 1; ; attempt++ {
			if attempt > 100 {
				t.Fatal("still retrying after 100 attempts")
			}
			claims, err := f.s.Outbox.ClaimDue(t.Context(), 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(claims) != 1 {
				t.Fatalf("attempt %d at %v: %d claims, want 1", attempt, f.now.Sub(created), len(claims))
			}
			c := claims[0]
			if c.Attempts != attempt || c.EndpointID != ep.ID || c.URL != ep.URL || len(c.Secrets) != 1 {
				t.Fatalf("attempt %d: claim %+v", attempt, c)
			}
			if err := f.s.Outbox.Record(t.Context(), &c, outbox.Result{ResponseCode: 503, Error: "503 Service Unavailable"}, base); err != nil {
				t.Fatal(err)
			}
			wait := c.NextAttemptAt.Sub(f.now)
			full := min(base<<(attempt-1), time.Hour)
			if attempt > 10 {
				full = time.Hour
			}
			if wait < full/2 || wait > full {
				t.Errorf("attempt %d: next attempt in %v, want between %v and %v", attempt, wait, full/2, full)
			}
			last = &c
			if c.Status == outbox.StatusFailed {
				break
			}
			if c.Status != outbox.StatusPending || c.NextAttemptAt.Sub(created) > outbox.MaxRetryAge {
				t.Fatalf("attempt %d: %s with the next attempt %v after the event", attempt, c.Status, c.NextAttemptAt.Sub(created))
			}
			// Due at its time: the stored time keeps microseconds, the
			// backoff has nanoseconds.
			f.set(c.NextAttemptAt.Add(time.Microsecond))
		}
		if age := last.NextAttemptAt.Sub(created); age <= outbox.MaxRetryAge || age > outbox.MaxRetryAge+time.Hour {
			t.Errorf("failed when the next attempt would be %v after the event, want just past %v", age, outbox.MaxRetryAge)
		}
		if f.now.Sub(created) < outbox.MaxRetryAge-time.Hour {
			t.Errorf("gave up %v after the event, want retries for about %v", f.now.Sub(created), outbox.MaxRetryAge)
		}
		ds := f.deliveries(t, ep.ID)
		if len(ds) != 1 || ds[0].Status != outbox.StatusFailed || ds[0].ResponseCode != 503 || ds[0].LastError != "503 Service Unavailable" {
			t.Fatalf("delivery after the last attempt: %+v", ds)
		}
		f.advance(48 * time.Hour)
		if claims, err := f.s.Outbox.ClaimDue(t.Context(), 10, time.Minute); err != nil || len(claims) != 0 {
			t.Errorf("a failed delivery was claimed again: %d claims (%v)", len(claims), err)
		}
	})
}

// TestDeliveredIsNotClaimedAgain: a delivery recorded as delivered is never
// due again; a claimed one is not due again until its lease ends, and a
// result that comes after another worker re-claimed it is dropped.
func TestDeliveredIsNotClaimedAgain(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		ep := f.endpoint(t, "https://hooks.example.com/k", outbox.EventKeyCreated)
		f.enqueue(t, outbox.EventKeyCreated, 1)
		lease := 5 * time.Minute
		claims, err := f.s.Outbox.ClaimDue(t.Context(), 10, lease)
		if err != nil || len(claims) != 1 {
			t.Fatalf("%d claims (%v), want 1", len(claims), err)
		}
		stale := claims[0]
		f.advance(lease - time.Second)
		if again, _ := f.s.Outbox.ClaimDue(t.Context(), 10, lease); len(again) != 0 {
			t.Fatalf("claimed again within the lease: %d claims", len(again))
		}
		f.advance(2 * time.Second)
		again, err := f.s.Outbox.ClaimDue(t.Context(), 10, lease)
		if err != nil || len(again) != 1 || again[0].Attempts != 2 {
			t.Fatalf("after the lease: %+v (%v), want the delivery re-claimed as attempt 2", again, err)
		}
		// The first worker's late success is dropped: attempt 2 holds it.
		if err := f.s.Outbox.Record(t.Context(), &stale, outbox.Result{OK: true, ResponseCode: 200}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if ds := f.deliveries(t, ep.ID); ds[0].Status != outbox.StatusPending || ds[0].ResponseCode != 0 {
			t.Fatalf("a stale result was recorded: %+v", ds[0])
		}
		c := again[0]
		if err := f.s.Outbox.Record(t.Context(), &c, outbox.Result{OK: true, ResponseCode: 204, Duration: 12 * time.Millisecond}, time.Minute); err != nil {
			t.Fatal(err)
		}
		ds := f.deliveries(t, ep.ID)
		if ds[0].Status != outbox.StatusDelivered || ds[0].DeliveredAt == nil || ds[0].ResponseCode != 204 || ds[0].LockedUntil != nil {
			t.Fatalf("delivery after success: %+v", ds[0])
		}
		for _, later := range []time.Duration{time.Minute, 2 * time.Hour, 48 * time.Hour} {
			f.advance(later)
			if claims, err := f.s.Outbox.ClaimDue(t.Context(), 10, lease); err != nil || len(claims) != 0 {
				t.Fatalf("a delivered delivery was claimed again %v later: %d claims (%v)", later, len(claims), err)
			}
		}
	})
}

// TestClaimOnceUnderTwoClaimers: two workers, each with its own database
// connection pool as on two instances, claim the same due deliveries at
// once; every delivery is claimed by exactly one of them.
func TestClaimOnceUnderTwoClaimers(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		f.endpoint(t, "https://a.example.com/k", outbox.EventKeyCreated)
		f.endpoint(t, "https://b.example.com/k", outbox.EventKeyCreated)
		const events = 40
		f.enqueue(t, outbox.EventKeyCreated, events)

		other, err := database.Open(db.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if sqlDB, err := other.DB(); err == nil {
				sqlDB.Close()
			}
		})
		second := modeltest.Wrap(t, other, modeltest.Keyring(t))
		second.SetClock(f.s.Now)
		workers := []*outbox.Store{f.s.Outbox, second.Outbox}

		var mu sync.Mutex
		claimedBy := map[int64][]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, len(workers))
		for w, store := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					claims, err := store.ClaimDue(t.Context(), 3, time.Hour)
					if err != nil {
						errs[w] = err
						return
					}
					if len(claims) == 0 {
						return
					}
					mu.Lock()
					for _, c := range claims {
						claimedBy[c.ID] = append(claimedBy[c.ID], w)
					}
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Fatalf("worker %d: %v", w, err)
			}
		}
		if len(claimedBy) != 2*events {
			t.Errorf("%d deliveries claimed, want %d", len(claimedBy), 2*events)
		}
		perWorker := [2]int{}
		for id, by := range claimedBy {
			if len(by) != 1 {
				t.Errorf("delivery %d claimed by workers %v, want exactly one", id, by)
			}
			perWorker[by[0]]++
		}
		t.Logf("worker claims: %v", perWorker)
		var attempts []int
		if err := f.s.DB.Raw(`SELECT attempts FROM webhook_deliveries`).Scan(&attempts).Error; err != nil {
			t.Fatal(err)
		}
		if slices.Max(attempts) != 1 || slices.Min(attempts) != 1 {
			t.Errorf("attempt counters %v..%v after one claim each, want 1", slices.Min(attempts), slices.Max(attempts))
		}
	})
}

// TestDispatchSkipsDisabledAndUnsubscribedEndpoints: an event becomes a
// delivery only for the program's enabled endpoints that subscribe to
// its type, once per endpoint, and is dispatched once.
func TestDispatchSkipsDisabledAndUnsubscribedEndpoints(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		subscribed := f.endpoint(t, "https://on.example.com/k", outbox.EventKeyCreated, outbox.EventKeyDeleted)
		disabled := f.endpoint(t, "https://off.example.com/k", outbox.EventKeyCreated)
		if _, err := f.s.Outbox.UpdateEndpoint(t.Context(), f.p, audit.Actor{}, disabled.ID,
			outbox.EndpointInput{URL: disabled.URL, Events: []string{outbox.EventKeyCreated}}, false); err != nil {
			t.Fatal(err)
		}
		other := f.endpoint(t, "https://other.example.com/k", outbox.EventKeyDeleted)
		f.enqueue(t, outbox.EventKeyCreated, 2)
		if n, err := f.s.Outbox.Dispatch(t.Context(), 100); err != nil || n != 0 {
			t.Fatalf("dispatched %d events again (%v), want none", n, err)
		}
		if got := len(f.deliveries(t, subscribed.ID)); got != 2 {
			t.Errorf("subscribed endpoint: %d deliveries, want 2", got)
		}
		if got := len(f.deliveries(t, disabled.ID)); got != 0 {
			t.Errorf("disabled endpoint: %d deliveries, want none", got)
		}
		if got := len(f.deliveries(t, other.ID)); got != 0 {
			t.Errorf("endpoint not subscribed to the event: %d deliveries, want none", got)
		}
		claims, err := f.s.Outbox.ClaimDue(t.Context(), 10, time.Minute)
		if err != nil || len(claims) != 2 {
			t.Fatalf("%d claims (%v), want the subscribed endpoint's 2", len(claims), err)
		}
		for _, c := range claims {
			if c.EndpointID != subscribed.ID {
				t.Errorf("claimed a delivery to endpoint %d", c.EndpointID)
			}
		}
	})
}

// TestEndpointCapHoldsUnderSimultaneousAdds: a program has at most
// MaxEndpointsPerProgram endpoints even when the last places are asked for
// at once; each refusal is ErrEndpointLimitReached and audited as refused.
func TestEndpointCapHoldsUnderSimultaneousAdds(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		for range outbox.MaxEndpointsPerProgram - 2 {
			f.endpoint(t, "https://hooks.example.com/k", outbox.EventKeyCreated)
		}
		const tries = 6
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, tries)
		for i := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _, errs[i] = f.s.Outbox.CreateEndpoint(t.Context(), f.p, audit.Actor{AdminID: 1, Email: "a@example.test"},
					outbox.EndpointInput{URL: "https://late.example.com/k", Events: []string{outbox.EventKeyCreated}})
			}()
		}
		close(start)
		wg.Wait()
		added := 0
		for _, err := range errs {
			switch {
			case err == nil:
				added++
			case !errors.Is(err, outbox.ErrEndpointLimitReached):
				t.Errorf("refused with %v, want ErrEndpointLimitReached", err)
			}
		}
		if added != 2 {
			t.Errorf("%d of %d simultaneous adds succeeded with 2 places left", added, tries)
		}
		eps, err := f.s.Outbox.Endpoints(t.Context(), f.p)
		if err != nil || len(eps) != outbox.MaxEndpointsPerProgram {
			t.Errorf("%d endpoints (%v), want the cap %d", len(eps), err, outbox.MaxEndpointsPerProgram)
		}
		var refused int64
		f.s.DB.Raw(`SELECT COUNT(*) FROM audit_events WHERE program_id = ? AND action = ? AND outcome = ?`,
			f.p, audit.ActionWebhookCreated, audit.OutcomeRefused).Scan(&refused)
		if refused != tries-2 {
			t.Errorf("%d refusals audited, want %d", refused, tries-2)
		}
	})
}

// TestEndpointTargetRules: unless private targets are allowed, adding or
// enabling an endpoint that points at a private, loopback or link-local
// address is refused on its URL field; a disabled endpoint may keep such
// a target, so an admin can always switch a bad one off.
func TestEndpointTargetRules(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		strict := f.s.OutboxWith(outbox.Options{})
		in := outbox.EndpointInput{URL: "http://10.0.0.1/hook", Events: []string{outbox.EventKeyCreated}}
		_, _, err := strict.CreateEndpoint(t.Context(), f.p, audit.Actor{}, in)
		var verr input.ValidationError
		if !errors.As(err, &verr) || verr["url"] == "" {
			t.Fatalf("private target added: %v", err)
		}
		ep, _, err := strict.CreateEndpoint(t.Context(), f.p, audit.Actor{}, outbox.EndpointInput{URL: "https://93.184.215.14/hook", Events: []string{outbox.EventKeyCreated}})
		if err != nil {
			t.Fatalf("public target refused: %v", err)
		}
		if _, err := strict.UpdateEndpoint(t.Context(), f.p, audit.Actor{}, ep.ID, in, true); !errors.As(err, &verr) {
			t.Errorf("enabled endpoint moved to a private target: %v", err)
		}
		if _, err := strict.UpdateEndpoint(t.Context(), f.p, audit.Actor{}, ep.ID, in, false); err != nil {
			t.Errorf("disabled endpoint refused its target: %v", err)
		}
		if _, _, err := f.s.Outbox.CreateEndpoint(t.Context(), f.p, audit.Actor{}, in); err != nil {
			t.Errorf("private target refused though allowed: %v", err)
		}
	})
}

// TestRotatedSecretSignsDuringOverlap: a claimed delivery carries the
// current secret first and, for SecretOverlap after a rotation, the
// previous one beside it; then only the current one.
func TestRotatedSecretSignsDuringOverlap(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		ep, first, err := f.s.Outbox.CreateEndpoint(t.Context(), f.p, audit.Actor{}, outbox.EndpointInput{URL: "https://hooks.example.com/k", Events: []string{outbox.EventKeyCreated}})
		if err != nil {
			t.Fatal(err)
		}
		_, second, err := f.s.Outbox.RotateSecret(t.Context(), f.p, audit.Actor{}, ep.ID)
		if err != nil || second == first || !strings.HasPrefix(second, outbox.SecretPrefix) {
			t.Fatalf("rotation: %q (%v)", second, err)
		}
		secretsOfClaim := func() []string {
			t.Helper()
			f.enqueue(t, outbox.EventKeyCreated, 1)
			claims, err := f.s.Outbox.ClaimDue(t.Context(), 10, time.Minute)
			if err != nil || len(claims) != 1 {
				t.Fatalf("%d claims (%v)", len(claims), err)
			}
			if err := f.s.Outbox.Record(t.Context(), &claims[0], outbox.Result{OK: true, ResponseCode: 200}, time.Minute); err != nil {
				t.Fatal(err)
			}
			return claims[0].Secrets
		}
		if got := secretsOfClaim(); !slices.Equal(got, []string{second, first}) {
			t.Errorf("during the overlap the claim signs with %d secrets, want the new then the previous", len(got))
		}
		f.advance(outbox.SecretOverlap - time.Second)
		if got := secretsOfClaim(); len(got) != 2 {
			t.Errorf("just before the overlap ends: %d secrets, want 2", len(got))
		}
		f.advance(2 * time.Second)
		if got := secretsOfClaim(); !slices.Equal(got, []string{second}) {
			t.Errorf("after the overlap the claim signs with %d secrets, want only the new one", len(got))
		}
	})
}

// TestRetryNowRevivesFailedDelivery: Retry now makes a delivery due at
// once; a failed one gets another MaxRetryAge of retries from then. Another
// program's endpoint or delivery is not found.
func TestRetryNowRevivesFailedDelivery(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		ep := f.endpoint(t, "https://hooks.example.com/k", outbox.EventKeyCreated)
		f.enqueue(t, outbox.EventKeyCreated, 1)
		claims, err := f.s.Outbox.ClaimDue(t.Context(), 10, time.Minute)
		if err != nil || len(claims) != 1 {
			t.Fatalf("%d claims (%v)", len(claims), err)
		}
		f.advance(outbox.MaxRetryAge) // the next attempt would be past MaxRetryAge
		c := claims[0]
		if err := f.s.Outbox.Record(t.Context(), &c, outbox.Result{ResponseCode: 500}, time.Minute); err != nil || c.Status != outbox.StatusFailed {
			t.Fatalf("status %s (%v), want failed", c.Status, err)
		}
		other, err := f.s.Keys.CreateProgram(t.Context(), audit.Actor{}, "Other")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Outbox.RetryNow(t.Context(), other.ID, audit.Actor{}, ep.ID, c.ID); !errors.Is(err, database.ErrNotFound) {
			t.Errorf("another program's retry: %v, want not found", err)
		}
		if _, err := f.s.Outbox.RetryNow(t.Context(), f.p, audit.Actor{}, ep.ID, c.ID+1000); !errors.Is(err, database.ErrNotFound) {
			t.Errorf("unknown delivery's retry: %v, want not found", err)
		}
		if _, err := f.s.Outbox.RetryNow(t.Context(), f.p, audit.Actor{}, ep.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		again, err := f.s.Outbox.ClaimDue(t.Context(), 10, time.Minute)
		if err != nil || len(again) != 1 || again[0].ID != c.ID {
			t.Fatalf("after Retry now: %d claims (%v), want the delivery", len(again), err)
		}
		// Failing now is retried again: the day counts from the retry.
		if err := f.s.Outbox.Record(t.Context(), &again[0], outbox.Result{ResponseCode: 500}, time.Minute); err != nil || again[0].Status != outbox.StatusPending {
			t.Errorf("first failure after Retry now: %s (%v), want pending", again[0].Status, err)
		}
	})
}
