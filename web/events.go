package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/labstack/echo/v4"

	"keydesk/handlers"
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
// sends them. When the configuration asks for mail but a setting is
// missing or bad, notices stay off and say so: a warning at start that
// names the variable, and the Problem the Webhooks and Settings pages show.
func (s *Server) useMail(cfg Config) handlers.MailStatus {
	if cfg.Events.SMTPURL == "" {
		if cfg.Events.MailFrom == "" {
			return handlers.MailStatus{}
		}
		return s.mailOff(errors.New("KEYDESK_MAIL_FROM is set but KEYDESK_SMTP_URL is not: set it to the mail server, such as smtp://user:pass@host:587"))
	}
	base := cfg.BaseURL
	if base == "" {
		base = cfg.Events.BaseURL
	}
	m, err := notify.NewMailer(cfg.Events.SMTPURL, cfg.Events.MailFrom, base, cfg.Events.Webhooks.Timeout)
	if err != nil {
		return s.mailOff(err)
	}
	s.webhooks.UseMailer(m)
	s.Stores.Outbox.UseMail(true)
	return handlers.MailStatus{On: true}
}

// mailOff logs, once at start, that email notices are off for reason,
// and returns the status the console shows.
func (s *Server) mailOff(reason error) handlers.MailStatus {
	s.logger.Warn("email notices are OFF: no key-event or invitation mail will be sent until this is fixed and keydesk restarted",
		"reason", reason.Error())
	return handlers.MailStatus{Problem: reason.Error() + ". Restart keydesk after changing it."}
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
