package web_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/members"
	"keydesk/models/modeltest"
)

// A UI token whose exp lies beyond KEYDESK_JWT_MAX_LIFETIME (default 1h),
// whose exp is not a number or whose iat is in the future is the same 401
// as any bad token.
func TestUIAPIRefusesTokensOutsideTheMaxLifetime(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Widget")
		if _, err := ts.Store.Members.Create(t.Context(), demo.ID, audit.Actor{}, members.MemberInput{MemberID: "ana-1", Email: "ana@example.com"}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		token := func(exp, iat any) string {
			c := jwt.MapClaims{"sub": k.Identifier, "member_id": "ana-1", "exp": exp}
			if iat != nil {
				c["iat"] = iat
			}
			return mintJWT(t, jwt.SigningMethodHS256, secret, c)
		}
		if r := uiCall(t, ts, demo.PartnerID, token(now.Add(59*time.Minute).Unix(), now.Unix())); r.Status != 200 {
			t.Fatalf("token within the lifetime: %d %s", r.Status, r.Raw)
		}
		for name, tok := range map[string]string{
			"exp in 2 hours":    token(now.Add(2*time.Hour).Unix(), nil),
			"exp in 10 years":   token(now.AddDate(10, 0, 0).Unix(), nil),
			"exp as a string":   token(strconv.FormatInt(now.Add(5*time.Minute).Unix(), 10), nil),
			"iat in the future": token(now.Add(5*time.Minute).Unix(), now.Add(3*time.Minute).Unix()),
		} {
			r := uiCall(t, ts, demo.PartnerID, tok)
			assertUnauthorized(t, name, r)
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: no WWW-Authenticate challenge", name)
			}
		}
	})
}

// KEYDESK_JWT_MAX_LIFETIME is read once, validated, and reaches the
// verifier through the configuration.
func TestJWTMaxLifetimeConfig(t *testing.T) {
	cfg, err := parseConfig()
	if err != nil || cfg.API.JWTMaxLifetime != time.Hour {
		t.Fatalf("default: %+v, %v", cfg.API, err)
	}
	for _, bad := range []string{"forever", "-1m", "0", "500ms", "25h"} {
		if _, err := parseConfig("KEYDESK_JWT_MAX_LIFETIME", bad); err == nil || !strings.Contains(err.Error(), "KEYDESK_JWT_MAX_LIFETIME") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
	if cfg, err := parseConfig("KEYDESK_JWT_MAX_LIFETIME", "15m"); err != nil || cfg.API.JWTMaxLifetime != 15*time.Minute {
		t.Fatalf("15m: %+v, %v", cfg.API, err)
	}

	ts := newTestServer(t, modeltest.SQLite(t), withAPIConfig(func(c *config.API) { c.JWTMaxLifetime = 10 * time.Minute }))
	demo := ts.Demo.Program
	k, secret := apiKey(t, ts, demo.ID, "Widget")
	if _, err := ts.Store.Members.Create(t.Context(), demo.ID, audit.Actor{}, members.MemberInput{MemberID: "ana-1", Email: "ana@example.com"}); err != nil {
		t.Fatal(err)
	}
	tok := func(d time.Duration) string {
		return mintJWT(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": k.Identifier, "member_id": "ana-1", "exp": time.Now().Add(d).Unix()})
	}
	if r := uiCall(t, ts, demo.PartnerID, tok(9*time.Minute)); r.Status != 200 {
		t.Fatalf("9 minutes under a 10 minute maximum: %d %s", r.Status, r.Raw)
	}
	assertUnauthorized(t, "30 minutes under a 10 minute maximum", uiCall(t, ts, demo.PartnerID, tok(30*time.Minute)))
}

// clientFrom is an HTTP client whose connections leave from the local
// address ip (any 127.0.0.0/8 address is loopback on Linux), so the server
// sees another client address.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// countKeyLookups counts the SQL statements on the api_keys table from now on.
func countKeyLookups(t *testing.T, db *gorm.DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(tx *gorm.DB) {
		if strings.Contains(tx.Statement.SQL.String(), "api_keys") {
			n.Add(1)
		}
	}
	for name, cb := range map[string]interface {
		Register(string, func(*gorm.DB)) error
	}{
		"raw":   db.Callback().Raw().After("gorm:raw"),
		"query": db.Callback().Query().After("gorm:query"),
		"row":   db.Callback().Row().After("gorm:row"),
	} {
		if err := cb.Register("test:count_key_lookups_"+name, count); err != nil {
			t.Fatal(err)
		}
	}
	return &n
}

// Random checksum-valid keys each cost a database lookup; past
// KEYDESK_API_FAILED_AUTH_LIMIT failures a minute, an address is refused
// with 429 before the verifier is asked, on the REST and the UI path,
// while other addresses are not slowed.
func TestAPIFailedAuthLimitPerAddress(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const limit = 5
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.FailedAuthPerMinute = limit }))
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Shop")
		attacker, neighbour, uiAttacker := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3")
		lookups := countKeyLookups(t, ts.Store.DB)

		for i := range limit {
			r := apiCallWith(t, attacker, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, keys.NewAPIKeyString()), "")
			assertUnauthorized(t, fmt.Sprintf("bad key %d", i+1), r)
		}
		r := apiCallWith(t, attacker, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, keys.NewAPIKeyString()), "")
		canonical, _ := json.Marshal(r.Body)
		if r.Status != http.StatusTooManyRequests || r.Body["error_code"] != "RATE_LIMIT_EXCEEDED" || r.Body["success"] != false {
			t.Fatalf("bad key %d: %d %s", limit+1, r.Status, canonical)
		}
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After = %q, want 1..60 seconds", r.Header.Get("Retry-After"))
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("429 is cacheable: %q", r.Header.Get("Cache-Control"))
		}
		if n := lookups.Load(); n > limit {
			t.Fatalf("%d bad keys caused %d key lookups, want at most %d", limit+1, n, limit)
		}
		// More bad keys, and bad tokens, from the limited address: still no lookup.
		before := lookups.Load()
		for range 20 {
			apiCallWith(t, attacker, ts.URL, "GET", "/v2/loyalty/members", restHeaders(demo.PartnerID, keys.NewAPIKeyString()), "")
			tok := mintJWT(t, jwt.SigningMethodHS256, keys.NewAPIKeyString(), jwt.MapClaims{"sub": keys.NewIdentifier(), "member_id": "m1", "exp": time.Now().Add(time.Minute).Unix()})
			if r := apiCallWith(t, attacker, ts.URL, "GET", "/v2/loyalty/ui/member", map[string]string{"partner-id": demo.PartnerID, "Authorization": "Bearer " + tok}, ""); r.Status != http.StatusTooManyRequests {
				t.Fatalf("bad token from the limited address: %d %s", r.Status, r.Raw)
			}
		}
		if n := lookups.Load() - before; n != 0 {
			t.Fatalf("the limited address still caused %d key lookups", n)
		}

		// Another address's valid key is not slowed.
		if r := apiCallWith(t, neighbour, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""); r.Status != http.StatusOK {
			t.Fatalf("valid key from another address: %d %s", r.Status, r.Raw)
		}
		// The limited address is refused while over its failure budget, even
		// with a valid key (the documented rule).
		if r := apiCallWith(t, attacker, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""); r.Status != http.StatusTooManyRequests {
			t.Fatalf("valid key from the limited address: %d %s", r.Status, r.Raw)
		}

		// The UI (JWT) path spends the same budget: unknown subs each cost a
		// lookup until the address is limited.
		before = lookups.Load()
		for i := range limit + 1 {
			tok := mintJWT(t, jwt.SigningMethodHS256, keys.NewAPIKeyString(), jwt.MapClaims{"sub": keys.NewIdentifier(), "member_id": "m1", "exp": time.Now().Add(time.Minute).Unix()})
			r := apiCallWith(t, uiAttacker, ts.URL, "GET", "/v2/loyalty/ui/member", map[string]string{"partner-id": demo.PartnerID, "Authorization": "Bearer " + tok}, "")
			want := http.StatusUnauthorized
			if i == limit {
				want = http.StatusTooManyRequests
			}
			if r.Status != want || (want == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "") {
				t.Fatalf("bad token %d: %d, want %d (%s)", i+1, r.Status, want, r.Raw)
			}
		}
		if n := lookups.Load() - before; n > limit {
			t.Fatalf("%d bad tokens caused %d key lookups, want at most %d", limit+1, n, limit)
		}
		ok := mintJWT(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": k.Identifier, "member_id": "m1", "exp": time.Now().Add(time.Minute).Unix()})
		if r := apiCallWith(t, neighbour, ts.URL, "GET", "/v2/loyalty/ui/member", map[string]string{"partner-id": demo.PartnerID, "Authorization": "Bearer " + ok}, ""); r.Status == http.StatusTooManyRequests || r.Status == http.StatusUnauthorized {
			t.Fatalf("valid token from another address: %d %s", r.Status, r.Raw)
		}

		// A minute later the budget has refilled.
		ts.Store.SetClock(func() time.Time { return time.Now().Add(61 * time.Second) })
		if r := apiCallWith(t, attacker, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""); r.Status != http.StatusOK {
			t.Fatalf("valid key a minute later: %d %s", r.Status, r.Raw)
		}
	})
}

func TestFailedAuthLimitConfig(t *testing.T) {
	if cfg, err := parseConfig(); err != nil || cfg.API.FailedAuthPerMinute != 60 {
		t.Fatalf("default: %+v, %v", cfg.API, err)
	}
	if _, err := parseConfig("KEYDESK_API_FAILED_AUTH_LIMIT", "-1"); err == nil || !strings.Contains(err.Error(), "KEYDESK_API_FAILED_AUTH_LIMIT") {
		t.Fatalf("negative limit: %v", err)
	}
	if cfg, err := parseConfig("KEYDESK_API_FAILED_AUTH_LIMIT", "10"); err != nil || cfg.API.FailedAuthPerMinute != 10 {
		t.Fatalf("10: %+v, %v", cfg.API, err)
	}
}
