package config_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"keydesk/config"
)

var (
	masterKey   = bytes.Repeat([]byte{7}, 32)
	previousKey = bytes.Repeat([]byte{9}, 32)
	masterB64   = base64.StdEncoding.EncodeToString(masterKey)
)

// env is an environment of name, value pairs with KEYDESK_MASTER_KEY set
// unless a pair overrides it.
func env(pairs ...string) func(string) string {
	m := map[string]string{"KEYDESK_MASTER_KEY": masterB64}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return func(name string) string { return m[name] }
}

// Every variable's good values land in Options; its bad values stop the
// parse with an error naming the variable.
func TestConfigParseGoodAndBadValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		check func(o config.Options) bool // nil for a refusal
		// refusal must name this (the variable at fault)
		refusal string
	}{
		{"defaults", nil, func(o config.Options) bool {
			return o.Addr == "127.0.0.1:8080" && o.DatabaseURL == "" && o.ReauthWindow == 5*time.Minute && !o.SecureCookies &&
				o.BaseURL == "" && o.PublicURL() == config.DefaultBaseURL && o.MetricsAddr == "" && o.TrustedProxies == nil &&
				o.AuditCheckpointFile == "data/audit-checkpoints.jsonl" && o.AuditCheckpointInterval == 10*time.Minute &&
				reflect.DeepEqual(o.API, config.DefaultAPI()) && reflect.DeepEqual(o.Events, config.DefaultEvents()) &&
				bytes.Equal(o.MasterKey, masterKey) && o.PreviousKey == nil && o.MasterKeyFile == ""
		}, ""},
		{"addr", []string{"KEYDESK_ADDR", "0.0.0.0:9000"}, func(o config.Options) bool { return o.Addr == "0.0.0.0:9000" }, ""},
		{"secret scanning keys url default", nil, func(o config.Options) bool {
			return o.SecretScanningKeysURL == "https://api.github.com/meta/public_keys/secret_scanning"
		}, ""},
		{"secret scanning keys url", []string{"KEYDESK_SECRET_SCANNING_KEYS_URL", "http://127.0.0.1:9/keys"}, func(o config.Options) bool {
			return o.SecretScanningKeysURL == "http://127.0.0.1:9/keys"
		}, ""},
		{"secret scanning keys url not http", []string{"KEYDESK_SECRET_SCANNING_KEYS_URL", "file:///etc/passwd"}, nil, "KEYDESK_SECRET_SCANNING_KEYS_URL"},

		{"database url", []string{"DATABASE_URL", "sqlite:/srv/k.db"}, func(o config.Options) bool { return o.DatabaseURL == "sqlite:/srv/k.db" }, ""},

		{"base url http", []string{"KEYDESK_BASE_URL", "http://localhost:8080/"}, func(o config.Options) bool {
			return o.BaseURL == "http://localhost:8080" && o.PublicURL() == "http://localhost:8080" && !o.SecureCookies
		}, ""},
		{"base url https turns secure cookies on", []string{"KEYDESK_BASE_URL", "https://keys.example.com"}, func(o config.Options) bool {
			return o.BaseURL == "https://keys.example.com" && o.SecureCookies
		}, ""},
		{"base url not http", []string{"KEYDESK_BASE_URL", "ftp://keys.example.com"}, nil, "KEYDESK_BASE_URL"},
		{"base url without host", []string{"KEYDESK_BASE_URL", "https://"}, nil, "KEYDESK_BASE_URL"},
		{"base url relative", []string{"KEYDESK_BASE_URL", "keys.example.com"}, nil, "KEYDESK_BASE_URL"},
		{"base url unparsable", []string{"KEYDESK_BASE_URL", "http://[::1"}, nil, "KEYDESK_BASE_URL"},

		{"secure cookies on over http", []string{"KEYDESK_BASE_URL", "http://localhost:8080", "KEYDESK_SECURE_COOKIES", "true"}, func(o config.Options) bool { return o.SecureCookies }, ""},
		{"secure cookies off without base url", []string{"KEYDESK_SECURE_COOKIES", "false"}, func(o config.Options) bool { return !o.SecureCookies }, ""},
		{"secure cookies off with https base url refused", []string{"KEYDESK_BASE_URL", "https://keys.example.com", "KEYDESK_SECURE_COOKIES", "false"}, nil, "KEYDESK_SECURE_COOKIES"},
		{"secure cookies not a bool", []string{"KEYDESK_SECURE_COOKIES", "yes please"}, nil, "KEYDESK_SECURE_COOKIES"},

		{"reauth window", []string{"KEYDESK_REAUTH_WINDOW", "90s"}, func(o config.Options) bool { return o.ReauthWindow == 90*time.Second }, ""},
		{"reauth window zero", []string{"KEYDESK_REAUTH_WINDOW", "0"}, func(o config.Options) bool { return o.ReauthWindow == 0 }, ""},
		{"reauth window negative", []string{"KEYDESK_REAUTH_WINDOW", "-1m"}, nil, "KEYDESK_REAUTH_WINDOW"},
		{"reauth window not a duration", []string{"KEYDESK_REAUTH_WINDOW", "5"}, nil, "KEYDESK_REAUTH_WINDOW"},

		{"trusted proxies", []string{"KEYDESK_TRUSTED_PROXIES", "10.0.0.7/8, 192.168.1.1 ::1"}, func(o config.Options) bool {
			return reflect.DeepEqual(o.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32"), netip.MustParsePrefix("::1/128")})
		}, ""},
		{"trusted proxy not an address", []string{"KEYDESK_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"}, nil, "KEYDESK_TRUSTED_PROXIES"},

		{"metrics addr", []string{"KEYDESK_METRICS_ADDR", "127.0.0.1:9090"}, func(o config.Options) bool { return o.MetricsAddr == "127.0.0.1:9090" }, ""},

		{"checkpoint file", []string{"KEYDESK_AUDIT_CHECKPOINT_FILE", "/var/lib/keydesk/cp.jsonl"}, func(o config.Options) bool { return o.AuditCheckpointFile == "/var/lib/keydesk/cp.jsonl" }, ""},
		{"checkpoint file off", []string{"KEYDESK_AUDIT_CHECKPOINT_FILE", "off"}, func(o config.Options) bool { return o.AuditCheckpointFile == "" }, ""},
		{"checkpoint file beside the sqlite file", []string{"DATABASE_URL", "sqlite:/srv/keydesk/keydesk.db"}, func(o config.Options) bool { return o.AuditCheckpointFile == "/srv/keydesk/audit-checkpoints.jsonl" }, ""},
		{"checkpoint file with postgres", []string{"DATABASE_URL", "postgres://keydesk@db.example.test/keydesk"}, func(o config.Options) bool { return o.AuditCheckpointFile == "data/audit-checkpoints.jsonl" }, ""},

		{"master key not base64", []string{"KEYDESK_MASTER_KEY", "not a key"}, nil, "KEYDESK_MASTER_KEY"},
		{"master key too short", []string{"KEYDESK_MASTER_KEY", base64.StdEncoding.EncodeToString(masterKey[:16])}, nil, "KEYDESK_MASTER_KEY"},
		{"no master key on sqlite names the file", []string{"KEYDESK_MASTER_KEY", ""}, func(o config.Options) bool {
			return o.MasterKey == nil && o.MasterKeyFile == config.MasterKeyFile
		}, ""},
		{"no master key with postgres", []string{"KEYDESK_MASTER_KEY", "", "DATABASE_URL", "postgres://keydesk@db.example.test/keydesk"}, nil, "KEYDESK_MASTER_KEY"},
		{"previous master key", []string{"KEYDESK_MASTER_KEY_PREVIOUS", base64.StdEncoding.EncodeToString(previousKey)}, func(o config.Options) bool { return bytes.Equal(o.PreviousKey, previousKey) }, ""},
		{"previous master key bad", []string{"KEYDESK_MASTER_KEY_PREVIOUS", "short"}, nil, "KEYDESK_MASTER_KEY_PREVIOUS"},

		{"read limit", []string{"KEYDESK_API_READ_LIMIT", "0"}, func(o config.Options) bool { return o.API.ReadPerMinute == 0 }, ""},
		{"read limit not a number", []string{"KEYDESK_API_READ_LIMIT", "lots"}, nil, "KEYDESK_API_READ_LIMIT"},
		{"write limit", []string{"KEYDESK_API_WRITE_LIMIT", "30"}, func(o config.Options) bool { return o.API.WritePerMinute == 30 }, ""},
		{"write limit negative", []string{"KEYDESK_API_WRITE_LIMIT", "-1"}, nil, "KEYDESK_API_WRITE_LIMIT"},
		{"failed auth limit", []string{"KEYDESK_API_FAILED_AUTH_LIMIT", "10"}, func(o config.Options) bool { return o.API.FailedAuthPerMinute == 10 }, ""},
		{"failed auth limit negative", []string{"KEYDESK_API_FAILED_AUTH_LIMIT", "-1"}, nil, "KEYDESK_API_FAILED_AUTH_LIMIT"},
		{"management limit", []string{"KEYDESK_MANAGE_LIMIT", "30"}, func(o config.Options) bool { return o.API.ManagePerMinute == 30 }, ""},
		{"management limit off", []string{"KEYDESK_MANAGE_LIMIT", "0"}, func(o config.Options) bool { return o.API.ManagePerMinute == 0 }, ""},
		{"management limit not a number", []string{"KEYDESK_MANAGE_LIMIT", "lots"}, nil, "KEYDESK_MANAGE_LIMIT"},
		{"last used interval", []string{"KEYDESK_API_LAST_USED_INTERVAL", "30s"}, func(o config.Options) bool { return o.API.LastUsedInterval == 30*time.Second }, ""},
		{"last used interval too long", []string{"KEYDESK_API_LAST_USED_INTERVAL", "2h"}, nil, "KEYDESK_API_LAST_USED_INTERVAL"},
		{"key cache ttl", []string{"KEYDESK_API_KEY_CACHE_TTL", "10s"}, func(o config.Options) bool { return o.API.KeyCacheTTL == 10*time.Second }, ""},
		{"key cache ttl too long", []string{"KEYDESK_API_KEY_CACHE_TTL", "1h"}, nil, "KEYDESK_API_KEY_CACHE_TTL"},
		{"jwt max lifetime", []string{"KEYDESK_JWT_MAX_LIFETIME", "15m"}, func(o config.Options) bool { return o.API.JWTMaxLifetime == 15*time.Minute }, ""},
		{"jwt max lifetime too short", []string{"KEYDESK_JWT_MAX_LIFETIME", "500ms"}, nil, "KEYDESK_JWT_MAX_LIFETIME"},
		{"jwt max lifetime too long", []string{"KEYDESK_JWT_MAX_LIFETIME", "25h"}, nil, "KEYDESK_JWT_MAX_LIFETIME"},
		{"redis url", []string{"KEYDESK_REDIS_URL", "redis://127.0.0.1:6379/0"}, func(o config.Options) bool { return o.API.RedisURL == "redis://127.0.0.1:6379/0" }, ""},
		{"redis url not redis", []string{"KEYDESK_REDIS_URL", "http://127.0.0.1:6379"}, nil, "KEYDESK_REDIS_URL"},

		{"webhooks to private addresses", []string{"KEYDESK_WEBHOOK_ALLOW_PRIVATE", "true"}, func(o config.Options) bool { return o.Events.Webhooks.AllowPrivate }, ""},
		{"webhooks to private addresses not a bool", []string{"KEYDESK_WEBHOOK_ALLOW_PRIVATE", "sometimes"}, nil, "KEYDESK_WEBHOOK_ALLOW_PRIVATE"},
		{"smtp", []string{"KEYDESK_SMTP_URL", "smtp://u:p@mail.example.test:587", "KEYDESK_MAIL_FROM", "keydesk@example.test", "KEYDESK_BASE_URL", "https://keys.example.test"}, func(o config.Options) bool {
			return o.Events.SMTPURL == "smtp://u:p@mail.example.test:587" && o.Events.MailFrom == "keydesk@example.test" && o.BaseURL == "https://keys.example.test"
		}, ""},
	} {
		o, err := config.Parse(env(tc.env...))
		switch {
		case tc.check == nil && err == nil:
			t.Errorf("%s: %q accepted", tc.name, tc.env)
		case tc.check == nil && !strings.Contains(err.Error(), tc.refusal):
			t.Errorf("%s: the refusal does not name %s: %v", tc.name, tc.refusal, err)
		case tc.check != nil && err != nil:
			t.Errorf("%s: %q refused: %v", tc.name, tc.env, err)
		case tc.check != nil && !tc.check(o):
			t.Errorf("%s: %q parsed as %+v", tc.name, tc.env, o)
		}
	}
}

// PostgreSQL without a master key is refused with the sentinel
// `keys rotate-master` branches on.
func TestConfigParseRefusesPostgresWithoutMasterKey(t *testing.T) {
	_, err := config.Parse(env("KEYDESK_MASTER_KEY", "", "DATABASE_URL", "postgres://keydesk@db.example.test/keydesk"))
	if !errors.Is(err, config.ErrNoMasterKey) {
		t.Fatalf("err = %v, want ErrNoMasterKey", err)
	}
}

// Parsing writes nothing: without KEYDESK_MASTER_KEY it names the file
// and leaves generating the key to cmd/keydesk.
func TestConfigParseWritesNoMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	o, err := config.Parse(env("KEYDESK_MASTER_KEY", ""))
	if err != nil {
		t.Fatal(err)
	}
	if o.MasterKey != nil || o.MasterKeyFile != config.MasterKeyFile {
		t.Fatalf("master key %x, file %q", o.MasterKey, o.MasterKeyFile)
	}
	if _, err := os.Stat(filepath.Join(dir, config.MasterKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("%s written by parsing (stat: %v)", config.MasterKeyFile, err)
	}
}

// Without KEYDESK_BASE_URL the public URL is the listening address, so the
// console's example request names the port it really serves on.
func TestPublicURLFollowsTheListenAddress(t *testing.T) {
	for _, tc := range []struct{ addr, base, want string }{
		{"127.0.0.1:8080", "", "http://localhost:8080"},
		{"127.0.0.1:9000", "", "http://localhost:9000"},
		{"0.0.0.0:9000", "", "http://localhost:9000"},
		{":9000", "", "http://localhost:9000"},
		{"[::]:9000", "", "http://localhost:9000"},
		{"[::1]:9000", "", "http://localhost:9000"},
		{"localhost:9000", "", "http://localhost:9000"},
		{"10.1.2.3:9000", "", "http://10.1.2.3:9000"},
		{"", "", config.DefaultBaseURL},
		{"0.0.0.0:9000", "https://keys.example.com", "https://keys.example.com"},
	} {
		o := config.Options{Addr: tc.addr, BaseURL: tc.base}
		if got := o.PublicURL(); got != tc.want {
			t.Errorf("Addr %q, BaseURL %q: PublicURL %q, want %q", tc.addr, tc.base, got, tc.want)
		}
	}
}
