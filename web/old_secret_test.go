package web_test

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// uiTokenFor mints a UI token (HS256, sub = the key's identifier) signed
// with secret, valid for the next 30 minutes of now.
func uiTokenFor(t *testing.T, k keys.APIKey, secret string, now time.Time) string {
	t.Helper()
	return mintJWT(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": k.Identifier, "member_id": "m1", "exp": now.Add(30 * time.Minute).Unix()})
}

// uiStatus is the status of a UI API call with token on the server at
// url: 404 means authenticated (the member does not exist).
func uiStatus(t *testing.T, url, partnerID, token string) int {
	t.Helper()
	return apiCall(t, url, "GET", "/v2/loyalty/ui/member", map[string]string{"partner-id": partnerID, "Authorization": "Bearer " + token}, "").Status
}

// expireOldInConsole presses Expire old key now in the console of ts.
func expireOldInConsole(t *testing.T, c *client, k keys.APIKey) {
	t.Helper()
	if resp, _ := c.htmx(http.MethodPost, "/general/api-keys/"+strconv.FormatInt(k.ID, 10)+"/expire-old", nil); resp.StatusCode != 200 {
		t.Fatalf("Expire old key now: %d", resp.StatusCode)
	}
}

// Two servers on one PostgreSQL database: after a roll with overlap, a UI
// token signed with the OLD secret is accepted by both (and cached by
// both); Expire old key now in A's console, and B refuses that token
// within a second (the announcement, not the cache's TTL, ends it), while
// a token signed with the new secret and REST calls with the new key keep
// working on both. Repeated, the time from A's answer to B's first 401 is
// logged (p50, p99).
func TestExpireOldKeyNowRefusesOldSecretTokensOnEveryInstance(t *testing.T) {
	db := modeltest.Postgres(t)
	a := newTestServer(t, db)
	b := newInstance(t, db)
	demo := a.Demo.Program
	console := a.loggedIn(t, a.Demo.Full.Email)
	k, secret := apiKey(t, a, demo.ID, "Shop")
	servers := map[string]string{"A": a.URL, "B": b.URL}

	var took []time.Duration
	for trial := range 10 {
		rolled, err := a.Store.Keys.Roll(t.Context(), demo.ID, audit.Actor{}, k.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		oldToken := uiTokenFor(t, k, secret, time.Now())
		newToken := uiTokenFor(t, k, rolled.Secret, time.Now())
		for name, url := range servers {
			waitFor(t, time.Second, name+" accepts the new secret's token", func() bool { return uiStatus(t, url, demo.PartnerID, newToken) == 404 })
			for range 3 { // and caches the key
				if s := uiStatus(t, url, demo.PartnerID, oldToken); s != 404 {
					t.Fatalf("trial %d: %s refuses the old secret's token during the overlap: %d", trial, name, s)
				}
			}
		}

		expireOldInConsole(t, console, k)
		answered := time.Now()
		took = append(took, waitFor(t, time.Second, "instance B refuses the old secret's token", func() bool {
			return uiStatus(t, b.URL, demo.PartnerID, oldToken) == 401
		}))
		for name, url := range servers {
			h := map[string]string{"partner-id": demo.PartnerID, "Authorization": "Bearer " + oldToken}
			assertUnauthorized(t, name+": old secret's token after Expire old key now", apiCall(t, url, "GET", "/v2/loyalty/ui/member", h, ""))
			assertUnauthorized(t, name+": old secret after Expire old key now", apiCall(t, url, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""))
			if s := uiStatus(t, url, demo.PartnerID, newToken); s != 404 {
				t.Fatalf("%s refuses the new secret's token after Expire old key now: %d", name, s)
			}
			if s := apiCall(t, url, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, rolled.Secret), "").Status; s != 200 {
				t.Fatalf("%s refuses the new secret after Expire old key now: %d", name, s)
			}
		}
		if time.Since(answered) > 5*time.Second {
			t.Fatal("the checks after the refusal took too long to tell anything")
		}
		secret = rolled.Secret
	}
	slices.Sort(took)
	t.Logf("B refused the old secret's token after Expire old key now on A: p50 %s, p99 (max of %d) %s", took[len(took)/2], len(took), took[len(took)-1])
}

// One instance, either database: Expire old key now refuses a UI token
// signed with the old secret on the very next call, although the key was
// cached with its old secret.
func TestExpireOldKeyNowRefusesOldSecretTokensAtOnce(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Shop")
		rolled, err := ts.Store.Keys.Roll(t.Context(), demo.ID, audit.Actor{}, k.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ts.App.WaitRevocations()
		oldToken := uiTokenFor(t, k, secret, time.Now())
		newToken := uiTokenFor(t, k, rolled.Secret, time.Now())
		for range 3 { // warm the cache
			if s := uiStatus(t, ts.URL, demo.PartnerID, oldToken); s != 404 {
				t.Fatalf("old secret's token during the overlap: %d", s)
			}
			if s := uiStatus(t, ts.URL, demo.PartnerID, newToken); s != 404 {
				t.Fatalf("new secret's token during the overlap: %d", s)
			}
		}

		expireOldInConsole(t, ts.loggedIn(t, ts.Demo.Full.Email), k)
		h := map[string]string{"partner-id": demo.PartnerID, "Authorization": "Bearer " + oldToken}
		assertUnauthorized(t, "old secret's token right after Expire old key now", apiCall(t, ts.URL, "GET", "/v2/loyalty/ui/member", h, ""))
		assertUnauthorized(t, "old secret right after Expire old key now", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""))
		if s := uiStatus(t, ts.URL, demo.PartnerID, newToken); s != 404 {
			t.Fatalf("new secret's token after Expire old key now: %d", s)
		}
		if s := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, rolled.Secret), "").Status; s != 200 {
			t.Fatalf("new secret after Expire old key now: %d", s)
		}
	})
}
