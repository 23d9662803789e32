package web_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// Two servers on one PostgreSQL database, through the end of a roll's
// overlap: A rolls with an overlap, B (which had the old secret cached)
// accepts both secrets during it; Expire old key now in A's console and B
// refuses the old secret within a second, the new one still accepted.
func TestRollOverlapEndReachesEveryInstance(t *testing.T) {
	db := modeltest.Postgres(t)
	a := newTestServer(t, db)
	b := newInstance(t, db)
	demo := a.Demo.Program
	k, oldSecret := apiKey(t, a, demo.ID, "Shop")
	onB := func(secret string) int {
		return apiCall(t, b.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), "").Status
	}
	if onB(oldSecret) != 200 { // and B caches it
		t.Fatal("instance B refuses a valid key")
	}
	rolled, err := a.Store.Keys.Roll(t.Context(), demo.ID, audit.Actor{}, k.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "instance B accepts the new secret", func() bool { return onB(rolled.Secret) == 200 })
	for range 3 {
		if s := onB(oldSecret); s != 200 {
			t.Fatalf("instance B refuses the old secret during the overlap: %d", s)
		}
	}

	c := a.loggedIn(t, a.Demo.Full.Email)
	if resp, _ := c.htmx(http.MethodPost, "/general/api-keys/"+strconv.FormatInt(k.ID, 10)+"/expire-old", nil); resp.StatusCode != 200 {
		t.Fatalf("Expire old key now: %d", resp.StatusCode)
	}
	took := waitFor(t, time.Second, "instance B refuses the old secret", func() bool { return onB(oldSecret) == 401 })
	t.Logf("instance B refused the old secret %s after the commit", took)
	assertUnauthorized(t, "old secret on B after its end", apiCall(t, b.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, oldSecret), ""))
	if s := onB(rolled.Secret); s != 200 {
		t.Fatalf("instance B refuses the new secret after the overlap: %d", s)
	}
}
