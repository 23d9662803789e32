// Package config is keydesk's configuration: the environment, parsed and
// validated once (Parse) into Options, which cmd/keydesk hands to the
// server. No other package reads the environment, so tests build any
// configuration as a value.
package config

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"keydesk/models/apiauth"
	"keydesk/models/database"
	"keydesk/models/keys"
	"keydesk/web/notify"
)

// Options is keydesk's configuration.
type Options struct {
	// Addr (KEYDESK_ADDR) is where the console and the API listen.
	Addr string
	// DatabaseURL (DATABASE_URL): postgres://… or sqlite:PATH; "" is the
	// embedded default (SQLite in data/).
	DatabaseURL string
	// MasterKey (KEYDESK_MASTER_KEY) and PreviousKey
	// (KEYDESK_MASTER_KEY_PREVIOUS, during a rotation). Parsing only
	// decodes them: without KEYDESK_MASTER_KEY on SQLite, MasterKey is nil
	// and MasterKeyFile names the file cmd/keydesk loads or creates.
	MasterKey   []byte
	PreviousKey []byte
	// MasterKeyFile is where the embedded default keeps its generated
	// master key; set only when KEYDESK_MASTER_KEY is not.
	MasterKeyFile string
	// ReauthWindow (KEYDESK_REAUTH_WINDOW) is how long a re-authentication
	// opens sensitive actions; 0: every sensitive action asks.
	ReauthWindow time.Duration
	// SecureCookies (KEYDESK_SECURE_COOKIES; on with an https BaseURL)
	// makes the cookies __Host- cookies and turns HSTS on.
	SecureCookies bool
	API           API
	// AuditCheckpointFile (KEYDESK_AUDIT_CHECKPOINT_FILE) is where the
	// server appends signed audit checkpoints, once at start and every
	// AuditCheckpointInterval; "" (KEYDESK_AUDIT_CHECKPOINT_FILE=off): none.
	// Unset, DefaultAuditCheckpointFile.
	AuditCheckpointFile     string
	AuditCheckpointInterval time.Duration
	// TrustedProxies (KEYDESK_TRUSTED_PROXIES, CIDRs) are the proxies whose
	// X-Forwarded-For is believed; empty: only the connection's address.
	TrustedProxies []netip.Prefix
	// BaseURL (KEYDESK_BASE_URL, without a trailing slash) is the public
	// URL: invitation and mailed links start with it and it is the
	// passkeys' relying party. "" when unset: PublicURL falls back to
	// DefaultBaseURL, and mail, which must not link to a guess, stays off.
	BaseURL string
	// Events is how events leave keydesk (webhooks, mail).
	Events Events
	// SecretScanningKeysURL (KEYDESK_SECRET_SCANNING_KEYS_URL) is where the
	// public keys that sign GitHub's secret-scanning alerts are fetched
	// (through the webhooks' SSRF guard: a private or loopback URL works
	// only with KEYDESK_WEBHOOK_ALLOW_PRIVATE=true).
	SecretScanningKeysURL string
	// MetricsAddr (KEYDESK_METRICS_ADDR), when set, is where Prometheus
	// /metrics is served, on a listener of its own.
	MetricsAddr string
}

// DefaultBaseURL is the public URL without KEYDESK_BASE_URL: a host name,
// because browsers refuse passkeys on an IP address.
const DefaultBaseURL = "http://localhost:8080"

// PublicURL is the base URL links and passkeys use: KEYDESK_BASE_URL, or
// without it the address the console listens on, a loopback or
// unspecified host (127.0.0.1, ::1, 0.0.0.0) read as localhost so that
// passkeys work on the default setup, and `serve --addr 127.0.0.1:9000`
// shows requests to port 9000; DefaultBaseURL when neither is known.
func (o Options) PublicURL() string {
	if o.BaseURL != "" {
		return o.BaseURL
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil || port == "" {
		return DefaultBaseURL
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && (ip.IsUnspecified() || ip.IsLoopback())) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Default is the configuration for a master key with no variable set,
// except that it writes no audit checkpoints (AuditCheckpointFile ""):
// tests build servers from it.
func Default(masterKey []byte) Options {
	return Options{Addr: "127.0.0.1:8080", MasterKey: masterKey, ReauthWindow: 5 * time.Minute, API: DefaultAPI(),
		AuditCheckpointInterval: 10 * time.Minute, Events: DefaultEvents(), SecretScanningKeysURL: DefaultSecretScanningKeysURL}
}

// DefaultSecretScanningKeysURL is GitHub's document of the keys that sign
// its secret-scanning alerts.
const DefaultSecretScanningKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

// Keyring builds the master keyring from the configuration.
func (o Options) Keyring() (*keys.Keyring, error) {
	if o.PreviousKey != nil {
		return keys.NewKeyring(o.MasterKey, o.PreviousKey)
	}
	return keys.NewKeyring(o.MasterKey)
}

// API tunes the REST and UI API:
//
//	KEYDESK_API_READ_LIMIT          requests per minute per key for reads (GET); default 600, 0 = unlimited
//	KEYDESK_API_WRITE_LIMIT         requests per minute per key for writes (POST); default 120, 0 = unlimited
//	KEYDESK_MANAGE_LIMIT            management API calls per minute per management key, per instance;
//	                                default 300, 0 = unlimited
//	KEYDESK_API_FAILED_AUTH_LIMIT   failed API authentications per minute per client address before
//	                                the address gets 429 without any lookup; default 60, 0 = unlimited
//	KEYDESK_API_LAST_USED_INTERVAL  how often "last used" is written to the database; default 1m
//	KEYDESK_API_KEY_CACHE_TTL       how long a verified key is trusted without asking the database
//	                                (the backstop behind LISTEN/NOTIFY revocation); default 30s, at most 5m
//	KEYDESK_REDIS_URL               redis://host:port/db: per-key limits shared by every instance
//	                                (without it, per instance)
//	KEYDESK_JWT_MAX_LIFETIME        how far ahead a UI token's exp may lie (a token minted for longer
//	                                is refused); default 1h, from 1s to 24h
type API struct {
	ReadPerMinute  int
	WritePerMinute int
	// ManagePerMinute is per management key; see KEYDESK_MANAGE_LIMIT.
	ManagePerMinute int
	// FailedAuthPerMinute is per client address; see KEYDESK_API_FAILED_AUTH_LIMIT.
	FailedAuthPerMinute int
	LastUsedInterval    time.Duration
	KeyCacheTTL         time.Duration
	JWTMaxLifetime      time.Duration
	// RedisURL (KEYDESK_REDIS_URL) shares per-key budgets through Redis;
	// RedisKeyPrefix starts every key keydesk writes there.
	RedisURL       string
	RedisKeyPrefix string
}

// DefaultAPI is the API's configuration without any variable set.
func DefaultAPI() API {
	return API{
		ReadPerMinute:       600,
		WritePerMinute:      120,
		ManagePerMinute:     300,
		FailedAuthPerMinute: 60,
		LastUsedInterval:    time.Minute,
		KeyCacheTTL:         30 * time.Second,
		JWTMaxLifetime:      apiauth.DefaultUITokenMaxLifetime,
		RedisKeyPrefix:      "keydesk:",
	}
}

// Events is how events leave keydesk: webhooks (and, with SMTP, mail,
// whose links start with Options.BaseURL).
type Events struct {
	// Webhooks tunes the delivery worker; Webhooks.AllowPrivate is
	// KEYDESK_WEBHOOK_ALLOW_PRIVATE.
	Webhooks notify.WorkerConfig
	// SMTPURL (KEYDESK_SMTP_URL) and MailFrom (KEYDESK_MAIL_FROM).
	SMTPURL  string
	MailFrom string
}

// DefaultEvents is the events' configuration without any variable set.
func DefaultEvents() Events {
	return Events{Webhooks: notify.DefaultWorkerConfig()}
}

// MasterKeyFile is where the embedded default keeps its generated master key.
const MasterKeyFile = "data/master.key"

// AuditCheckpointFileName is the default checkpoint file's name.
const AuditCheckpointFileName = "audit-checkpoints.jsonl"

// DefaultAuditCheckpointFile is where checkpoints go when
// KEYDESK_AUDIT_CHECKPOINT_FILE is unset: next to the SQLite database file
// (data/audit-checkpoints.jsonl for the embedded default), and
// data/audit-checkpoints.jsonl under the working directory with PostgreSQL.
func DefaultAuditCheckpointFile(databaseURL string) string {
	if database.IsPostgresURL(databaseURL) {
		return filepath.Join("data", AuditCheckpointFileName)
	}
	path := strings.TrimPrefix(databaseURL, "sqlite:")
	if path == "" {
		path = database.DefaultSQLitePath
	}
	return filepath.Join(filepath.Dir(path), AuditCheckpointFileName)
}
