package apiauth

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"keydesk/models/database"
	"keydesk/models/keys"
)

// QuotaLedger keeps every instance's count of a key's period: the
// database (keys.Store) or Redis. Renew settles an instance's previous
// lease (granted units, spent of them) and hands out up to want new units,
// never more than quota - used - reserved, atomically.
type QuotaLedger interface {
	RenewQuotaLease(ctx context.Context, keyID int64, period string, quota, settleGranted, settleSpent, want int64) (keys.QuotaGrant, error)
	QuotaUse(ctx context.Context, keyID int64, period string) (used, reserved int64, err error)
}

// QuotaAlerter emits a threshold alert once per key, period and percent
// (keys.Store.EmitQuotaAlert).
type QuotaAlerter interface {
	EmitQuotaAlert(ctx context.Context, keyID int64, period string, periodStart time.Time, percent int) (bool, error)
}

// Lease lifetimes of quota units. A lease is long only while the quota has
// at least quotaLongLeaseRoom times its size left after it; near the end
// leases are short, so units an instance holds unspent come back quickly.
const (
	QuotaLongLease        = 30 * time.Second
	QuotaShortLease       = time.Second
	quotaLongLeaseRoom    = 64
	quotaLeaseShare       = 16 // a lease is at most 1/16 of what is left
	quotaMaxLease         = 10000
	quotaWaitStep         = 20 * time.Millisecond
	quotaWaitForHeldUnits = 2 * QuotaShortLease
)

// QuotaDecision is the answer for one call of a key with a quota.
type QuotaDecision struct {
	Allowed   bool
	Limit     int64
	Remaining int64
	// Reset is the start of the next period; RetryAfter, on a refusal,
	// how long until then.
	Reset      time.Time
	RetryAfter time.Duration
	// limitText and resetText are Limit and Reset as header values, kept
	// by the lease (formatted once a period, not once a call).
	limitText, resetText string
}

// LimitHeader is X-Quota-Limit's value.
func (d QuotaDecision) LimitHeader() string {
	if d.limitText != "" {
		return d.limitText
	}
	return strconv.FormatInt(d.Limit, 10)
}

// ResetHeader is X-Quota-Reset's value: the next period's start, RFC 3339.
func (d QuotaDecision) ResetHeader() string {
	if d.resetText != "" {
		return d.resetText
	}
	return d.Reset.UTC().Format(time.RFC3339)
}

// QuotaEnforcer spends a key's quota one call at a time from leases: a
// few units taken from the ledger in one round trip (never more than what
// is left) and spent in memory. The ledger counts units handed out, so
// the calls allowed over all instances never exceed the quota; a lease's
// unspent units go back to the ledger when it expires, and a call that
// finds the ledger empty while other instances still hold units waits for
// them (at most quotaWaitForHeldUnits), so that exactly the quota is
// allowed when demand exceeds it.
type QuotaEnforcer struct {
	ledger QuotaLedger
	alerts QuotaAlerter
	now    database.Clock
	logger *slog.Logger
	leases sync.Map // key id → *quotaLease
	// background settlements and alerts, waited for by Close.
	work sync.WaitGroup
	// closed: lease timers that fire after Close do nothing.
	closed atomic.Bool
}

// NewQuotaEnforcer builds an enforcer over ledger; alerts may be nil.
func NewQuotaEnforcer(ledger QuotaLedger, alerts QuotaAlerter, now database.Clock, logger *slog.Logger) *QuotaEnforcer {
	return &QuotaEnforcer{ledger: ledger, alerts: alerts, now: now, logger: logger}
}

// quotaLease is this instance's share of one key's period.
type quotaLease struct {
	enforcer *QuotaEnforcer // whose lease this is
	mu       sync.Mutex
	// The period the lease is of: its kind (day or month), ledger name,
	// start and the next one's start.
	kind   string
	period string
	start  time.Time
	next   time.Time
	quota  int64
	// limitText and resetText are quota and next as header values.
	limitText, resetText string
	// The lease held: granted units, left of them, until expires. gen
	// changes with every renewal (timers of older leases do nothing).
	granted, left int64
	taken         time.Time
	expires       time.Time
	gen           uint64
	// seen is used + reserved in the ledger after the last renewal (it
	// includes this lease); spentLast is what the previous lease spent in
	// lastSpan, for sizing the next.
	seen      int64
	long      bool // the lease is long (QuotaLongLease)
	spentLast int64
	lastSpan  time.Duration
	renewing  bool
}

func (e *QuotaEnforcer) lease(keyID int64) *quotaLease {
	if v, ok := e.leases.Load(keyID); ok {
		return v.(*quotaLease)
	}
	v, _ := e.leases.LoadOrStore(keyID, &quotaLease{enforcer: e})
	return v.(*quotaLease)
}

// leaseOf is k's lease, remembered on the verified key: the lease map is
// asked once per cache entry, not once per call.
func (e *QuotaEnforcer) leaseOf(k *VerifiedKey) *quotaLease {
	if l := k.quotaLease.Load(); l != nil && l.enforcer == e {
		return l
	}
	l := e.lease(k.KeyID)
	k.quotaLease.Store(l)
	return l
}

// setNext records the period's kind and the next period's start (l is
// locked), with the header values that follow from them.
func (l *quotaLease) setNext(kind string, next time.Time) {
	l.kind, l.next = kind, next
	l.limitText, l.resetText = strconv.FormatInt(l.quota, 10), next.UTC().Format(time.RFC3339)
}

// Spend spends one call of k's quota (k has one). A refused call spends
// nothing.
func (e *QuotaEnforcer) Spend(ctx context.Context, k *VerifiedKey) (QuotaDecision, error) {
	now := e.now()
	l := e.leaseOf(k)
	l.mu.Lock()
	defer l.mu.Unlock()
	period := l.period
	if l.kind != k.QuotaPeriod || now.Before(l.start) || !now.Before(l.next) || l.quota != k.Quota {
		var start, next time.Time
		period, start, next = keys.QuotaPeriodAt(k.QuotaPeriod, now)
		if err := e.switchPeriod(ctx, k.KeyID, l, period, start, k.Quota); err != nil {
			return QuotaDecision{Limit: k.Quota, Reset: next}, err
		}
		l.setNext(k.QuotaPeriod, next)
	}
	d := QuotaDecision{Limit: k.Quota, Reset: l.next, limitText: l.limitText, resetText: l.resetText}
	var waited time.Duration
	for {
		if l.left > 0 && now.Before(l.expires) {
			l.left--
			d.Allowed, d.Remaining = true, max(0, l.quota-l.seen+l.left)
			if l.left == 0 && !l.renewing {
				// Renew ahead: settles this lease now (alerts, other
				// instances waiting) and brings the next units.
				l.renewing = true
				gen := l.gen
				e.work.Add(1)
				go e.renewAhead(k.KeyID, l, gen)
			}
			return d, nil
		}
		g, err := e.renew(ctx, k.KeyID, l, l.size(now), now)
		if err != nil {
			return d, err
		}
		if g.Granted > 0 {
			continue
		}
		// Nothing left. Units other instances hold may still come back
		// (their leases expire within a short lease's lifetime).
		if g.Reserved > 0 && waited < quotaWaitForHeldUnits {
			l.mu.Unlock()
			select {
			case <-time.After(quotaWaitStep):
			case <-ctx.Done():
			}
			l.mu.Lock()
			if ctx.Err() != nil {
				return d, ctx.Err()
			}
			waited += quotaWaitStep
			now = e.now()
			if p, s, n := keys.QuotaPeriodAt(k.QuotaPeriod, now); p != period {
				// A new period began meanwhile.
				if err := e.switchPeriod(ctx, k.KeyID, l, p, s, k.Quota); err != nil {
					return d, err
				}
				l.setNext(k.QuotaPeriod, n)
				period, d.Reset, d.resetText, waited = p, n, l.resetText, 0
			}
			continue
		}
		d.Remaining, d.RetryAfter = 0, d.Reset.Sub(now)
		return d, nil
	}
}

// switchPeriod settles what l holds of another period or quota and points
// it at period.
func (e *QuotaEnforcer) switchPeriod(ctx context.Context, keyID int64, l *quotaLease, period string, start time.Time, quota int64) error {
	if l.period == period && l.quota == quota {
		return nil
	}
	if l.granted > 0 {
		if _, err := e.ledger.RenewQuotaLease(ctx, keyID, l.period, l.quota, l.granted, l.granted-l.left, 0); err != nil {
			return err
		}
	}
	l.period, l.start, l.quota, l.gen = period, start, quota, l.gen+1
	l.granted, l.left, l.seen, l.spentLast, l.lastSpan = 0, 0, 0, 0, 0
	l.taken, l.expires = time.Time{}, time.Time{}
	return nil
}

// size is how many units to ask for: what this instance spent of its
// previous lease scaled to a long lease's lifetime, at most a share of
// what the ledger last said was left.
func (l *quotaLease) size(now time.Time) int64 {
	want := int64(1)
	if spent := l.granted - l.left; spent > 0 {
		span := max(now.Sub(l.taken), time.Millisecond)
		want = spent * int64(QuotaLongLease) / int64(span)
	} else if l.spentLast > 0 {
		want = l.spentLast * int64(QuotaLongLease) / int64(max(l.lastSpan, time.Millisecond))
	}
	want = min(want, quotaMaxLease, (l.quota-l.seen)/quotaLeaseShare)
	// A lease ends at the next alert mark, so that the call reaching it
	// settles the lease at once and the alert is not held up.
	for _, p := range keys.QuotaAlertPercents {
		if mark := keys.QuotaAlertMark(l.quota, p); l.seen < mark {
			want = min(want, mark-l.seen)
			break
		}
	}
	return max(1, want)
}

// renew settles l's lease and takes a new one of up to want units (l is
// locked); it emits the alerts the settlement crossed.
func (e *QuotaEnforcer) renew(ctx context.Context, keyID int64, l *quotaLease, want int64, now time.Time) (keys.QuotaGrant, error) {
	spent := l.granted - l.left
	g, err := e.ledger.RenewQuotaLease(ctx, keyID, l.period, l.quota, l.granted, spent, want)
	if err != nil {
		return g, err
	}
	if l.granted > 0 {
		l.spentLast, l.lastSpan = spent, max(now.Sub(l.taken), time.Millisecond)
	}
	l.gen++
	l.granted, l.left, l.taken, l.seen = g.Granted, g.Granted, now, g.Used+g.Reserved
	life := QuotaShortLease
	l.long = g.Granted*quotaLongLeaseRoom <= l.quota-l.seen
	if l.long {
		// Long leases end at spread-out times, so that keys leased together
		// (a warm-up, a restart) do not all come back to the ledger at once.
		life = QuotaLongLease - rand.N(QuotaLongLease/4)
	}
	l.expires = now.Add(life)
	if g.Granted > 0 {
		gen := l.gen
		// Shortly before the lease ends, a key still in use renews it in
		// the background (calls never wait for an expired lease's
		// renewal); an idle one gives its units back.
		time.AfterFunc(life-life/10, func() { e.expire(keyID, l, gen) })
	}
	e.alert(keyID, l, g.Used-spent, g.Used)
	return g, nil
}

// alert emits the thresholds crossed when used moved from before to after.
func (e *QuotaEnforcer) alert(keyID int64, l *quotaLease, before, after int64) {
	if e.alerts == nil {
		return
	}
	for _, p := range keys.QuotaAlertsCrossed(l.quota, before, after) {
		period, start := l.period, l.start
		e.work.Add(1)
		go func() {
			defer e.work.Done()
			if _, err := e.alerts.EmitQuotaAlert(context.Background(), keyID, period, start, p); err != nil {
				e.logger.Error("quota alert not emitted", "key_id", keyID, "percent", p, "error", err.Error())
			}
		}()
	}
}

// renewAhead renews a lease its last call emptied, unless something else
// renewed it meanwhile.
func (e *QuotaEnforcer) renewAhead(keyID int64, l *quotaLease, gen uint64) {
	defer e.work.Done()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.renewing = false
	if e.closed.Load() {
		return
	}
	if l.gen != gen || l.left > 0 {
		return
	}
	now := e.now()
	if p, _, _ := keys.QuotaPeriodAt(periodKind(l.period), now); p != l.period {
		return // the next call settles it when it switches period
	}
	if _, err := e.renew(context.Background(), keyID, l, l.size(now), now); err != nil {
		e.logger.Warn("quota lease not renewed", "key_id", keyID, "error", err.Error())
	}
}

// expire ends a lease shortly before its lifetime does: a lease in use
// is renewed (settled and replaced), an unused one gives its units back.
func (e *QuotaEnforcer) expire(keyID int64, l *quotaLease, gen uint64) {
	if e.closed.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen || l.granted == 0 {
		return
	}
	spent := l.granted - l.left
	now := e.now()
	// A long lease spent from during its life is renewed: the quota has
	// room for it (at least quotaLongLeaseRoom times its size), and a key
	// used in bursts then finds units at its next burst instead of waiting
	// for a renewal; a lease nobody spent from gives its units back, so an
	// idle key holds units for at most one more lease. A short one (near
	// the end of the quota) always gives its units back, so that another
	// instance's calls can spend them.
	inUse := l.long && spent > 0
	if p, _, _ := keys.QuotaPeriodAt(periodKind(l.period), now); inUse && p == l.period {
		if _, err := e.renew(context.Background(), keyID, l, l.size(now), now); err != nil {
			e.logger.Warn("quota lease not renewed", "key_id", keyID, "error", err.Error())
		}
		return
	}
	g, err := e.ledger.RenewQuotaLease(context.Background(), keyID, l.period, l.quota, l.granted, spent, 0)
	if err != nil {
		e.logger.Warn("quota lease not settled; its units stay reserved", "key_id", keyID, "error", err.Error())
		return
	}
	l.gen++
	l.spentLast, l.lastSpan = spent, max(e.now().Sub(l.taken), time.Millisecond)
	l.granted, l.left, l.seen = 0, 0, g.Used+g.Reserved
	e.alert(keyID, l, g.Used-spent, g.Used)
}

func periodKind(period string) string {
	if len(period) > 6 && period[:6] == "month:" {
		return keys.QuotaPeriodMonth
	}
	return keys.QuotaPeriodDay
}

// Peek is the quota state of k for an answer that spends nothing (a
// refused call): what this instance knows, or the ledger's count.
func (e *QuotaEnforcer) Peek(ctx context.Context, k *VerifiedKey) (QuotaDecision, error) {
	now := e.now()
	period, _, next := keys.QuotaPeriodAt(k.QuotaPeriod, now)
	d := QuotaDecision{Limit: k.Quota, Reset: next}
	l := e.lease(k.KeyID)
	l.mu.Lock()
	if l.period == period && l.quota == k.Quota && (l.seen > 0 || l.granted > 0) {
		d.Remaining = max(0, l.quota-l.seen+l.left)
		l.mu.Unlock()
		return d, nil
	}
	l.mu.Unlock()
	used, reserved, err := e.ledger.QuotaUse(ctx, k.KeyID, period)
	if err != nil {
		return d, err
	}
	d.Remaining = max(0, k.Quota-used-reserved)
	return d, nil
}

// Used is how many calls of the key's current period are counted: the
// ledger's used and reserved units less what this instance holds unspent
// (exact on one instance; counts units other instances hold as used).
func (e *QuotaEnforcer) Used(ctx context.Context, keyID int64, quota int64, kind string) (int64, error) {
	period, _, _ := keys.QuotaPeriodAt(kind, e.now())
	used, reserved, err := e.ledger.QuotaUse(ctx, keyID, period)
	if err != nil {
		return 0, err
	}
	n := used + reserved
	if v, ok := e.leases.Load(keyID); ok {
		l := v.(*quotaLease)
		l.mu.Lock()
		if l.period == period && l.quota == quota {
			n -= l.left
		}
		l.mu.Unlock()
	}
	return max(0, n), nil
}

// Close settles every lease this instance holds (their unspent units go
// back) and waits for background settlements and alerts.
func (e *QuotaEnforcer) Close() {
	e.closed.Store(true)
	e.leases.Range(func(k, v any) bool {
		l := v.(*quotaLease)
		l.mu.Lock()
		if l.granted > 0 {
			if _, err := e.ledger.RenewQuotaLease(context.Background(), k.(int64), l.period, l.quota, l.granted, l.granted-l.left, 0); err == nil {
				l.gen++
				l.granted, l.left = 0, 0
			}
		}
		l.mu.Unlock()
		return true
	})
	e.work.Wait()
}
