package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/config"
	"keydesk/handlers"
	"keydesk/models/outbox"
	"keydesk/web/notify"
)

// runWebhooks delivers the outbox until ctx ends (one worker per instance;
// instances share the work through the database).
func (s *Server) runWebhooks(ctx context.Context) {
	s.webhooks.Run(ctx)
}

// newMailer builds the mailer when KEYDESK_SMTP_URL is set (with
// KEYDESK_MAIL_FROM and KEYDESK_BASE_URL): the outbox then fans mailable
// events out to full-access admins, invitations are mailed, and the
// webhook worker sends them. When the configuration asks for mail but a
// setting is missing or bad, there is no mailer and notices stay off and
// say so: a warning at start that names the variable, and the Problem the
// Webhooks and Settings pages show.
func newMailer(cfg config.Options, logger *slog.Logger) (*notify.Mailer, handlers.MailStatus) {
	m, err := mailerFor(cfg)
	switch {
	case err != nil:
		return nil, mailOff(logger, err)
	case m == nil:
		return nil, handlers.MailStatus{}
	}
	return m, handlers.MailStatus{On: true}
}

// mailerFor is the mailer cfg's mail settings make: nil without an error
// when mail is not asked for, nil with the reason when a setting is
// missing or bad.
func mailerFor(cfg config.Options) (*notify.Mailer, error) {
	if cfg.Events.SMTPURL == "" {
		if cfg.Events.MailFrom == "" {
			return nil, nil
		}
		return nil, errors.New("KEYDESK_MAIL_FROM is set but KEYDESK_SMTP_URL is not: set it to the mail server, such as smtp://user:pass@host:587")
	}
	return notify.NewMailer(cfg.Events.SMTPURL, cfg.Events.MailFrom, cfg.BaseURL, cfg.Events.Webhooks.Timeout)
}

// OutboxOptions are the outbox options cfg asks for: email notices on
// when its mail settings make a mailer (as newMailer decides), webhooks to
// private addresses when KEYDESK_WEBHOOK_ALLOW_PRIVATE is true. New serves
// only stores whose outbox was built with them (models.New).
func OutboxOptions(cfg config.Options) outbox.Options {
	m, err := mailerFor(cfg)
	return outbox.Options{Mail: m != nil && err == nil, AllowPrivateTargets: cfg.Events.Webhooks.AllowPrivate}
}

// mailOff logs, once at start, that email notices are off for reason,
// and returns the status the console shows.
func mailOff(logger *slog.Logger, reason error) handlers.MailStatus {
	logger.Warn("email notices are OFF: no key-event or invitation mail will be sent until this is fixed and keydesk restarted",
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
