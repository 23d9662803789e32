package web

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"keydesk/models/database"
	"keydesk/models/keys"
)

// Config is keydesk's configuration, read once from the environment by
// main (ConfigFromEnv) and passed to New: building a server reads no
// environment variable.
type Config struct {
	Addr          string
	DatabaseURL   string
	MasterKey     []byte
	PreviousKey   []byte
	ReauthWindow  time.Duration
	SecureCookies bool
	LogJSON       bool
	API           APIConfig
	// AuditCheckpointFile (KEYDESK_AUDIT_CHECKPOINT_FILE), when set, is
	// where the server appends signed audit checkpoints, once at start and
	// every AuditCheckpointInterval.
	AuditCheckpointFile     string
	AuditCheckpointInterval time.Duration
	// TrustedProxies (KEYDESK_TRUSTED_PROXIES, CIDRs) are the proxies whose
	// X-Forwarded-For is believed; empty: only the connection's address.
	TrustedProxies []netip.Prefix
	// BaseURL (KEYDESK_BASE_URL) is the public URL that invitation links
	// start with; http://127.0.0.1:8080 without it.
	BaseURL string
	// Events is how events leave keydesk (webhooks, mail).
	Events EventsConfig
	// MetricsAddr (KEYDESK_METRICS_ADDR), when set, is where Prometheus
	// /metrics is served, on a listener of its own.
	MetricsAddr string
}

// DefaultConfig is the configuration without any variable set, for a
// master key (tests build servers from it).
func DefaultConfig(masterKey []byte) Config {
	return Config{Addr: "127.0.0.1:8080", MasterKey: masterKey, ReauthWindow: 5 * time.Minute, API: DefaultAPIConfig(), AuditCheckpointInterval: 10 * time.Minute, Events: DefaultEventsConfig()}
}

// MasterKeyFile is where the embedded default keeps its generated master key.
const MasterKeyFile = "data/master.key"

// ConfigFromEnv parses the environment. The master key may be generated into
// data/master.key only when running on the embedded default database.
func ConfigFromEnv(logger *slog.Logger) (Config, error) {
	cfg := DefaultConfig(nil)
	cfg.Addr = envOr("KEYDESK_ADDR", cfg.Addr)
	cfg.DatabaseURL = os.Getenv("DATABASE_URL")
	cfg.AuditCheckpointFile = os.Getenv("KEYDESK_AUDIT_CHECKPOINT_FILE")
	proxies, err := parseTrustedProxies(os.Getenv("KEYDESK_TRUSTED_PROXIES"))
	if err != nil {
		return cfg, err
	}
	cfg.TrustedProxies = proxies
	httpsBaseURL := false
	if v := os.Getenv("KEYDESK_BASE_URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("KEYDESK_BASE_URL must be an http or https URL such as http://localhost:8080, got %q", v)
		}
		cfg.BaseURL = strings.TrimRight(v, "/")
		httpsBaseURL = u.Scheme == "https"
	}
	cfg.MetricsAddr = os.Getenv("KEYDESK_METRICS_ADDR")
	api, err := APIConfigFromEnv()
	if err != nil {
		return cfg, err
	}
	cfg.API = api
	if cfg.Events, err = EventsConfigFromEnv(); err != nil {
		return cfg, err
	}
	if v := os.Getenv("KEYDESK_REAUTH_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return cfg, fmt.Errorf("KEYDESK_REAUTH_WINDOW must be a duration such as 5m or 0, got %q", v)
		}
		cfg.ReauthWindow = d
	}
	// Secure cookies (and HSTS) follow an https base URL unless set. An
	// https base URL with KEYDESK_SECURE_COOKIES=false is a contradiction
	// that would send the session cookie over plain http: refuse it.
	cfg.SecureCookies = httpsBaseURL
	if v := os.Getenv("KEYDESK_SECURE_COOKIES"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("KEYDESK_SECURE_COOKIES must be true or false, got %q", v)
		}
		if !b && httpsBaseURL {
			return cfg, fmt.Errorf("KEYDESK_SECURE_COOKIES=false contradicts KEYDESK_BASE_URL %q: browsers reach keydesk over https, and cookies without Secure would also travel over plain http; unset KEYDESK_SECURE_COOKIES (an https base URL turns it on)", cfg.BaseURL)
		}
		cfg.SecureCookies = b
	}
	switch v := os.Getenv("KEYDESK_MASTER_KEY"); {
	case v != "":
		key, err := keys.DecodeMasterKey(v)
		if err != nil {
			return cfg, fmt.Errorf("KEYDESK_MASTER_KEY: %w", err)
		}
		cfg.MasterKey = key
	case database.IsPostgresURL(cfg.DatabaseURL):
		return cfg, fmt.Errorf("KEYDESK_MASTER_KEY is required with PostgreSQL (base64 of 32 bytes, e.g. from: openssl rand -base64 32)")
	default:
		key, err := keys.LoadOrCreateMasterKeyFile(MasterKeyFile, logger)
		if err != nil {
			return cfg, err
		}
		cfg.MasterKey = key
	}
	if v := os.Getenv("KEYDESK_MASTER_KEY_PREVIOUS"); v != "" {
		key, err := keys.DecodeMasterKey(v)
		if err != nil {
			return cfg, fmt.Errorf("KEYDESK_MASTER_KEY_PREVIOUS: %w", err)
		}
		cfg.PreviousKey = key
	}
	return cfg, nil
}

// Keyring builds the master keyring from the configuration.
func (c Config) Keyring() (*keys.Keyring, error) {
	if c.PreviousKey != nil {
		return keys.NewKeyring(c.MasterKey, c.PreviousKey)
	}
	return keys.NewKeyring(c.MasterKey)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
