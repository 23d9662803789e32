package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/modeltest"
)

// managementKey makes a management key in the program with the scopes and
// returns it with its secret.
func managementKey(t *testing.T, ts *testServer, programID int64, name string, scopes ...managementkeys.Scope) (*managementkeys.Key, string) {
	t.Helper()
	in := managementkeys.Input{Name: name, Expiry: managementkeys.ExpiryNever}
	for _, s := range scopes {
		in.Scopes = append(in.Scopes, string(s))
	}
	k, err := ts.Store.ManagementKeys.Create(t.Context(), programID, audit.Actor{Email: "setup@test"}, in)
	if err != nil {
		t.Fatal(err)
	}
	return k, k.Secret
}

func bearer(secret string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + secret}
}

func with(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range h {
		out[a] = b
	}
	return out
}

// manageRoute is one management route, the scope it needs and a request
// that succeeds when made with the scope against the key named by {id}.
type manageRoute struct {
	method, path string
	scope        managementkeys.Scope
	body         string
	want         int
}

var manageRoutes = []manageRoute{
	{"GET", "/v2/manage/keys", managementkeys.ScopeKeysRead, "", 200},
	{"POST", "/v2/manage/keys", managementkeys.ScopeKeysWrite, `{"name":"From code"}`, 201},
	{"GET", "/v2/manage/keys/{id}", managementkeys.ScopeKeysRead, "", 200},
	{"PATCH", "/v2/manage/keys/{id}", managementkeys.ScopeKeysWrite, `{"description":"patched"}`, 200},
	{"POST", "/v2/manage/keys/{id}/roll", managementkeys.ScopeKeysWrite, `{"old_key_expires_in_seconds":0}`, 200},
	{"POST", "/v2/manage/keys/{id}/inactivate", managementkeys.ScopeKeysWrite, "", 204},
	{"POST", "/v2/manage/keys/{id}/activate", managementkeys.ScopeKeysWrite, "", 204},
	{"DELETE", "/v2/manage/keys/{inactive}", managementkeys.ScopeKeysWrite, "", 204},
	{"GET", "/v2/manage/keys/{id}/usage?range=7d", managementkeys.ScopeUsageRead, "", 200},
	{"GET", "/v2/manage/audit", managementkeys.ScopeAuditRead, "", 200},
}

// Every route × every scope × another program's identifier × a revoked
// or expired key: only a live key with the route's scope gets through,
// and only to its own program's keys.
func TestManageAPIRoutesScopesTenantsAndDeadKeys(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	demo, other := ts.Demo.Program, ts.Other.Program
	revoked, revokedSecret := managementKey(t, ts, demo.ID, "Revoked", managementkeys.AllScopes...)
	if _, err := ts.Store.ManagementKeys.Revoke(t.Context(), demo.ID, audit.Actor{}, revoked.ID); err != nil {
		t.Fatal(err)
	}
	expired, expiredSecret := managementKey(t, ts, demo.ID, "Expired", managementkeys.AllScopes...)
	if err := ts.Store.DB.Exec(`UPDATE management_keys SET expires_at = ? WHERE id = ?`, time.Now().Add(-time.Minute), expired.ID).Error; err != nil {
		t.Fatal(err)
	}
	bySecret := map[managementkeys.Scope]string{}
	for _, s := range managementkeys.AllScopes {
		_, bySecret[s] = managementKey(t, ts, demo.ID, "Only "+string(s), s)
	}
	otherKey, _ := apiKey(t, ts, other.ID, "Other program's key")
	otherInactive, _ := apiKey(t, ts, other.ID, "Other program's inactive key")
	if _, err := ts.Store.Keys.SetActive(t.Context(), other.ID, audit.Actor{}, otherInactive.ID, false); err != nil {
		t.Fatal(err)
	}
	for _, r := range manageRoutes {
		name := r.method + " " + r.path
		k, _ := apiKey(t, ts, demo.ID, "Target")
		inactive, _ := apiKey(t, ts, demo.ID, "Inactive")
		if _, err := ts.Store.Keys.SetActive(t.Context(), demo.ID, audit.Actor{}, inactive.ID, false); err != nil {
			t.Fatal(err)
		}
		path := strings.NewReplacer("{id}", k.Identifier, "{inactive}", inactive.Identifier).Replace(r.path)
		eventsBefore := len(ts.auditActions(t, demo.ID))
		for _, dead := range []struct{ what, secret string }{
			{"no key", ""}, {"an API key", "kd_" + strings.Repeat("A", 36)}, {"revoked", revokedSecret}, {"expired", expiredSecret},
		} {
			h := map[string]string{}
			if dead.secret != "" {
				h = bearer(dead.secret)
			}
			got := apiCall(t, ts.URL, r.method, path, h, r.body)
			if got.Status != 401 || got.Body["error_code"] != "ERROR_UNAUTHORIZED" {
				t.Errorf("%s with %s: %d %s, want 401 ERROR_UNAUTHORIZED", name, dead.what, got.Status, got.Raw)
			}
		}
		for _, s := range managementkeys.AllScopes {
			if s == r.scope {
				continue
			}
			got := apiCall(t, ts.URL, r.method, path, bearer(bySecret[s]), r.body)
			if got.Status != 403 || got.Body["error_code"] != "ERROR_FORBIDDEN" {
				t.Errorf("%s with %s: %d %s, want 403 ERROR_FORBIDDEN", name, s, got.Status, got.Raw)
			}
		}
		if strings.Contains(r.path, "{") {
			otherPath := strings.NewReplacer("{id}", otherKey.Identifier, "{inactive}", otherInactive.Identifier).Replace(r.path)
			got := apiCall(t, ts.URL, r.method, otherPath, bearer(bySecret[r.scope]), r.body)
			if got.Status != 404 || got.Body["error_code"] != "ERROR_NOT_FOUND" {
				t.Errorf("%s on another program's key: %d %s, want 404 ERROR_NOT_FOUND", name, got.Status, got.Raw)
			}
		}
		if n := len(ts.auditActions(t, demo.ID)); n != eventsBefore {
			t.Errorf("%s: refused calls appended %d audit events", name, n-eventsBefore)
		}
		if got := apiCall(t, ts.URL, r.method, path, bearer(bySecret[r.scope]), r.body); got.Status != r.want {
			t.Errorf("%s with %s: %d %s, want %d", name, r.scope, got.Status, got.Raw, r.want)
		}
		ts.Store.DB.Exec(`DELETE FROM api_keys WHERE program_id = ? AND is_default = FALSE`, demo.ID)
	}
	// The other program's keys are untouched by all that.
	k, err := ts.Store.Keys.ByID(t.Context(), other.ID, otherKey.ID)
	if err != nil || !k.Active || k.Description != "" || string(k.Digest) != string(otherKey.Digest) {
		t.Fatalf("another program's key changed: %+v %v", k, err)
	}
	if _, err := ts.Store.Keys.ByID(t.Context(), other.ID, otherInactive.ID); err != nil {
		t.Fatalf("another program's inactive key was deleted: %v", err)
	}
}

// The key lifecycle through the management API: each change is the
// console's store method (audit with the management key as actor,
// webhooks, revocation), the secret appears only in create and roll.
func TestManageAPIKeyLifecycle(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	demo := ts.Demo.Program
	mk, secret := managementKey(t, ts, demo.ID, "Deploy bot", managementkeys.AllScopes...)
	h := bearer(secret)
	actor := "management_key:" + mk.Identifier

	created := apiCall(t, ts.URL, "POST", "/v2/manage/keys", h,
		`{"name":"Shop sync","description":"from code","expires_in_days":30,"permissions":["program:read"],"allowed_ips":["203.0.113.0/24"]}`)
	if created.Status != 201 {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id, _ := created.Body["identifier"].(string)
	newSecret, _ := created.Body["key"].(string)
	if !keys.IsIdentifier(id) || keys.CheckKeyFormat(newSecret) != nil {
		t.Fatalf("create answer lacks identifier or key: %s", created.Raw)
	}
	if created.Body["expires_at"] == nil || fmt.Sprint(created.Body["permissions"]) != "[program:read]" || fmt.Sprint(created.Body["allowed_ips"]) != "[203.0.113.0/24]" {
		t.Fatalf("create ignored fields: %s", created.Raw)
	}
	got := apiCall(t, ts.URL, "GET", "/v2/manage/keys/"+id, h, "")
	if got.Status != 200 || strings.Contains(got.Raw, newSecret) || got.Body["key"] != nil || got.Body["identifier"] != id {
		t.Fatalf("get: %d %s", got.Status, got.Raw)
	}
	list := apiCall(t, ts.URL, "GET", "/v2/manage/keys", h, "")
	if list.Status != 200 || strings.Contains(list.Raw, newSecret) || !strings.Contains(list.Raw, id) {
		t.Fatalf("list: %s", list.Raw)
	}

	patched := apiCall(t, ts.URL, "PATCH", "/v2/manage/keys/"+id, h, `{"name":"Shop sync 2","permissions":null,"allowed_ips":[],"expires_at":null}`)
	if patched.Status != 200 || patched.Body["name"] != "Shop sync 2" || patched.Body["permissions"] != nil || patched.Body["expires_at"] != nil {
		t.Fatalf("patch: %d %s", patched.Status, patched.Raw)
	}
	bad := apiCall(t, ts.URL, "PATCH", "/v2/manage/keys/"+id, h, `{"name":""}`)
	if bad.Status != 422 || bad.Body["error_code"] != "ERROR_VALIDATION" || bad.Body["field"] != "name" {
		t.Fatalf("empty name: %d %s", bad.Status, bad.Raw)
	}

	rolled := apiCall(t, ts.URL, "POST", "/v2/manage/keys/"+id+"/roll", h, `{"old_key_expires_in_seconds":0}`)
	rolledSecret, _ := rolled.Body["key"].(string)
	if rolled.Status != 200 || rolled.Body["identifier"] != id || rolledSecret == newSecret || keys.CheckKeyFormat(rolledSecret) != nil {
		t.Fatalf("roll: %d %s", rolled.Status, rolled.Raw)
	}
	assertUnauthorized(t, "old secret after roll", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, newSecret), ""))
	if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, rolledSecret), ""); r.Status != 200 {
		t.Fatalf("rolled secret refused: %d %s", r.Status, r.Raw)
	}

	if r := apiCall(t, ts.URL, "DELETE", "/v2/manage/keys/"+id, h, ""); r.Status != 409 || r.Body["error_code"] != "ERROR_CONFLICT" {
		t.Fatalf("delete of an active key: %d %s", r.Status, r.Raw)
	}
	if r := apiCall(t, ts.URL, "POST", "/v2/manage/keys/"+id+"/inactivate", h, ""); r.Status != 204 {
		t.Fatalf("inactivate: %d %s", r.Status, r.Raw)
	}
	assertUnauthorized(t, "inactivated key", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, rolledSecret), ""))
	if r := apiCall(t, ts.URL, "POST", "/v2/manage/keys/"+id+"/activate", h, ""); r.Status != 204 {
		t.Fatalf("activate: %d %s", r.Status, r.Raw)
	}
	if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, rolledSecret), ""); r.Status != 200 {
		t.Fatalf("activated key refused: %d", r.Status)
	}
	apiCall(t, ts.URL, "POST", "/v2/manage/keys/"+id+"/inactivate", h, "")
	if r := apiCall(t, ts.URL, "DELETE", "/v2/manage/keys/"+id, h, ""); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if r := apiCall(t, ts.URL, "GET", "/v2/manage/keys/"+id, h, ""); r.Status != 404 {
		t.Fatalf("deleted key still there: %d", r.Status)
	}

	// The audit trail names the management key as the actor of every
	// change, with the console's actions; the audit read shows them
	// newest first with their chain fields.
	var rows []struct{ Action, ActorEmail string }
	ts.Store.DB.Raw(`SELECT action, actor_email FROM audit_events WHERE program_id = ? AND target_id = ? ORDER BY seq`, demo.ID, id).Scan(&rows)
	var actions []string
	for _, r := range rows {
		if r.ActorEmail != actor {
			t.Errorf("%s by %q, want %q", r.Action, r.ActorEmail, actor)
		}
		actions = append(actions, r.Action)
	}
	want := "api_key.generated api_key.updated api_key.updated api_key.updated api_key.rolled api_key.deleted"
	if got := strings.Join(actions, " "); !strings.HasPrefix(got, "api_key.generated") || !strings.Contains(got, "api_key.rolled") || !strings.HasSuffix(got, "api_key.deleted") ||
		strings.Count(got, "api_key.inactivated") != 2 || strings.Count(got, "api_key.activated") != 1 {
		t.Fatalf("audit actions %q, want them like %q with inactivations and activation", got, want)
	}
	trail := apiCall(t, ts.URL, "GET", "/v2/manage/audit?action=api_key.deleted", h, "")
	data, _ := trail.Body["data"].([]any)
	// The refused delete of the active key is there too, older.
	if trail.Status != 200 || len(data) != 2 || data[0].(map[string]any)["outcome"] != "success" || data[1].(map[string]any)["outcome"] != "refused" {
		t.Fatalf("audit read: %d %s", trail.Status, trail.Raw)
	}
	ev := data[0].(map[string]any)
	if ev["actor_email"] != actor || ev["hash"] == "" || ev["prev_hash"] == nil || ev["target_id"] != id {
		t.Fatalf("audit event %v", ev)
	}
	// Webhook events carry the same actor.
	var payloads []string
	ts.Store.DB.Raw(`SELECT payload FROM outbox_events WHERE program_id = ?`, demo.ID).Scan(&payloads)
	for _, p := range payloads {
		if strings.Contains(p, id) && !strings.Contains(p, actor) {
			t.Errorf("webhook payload without the management key actor: %s", p)
		}
		if strings.Contains(p, newSecret) || strings.Contains(p, rolledSecret) || strings.Contains(p, secret) {
			t.Fatal("a webhook payload holds a secret")
		}
	}
	if strings.Contains(ts.Logs.String(), secret) || strings.Contains(ts.Logs.String(), rolledSecret) {
		t.Fatal("a secret reached the log")
	}
}

// Pagination: limit and after walk the keys oldest first, with status and
// q filters; limit beyond 100 is a 422 naming the field.
func TestManageAPIListPagination(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	demo := ts.Demo.Program
	_, secret := managementKey(t, ts, demo.ID, "Reader", managementkeys.ScopeKeysRead)
	var want []string
	for i := range 5 {
		k, _ := apiKey(t, ts, demo.ID, fmt.Sprintf("Key %d", i))
		want = append(want, k.Identifier)
	}
	var got []string
	after := ""
	for range 10 {
		r := apiCall(t, ts.URL, "GET", "/v2/manage/keys?limit=2&after="+after, bearer(secret), "")
		if r.Status != 200 {
			t.Fatalf("list: %d %s", r.Status, r.Raw)
		}
		for _, d := range r.Body["data"].([]any) {
			got = append(got, d.(map[string]any)["identifier"].(string))
		}
		if r.Body["has_more"] != true {
			break
		}
		after = r.Body["next_after"].(string)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages %v, want %v", got, want)
	}
	if r := apiCall(t, ts.URL, "GET", "/v2/manage/keys?q=key%203", bearer(secret), ""); len(r.Body["data"].([]any)) != 1 {
		t.Fatalf("q filter: %s", r.Raw)
	}
	if r := apiCall(t, ts.URL, "GET", "/v2/manage/keys?limit=101", bearer(secret), ""); r.Status != 422 || r.Body["field"] != "limit" {
		t.Fatalf("limit 101: %d %s", r.Status, r.Raw)
	}
}

// 25 simultaneous creates through the router leave exactly 20 keys; the
// other 5 are 409 ERROR_CONFLICT.
func TestManageAPIConcurrentCreatesStopAtTheCap(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		_, secret := managementKey(t, ts, demo.ID, "Writer", managementkeys.ScopeKeysWrite)
		statuses := make([]int, 25)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range statuses {
			wg.Go(func() {
				<-start
				r := apiCall(t, ts.URL, "POST", "/v2/manage/keys", bearer(secret), fmt.Sprintf(`{"name":"Concurrent %d"}`, i))
				statuses[i] = r.Status
				if r.Status == 409 && r.Body["error_code"] != "ERROR_CONFLICT" {
					t.Errorf("409 with %s", r.Raw)
				}
			})
		}
		close(start)
		wg.Wait()
		created, conflicts := 0, 0
		for _, s := range statuses {
			switch s {
			case 201:
				created++
			case 409:
				conflicts++
			}
		}
		n, err := ts.Store.Keys.Count(t.Context(), demo.ID)
		if err != nil {
			t.Fatal(err)
		}
		if created != 20 || conflicts != 5 || n != 20 {
			t.Fatalf("created %d, conflicts %d, keys %d (statuses %v); want 20, 5, 20", created, conflicts, n, statuses)
		}
	})
}

// An Idempotency-Key retry replays the first answer (secret included)
// and creates nothing; the same key with another body is 409; simultaneous
// retries create one key.
func TestManageAPIIdempotencyKey(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		_, secret := managementKey(t, ts, demo.ID, "Writer", managementkeys.ScopeKeysWrite)
		h := with(bearer(secret), "Idempotency-Key", "create-shop-1")
		first := apiCall(t, ts.URL, "POST", "/v2/manage/keys", h, `{"name":"Shop"}`)
		if first.Status != 201 {
			t.Fatalf("create: %d %s", first.Status, first.Raw)
		}
		again := apiCall(t, ts.URL, "POST", "/v2/manage/keys", h, `{"name":"Shop"}`)
		if again.Status != 201 || again.Raw != first.Raw || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry: %d %s, want the first answer %s", again.Status, again.Raw, first.Raw)
		}
		if n, _ := ts.Store.Keys.Count(t.Context(), demo.ID); n != 1 {
			t.Fatalf("%d keys after a retry, want 1", n)
		}
		var sealed []byte
		ts.Store.DB.Raw(`SELECT sealed FROM management_idempotency WHERE idempotency_key = ?`, "create-shop-1").Scan(&sealed)
		if len(sealed) == 0 || strings.Contains(string(sealed), first.Body["key"].(string)) {
			t.Fatal("the stored answer is not sealed")
		}
		other := apiCall(t, ts.URL, "POST", "/v2/manage/keys", h, `{"name":"Another"}`)
		if other.Status != 409 || other.Body["error_code"] != "ERROR_CONFLICT" {
			t.Fatalf("same key, other body: %d %s", other.Status, other.Raw)
		}
		h2 := with(bearer(secret), "Idempotency-Key", "create-shop-2")
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() { apiCall(t, ts.URL, "POST", "/v2/manage/keys", h2, `{"name":"Parallel"}`) })
		}
		wg.Wait()
		if n, _ := ts.Store.Keys.Count(t.Context(), demo.ID); n != 2 {
			t.Fatalf("%d keys after simultaneous retries, want 2", n)
		}
		// Another management key of the program reusing the value gets
		// 409, not the first answer with its secret.
		_, sibling := managementKey(t, ts, demo.ID, "Sibling", managementkeys.ScopeKeysWrite)
		if r := apiCall(t, ts.URL, "POST", "/v2/manage/keys", with(bearer(sibling), "Idempotency-Key", "create-shop-1"), `{"name":"Shop"}`); r.Status != 409 || strings.Contains(r.Raw, first.Body["key"].(string)) {
			t.Fatalf("another management key's replay: %d %s", r.Status, r.Raw)
		}
		// Keys are per program: another program's same Idempotency-Key
		// is its own.
		_, otherSecret := managementKey(t, ts, ts.Other.Program.ID, "Writer", managementkeys.ScopeKeysWrite)
		r := apiCall(t, ts.URL, "POST", "/v2/manage/keys", with(bearer(otherSecret), "Idempotency-Key", "create-shop-1"), `{"name":"Shop"}`)
		if r.Status != 201 || r.Raw == first.Raw {
			t.Fatalf("another program's same Idempotency-Key: %d %s", r.Status, r.Raw)
		}
	})
}

// Failed management authentications spend the address's failed-auth
// budget, shared with the REST API: past it even a valid key is 429.
func TestManageAPIFailedAuthCountsTowardTheAddressLimit(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withAPIConfig(func(c *config.API) { c.FailedAuthPerMinute = 3 }))
	_, secret := managementKey(t, ts, ts.Demo.Program.ID, "Reader", managementkeys.ScopeKeysRead)
	for range 3 {
		if r := apiCall(t, ts.URL, "GET", "/v2/manage/keys", bearer(managementkeys.NewSecret()), ""); r.Status != 401 {
			t.Fatalf("unknown key: %d", r.Status)
		}
	}
	if r := apiCall(t, ts.URL, "GET", "/v2/manage/keys", bearer(secret), ""); r.Status != 429 {
		t.Fatalf("valid key past the failed-auth budget: %d, want 429", r.Status)
	}
}

// A management key revoked through one server is refused by a second
// server on the same PostgreSQL database, although it had it cached.
func TestManageKeyRevocationReachesEveryInstance(t *testing.T) {
	db := modeltest.Postgres(t)
	a := newTestServer(t, db)
	b := newInstance(t, db)
	demo := a.Demo.Program
	mk, secret := managementKey(t, a, demo.ID, "Bot", managementkeys.ScopeKeysRead)
	onB := func() int { return apiCall(t, b.URL, "GET", "/v2/manage/keys", bearer(secret), "").Status }
	if onB() != 200 {
		t.Fatal("instance B refuses a live management key")
	}
	if err := a.Store.DB.Exec(`UPDATE management_keys SET revoked_at = ? WHERE id = ?`, time.Now(), mk.ID).Error; err != nil {
		t.Fatal(err)
	}
	if onB() != 200 {
		t.Fatal("instance B does not cache management keys; this test would prove nothing")
	}
	if err := a.Store.DB.Exec(`UPDATE management_keys SET revoked_at = NULL WHERE id = ?`, mk.ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.ManagementKeys.Revoke(t.Context(), demo.ID, audit.Actor{}, mk.ID); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, time.Second, "instance B refuses the revoked management key", func() bool { return onB() == 401 })
	t.Logf("instance B refused the management key %s after the commit", took)
}

// The OpenAPI document declares each management operation's scope
// (x-required-scope), equal to the scope the routes enforce (manageRoutes,
// which TestManageAPIRoutesScopesTenantsAndDeadKeys checks against the
// server), and every management route is in the table.
func TestOpenAPIScopesMatchTheManagementRoutes(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	doc := apiCall(t, ts.URL, "GET", "/v2/openapi.yaml", nil, "").Raw
	declared := map[string]string{}
	path, method := "", ""
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":"):
			path = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     ") && strings.HasSuffix(line, ":"):
			method = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case strings.HasPrefix(line, "      x-required-scope: "):
			declared[method+" "+path] = strings.TrimPrefix(line, "      x-required-scope: ")
		}
	}
	enforced := map[string]string{}
	for _, r := range manageRoutes {
		p, _, _ := strings.Cut(r.path, "?")
		p = strings.NewReplacer("{id}", "{identifier}", "{inactive}", "{identifier}").Replace(p)
		enforced[strings.ToLower(r.method)+" "+p] = string(r.scope)
	}
	if fmt.Sprint(declared) != fmt.Sprint(enforced) {
		t.Fatalf("openapi.yaml declares scopes\n%v\nthe routes enforce\n%v", declared, enforced)
	}
}

// The console's Create management key: password first (nothing is made
// without it), then the form; bad input is shown in the form and makes
// nothing; the confirmation is spent by the create.
func TestManagementKeysConsoleCreate(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withReauthWindow(0))
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	count := func() int {
		l, err := ts.Store.ManagementKeys.List(t.Context(), ts.Demo.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	form := url.Values{"name": {"CI"}, "scopes": {"keys:read", "keys:write"}, "expiry": {"30d"}}
	resp, body := c.htmx(http.MethodPost, "/general/management-keys", form)
	if !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || count() != 0 || strings.Contains(body, "kdm_") {
		t.Fatalf("create without the password: %d %q %s", resp.StatusCode, resp.Header.Get("HX-Trigger"), body)
	}
	reauth(t, c, modeltest.Password)
	resp, body = c.htmx(http.MethodPost, "/general/management-keys", url.Values{"name": {"CI"}, "expiry": {"30d"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Choose at least one scope.") || count() != 0 {
		t.Fatalf("no scopes: %d %s", resp.StatusCode, body)
	}
	resp, body = c.htmx(http.MethodPost, "/general/management-keys", form)
	doc := parseHTML(t, body)
	secret := strings.TrimSpace(doc.Find("#new-management-key-secret").Text())
	if resp.StatusCode != http.StatusOK || managementkeys.CheckFormat(secret) != nil || count() != 1 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	// The one-time confirmation went with the create.
	resp, _ = c.htmx(http.MethodPost, "/general/management-keys", form)
	if !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || count() != 1 {
		t.Fatalf("second create on one confirmation: %q, %d keys", resp.Header.Get("HX-Trigger"), count())
	}
	// The page lists it without its secret, ever.
	_, page := c.get("/general/management-keys")
	if strings.Contains(page, secret) || !strings.Contains(page, "Keys: read, Keys: write") {
		t.Fatal("the page shows the secret or lacks the row")
	}
	// Limited admins see neither the nav entry nor the page.
	limited := ts.loggedIn(t, ts.Demo.Limited.Email)
	if resp, body := limited.get("/general/management-keys"); resp.StatusCode == http.StatusOK || strings.Contains(body, "Management keys") {
		t.Fatalf("a limited admin reaches the page: %d", resp.StatusCode)
	}
}

// Each management key has its own budget of calls a minute
// (KEYDESK_MANAGE_LIMIT), reads and writes alike: of simultaneous calls
// through the router exactly the budget pass, the rest are 429
// RATE_LIMIT_EXCEEDED with Retry-After; a call refused for its scope
// spends nothing; another key of the same program is not slowed.
func TestManageAPIRateLimitPerKey(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const limit = 5
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.ManagePerMinute = limit }))
		demo := ts.Demo.Program
		_, busy := managementKey(t, ts, demo.ID, "Busy", managementkeys.ScopeKeysRead, managementkeys.ScopeKeysWrite)
		_, reader := managementKey(t, ts, demo.ID, "Reader", managementkeys.ScopeKeysRead)
		_, other := managementKey(t, ts, demo.ID, "Other", managementkeys.ScopeKeysRead)

		statuses := make([]apiResponse, 4*limit)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range statuses {
			wg.Go(func() {
				<-start
				statuses[i] = apiCall(t, ts.URL, "GET", "/v2/manage/keys", bearer(busy), "")
			})
		}
		close(start)
		wg.Wait()
		passed, limited := 0, 0
		for _, r := range statuses {
			switch {
			case r.Status == 200:
				passed++
			case r.Status == 429 && r.Body["error_code"] == "RATE_LIMIT_EXCEEDED":
				limited++
				if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
					t.Errorf("Retry-After = %q, want 1..60 seconds", r.Header.Get("Retry-After"))
				}
			default:
				t.Errorf("unexpected answer %d %s", r.Status, r.Raw)
			}
		}
		if passed != limit || limited != 3*limit {
			t.Fatalf("%d simultaneous calls: %d passed, %d limited; want %d and %d", len(statuses), passed, limited, limit, 3*limit)
		}
		// Writes spend the same budget: spent, so refused, and nothing made.
		before, err := ts.Store.Keys.Count(t.Context(), demo.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r := apiCall(t, ts.URL, "POST", "/v2/manage/keys", bearer(busy), `{"name":"Over budget"}`); r.Status != 429 {
			t.Fatalf("a write past the budget: %d %s", r.Status, r.Raw)
		}
		if n, err := ts.Store.Keys.Count(t.Context(), demo.ID); err != nil || n != before {
			t.Fatalf("keys after a refused write: %d, want %d (%v)", n, before, err)
		}
		// Calls refused for their scope spend nothing.
		for range 2 * limit {
			if r := apiCall(t, ts.URL, "POST", "/v2/manage/keys", bearer(reader), `{"name":"No scope"}`); r.Status != 403 {
				t.Fatalf("a write without the scope: %d %s", r.Status, r.Raw)
			}
		}
		for i := range limit {
			if r := apiCall(t, ts.URL, "GET", "/v2/manage/keys", bearer(reader), ""); r.Status != 200 {
				t.Fatalf("read %d after refused writes: %d %s", i+1, r.Status, r.Raw)
			}
		}
		// Another key of the program has its own budget.
		if r := apiCall(t, ts.URL, "GET", "/v2/manage/keys", bearer(other), ""); r.Status != 200 {
			t.Fatalf("another management key: %d %s", r.Status, r.Raw)
		}
	})
}
