package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// newInstance starts another keydesk server on the same database, as a
// second production instance would run.
func newInstance(t *testing.T, db modeltest.Database) *httptest.Server {
	t.Helper()
	store := modeltest.NewStores(t, db)
	cfg := config.Default(modeltest.MasterKey)
	cfg.DatabaseURL = db.URL
	srv, err := web.New(cfg, store.Stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return hs
}

// On SQLite (one instance) inactivating a key in the console refuses it on
// the very next call, REST and UI alike.
func TestRevocationIsImmediateInProcess(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	demo := ts.Demo.Program
	k, secret := apiKey(t, ts, demo.ID, "Shop")
	h := restHeaders(demo.PartnerID, secret)
	token := mintJWT(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": k.Identifier, "member_id": "m1", "exp": time.Now().Add(time.Hour).Unix()})
	for range 3 { // warm the cache
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", h, ""); r.Status != 200 {
			t.Fatal(r.Raw)
		}
		if r := uiCall(t, ts, demo.PartnerID, token); r.Status != 404 { // authenticated; the member does not exist
			t.Fatal(r.Raw)
		}
	}
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	if resp, _ := c.htmx(http.MethodPost, "/general/api-keys/"+strconv.FormatInt(k.ID, 10)+"/inactivate", nil); resp.StatusCode != 200 {
		t.Fatalf("inactivate: %d", resp.StatusCode)
	}
	assertUnauthorized(t, "REST right after inactivation", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", h, ""))
	assertUnauthorized(t, "UI right after inactivation", uiCall(t, ts, demo.PartnerID, token))

	if resp, _ := c.htmx(http.MethodPost, "/general/api-keys/"+strconv.FormatInt(k.ID, 10)+"/activate", nil); resp.StatusCode != 200 {
		t.Fatalf("activate: %d", resp.StatusCode)
	}
	if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", h, ""); r.Status != 200 {
		t.Fatalf("re-activated key refused: %d", r.Status)
	}
}

// Two servers on one PostgreSQL database: a key inactivated through one is
// refused by the other within a second, although the other had it cached.
func TestRevocationReachesEveryInstance(t *testing.T) {
	db := modeltest.Postgres(t)
	a := newTestServer(t, db)
	b := newInstance(t, db)
	demo := a.Demo.Program
	k, secret := apiKey(t, a, demo.ID, "Shop")
	h := restHeaders(demo.PartnerID, secret)
	token := mintJWT(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": k.Identifier, "member_id": "m1", "exp": time.Now().Add(time.Hour).Unix()})
	onB := func() int { return apiCall(t, b.URL, "GET", "/v2/loyalty/program", h, "").Status }
	uiOnB := func() int {
		return apiCall(t, b.URL, "GET", "/v2/loyalty/ui/member", map[string]string{"partner-id": demo.PartnerID, "Authorization": "Bearer " + token}, "").Status
	}
	if onB() != 200 || uiOnB() != 404 {
		t.Fatal("instance B refuses a valid key")
	}
	// B really answers from its cache: a change made behind the store's
	// back (no notice) is not seen.
	if err := a.Store.DB.Exec(`UPDATE api_keys SET active = FALSE WHERE id = ?`, k.ID).Error; err != nil {
		t.Fatal(err)
	}
	if onB() != 200 {
		t.Fatal("instance B does not cache verified keys; this test would prove nothing")
	}
	if err := a.Store.DB.Exec(`UPDATE api_keys SET active = TRUE WHERE id = ?`, k.ID).Error; err != nil {
		t.Fatal(err)
	}

	// Inactivate through A's console.
	c := a.loggedIn(t, a.Demo.Full.Email)
	if resp, _ := c.htmx(http.MethodPost, "/general/api-keys/"+strconv.FormatInt(k.ID, 10)+"/inactivate", nil); resp.StatusCode != 200 {
		t.Fatalf("inactivate: %d", resp.StatusCode)
	}
	took := waitFor(t, time.Second, "instance B refuses the inactivated key", func() bool { return onB() == 401 })
	t.Logf("instance B refused the key %s after the commit", took)
	if uiOnB() != 401 {
		t.Fatal("instance B accepts a token of the inactivated key")
	}

	// Activation reaches B as well (its negative entry is dropped).
	if _, err := a.Store.Keys.SetActive(t.Context(), demo.ID, audit.Actor{}, k.ID, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "instance B accepts the re-activated key", func() bool { return onB() == 200 })

	// Inactivate and delete through the store; B refuses within a second.
	if _, err := a.Store.Keys.SetActive(t.Context(), demo.ID, audit.Actor{}, k.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.Keys.Delete(t.Context(), demo.ID, audit.Actor{}, k.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "instance B refuses the deleted key", func() bool { return onB() == 401 })
}
