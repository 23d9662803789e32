package web_test

import (
	"bufio"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

func restrict(t *testing.T, ts *testServer, programID int64, k keys.APIKey, perms []string, ips string) {
	t.Helper()
	if _, err := ts.Store.Keys.Update(t.Context(), programID, audit.Actor{}, k.ID, keys.KeyInput{Name: k.Name,
		Access: &keys.AccessInput{Restricted: perms != nil, Permissions: perms, AllowedIPs: ips}}); err != nil {
		t.Fatal(err)
	}
	ts.App.WaitRevocations()
}

func assertForbidden(t *testing.T, name string, r apiResponse, mention string) {
	t.Helper()
	if r.Status != 403 || r.Body["error_code"] != "ERROR_FORBIDDEN" || !strings.Contains(r.Body["reason"].(string), mention) {
		t.Errorf("%s: %d %s, want 403 ERROR_FORBIDDEN naming %q", name, r.Status, r.Raw, mention)
	}
}

// Every 401/403 of the lifecycle through the real router: expired key,
// old secret after the overlap, missing permission (REST and UI token),
// another address; and the API answer changing back when access widens.
func TestAPIKeyLifecycleRefusals(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		pid := ts.Demo.Program.ID
		partner := ts.Demo.Program.PartnerID
		k, secret := apiKey(t, ts, pid, "Shop")

		// Permissions: each route needs its own; the reason names it.
		restrict(t, ts, pid, k, []string{"members:read"}, "")
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/members", restHeaders(partner, secret), ""); r.Status != 200 {
			t.Fatalf("members:read key listing members: %d %s", r.Status, r.Raw)
		}
		assertForbidden(t, "program without program:read", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(partner, secret), ""), "Program: read")
		h := restHeaders(partner, secret)
		h["Content-Type"] = "application/json"
		assertForbidden(t, "create without members:write", apiCall(t, ts.URL, "POST", "/v2/loyalty/members", h, `{"member_id":"m-9","email":"a@example.com"}`), "Members: write")
		restrict(t, ts, pid, k, []string{}, "")
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": k.Identifier, "member_id": "m-1", "exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		assertForbidden(t, "UI token without members:read", apiCall(t, ts.URL, "GET", "/v2/loyalty/ui/member", map[string]string{"partner-id": partner, "Authorization": "Bearer " + tok}, ""), "Members: read")

		// Addresses: the test client comes from 127.0.0.1.
		restrict(t, ts, pid, k, nil, "203.0.113.0/24")
		assertForbidden(t, "other address", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(partner, secret), ""), "IP address")
		restrict(t, ts, pid, k, nil, "127.0.0.1\n::1")
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(partner, secret), ""); r.Status != 200 {
			t.Fatalf("allowed address: %d %s", r.Status, r.Raw)
		}

		// Roll with overlap: both work; Expire old key now: the old is 401.
		rolled, err := ts.Store.Keys.Roll(t.Context(), pid, audit.Actor{}, k.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ts.App.WaitRevocations()
		for name, s := range map[string]string{"old": secret, "new": rolled.Secret} {
			if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(partner, s), ""); r.Status != 200 || r.Body["data"].(map[string]any)["api_key"].(map[string]any)["identifier"] != k.Identifier {
				t.Fatalf("%s secret during the overlap: %d %s", name, r.Status, r.Raw)
			}
		}
		if _, err := ts.Store.Keys.ExpireOldKey(t.Context(), pid, audit.Actor{}, k.ID); err != nil {
			t.Fatal(err)
		}
		ts.App.WaitRevocations()
		waitUntil(t, func() bool {
			return apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(partner, secret), "").Status == 401
		})
		assertUnauthorized(t, "old secret after its end", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(partner, secret), ""))

		// Expired: 401 like an inactive key, the same body.
		exp, err := ts.Store.Keys.Generate(t.Context(), pid, audit.Actor{}, keys.KeyInput{Name: "Short", Expiry: keys.Expiry7Days})
		if err != nil {
			t.Fatal(err)
		}
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(partner, exp.Secret), ""); r.Status != 200 {
			t.Fatalf("fresh expiring key: %d", r.Status)
		}
		later := time.Now().AddDate(0, 0, 8)
		ts.Store.SetClock(func() time.Time { return later })
		assertUnauthorized(t, "expired key", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(partner, exp.Secret), ""))
	})
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 2s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// KEYDESK_TRUSTED_PROXIES: X-Forwarded-For is believed only from a
// trusted proxy, and then its right-most untrusted hop is the client.
func TestTrustedProxiesDecideTheClientAddress(t *testing.T) {
	db := modeltest.SQLite(t)
	plain := newTestServer(t, db)
	k, secret := apiKey(t, plain, plain.Demo.Program.ID, "Shop")
	restrict(t, plain, plain.Demo.Program.ID, k, nil, "198.51.100.7")
	h := restHeaders(plain.Demo.Program.PartnerID, secret)
	h["X-Forwarded-For"] = "198.51.100.7"
	assertForbidden(t, "spoofed header without trusted proxies", apiCall(t, plain.URL, "GET", "/v2/loyalty/program", h, ""), "IP address")

	proxied := newTestServer(t, modeltest.SQLite(t), func(c *config.Options) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	k, secret = apiKey(t, proxied, proxied.Demo.Program.ID, "Shop")
	restrict(t, proxied, proxied.Demo.Program.ID, k, nil, "198.51.100.7")
	h = restHeaders(proxied.Demo.Program.PartnerID, secret)
	h["X-Forwarded-For"] = "198.51.100.7"
	if r := apiCall(t, proxied.URL, "GET", "/v2/loyalty/program", h, ""); r.Status != 200 {
		t.Fatalf("client behind a trusted proxy: %d %s", r.Status, r.Raw)
	}
	h["X-Forwarded-For"] = "198.51.100.7, 203.0.113.9"
	assertForbidden(t, "client prepending an allowed address", apiCall(t, proxied.URL, "GET", "/v2/loyalty/program", h, ""), "IP address")
}

// The OpenAPI document declares each operation's permission
// (x-keydesk-permission) and the routes enforce exactly that: a key
// restricted to everything but it is refused naming it; with only it, the
// call is not refused for permissions.
func TestOpenAPIPermissionsMatchTheRoutes(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	doc := apiCall(t, ts.URL, "GET", "/v2/openapi.yaml", nil, "").Raw
	perms := openAPIPermissions(doc)
	if len(perms) != 5 {
		t.Fatalf("permissions declared for %d operations: %v", len(perms), perms)
	}
	pid, partner := ts.Demo.Program.ID, ts.Demo.Program.PartnerID
	k, secret := apiKey(t, ts, pid, "Probe")
	for op, perm := range perms {
		method, path, _ := strings.Cut(op, " ")
		path = strings.ReplaceAll(path, "{member_id}", "m-1")
		var others []string
		for _, p := range keys.AllPermissions {
			if string(p) != perm {
				others = append(others, string(p))
			}
		}
		call := func() apiResponse {
			if strings.Contains(path, "/ui/") {
				tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": k.Identifier, "member_id": "m-1", "exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(secret))
				return apiCall(t, ts.URL, strings.ToUpper(method), path, map[string]string{"partner-id": partner, "Authorization": "Bearer " + tok}, "")
			}
			h := restHeaders(partner, secret)
			h["Content-Type"] = "application/json"
			return apiCall(t, ts.URL, strings.ToUpper(method), path, h, `{"member_id":"m-`+perm[:3]+`","email":"p@example.com"}`)
		}
		restrict(t, ts, pid, k, others, "")
		assertForbidden(t, op+" without "+perm, call(), keys.Permission(perm).Label())
		restrict(t, ts, pid, k, []string{perm}, "")
		if r := call(); r.Status == 403 {
			t.Errorf("%s with only %s: 403 %s", op, perm, r.Raw)
		}
	}
}

// openAPIPermissions maps "method path" to its x-keydesk-permission.
func openAPIPermissions(doc string) map[string]string {
	out := map[string]string{}
	path, method := "", ""
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":"):
			path = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     ") && strings.HasSuffix(line, ":"):
			method = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case strings.HasPrefix(line, "      x-keydesk-permission: "):
			out[method+" "+path] = strings.TrimPrefix(line, "      x-keydesk-permission: ")
		}
	}
	return out
}
