package keys

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/input"
)

// Quota periods (UTC).
const (
	QuotaPeriodDay   = "day"
	QuotaPeriodMonth = "month"
)

// Bounds of a key's limits.
const (
	MaxQuota              = 1_000_000_000_000
	MaxRateLimitPerMinute = 1_000_000
)

// QuotaAlertPercents are the thresholds alerted once each per period.
var QuotaAlertPercents = []int{80, 100}

// LimitsInput is a key's quota and rate limit override, as the Edit dialog
// and the management API give them.
type LimitsInput struct {
	// Quota is requests per QuotaPeriod; 0: no quota.
	Quota int64
	// QuotaPeriod is QuotaPeriodDay or QuotaPeriodMonth; required with a
	// quota, ignored without one.
	QuotaPeriod string
	// RateLimitPerMinute overrides both the read and write default limits;
	// 0: the program's defaults.
	RateLimitPerMinute int
}

// ParseLimitsForm reads the Edit dialog's Quota, Quota period and Rate
// limit (empty: none, the default).
func ParseLimitsForm(quota, period, rate string) (*LimitsInput, error) {
	errs := input.ValidationError{}
	in := &LimitsInput{QuotaPeriod: strings.TrimSpace(period)}
	if q := strings.TrimSpace(quota); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n < 1 || n > MaxQuota {
			errs["quota"] = fmt.Sprintf("Quota must be a whole number from 1 to %d, or empty for no quota.", int64(MaxQuota))
		}
		in.Quota = n
	}
	if r := strings.TrimSpace(rate); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 1 || n > MaxRateLimitPerMinute {
			errs["rate_limit"] = fmt.Sprintf("Rate limit must be a whole number of requests per minute from 1 to %d, or empty for the default.", MaxRateLimitPerMinute)
		}
		in.RateLimitPerMinute = n
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return in, nil
}

// validate checks the limits and normalises the period (none without a
// quota). A nil input changes nothing.
func (in *LimitsInput) validate() error {
	if in == nil {
		return nil
	}
	errs := input.ValidationError{}
	if in.Quota < 0 || in.Quota > MaxQuota {
		errs["quota"] = fmt.Sprintf("Quota must be a whole number from 1 to %d, or empty for no quota.", int64(MaxQuota))
	}
	switch {
	case in.Quota == 0:
		in.QuotaPeriod = ""
	case in.QuotaPeriod != QuotaPeriodDay && in.QuotaPeriod != QuotaPeriodMonth:
		errs["quota_period"] = "Choose the quota period: Day or Month."
	}
	if in.RateLimitPerMinute < 0 || in.RateLimitPerMinute > MaxRateLimitPerMinute {
		errs["rate_limit"] = fmt.Sprintf("Rate limit must be a whole number of requests per minute from 1 to %d, or empty for the default.", MaxRateLimitPerMinute)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// changes reports whether the (validated) limits differ from k's.
func (in *LimitsInput) changes(k *APIKey) bool {
	return in != nil && (in.Quota != k.Quota || in.QuotaPeriod != k.QuotaPeriod || in.RateLimitPerMinute != k.RateLimitPerMinute)
}

func limitsDetails(k *APIKey) map[string]any {
	return map[string]any{"quota": k.Quota, "quota_period": k.QuotaPeriod, "rate_limit_per_minute": k.RateLimitPerMinute}
}

// updateLimits applies a change of quota and rate limit (nil: none asked)
// to k inside tx: it writes the row, announces the key so every cache
// reloads it with its new limits, and appends api_key.updated with
// before/after. It reports whether anything changed.
func (s *Store) updateLimits(tx *gorm.DB, programID int64, actor audit.Actor, k *APIKey, in *LimitsInput) (bool, error) {
	if !in.changes(k) {
		return false, nil
	}
	before := limitsDetails(k)
	k.Quota, k.QuotaPeriod, k.RateLimitPerMinute = in.Quota, in.QuotaPeriod, in.RateLimitPerMinute
	if err := tx.Exec(`UPDATE api_keys SET quota = ?, quota_period = ?, rate_limit_per_minute = ?, updated_at = ? WHERE id = ?`,
		k.Quota, k.QuotaPeriod, k.RateLimitPerMinute, k.UpdatedAt, k.ID).Error; err != nil {
		return false, err
	}
	if err := s.announceKey(tx, k); err != nil {
		return false, err
	}
	entry := keyAudit(audit.ActionKeyUpdated, k)
	entry.Details = map[string]any{"before": before, "after": limitsDetails(k)}
	return true, s.appendAndNotify(tx, programID, actor, entry, k)
}

// QuotaPeriodAt is the period of kind (QuotaPeriodDay or QuotaPeriodMonth)
// that holds now: its ledger name ("day:2026-12-07", "month:2026-12"), its
// start and the start of the next one, all UTC.
func QuotaPeriodAt(kind string, now time.Time) (name string, start, next time.Time) {
	now = now.UTC()
	if kind == QuotaPeriodMonth {
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return "month:" + start.Format("2006-01"), start, start.AddDate(0, 1, 0)
	}
	start = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return "day:" + start.Format("2006-01-02"), start, start.AddDate(0, 0, 1)
}

// QuotaGrant is the ledger's answer to a lease renewal: the units granted
// and the period's row after it.
type QuotaGrant struct {
	Granted  int64
	Used     int64
	Reserved int64
}

// RenewQuotaLease settles an instance's previous lease of the key's period
// (settleGranted units it held, settleSpent of them spent; zero: none) and
// takes a new one of up to want units, in one statement: the units are
// never more than what is left (quota - used - reserved), so the units
// handed out over all instances never exceed the quota. want 0 only
// settles.
func (s *Store) RenewQuotaLease(ctx context.Context, keyID int64, period string, quota, settleGranted, settleSpent, want int64) (QuotaGrant, error) {
	first := min(want, quota)
	if settleGranted > 0 || first < 0 {
		first = 0 // a settlement always finds its row
	}
	var rows []QuotaGrant
	left := `(CAST(@quota AS BIGINT) - api_key_quota_use.used - api_key_quota_use.reserved - CAST(@spent AS BIGINT) + CAST(@granted AS BIGINT))`
	take := `CASE WHEN ` + left + ` >= CAST(@want AS BIGINT) THEN CAST(@want AS BIGINT) WHEN ` + left + ` > 0 THEN ` + left + ` ELSE 0 END`
	err := s.db.WithContext(ctx).Raw(`INSERT INTO api_key_quota_use (key_id, period, used, reserved, last_granted)
VALUES (@key, @period, 0, CAST(@first AS BIGINT), CAST(@first AS BIGINT))
ON CONFLICT (key_id, period) DO UPDATE SET
	used = api_key_quota_use.used + CAST(@spent AS BIGINT),
	reserved = api_key_quota_use.reserved - CAST(@granted AS BIGINT) + `+take+`,
	last_granted = `+take+`
RETURNING last_granted AS granted, used, reserved`,
		sql.Named("key", keyID), sql.Named("period", period), sql.Named("first", first), sql.Named("quota", quota),
		sql.Named("spent", settleSpent), sql.Named("granted", settleGranted), sql.Named("want", want)).Scan(&rows).Error
	if err == nil && len(rows) != 1 {
		err = errors.New("no ledger row returned")
	}
	if err != nil {
		return QuotaGrant{}, fmt.Errorf("keys: unable to renew a quota lease: %w", err)
	}
	return rows[0], nil
}

// QuotaUse is the key's period row: units settled as spent and units held
// by instances, unsettled (zero when the period has no row yet).
func (s *Store) QuotaUse(ctx context.Context, keyID int64, period string) (used, reserved int64, err error) {
	var rows []QuotaGrant
	if err := s.db.WithContext(ctx).Raw(`SELECT used, reserved FROM api_key_quota_use WHERE key_id = ? AND period = ?`, keyID, period).Scan(&rows).Error; err != nil {
		return 0, 0, fmt.Errorf("keys: unable to read quota use: %w", err)
	}
	if len(rows) == 0 {
		return 0, 0, nil
	}
	return rows[0].Used, rows[0].Reserved, nil
}

// PurgeQuotaLedger deletes the ledger and alert rows of ended periods: a
// day's rows once the day before yesterday is over, a month's once the
// month before last is. Nothing reads them (the usage view and the
// headers show the current period), and the rows of the period just ended
// stay while leases of it may still settle. It returns the rows deleted.
func (s *Store) PurgeQuotaLedger(ctx context.Context) (int64, error) {
	dayCut, monthCut := OldestKeptQuotaPeriods(s.now())
	var deleted int64
	for _, table := range []string{"api_key_quota_use", "api_key_quota_alerts"} {
		res := s.db.WithContext(ctx).Exec(`DELETE FROM `+table+` WHERE (period LIKE 'day:%' AND period < ?) OR (period LIKE 'month:%' AND period < ?)`, dayCut, monthCut)
		if res.Error != nil {
			return deleted, fmt.Errorf("keys: unable to purge quota rows of ended periods: %w", res.Error)
		}
		deleted += res.RowsAffected
	}
	return deleted, nil
}

// OldestKeptQuotaPeriods are the previous day and the previous month at
// now: what a lease may still settle, so the oldest periods whose counts
// are kept. Period names sort by date within their kind ("day:2026-12-05"
// < "day:2026-12-06"), so a period is kept when its name is not below its
// kind's cut.
func OldestKeptQuotaPeriods(now time.Time) (day, month string) {
	now = now.UTC()
	day, _, _ = QuotaPeriodAt(QuotaPeriodDay, now.AddDate(0, 0, -1))
	month, _, _ = QuotaPeriodAt(QuotaPeriodMonth, time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0))
	return day, month
}

// QuotaAlertsCrossed are the thresholds (percent of quota) that a
// settlement moving used from before to after crossed.
func QuotaAlertsCrossed(quota, before, after int64) []int {
	var out []int
	for _, p := range QuotaAlertPercents {
		if mark := QuotaAlertMark(quota, p); before < mark && mark <= after {
			out = append(out, p)
		}
	}
	return out
}

// QuotaAlertMark is the count of requests at which percent of quota is
// reached (rounded up, at least 1).
func QuotaAlertMark(quota int64, percent int) int64 {
	return max(1, (quota*int64(percent)+99)/100)
}

// EmitQuotaAlert emits the key's alert for percent of its quota in the
// period starting at periodStart: api_key.quota_threshold audited and
// written to the outbox (webhook and mail) in one transaction with the row
// of api_key_quota_alerts that claims it, so an alert is emitted once per
// key, period and percent however many instances try. It reports whether
// this call emitted it.
func (s *Store) EmitQuotaAlert(ctx context.Context, keyID int64, period string, periodStart time.Time, percent int) (bool, error) {
	emitted := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var k APIKey
		if err := tx.Where("id = ?", keyID).Take(&k).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return nil // deleted meanwhile
			}
			return err
		}
		res := tx.Exec(`INSERT INTO api_key_quota_alerts (key_id, period, percent, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (key_id, period, percent) DO NOTHING`, keyID, period, percent, s.now())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil // already emitted, here or by another instance
		}
		entry := keyAudit(audit.ActionKeyQuotaThreshold, &k)
		entry.Details = map[string]any{"percent": percent, "period_start": periodStart.UTC().Format(time.RFC3339), "quota": k.Quota, "quota_period": k.QuotaPeriod}
		emitted = true
		return s.appendAndNotify(tx, k.ProgramID, audit.Actor{}, entry, &k)
	})
	if err != nil {
		return false, fmt.Errorf("keys: unable to emit a quota alert: %w", err)
	}
	return emitted, nil
}
