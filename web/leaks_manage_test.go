package web_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/modeltest"
)

// managementRevokedEvents are the program's management_key.revoked events.
func managementRevokedEvents(t *testing.T, ts *testServer, programID int64) []audit.Event {
	t.Helper()
	var events []audit.Event
	if err := ts.Store.DB.Where("program_id = ? AND action = ?", programID, audit.ActionManagementKeyRevoked).Order("seq").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	return events
}

// A management key (kdm_) found leaked is revoked always, whatever the
// program's When a key is found leaked: GitHub's alert naming it is
// answered true_positive (keydesk_management_key), the key is refused by
// the management API at once although it was cached, the audit trail gets
// management_key.revoked (reason leaked, actor github_secret_scanning,
// where found) and the outbox one management_key.leaked. The same alert
// sent again changes and audits nothing; another alert naming the revoked
// key is audited once more; an unknown checksum-valid kdm_ token is a
// false positive. The public revocation API revokes a kdm_ key too.
func TestLeakedManagementKeyRevoked(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		doc := newKeyDocument(t)
		github := newSigningKey(t, "github-1")
		doc.set(t, map[signingKey]bool{github: true})
		ts := newTestServer(t, db, withKeyDocument(doc))
		demo := ts.Demo.Program
		// Notify only applies to API keys; a management key is revoked anyway.
		if err := ts.Store.Keys.SetLeakResponse(t.Context(), demo.ID, audit.Actor{}, keys.LeakNotifyOnly); err != nil {
			t.Fatal(err)
		}
		leaked, leakedSecret := managementKey(t, ts, demo.ID, "Deploy bot", managementkeys.ScopeKeysRead)
		_, spareSecret := managementKey(t, ts, demo.ID, "Spare", managementkeys.ScopeKeysRead)
		held, heldSecret := managementKey(t, ts, demo.ID, "Held", managementkeys.ScopeKeysRead)
		list := func(secret string) int {
			return apiCall(t, ts.URL, "GET", "/v2/manage/keys", bearer(secret), "").Status
		}
		for _, s := range []string{leakedSecret, spareSecret, heldSecret} {
			if status := list(s); status != 200 { // cached as valid
				t.Fatalf("before the alert: %d", status)
			}
		}

		unknown := managementToken()
		tokens := []string{leakedSecret, unknown, brokenChecksum(leakedSecret)}
		body := alertBody(t, tokens...)
		answers := sendAlert(t, ts.URL, github, body)
		want := []string{"true_positive", "false_positive", "false_positive"}
		for i, a := range answers {
			if a.TokenHash != tokenHash(tokens[i]) || a.TokenType != "keydesk_management_key" || a.Label != want[i] {
				t.Errorf("answer %d: %+v, want keydesk_management_key %s", i, a, want[i])
			}
		}
		if status := list(leakedSecret); status != http.StatusUnauthorized {
			t.Fatalf("the leaked management key still works: %d", status)
		}
		if status := list(spareSecret); status != 200 {
			t.Fatalf("a management key not in the alert: %d", status)
		}
		live, err := ts.Store.ManagementKeys.List(t.Context(), demo.ID)
		if err != nil || len(live) != 2 {
			t.Fatalf("live management keys after the leak: %d %v", len(live), err)
		}

		events := managementRevokedEvents(t, ts, demo.ID)
		if len(events) != 1 {
			t.Fatalf("%d management_key.revoked events, want 1", len(events))
		}
		e := events[0]
		if e.ActorEmail != keys.LeakReporterGitHub || e.ActorID != 0 || e.TargetID != leaked.Identifier ||
			!strings.Contains(e.Details, `"reason":"leaked"`) || !strings.Contains(e.Details, "https://github.com/octo/repo/blob/main/f0.env") ||
			!strings.Contains(e.Details, `"source":"content"`) || !strings.Contains(e.Details, `"response":"revoked"`) {
			t.Fatalf("audit event: %+v", e)
		}
		if n := outboxCount(t, ts, demo.ID, "management_key.leaked"); n != 1 {
			t.Fatalf("%d management_key.leaked events, want 1", n)
		}
		var payload string
		if err := ts.Store.DB.Raw(`SELECT payload FROM outbox_events WHERE program_id = ? AND event_type = ?`, demo.ID, "management_key.leaked").Scan(&payload).Error; err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(payload, leaked.Identifier) || !strings.Contains(payload, `"reported_by":"github_secret_scanning"`) || strings.Contains(payload, leakedSecret) {
			t.Fatalf("event payload: %s", payload)
		}

		// The same alert again: answered alike, nothing audited twice.
		if again := sendAlert(t, ts.URL, github, body); again[0].Label != "true_positive" {
			t.Fatalf("replayed alert: %+v", again[0])
		}
		if n := len(managementRevokedEvents(t, ts, demo.ID)); n != 1 {
			t.Fatalf("a replayed alert audited again: %d events", n)
		}
		if n := outboxCount(t, ts, demo.ID, "management_key.leaked"); n != 1 {
			t.Fatalf("a replayed alert notified again: %d events", n)
		}
		// Another alert naming the revoked key: audited once more.
		if other := sendAlert(t, ts.URL, github, alertBody(t, unknown, leakedSecret)); other[1].Label != "true_positive" {
			t.Fatalf("another alert: %+v", other[1])
		}
		events = managementRevokedEvents(t, ts, demo.ID)
		if len(events) != 2 || !strings.Contains(events[1].Details, `"response":"already revoked"`) {
			t.Fatalf("another alert's audit: %+v", events)
		}

		// Whoever holds a management key can revoke it.
		if r := revoke(t, http.DefaultClient, ts.URL, heldSecret); r.Status != http.StatusAccepted {
			t.Fatalf("public revocation: %d %s", r.Status, r.Raw)
		}
		if status := list(heldSecret); status != http.StatusUnauthorized {
			t.Fatalf("the publicly revoked management key still works: %d", status)
		}
		events = managementRevokedEvents(t, ts, demo.ID)
		if len(events) != 3 || events[2].ActorEmail != keys.LeakReporterPublic || events[2].TargetID != held.Identifier {
			t.Fatalf("public revocation's audit: %+v", events)
		}
	})
}

// Two instances on PostgreSQL: a management key reported by a GitHub alert
// to one is refused by the other within a second of the answer, although
// the other had it cached.
func TestLeakedManagementKeyRefusedOnEveryInstance(t *testing.T) {
	db := modeltest.Postgres(t)
	doc := newKeyDocument(t)
	github := newSigningKey(t, "github-1")
	doc.set(t, map[signingKey]bool{github: true})
	a := newTestServer(t, db, withKeyDocument(doc))
	b := newInstance(t, db)
	demo := a.Demo.Program
	mk, secret := managementKey(t, a, demo.ID, "Deploy bot", managementkeys.ScopeKeysRead)
	onB := func() int { return apiCall(t, b.URL, "GET", "/v2/manage/keys", bearer(secret), "").Status }
	if onB() != 200 {
		t.Fatal("instance B refuses a valid management key")
	}
	if err := a.Store.DB.Exec(`UPDATE management_keys SET revoked_at = ? WHERE id = ?`, time.Now(), mk.ID).Error; err != nil {
		t.Fatal(err)
	}
	if onB() != 200 {
		t.Fatal("instance B does not cache verified management keys; this test would prove nothing")
	}
	if err := a.Store.DB.Exec(`UPDATE management_keys SET revoked_at = NULL WHERE id = ?`, mk.ID).Error; err != nil {
		t.Fatal(err)
	}

	if answers := sendAlert(t, a.URL, github, alertBody(t, secret)); answers[0].Label != "true_positive" {
		t.Fatalf("alert: %+v", answers[0])
	}
	took := waitFor(t, time.Second, "instance B refuses the management key GitHub reported", func() bool { return onB() == http.StatusUnauthorized })
	t.Logf("alert: instance B refused the management key %s after the answer", took)
}

// The same alert arriving on several connections at once (GitHub retrying
// while the first is still being handled) revokes, audits and notifies a
// leaked management key once; every copy is answered true_positive.
func TestLeakedManagementKeySimultaneousAlerts(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		doc := newKeyDocument(t)
		github := newSigningKey(t, "github-1")
		doc.set(t, map[signingKey]bool{github: true})
		ts := newTestServer(t, db, withKeyDocument(doc))
		demo := ts.Demo.Program
		_, secret := managementKey(t, ts, demo.ID, "Deploy bot", managementkeys.ScopeKeysRead)
		body := alertBody(t, secret)
		signature := github.sign(t, body)

		const copies = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				status, raw := postAlert(t, ts.URL, body, github.id, signature)
				if status != http.StatusOK || !strings.Contains(raw, "true_positive") {
					t.Errorf("simultaneous alert: %d %s", status, raw)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := len(managementRevokedEvents(t, ts, demo.ID)); n != 1 {
			t.Fatalf("%d simultaneous copies of one alert: %d management_key.revoked events, want 1", copies, n)
		}
		if n := outboxCount(t, ts, demo.ID, "management_key.leaked"); n != 1 {
			t.Fatalf("%d simultaneous copies of one alert: %d management_key.leaked events, want 1", copies, n)
		}
	})
}
