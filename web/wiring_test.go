package web_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"keydesk/config"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
	"keydesk/web"
)

// Issue 22 item 3: web.New builds the passkeys' relying party and says
// when KEYDESK_BASE_URL cannot be one, as an error the caller stops on
// (cmd/keydesk serve once checked this by hand before building the
// server); without a base URL the server builds, passkeys off.
func TestNewRefusesABaseURLWithoutPasskeys(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		baseURL string
		refused bool
	}{
		{"http://10.0.0.5:8080", true},
		{"https://[2001:db8::1]/", true},
		{"", false},
		{"http://localhost:8080", false},
		{"https://keys.example.test", false},
	} {
		cfg := config.Default(modeltest.MasterKey)
		cfg.BaseURL = tc.baseURL
		srv, err := web.New(cfg, store.Stores, logger)
		switch {
		case tc.refused && (err == nil || !strings.Contains(err.Error(), `KEYDESK_BASE_URL "`+tc.baseURL+`" cannot carry passkeys`)):
			t.Errorf("base URL %q: %v, want it refused naming the variable", tc.baseURL, err)
		case tc.refused && srv != nil:
			t.Errorf("base URL %q: a server beside the error", tc.baseURL)
		case !tc.refused && (err != nil || srv == nil):
			t.Errorf("base URL %q: %v", tc.baseURL, err)
		}
	}
}

// Issue 22 item 3: the outbox's options are constructor arguments, derived
// from the configuration by web.OutboxOptions (mail on when the mail
// settings make a mailer), and web.New refuses stores built for another
// configuration rather than sending mail it said was off, or letting
// endpoints target private addresses the configuration refuses.
func TestOutboxOptionsComeFromTheConfiguration(t *testing.T) {
	mail := func(cfg *config.Options) {
		cfg.Events.SMTPURL, cfg.Events.MailFrom, cfg.BaseURL = "smtp://mail.example.test:587", "keydesk@example.test", "https://keys.example.test"
	}
	for _, tc := range []struct {
		name string
		set  func(*config.Options)
		want outbox.Options
	}{
		{"default", func(*config.Options) {}, outbox.Options{}},
		{"mail", mail, outbox.Options{Mail: true}},
		{"mail without a base URL", func(cfg *config.Options) { mail(cfg); cfg.BaseURL = "" }, outbox.Options{}},
		{"sender without a server", func(cfg *config.Options) { cfg.Events.MailFrom = "keydesk@example.test" }, outbox.Options{}},
		{"private webhook targets", func(cfg *config.Options) { cfg.Events.Webhooks.AllowPrivate = true }, outbox.Options{AllowPrivateTargets: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default(modeltest.MasterKey)
			tc.set(&cfg)
			if got := web.OutboxOptions(cfg); got != tc.want {
				t.Fatalf("OutboxOptions = %+v, want %+v", got, tc.want)
			}
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			db := modeltest.SQLite(t)
			if _, err := web.New(cfg, modeltest.NewStoresWith(t, db, tc.want).Stores, logger); err != nil {
				t.Errorf("stores built with OutboxOptions refused: %v", err)
			}
			other := tc.want
			other.AllowPrivateTargets = !other.AllowPrivateTargets
			srv, err := web.New(cfg, modeltest.NewStoresWith(t, db, other).Stores, logger)
			if err == nil || srv != nil || !strings.Contains(err.Error(), "web.OutboxOptions(cfg)") {
				t.Errorf("stores built with %+v for a configuration asking %+v: %v", other, tc.want, err)
			}
		})
	}
}
