package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/members"
	"keydesk/models/modeltest"
)

func mintJWT(t *testing.T, method jwt.SigningMethod, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func uiCall(t *testing.T, ts *testServer, partnerID, token string) apiResponse {
	t.Helper()
	h := map[string]string{"partner-id": partnerID}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return apiCall(t, ts.URL, "GET", "/v2/loyalty/ui/member", h, "")
}

func TestUIAPIWithJWT(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo, other := ts.Demo.Program, ts.Other.Program
		k, secret := apiKey(t, ts, demo.ID, "Widget")
		_, dsecret := defaultKey(t, ts, demo.ID)
		ok, otherSecret := apiKey(t, ts, other.ID, "Theirs")
		if _, err := ts.Store.Members.Create(t.Context(), demo.ID, audit.Actor{}, members.MemberInput{MemberID: "ana-1", Email: "ana@example.com", FirstName: "Ana"}); err != nil {
			t.Fatal(err)
		}
		exp := time.Now().Add(10 * time.Minute).Unix()
		valid := jwt.MapClaims{"sub": k.Identifier, "member_id": "ana-1", "exp": exp}

		r := uiCall(t, ts, demo.PartnerID, mintJWT(t, jwt.SigningMethodHS256, secret, valid))
		if data, _ := r.Body["data"].(map[string]any); r.Status != 200 || data["member_id"] != "ana-1" || data["first_name"] != "Ana" {
			t.Fatalf("valid token: %d %s", r.Status, r.Raw)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatal("UI API response is cacheable")
		}
		r = uiCall(t, ts, demo.PartnerID, mintJWT(t, jwt.SigningMethodHS256, dsecret, jwt.MapClaims{"member_id": "ana-1", "exp": exp}))
		if r.Status != 200 {
			t.Fatalf("token without sub signed with the default key: %d %s", r.Status, r.Raw)
		}
		r = uiCall(t, ts, demo.PartnerID, mintJWT(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": k.Identifier, "member_id": "nobody", "exp": exp}))
		if r.Status != 404 || r.Body["error_code"] != "ERROR_NOT_FOUND" {
			t.Fatalf("unknown member: %d %s", r.Status, r.Raw)
		}

		with := func(changes jwt.MapClaims) jwt.MapClaims {
			c := jwt.MapClaims{}
			for k, v := range valid {
				c[k] = v
			}
			for k, v := range changes {
				if v == nil {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
			return c
		}
		none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		rsLooking := jwt.NewWithClaims(jwt.SigningMethodHS256, valid)
		rsLooking.Header["alg"] = "RS256"
		rsToken, err := rsLooking.SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		bad := map[string]string{
			"no token":            "",
			"expired":             mintJWT(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})),
			"no exp":              mintJWT(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"exp": nil})),
			"no member_id":        mintJWT(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"member_id": nil})),
			"wrong key":           mintJWT(t, jwt.SigningMethodHS256, keys.NewAPIKeyString(), valid),
			"HS512":               mintJWT(t, jwt.SigningMethodHS512, secret, valid),
			"RS256 header":        rsToken,
			"none":                none,
			"no sub, not default": mintJWT(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"sub": nil})),
			"unknown sub":         mintJWT(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"sub": keys.NewIdentifier()})),
			"other program's key": mintJWT(t, jwt.SigningMethodHS256, otherSecret, with(jwt.MapClaims{"sub": ok.Identifier})),
		}
		for name, tok := range bad {
			r := uiCall(t, ts, demo.PartnerID, tok)
			assertUnauthorized(t, name, r)
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: no WWW-Authenticate challenge", name)
			}
		}
		assertUnauthorized(t, "no partner-id", uiCall(t, ts, "", mintJWT(t, jwt.SigningMethodHS256, secret, valid)))
		assertUnauthorized(t, "other partner-id", uiCall(t, ts, other.PartnerID, mintJWT(t, jwt.SigningMethodHS256, secret, valid)))
		assertUnauthorized(t, "API key instead of a token", apiCall(t, ts.URL, "GET", "/v2/loyalty/ui/member", restHeaders(demo.PartnerID, secret), ""))

		// Inactive and deleted keys: their tokens stop working.
		if _, err := ts.Store.Keys.SetActive(t.Context(), demo.ID, audit.Actor{}, k.ID, false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, "token of an inactive key refused", func() bool {
			return uiCall(t, ts, demo.PartnerID, mintJWT(t, jwt.SigningMethodHS256, secret, valid)).Status == 401
		})
		if _, err := ts.Store.Keys.Delete(t.Context(), demo.ID, audit.Actor{}, k.ID); err != nil {
			t.Fatal(err)
		}
		assertUnauthorized(t, "deleted key", uiCall(t, ts, demo.PartnerID, mintJWT(t, jwt.SigningMethodHS256, secret, valid)))
	})
}
