package notify

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"keydesk/models/outbox"

	"golang.org/x/sync/errgroup"
)

// WorkerConfig tunes the delivery worker.
type WorkerConfig struct {
	AllowPrivate bool          // KEYDESK_WEBHOOK_ALLOW_PRIVATE
	PollInterval time.Duration // how often the outbox is looked at when idle
	RetryBase    time.Duration // the first retry's wait (doubled each time, jittered)
	Timeout      time.Duration // one attempt
	Lease        time.Duration // how long a claim is held before another worker may take it
	Batch        int           // deliveries claimed at a time
	Concurrency  int           // attempts in flight at once
}

// DefaultWorkerConfig is the production tuning.
func DefaultWorkerConfig() WorkerConfig {
	return WorkerConfig{PollInterval: time.Second, RetryBase: 5 * time.Second, Timeout: 10 * time.Second,
		Lease: time.Minute, Batch: 20, Concurrency: 8}
}

// Worker dispatches the outbox and delivers due webhooks. Any number of
// workers, on any number of instances, may run against one PostgreSQL
// database: claims skip rows others hold, and a lease returns a crashed
// worker's claims to the pool.
type Worker struct {
	store  *outbox.Store
	client *http.Client
	cfg    WorkerConfig
	now    func() time.Time
	logger *slog.Logger
	wake   chan struct{}
	mailer *Mailer // worker_mail.go
}

// NewWorker builds a worker over the outbox store; with a mailer it also
// delivers email notices (nil: none).
func NewWorker(store *outbox.Store, cfg WorkerConfig, mailer *Mailer, now func() time.Time, logger *slog.Logger) *Worker {
	d := DefaultWorkerConfig()
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = d.PollInterval
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = d.RetryBase
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = d.Timeout
	}
	if cfg.Lease <= 0 {
		cfg.Lease = d.Lease
	}
	if cfg.Lease < 2*cfg.Timeout {
		cfg.Lease = 2 * cfg.Timeout
	}
	if cfg.Batch <= 0 {
		cfg.Batch = d.Batch
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = d.Concurrency
	}
	return &Worker{store: store, client: NewHTTPClient(cfg.AllowPrivate, cfg.Timeout), cfg: cfg, mailer: mailer, now: now, logger: logger, wake: make(chan struct{}, 1)}
}

// Wake makes the worker look at the outbox now rather than at its next tick.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	ticker := time.NewTicker(w.cfg.PollInterval)
	defer ticker.Stop()
	for {
		for w.RunOnce(ctx) > 0 && ctx.Err() == nil {
			// Keep going while there is work.
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-w.wake:
		}
	}
}

// RunOnce dispatches pending events and makes one round of due attempts,
// returning how many events and deliveries it handled.
func (w *Worker) RunOnce(ctx context.Context) int {
	n, err := w.store.Dispatch(ctx, 100)
	if err != nil && ctx.Err() == nil {
		w.logger.Warn("webhook outbox dispatch failed; retrying", "error", err.Error())
	}
	claims, err := w.store.ClaimDue(ctx, w.cfg.Batch, w.cfg.Lease)
	if err != nil {
		if ctx.Err() == nil {
			w.logger.Warn("claiming webhook deliveries failed; retrying", "error", err.Error())
		}
		return n + w.mailOnce(ctx)
	}
	var attempts errgroup.Group
	attempts.SetLimit(w.cfg.Concurrency)
	for i := range claims {
		c := &claims[i]
		attempts.Go(func() error {
			attemptCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
			res := Send(attemptCtx, w.client, c, w.now())
			cancel()
			// Record even while shutting down, so an answered attempt is not repeated.
			if err := w.store.Record(context.WithoutCancel(ctx), c, res, w.cfg.RetryBase); err != nil {
				w.logger.Warn("recording a webhook attempt failed", "error", err.Error(), "delivery_id", c.ID)
				return nil
			}
			if !res.OK {
				w.logger.Info("webhook delivery failed", "delivery_id", c.ID, "endpoint_id", c.EndpointID,
					"attempt", c.Attempts, "status", c.Status, "code", res.ResponseCode, "error", res.Error)
			}
			return nil
		})
	}
	_ = attempts.Wait() // every attempt records its own failure
	return n + len(claims) + w.mailOnce(ctx)
}
