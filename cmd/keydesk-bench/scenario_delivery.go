package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"keydesk/models"
	"keydesk/models/audit"
	"keydesk/models/outbox"
)

// deliveryGiveUp bounds one delivery trial.
const deliveryGiveUp = 30 * time.Second

// scenarioDelivery is scenario 10: webhook delivery latency. A local
// receiver subscribes to api_key.inactivated (the bench's servers run
// with KEYDESK_WEBHOOK_ALLOW_PRIVATE=true); each trial inactivates a key
// through A's console and times from A's answer (the action committed,
// with its outbox row) until the receiver has the signed POST.
func (b *bench) scenarioDelivery(ctx context.Context, store *models.Stores) error {
	received := make(chan time.Time, 16)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
		if r.Header.Get("webhook-signature") != "" {
			received <- at
		}
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	if _, _, err := store.Outbox.CreateEndpoint(ctx, b.seed.console.ID, audit.Actor{Email: "bench"},
		outbox.EndpointInput{URL: "http://" + l.Addr().String() + "/hook", Events: []string{outbox.EventKeyInactivated}}); err != nil {
		return err
	}
	if b.console == nil {
		if b.console, err = signIn(b.a.base, b.seed.adminEmail, b.seed.adminPass); err != nil {
			return err
		}
	}
	var took, fromClick []time.Duration
	for i := range b.cfg.trials {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := b.seed.consoleKeys[i%len(b.seed.consoleKeys)]
		start := time.Now()
		if err := b.console.setActive(k.ID, false); err != nil {
			return fmt.Errorf("trial %d: %w", i, err)
		}
		committed := time.Now()
		select {
		case at := <-received:
			took = append(took, max(0, at.Sub(committed)))
			fromClick = append(fromClick, at.Sub(start))
		case <-time.After(deliveryGiveUp):
			return fmt.Errorf("trial %d: no delivery within %s", i, deliveryGiveUp)
		}
		if err := b.console.setActive(k.ID, true); err != nil {
			return fmt.Errorf("trial %d: %w", i, err)
		}
	}
	s := sortDurations(took)
	c := sortDurations(fromClick)
	b.rep.add(row{
		scenario: fmt.Sprintf("10 webhook delivery: commit -> receiver (%d trials)", len(s)),
		p50:      ms(quantile(s, 0.50)),
		p99:      ms(quantile(s, 0.99)),
		claim: fmt.Sprintf("max %s; from the click: p50 %s / p99 %s (worker polls the outbox every %s when not woken)",
			ms(s[len(s)-1]), ms(quantile(c, 0.5)), ms(quantile(c, 0.99)), time.Second),
		verdict: verdictInfo,
	})
	return nil
}
