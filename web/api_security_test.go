package web_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/models/members"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// A UI token whose exp lies beyond KEYDESK_JWT_MAX_LIFETIME (default 1h),
// whose exp is not a number or whose iat is in the future is the same 401
// as any bad token.
func TestUIAPIRefusesTokensOutsideTheMaxLifetime(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Widget")
		if _, err := ts.Store.Members.Create(t.Context(), demo.ID, members.MemberInput{MemberID: "ana-1", Email: "ana@example.com"}); err != nil {
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
	cfg, err := web.APIConfigFromEnv()
	if err != nil || cfg.JWTMaxLifetime != time.Hour {
		t.Fatalf("default: %+v, %v", cfg, err)
	}
	for _, bad := range []string{"forever", "-1m", "0", "500ms", "25h"} {
		t.Setenv("KEYDESK_JWT_MAX_LIFETIME", bad)
		if _, err := web.APIConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "KEYDESK_JWT_MAX_LIFETIME") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
	t.Setenv("KEYDESK_JWT_MAX_LIFETIME", "15m")
	if cfg, err := web.APIConfigFromEnv(); err != nil || cfg.JWTMaxLifetime != 15*time.Minute {
		t.Fatalf("15m: %+v, %v", cfg, err)
	}

	ts := newTestServer(t, modeltest.SQLite(t), withAPIConfig(func(c *web.APIConfig) { c.JWTMaxLifetime = 10 * time.Minute }))
	demo := ts.Demo.Program
	k, secret := apiKey(t, ts, demo.ID, "Widget")
	if _, err := ts.Store.Members.Create(t.Context(), demo.ID, members.MemberInput{MemberID: "ana-1", Email: "ana@example.com"}); err != nil {
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
