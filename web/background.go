package web

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"keydesk/config"
	"keydesk/models"
	"keydesk/models/apiauth"
	"keydesk/models/usage"
)

// apiRuntime is the API's state beside the routes: the verification cache,
// the last-used recorder, the rate limiter and the failed-authentication
// limiter, and the background work that keeps them (the PostgreSQL
// revocation listener, the periodic flush and eviction).
type apiRuntime struct {
	cfg       config.API
	listenURL string // PostgreSQL only
	verifier  *apiauth.Verifier
	// management verifies management keys, following verifier's
	// revocations and caching state.
	management *apiauth.ManagementVerifier
	usage      *apiauth.UsageRecorder
	counts     *usage.Recorder // per-key usage by outcome
	limiter    *apiauth.RateLimiter
	shared     *apiauth.SharedRateLimiter // with KEYDESK_REDIS_URL
	failures   *apiauth.FailedAuthLimiter
	// manageLimits is each management key's calls per minute
	// (KEYDESK_MANAGE_LIMIT), per instance.
	manageLimits *apiauth.RateLimiter
	quotas       *apiauth.QuotaEnforcer
	quotaRedis   *apiauth.RedisQuotaLedger // with KEYDESK_REDIS_URL

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// listenerStartTimeout bounds how long Start waits for the first LISTEN.
const listenerStartTimeout = 5 * time.Second

func newAPIRuntime(cfg config.API, stores *models.Stores, logger *slog.Logger) *apiRuntime {
	rt := &apiRuntime{cfg: cfg}
	url, isPostgres := stores.PostgresURL()
	opts := apiauth.DefaultVerifierOptions()
	opts.TTL = cfg.KeyCacheTTL
	opts.UITokenMaxLifetime = cfg.JWTMaxLifetime
	// On PostgreSQL the cache is trusted only once the revocation listener
	// is listening (Start); until then every call asks the database.
	opts.Caching = !isPostgres
	if isPostgres {
		rt.listenURL = url
	}
	rt.usage = apiauth.NewUsageRecorder(stores.Keys, stores.Clock)
	rt.counts = usage.NewRecorder(stores.Usage, stores.Clock)
	rt.verifier = apiauth.NewVerifier(stores.Keys, rt.usage, opts, stores.Clock)
	rt.limiter = apiauth.NewRateLimiter(apiauth.RateLimits{ReadPerMinute: cfg.ReadPerMinute, WritePerMinute: cfg.WritePerMinute}, stores.Clock)
	rt.shared = newSharedLimiter(cfg, rt.limiter, logger)
	rt.failures = apiauth.NewFailedAuthLimiter(cfg.FailedAuthPerMinute, 0, stores.Clock)
	rt.management = apiauth.NewManagementVerifier(stores.ManagementKeys, rt.verifier, stores.Clock)
	// One budget per management key: reads and writes spend the read one.
	rt.manageLimits = apiauth.NewRateLimiter(apiauth.RateLimits{ReadPerMinute: cfg.ManagePerMinute}, stores.Clock)
	rt.quotas, rt.quotaRedis = newQuotaEnforcer(cfg, stores, logger)
	stores.Revocations.Subscribe(rt.verifier.RevocationHook())
	return rt
}

// Start launches the server's background work: on PostgreSQL the
// revocation listener (waiting briefly for its first LISTEN), the loop
// that flushes "last used" times and sweeps the caches, the key cache
// refresh, and with KEYDESK_AUDIT_CHECKPOINT_FILE the audit checkpoint
// writer.
func (s *Server) Start() error {
	rt := s.api
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.started || rt.closed {
		return nil
	}
	rt.started = true
	if err := s.startMetrics(); err != nil {
		return fmt.Errorf("metrics listener on %s: %w", s.metrics.addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	if rt.listenURL != "" {
		ready := make(chan struct{})
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			rt.verifier.ListenForRevocations(ctx, rt.listenURL, s.logger, ready)
		}()
		select {
		case <-ready:
		case <-time.After(listenerStartTimeout):
			s.logger.Warn("revocation listener not connected yet; API keys are verified against the database until it is")
		}
	}
	if s.auditCheckpoints.path != "" {
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			s.writeAuditCheckpoints(ctx)
		}()
	}
	rt.wg.Add(5)
	go func() {
		defer rt.wg.Done()
		s.refreshKeyCache(ctx)
	}()
	go func() {
		defer rt.wg.Done()
		s.runWebhooks(ctx)
	}()
	go func() {
		defer rt.wg.Done()
		s.expirySweep(ctx)
	}()
	go func() {
		defer rt.wg.Done()
		s.apiMaintenance(ctx)
	}()
	go func() {
		defer rt.wg.Done()
		s.housekeeping(ctx)
	}()
	return nil
}

// every runs work once per interval until ctx ends.
func every(ctx context.Context, interval time.Duration, work func()) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			work()
		}
	}
}

// refreshKeyCache reloads, in batches, the cached keys in use before their
// entries expire (Verifier.Refresh).
func (s *Server) refreshKeyCache(ctx context.Context) {
	every(ctx, s.api.verifier.RefreshInterval(), func() {
		if err := s.api.verifier.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("key cache refresh failed; entries expire and load on demand", "error", err.Error())
		}
	})
}

// apiMaintenance flushes last-used times once per interval (so each key's
// row is written at most once per interval) and evicts idle state.
func (s *Server) apiMaintenance(ctx context.Context) {
	rt := s.api
	every(ctx, rt.cfg.LastUsedInterval, func() {
		if err := rt.usage.Flush(ctx); err != nil {
			s.logger.Warn("last-used flush failed; retrying at the next tick", "error", err.Error())
		}
		if err := rt.counts.Flush(ctx); err != nil {
			s.logger.Warn("usage flush failed; retrying at the next tick", "error", err.Error())
		}
		rt.limiter.EvictIdle()
		if rt.shared != nil {
			rt.shared.EvictIdle()
		}
		rt.failures.EvictIdle()
		rt.manageLimits.EvictIdle()
		s.leaks.revokes.EvictIdle()
		rt.verifier.Sweep()
		rt.management.Sweep()
		if err := rt.management.FlushLastUsed(ctx); err != nil {
			s.logger.Warn("management key last-used flush failed; retrying at the next tick", "error", err.Error())
		}
		// A roll's old secret is refused from its end on (the cached
		// entry carries it); here it is destroyed and the end audited.
		if _, err := s.Stores.Keys.DestroyEndedOverlaps(ctx); err != nil {
			s.logger.Warn("destroying ended roll overlaps failed; retrying at the next tick", "error", err.Error())
		}
		if _, err := s.Stores.Keys.ForgetRetiredSecrets(ctx); err != nil {
			s.logger.Warn("forgetting retired secrets failed; retrying at the next tick", "error", err.Error())
		}
	})
}

// Close stops the background work and writes the last-used times still in
// memory. It is safe to call more than once.
func (s *Server) Close() {
	rt := s.api
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return
	}
	rt.closed = true
	if rt.cancel != nil {
		rt.cancel()
	}
	rt.mu.Unlock()
	rt.wg.Wait()
	s.stopMetrics()
	rt.quotas.Close()
	if rt.quotaRedis != nil {
		_ = rt.quotaRedis.Close()
	}
	if rt.shared != nil {
		_ = rt.shared.Close()
	}
	rt.verifier.WaitPending()
	if err := rt.usage.Flush(context.Background()); err != nil {
		s.logger.Error("last-used flush on close failed", "error", err.Error())
	}
	if err := rt.counts.Flush(context.Background()); err != nil {
		s.logger.Error("usage flush on close failed", "error", err.Error())
	}
	if err := rt.management.FlushLastUsed(context.Background()); err != nil {
		s.logger.Error("management key last-used flush on close failed", "error", err.Error())
	}
}

// WaitRevocations waits for the cache invalidations still in flight after
// a key change committed (SQLite's post-commit invalidation; tests).
func (s *Server) WaitRevocations() { s.api.verifier.WaitPending() }
