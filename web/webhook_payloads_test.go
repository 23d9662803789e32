package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// verifiedReceiver keeps the bodies whose signature the Standard Webhooks
// library accepts under secret, and counts the others.
type verifiedReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	secret  string
	bodies  []string
	refused int
}

func newVerifiedReceiver(t *testing.T) *verifiedReceiver {
	r := &verifiedReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(r.secret)
		if err != nil || wh.Verify(body, req.Header) != nil {
			r.refused++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.bodies = append(r.bodies, string(body))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// waitFor returns the verified bodies once there are n, or fails.
func (r *verifiedReceiver) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r.mu.Lock()
		got, refused := append([]string(nil), r.bodies...), r.refused
		r.mu.Unlock()
		if refused > 0 {
			t.Fatalf("%d deliveries failed verification", refused)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries arrived: %v", len(got), n, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRolledAndInvitedPayloadsAsReceived: as a receiver verifying with the
// Standard Webhooks library reads them, api_key.rolled says when the old
// key stops working (old_key_expires_at, RFC 3339: the overlap's end, or
// the roll itself for "now"), and admin.invited carries modules as [] (not
// null) for full access and for limited access without modules.
func TestRolledAndInvitedPayloadsAsReceived(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		rcv := newVerifiedReceiver(t)
		ts := newTestServer(t, db, withWebhooksToLoopback())
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		resp, body := c.post("/general/webhooks", url.Values{"url": {rcv.URL + "/hook"}, "events": {outbox.EventKeyRolled, outbox.EventAdminInvited}})
		secret := strings.TrimSpace(parseHTML(t, body).Find("[data-webhook-secret]").Text())
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("add endpoint: %d, secret %q", resp.StatusCode, secret)
		}
		rcv.mu.Lock()
		rcv.secret = secret
		rcv.mu.Unlock()

		k, err := ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, audit.Actor{}, keys.KeyInput{Name: "Shop sync"})
		if err != nil {
			t.Fatal(err)
		}
		reauth(t, c, modeltest.Password)
		roll := func(choice string) time.Time {
			before := time.Now().UTC().Truncate(time.Second)
			resp, body := c.htmx(http.MethodPost, fmt.Sprintf("/general/api-keys/%d/roll", k.ID), url.Values{"old_key_stops": {choice}})
			if resp.StatusCode != http.StatusOK || parseHTML(t, body).Find("[data-new-key]").Length() != 1 {
				t.Fatalf("roll %s: status %d, no new key shown", choice, resp.StatusCode)
			}
			return before
		}
		rolledWithOverlap := roll("24h")
		rcv.waitFor(t, 1)
		rolledNow := roll("now")
		rcv.waitFor(t, 2)
		invite(t, c, "limited.none@example.test", "limited")
		rcv.waitFor(t, 3)
		invite(t, c, "full.one@example.test", "full")
		bodies := rcv.waitFor(t, 4)

		var payloads []struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		for _, b := range bodies {
			var p struct {
				Type string         `json:"type"`
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal([]byte(b), &p); err != nil {
				t.Fatal(err)
			}
			payloads = append(payloads, p)
		}
		for i, want := range []time.Time{rolledWithOverlap.Add(24 * time.Hour), rolledNow} {
			p := payloads[i]
			key, _ := p.Data["api_key"].(map[string]any)
			raw, _ := key["old_key_expires_at"].(string)
			at, err := time.Parse(time.RFC3339, raw)
			if p.Type != outbox.EventKeyRolled || err != nil || at.Before(want) || at.After(want.Add(5*time.Second)) {
				t.Fatalf("rolled payload %d: type %s, old_key_expires_at %q (%v), want about %s", i, p.Type, raw, err, want.Format(time.RFC3339))
			}
		}
		for i, email := range []string{"limited.none@example.test", "full.one@example.test"} {
			p := payloads[2+i]
			inv, _ := p.Data["invitation"].(map[string]any)
			modules, isList := inv["modules"].([]any)
			if p.Type != outbox.EventAdminInvited || inv["email"] != email || !isList || len(modules) != 0 {
				t.Fatalf("invited payload for %s: %s", email, bodies[2+i])
			}
			if !strings.Contains(bodies[2+i], `"modules":[]`) {
				t.Fatalf("modules not an empty list: %s", bodies[2+i])
			}
		}
	})
}
