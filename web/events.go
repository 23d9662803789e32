package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/labstack/echo/v4"

	"keydesk/web/notify"
)

// EventsConfig is how events leave keydesk: webhooks (and, with SMTP, mail).
type EventsConfig struct {
	// Webhooks tunes the delivery worker; Webhooks.AllowPrivate is
	// KEYDESK_WEBHOOK_ALLOW_PRIVATE.
	Webhooks notify.WorkerConfig
	// SMTPURL (KEYDESK_SMTP_URL), MailFrom (KEYDESK_MAIL_FROM) and BaseURL
	// (KEYDESK_BASE_URL, the public URL in mailed links).
	SMTPURL  string
	MailFrom string
	BaseURL  string
}

// DefaultEventsConfig is the configuration without any variable set.
func DefaultEventsConfig() EventsConfig {
	return EventsConfig{Webhooks: notify.DefaultWorkerConfig()}
}

// EventsConfigFromEnv reads the events' variables.
func EventsConfigFromEnv() (EventsConfig, error) {
	cfg := DefaultEventsConfig()
	if v := os.Getenv("KEYDESK_WEBHOOK_ALLOW_PRIVATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("KEYDESK_WEBHOOK_ALLOW_PRIVATE must be true or false, got %q", v)
		}
		cfg.Webhooks.AllowPrivate = b
	}
	cfg.SMTPURL = os.Getenv("KEYDESK_SMTP_URL")
	cfg.MailFrom = os.Getenv("KEYDESK_MAIL_FROM")
	cfg.BaseURL = os.Getenv("KEYDESK_BASE_URL")
	return cfg, nil
}

// runWebhooks delivers the outbox until ctx ends (one worker per instance;
// instances share the work through the database).
func (s *Server) runWebhooks(ctx context.Context) {
	s.webhooks.Run(ctx)
}

// useMail turns email notices on when KEYDESK_SMTP_URL is set (with
// KEYDESK_MAIL_FROM and KEYDESK_BASE_URL): the outbox fans mailable events
// out to full-access admins, invitations are mailed, and the webhook worker
// sends them. A bad setting is logged and leaves notices off, as the
// console then says.
func (s *Server) useMail(cfg Config) bool {
	if cfg.Events.SMTPURL == "" {
		return false
	}
	base := cfg.BaseURL
	if base == "" {
		base = cfg.Events.BaseURL
	}
	m, err := notify.NewMailer(cfg.Events.SMTPURL, cfg.Events.MailFrom, base, cfg.Events.Webhooks.Timeout)
	if err != nil {
		s.logger.Warn("email notices are off", "reason", err.Error())
		return false
	}
	s.webhooks.UseMailer(m)
	s.Stores.Outbox.UseMail(true)
	return true
}

// wakeWebhooksAfterWrites wakes the outbox worker once a console write has
// answered (its transaction, with any outbox row, has committed), so a
// notice leaves at once rather than at the worker's next poll. Waking is a
// non-blocking send; a write that enqueued nothing costs one empty round.
func (s *Server) wakeWebhooksAfterWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if c.Request().Method == http.MethodPost {
			s.webhooks.Wake()
		}
		return err
	}
}
