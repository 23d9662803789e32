package web

import (
	"context"
	"time"
)

// expirySweepInterval is how often keys' expiries are checked for notices
// (7 days, 1 day, expired). Every instance sweeps; each notice is claimed
// by one row, so only one instance emits it.
const expirySweepInterval = time.Minute

func (s *Server) expirySweep(ctx context.Context) {
	sweep := func() {
		n, err := s.Stores.Keys.SweepExpiry(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Warn("expiry sweep failed; retrying at the next tick", "error", err.Error())
		case n > 0:
			s.logger.Info("expiry notices emitted", "notices", n)
			s.webhooks.Wake()
		}
	}
	sweep()
	every(ctx, expirySweepInterval, sweep)
}
