package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"keydesk/models/database"
	"keydesk/models/keys"
)

// ErrNoMasterKey is the refusal of PostgreSQL without KEYDESK_MASTER_KEY.
var ErrNoMasterKey = errors.New("KEYDESK_MASTER_KEY is required")

// FromEnvironment parses the process environment: the one place keydesk
// reads it.
func FromEnvironment() (Options, error) {
	return Parse(os.Getenv)
}

// Parse reads the configuration through getenv (a variable's value, "" when
// unset) and validates every value where it is read: the first bad one is
// the error, naming the variable and what it must be. Parse writes
// nothing: without KEYDESK_MASTER_KEY on SQLite it names MasterKeyFile and
// leaves the loading (or generating) to the caller.
func Parse(getenv func(string) string) (Options, error) {
	o := Default(nil)
	if v := getenv("KEYDESK_ADDR"); v != "" {
		o.Addr = v
	}
	o.DatabaseURL = getenv("DATABASE_URL")
	switch v := getenv("KEYDESK_AUDIT_CHECKPOINT_FILE"); v {
	case "":
		o.AuditCheckpointFile = DefaultAuditCheckpointFile(o.DatabaseURL)
	case "off":
		o.AuditCheckpointFile = ""
	default:
		o.AuditCheckpointFile = v
	}
	proxies, err := parseTrustedProxies(getenv("KEYDESK_TRUSTED_PROXIES"))
	if err != nil {
		return o, err
	}
	o.TrustedProxies = proxies
	httpsBaseURL := false
	if v := getenv("KEYDESK_BASE_URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("KEYDESK_BASE_URL must be an http or https URL such as http://localhost:8080, got %q", v)
		}
		o.BaseURL = strings.TrimRight(v, "/")
		httpsBaseURL = u.Scheme == "https"
	}
	o.MetricsAddr = getenv("KEYDESK_METRICS_ADDR")
	if v := getenv("KEYDESK_SECRET_SCANNING_KEYS_URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("KEYDESK_SECRET_SCANNING_KEYS_URL must be an http or https URL such as %s, got %q", DefaultSecretScanningKeysURL, v)
		}
		o.SecretScanningKeysURL = v
	}
	if o.API, err = parseAPI(getenv); err != nil {
		return o, err
	}
	if o.Events, err = parseEvents(getenv); err != nil {
		return o, err
	}
	if v := getenv("KEYDESK_REAUTH_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, fmt.Errorf("KEYDESK_REAUTH_WINDOW must be a duration such as 5m or 0, got %q", v)
		}
		o.ReauthWindow = d
	}
	// Secure cookies (and HSTS) follow an https base URL unless set. An
	// https base URL with KEYDESK_SECURE_COOKIES=false is a contradiction
	// that would send the session cookie over plain http: refuse it.
	o.SecureCookies = httpsBaseURL
	if v := getenv("KEYDESK_SECURE_COOKIES"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("KEYDESK_SECURE_COOKIES must be true or false, got %q", v)
		}
		if !b && httpsBaseURL {
			return o, fmt.Errorf("KEYDESK_SECURE_COOKIES=false contradicts KEYDESK_BASE_URL %q: browsers reach keydesk over https, and cookies without Secure would also travel over plain http; unset KEYDESK_SECURE_COOKIES (an https base URL turns it on)", o.BaseURL)
		}
		o.SecureCookies = b
	}
	switch v := getenv("KEYDESK_MASTER_KEY"); {
	case v != "":
		key, err := keys.DecodeMasterKey(v)
		if err != nil {
			return o, fmt.Errorf("KEYDESK_MASTER_KEY: %w", err)
		}
		o.MasterKey = key
	case database.IsPostgresURL(o.DatabaseURL):
		return o, fmt.Errorf("%w with PostgreSQL (base64 of 32 bytes, e.g. from: openssl rand -base64 32)", ErrNoMasterKey)
	default:
		o.MasterKeyFile = MasterKeyFile
	}
	if v := getenv("KEYDESK_MASTER_KEY_PREVIOUS"); v != "" {
		key, err := keys.DecodeMasterKey(v)
		if err != nil {
			return o, fmt.Errorf("KEYDESK_MASTER_KEY_PREVIOUS: %w", err)
		}
		o.PreviousKey = key
	}
	return o, nil
}

// parseTrustedProxies reads KEYDESK_TRUSTED_PROXIES: CIDRs or single
// addresses, separated by commas or spaces.
func parseTrustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("KEYDESK_TRUSTED_PROXIES: %q is not a CIDR or an IP address", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// parseAPI reads the API's variables (see API).
func parseAPI(getenv func(string) string) (API, error) {
	cfg := DefaultAPI()
	if v := getenv("KEYDESK_REDIS_URL"); v != "" {
		if _, err := redis.ParseURL(v); err != nil {
			return cfg, fmt.Errorf("KEYDESK_REDIS_URL must be a redis:// URL such as redis://127.0.0.1:6379/0: %w", err)
		}
		cfg.RedisURL = v
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{
		{"KEYDESK_API_READ_LIMIT", &cfg.ReadPerMinute},
		{"KEYDESK_API_WRITE_LIMIT", &cfg.WritePerMinute},
		{"KEYDESK_API_FAILED_AUTH_LIMIT", &cfg.FailedAuthPerMinute},
		{"KEYDESK_MANAGE_LIMIT", &cfg.ManagePerMinute},
	} {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("%s must be a number of requests per minute (0 for no limit), got %q", v.name, s)
		}
		*v.dst = n
	}
	for _, v := range []struct {
		name     string
		dst      *time.Duration
		min, max time.Duration
	}{
		{"KEYDESK_API_LAST_USED_INTERVAL", &cfg.LastUsedInterval, time.Millisecond, time.Hour},
		{"KEYDESK_API_KEY_CACHE_TTL", &cfg.KeyCacheTTL, time.Millisecond, 5 * time.Minute},
		{"KEYDESK_JWT_MAX_LIFETIME", &cfg.JWTMaxLifetime, time.Second, 24 * time.Hour},
	} {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < v.min || d > v.max {
			return cfg, fmt.Errorf("%s must be a duration from %s to %s, got %q", v.name, v.min, v.max, s)
		}
		*v.dst = d
	}
	return cfg, nil
}

// parseEvents reads the webhooks' and mail's variables. Whether mail can
// be sent (SMTP URL, sender and base URL together) is decided by the
// server, which keeps notices off and says why rather than refusing to
// start.
func parseEvents(getenv func(string) string) (Events, error) {
	cfg := DefaultEvents()
	if v := getenv("KEYDESK_WEBHOOK_ALLOW_PRIVATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("KEYDESK_WEBHOOK_ALLOW_PRIVATE must be true or false, got %q", v)
		}
		cfg.Webhooks.AllowPrivate = b
	}
	cfg.SMTPURL = getenv("KEYDESK_SMTP_URL")
	cfg.MailFrom = getenv("KEYDESK_MAIL_FROM")
	return cfg, nil
}
