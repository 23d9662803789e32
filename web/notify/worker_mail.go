package notify

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// mailOnce makes one round of due mail attempts, retried with the same
// backoff as webhooks; it returns how many it handled.
func (w *Worker) mailOnce(ctx context.Context) int {
	if w.mailer == nil {
		return 0
	}
	claims, err := w.store.ClaimMail(ctx, w.cfg.Batch, w.cfg.Lease)
	if err != nil {
		if ctx.Err() == nil {
			w.logger.Warn("claiming mail failed; retrying", "error", err.Error())
		}
		return 0
	}
	var attempts errgroup.Group
	attempts.SetLimit(w.cfg.Concurrency)
	for i := range claims {
		c := &claims[i]
		attempts.Go(func() error {
			attemptCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
			sendErr := w.mailer.Send(attemptCtx, c)
			cancel()
			if err := w.store.RecordMail(context.WithoutCancel(ctx), c, sendErr, w.cfg.RetryBase); err != nil {
				w.logger.Warn("recording a mail attempt failed", "error", err.Error(), "mail_id", c.ID)
				return nil
			}
			if sendErr != nil {
				w.logger.Info("mail delivery failed", "mail_id", c.ID, "event_type", c.EventType, "attempt", c.Attempts,
					"status", c.Status, "error", sendErr.Error())
			}
			return nil
		})
	}
	_ = attempts.Wait() // every attempt records its own failure
	return len(claims)
}
