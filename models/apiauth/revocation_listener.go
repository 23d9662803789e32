package apiauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"keydesk/models/metrics"

	"github.com/jackc/pgx/v5"
)

// ListenForRevocations keeps a dedicated connection listening on
// RevocationChannel and invalidates the verifier's cache for every digest
// announced, until ctx ends. The cache is trusted only while the listener
// is up: it is disabled (every verification asks the database) while
// disconnected, and emptied and re-enabled each time LISTEN succeeds, so
// nothing revoked during an outage survives a reconnect. ready is closed
// after the first successful LISTEN.
func (v *Verifier) ListenForRevocations(ctx context.Context, url string, logger *slog.Logger, ready chan<- struct{}) {
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		err := v.listenOnce(ctx, url, func() {
			backoff = 100 * time.Millisecond
			if first {
				first = false
				close(ready)
			} else {
				logger.Info("revocation listener reconnected; key cache flushed")
			}
		})
		v.SetCaching(false)
		if ctx.Err() != nil {
			return
		}
		logger.Warn("revocation listener disconnected; verifying keys against the database until it reconnects", "error", err.Error(), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (v *Verifier) listenOnce(ctx context.Context, url string, listening func()) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+RevocationChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Listening from here on: whatever was revoked before is either in the
	// database already or will be announced, so a fresh cache is safe.
	v.SetCaching(true)
	metrics.RevocationListenerUp.Set(1)
	defer metrics.RevocationListenerUp.Set(0)
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("wait for notification: %w", err)
		}
		metrics.RevocationNotifications.Inc()
		v.InvalidateHex(n.Payload)
	}
}
