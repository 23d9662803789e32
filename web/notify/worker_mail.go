package notify

import (
	"context"
	"sync"
)

// UseMailer makes the worker also deliver email notices (nil: none).
func (w *Worker) UseMailer(m *Mailer) { w.mailer = m }

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
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range claims {
		c := &claims[i]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			attemptCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
			sendErr := w.mailer.Send(attemptCtx, c)
			cancel()
			if err := w.store.RecordMail(context.WithoutCancel(ctx), c, sendErr, w.cfg.RetryBase); err != nil {
				w.logger.Warn("recording a mail attempt failed", "error", err.Error(), "mail_id", c.ID)
				return
			}
			if sendErr != nil {
				w.logger.Info("mail delivery failed", "mail_id", c.ID, "event_type", c.EventType, "attempt", c.Attempts,
					"status", c.Status, "error", sendErr.Error())
			}
		}()
	}
	wg.Wait()
	return len(claims)
}
