package web

import (
	"context"
	"time"
)

// housekeepingInterval is how often expired sessions, stale sign-in
// failures, old Idempotency-Key answers and quota rows of ended periods
// are deleted (and, with Redis quotas, what the instance keeps of them).
const housekeepingInterval = 10 * time.Minute

func (s *Server) housekeeping(ctx context.Context) {
	every(ctx, housekeepingInterval, func() { s.housekeep(ctx) })
}

// housekeep is one round of housekeeping.
func (s *Server) housekeep(ctx context.Context) {
	sessions, err := s.sessions.Purge(ctx)
	if err != nil {
		s.logger.Warn("housekeeping failed; retrying at the next tick", "error", err.Error())
		return
	}
	failures, err := s.Stores.Accounts.PurgeAuthFailures(ctx)
	if err != nil {
		s.logger.Warn("housekeeping failed; retrying at the next tick", "error", err.Error())
		return
	}
	if _, err := s.Stores.ManagementKeys.PurgeIdempotency(ctx); err != nil {
		s.logger.Warn("purging old Idempotency-Key answers failed; retrying at the next tick", "error", err.Error())
	}
	if _, err := s.Stores.Keys.PurgeQuotaLedger(ctx); err != nil {
		s.logger.Warn("purging quota rows of ended periods failed; retrying at the next tick", "error", err.Error())
	}
	if s.api.quotaRedis != nil {
		s.api.quotaRedis.ForgetEndedPeriods()
	}
	if _, err := s.Stores.Usage.Rollup(ctx); err != nil {
		s.logger.Warn("usage rollup failed; retrying at the next tick", "error", err.Error())
	}
	if sessions+failures > 0 {
		s.logger.Info("housekeeping", "expired_sessions", sessions, "old_auth_failures", failures)
	}
}
