package web

import (
	"context"

	"keydesk/models/apiauth"
)

// Housekeep runs one round of the server's housekeeping, for tests that
// cannot wait for its ten-minute tick.
func (s *Server) Housekeep(ctx context.Context) { s.housekeep(ctx) }

// RedisQuotaLedger is the server's Redis quota ledger (nil without
// KEYDESK_REDIS_URL).
func (s *Server) RedisQuotaLedger() *apiauth.RedisQuotaLedger { return s.api.quotaRedis }
