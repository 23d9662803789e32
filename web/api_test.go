package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// apiResponse is an API answer with its JSON body decoded.
type apiResponse struct {
	Status int
	Header http.Header
	Raw    string
	Body   map[string]any
}

// apiCall sends a request to the API with the given headers and JSON body.
func apiCall(t *testing.T, baseURL, method, path string, headers map[string]string, body string) apiResponse {
	t.Helper()
	return apiCallWith(t, http.DefaultClient, baseURL, method, path, headers, body)
}

// apiCallWith is apiCall through a given client (e.g. one bound to another
// local address).
func apiCallWith(t *testing.T, client *http.Client, baseURL, method, path string, headers map[string]string, body string) apiResponse {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, baseURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := apiResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("%s %s: invalid JSON %q: %v", method, path, raw, err)
		}
	}
	return out
}

func restHeaders(partnerID, key string) map[string]string {
	return map[string]string{"partner-id": partnerID, "api-key": key}
}

// apiKey generates a key in the program and returns it with its secret.
func apiKey(t *testing.T, ts *testServer, programID int64, name string) (keys.APIKey, string) {
	t.Helper()
	k, err := ts.Store.Keys.Generate(t.Context(), programID, audit.Actor{}, keys.KeyInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return *k, secretOf(t, ts, *k)
}

func defaultKey(t *testing.T, ts *testServer, programID int64) (keys.APIKey, string) {
	t.Helper()
	k, err := ts.Store.Keys.Default(t.Context(), programID)
	if err != nil {
		t.Fatal(err)
	}
	return *k, secretOf(t, ts, *k)
}

const wantUnauthorized = `{"error_code":"ERROR_UNAUTHORIZED","reason":"Authentication failed: check the partner-id and the API key or token.","success":false}`

// assertUnauthorized checks the one 401 answer: same body whatever was wrong.
func assertUnauthorized(t *testing.T, name string, r apiResponse) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401 (%s)", name, r.Status, r.Raw)
		return
	}
	canonical, _ := json.Marshal(r.Body)
	if string(canonical) != wantUnauthorized {
		t.Errorf("%s: body %s, want %s", name, canonical, wantUnauthorized)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", name, r.Header.Get("Cache-Control"))
	}
}

func TestAPIRefusesEveryBadCredentialAlike(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo, other := ts.Demo.Program, ts.Other.Program
		_, secret := apiKey(t, ts, demo.ID, "Shop")
		inactive, inactiveSecret := apiKey(t, ts, demo.ID, "Old")
		deleted, deletedSecret := apiKey(t, ts, demo.ID, "Gone")
		_, otherSecret := apiKey(t, ts, other.ID, "Theirs")
		for _, k := range []keys.APIKey{inactive, deleted} {
			if _, err := ts.Store.Keys.SetActive(t.Context(), demo.ID, audit.Actor{}, k.ID, false); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ts.Store.Keys.Delete(t.Context(), demo.ID, audit.Actor{}, deleted.ID); err != nil {
			t.Fatal(err)
		}
		typo := []byte(secret)
		typo[7] ^= 1

		cases := map[string]map[string]string{
			"no headers":               {},
			"no api-key":               {"partner-id": demo.PartnerID},
			"no partner-id":            {"api-key": secret},
			"malformed key":            restHeaders(demo.PartnerID, "kd_short"),
			"checksum fails":           restHeaders(demo.PartnerID, string(typo)),
			"unknown key":              restHeaders(demo.PartnerID, keys.NewAPIKeyString()),
			"inactive key":             restHeaders(demo.PartnerID, inactiveSecret),
			"deleted key":              restHeaders(demo.PartnerID, deletedSecret),
			"other program's key":      restHeaders(demo.PartnerID, otherSecret),
			"key with other's partner": restHeaders(other.PartnerID, secret),
			"unknown partner-id":       restHeaders("0123456789", secret),
			// Not strings.ToUpper: a partner ID of digits only (about 1
			// in 100) stays valid, and the call passed.
			"malformed partner-id":    restHeaders("G"+demo.PartnerID[1:], secret),
			"key in the wrong header": {"partner-id": demo.PartnerID, "Authorization": "Bearer " + secret},
		}
		routes := [][2]string{{"GET", "/v2/loyalty/program"}, {"GET", "/v2/loyalty/members"}, {"GET", "/v2/loyalty/members/m1"}, {"POST", "/v2/loyalty/members"}}
		for name, h := range cases {
			for _, rt := range routes {
				body := ""
				if rt[0] == "POST" {
					body = `{"member_id":"m1","email":"m1@example.com"}`
				}
				assertUnauthorized(t, name+" "+rt[0]+" "+rt[1], apiCall(t, ts.URL, rt[0], rt[1], h, body))
			}
		}
		// Nothing was created by the refused writes.
		if _, err := ts.Store.Members.ByMemberID(t.Context(), demo.ID, "m1"); err == nil {
			t.Fatal("a refused POST created a member")
		}
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""); r.Status != http.StatusOK {
			t.Fatalf("the valid key was refused: %d %s", r.Status, r.Raw)
		}
	})
}

func TestAPIProgramAndTheDefaultKey(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Shopify sync")
		r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), "")
		data, _ := r.Body["data"].(map[string]any)
		key, _ := data["api_key"].(map[string]any)
		if r.Status != 200 || r.Body["success"] != true || data["program_name"] != "Demo Store" || data["partner_id"] != demo.PartnerID ||
			key["identifier"] != k.Identifier || key["name"] != "Shopify sync" || key["is_default"] != false {
			t.Fatalf("program: %d %s", r.Status, r.Raw)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control = %q", r.Header.Get("Cache-Control"))
		}
		if strings.Contains(r.Raw, secret) {
			t.Fatal("the response echoes the key")
		}

		dk, dsecret := defaultKey(t, ts, demo.ID)
		r = apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, dsecret), "")
		data, _ = r.Body["data"].(map[string]any)
		key, _ = data["api_key"].(map[string]any)
		if r.Status != 200 || key["identifier"] != dk.Identifier || key["is_default"] != true {
			t.Fatalf("legacy default key: %d %s", r.Status, r.Raw)
		}
		// The default key is a key of its own program only.
		assertUnauthorized(t, "default key, other program", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(ts.Other.Program.PartnerID, dsecret), ""))
	})
}

func TestAPIMembers(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo, other := ts.Demo.Program, ts.Other.Program
		_, secret := apiKey(t, ts, demo.ID, "Shop")
		_, otherSecret := apiKey(t, ts, other.ID, "Theirs")
		h := restHeaders(demo.PartnerID, secret)

		r := apiCall(t, ts.URL, "POST", "/v2/loyalty/members", h, `{"member_id":"ana-1","email":"ana@example.com","first_name":"Ana","last_name":"Silva","phone":"ignored"}`)
		data, _ := r.Body["data"].(map[string]any)
		if r.Status != http.StatusCreated || data["member_id"] != "ana-1" || data["email"] != "ana@example.com" || data["first_name"] != "Ana" || data["last_name"] != "Silva" {
			t.Fatalf("create: %d %s", r.Status, r.Raw)
		}
		r = apiCall(t, ts.URL, "GET", "/v2/loyalty/members/ana-1", h, "")
		if data, _ := r.Body["data"].(map[string]any); r.Status != 200 || data["email"] != "ana@example.com" {
			t.Fatalf("get: %d %s", r.Status, r.Raw)
		}

		errorCases := []struct {
			name, body, contentType string
			status                  int
			code                    string
		}{
			{"duplicate", `{"member_id":"ana-1","email":"x@example.com"}`, "", 409, "ERROR_CONFLICT"},
			{"invalid fields", `{"member_id":"has space","email":"nope"}`, "", 422, "ERROR_UNPROCESSABLE_ENTITY"},
			{"missing fields", `{}`, "", 422, "ERROR_UNPROCESSABLE_ENTITY"},
			{"not JSON", `{"member_id":`, "", 400, "ERROR_BAD_REQUEST"},
			{"wrong type", `{"member_id":42,"email":"a@example.com"}`, "", 400, "ERROR_BAD_REQUEST"},
			{"array", `[1,2]`, "", 400, "ERROR_BAD_REQUEST"},
			{"two objects", `{"member_id":"b","email":"b@example.com"}{}`, "", 400, "ERROR_BAD_REQUEST"},
			{"form body", `member_id=b&email=b@example.com`, "application/x-www-form-urlencoded", 415, "ERROR_UNSUPPORTED_MEDIA_TYPE"},
		}
		for _, c := range errorCases {
			hh := map[string]string{"partner-id": demo.PartnerID, "api-key": secret}
			if c.contentType != "" {
				hh["Content-Type"] = c.contentType
			}
			r := apiCall(t, ts.URL, "POST", "/v2/loyalty/members", hh, c.body)
			if r.Status != c.status || r.Body["success"] != false || r.Body["error_code"] != c.code || r.Body["reason"] == "" {
				t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Raw, c.status, c.code)
			}
		}
		r = apiCall(t, ts.URL, "POST", "/v2/loyalty/members", h, `{"member_id":"has space","email":"nope"}`)
		if fields, _ := r.Body["errors"].(map[string]any); fields["member_id"] == nil || fields["email"] == nil {
			t.Fatalf("422 does not say which fields: %s", r.Raw)
		}

		// Tenant isolation: the other program neither sees nor lists it.
		oh := restHeaders(other.PartnerID, otherSecret)
		r = apiCall(t, ts.URL, "GET", "/v2/loyalty/members/ana-1", oh, "")
		if r.Status != 404 || r.Body["error_code"] != "ERROR_NOT_FOUND" {
			t.Fatalf("other program reads the member: %d %s", r.Status, r.Raw)
		}
		r = apiCall(t, ts.URL, "GET", "/v2/loyalty/members", oh, "")
		if data, _ := r.Body["data"].(map[string]any); r.Status != 200 || len(data["members"].([]any)) != 0 {
			t.Fatalf("other program lists members: %s", r.Raw)
		}

		// Pagination: 5 members, pages of 2.
		for i := range 4 {
			if r := apiCall(t, ts.URL, "POST", "/v2/loyalty/members", h, fmt.Sprintf(`{"member_id":"m%d","email":"m%d@example.com"}`, i, i)); r.Status != 201 {
				t.Fatalf("create m%d: %s", i, r.Raw)
			}
		}
		var ids []string
		next := ""
		for pages := 1; ; pages++ {
			path := "/v2/loyalty/members?limit=2"
			if next != "" {
				path += "&cursor=" + url.QueryEscape(next)
			}
			r := apiCall(t, ts.URL, "GET", path, h, "")
			data, _ := r.Body["data"].(map[string]any)
			if r.Status != 200 || data["limit"] != float64(2) {
				t.Fatalf("page %d: %d %s", pages, r.Status, r.Raw)
			}
			for _, m := range data["members"].([]any) {
				ids = append(ids, m.(map[string]any)["member_id"].(string))
			}
			if data["next_cursor"] == nil {
				if pages != 3 {
					t.Fatalf("%d pages, want 3", pages)
				}
				break
			}
			next = data["next_cursor"].(string)
		}
		if got := strings.Join(ids, ","); got != "ana-1,m0,m1,m2,m3" {
			t.Fatalf("listed %s", got)
		}
		for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=bogus"} {
			if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/members?"+q, h, ""); r.Status != 400 || r.Body["error_code"] != "ERROR_BAD_REQUEST" {
				t.Errorf("?%s: %d %s", q, r.Status, r.Raw)
			}
		}
	})
}

// Neither an API key nor a token ever reaches the server log; the key's
// public identifier does.
func TestAPINeverLogsSecrets(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	demo := ts.Demo.Program
	k, secret := apiKey(t, ts, demo.ID, "Shop")
	typo := []byte(secret)
	typo[5] ^= 1
	token := mintJWT(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": k.Identifier, "member_id": "m1", "exp": time.Now().Add(time.Minute).Unix()})

	apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), "")
	apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, string(typo)), "")
	apiCall(t, ts.URL, "POST", "/v2/loyalty/members", restHeaders(demo.PartnerID, secret), `{"member_id":`+`"`+secret+`"}`)
	apiCall(t, ts.URL, "GET", "/v2/loyalty/members/"+secret, restHeaders(demo.PartnerID, secret), "")
	apiCall(t, ts.URL, "GET", "/v2/loyalty/ui/member", map[string]string{"partner-id": demo.PartnerID, "Authorization": "Bearer " + token}, "")
	apiCall(t, ts.URL, "GET", "/v2/loyalty/ui/member", map[string]string{"partner-id": demo.PartnerID, "Authorization": "Bearer " + token + "x"}, "")
	apiCall(t, ts.URL, "GET", "/v2/loyalty/nowhere?api-key="+secret, restHeaders(demo.PartnerID, secret), "")

	logs := ts.Logs.String()
	for name, s := range map[string]string{"key": secret, "mistyped key": string(typo), "token": token, "token signature": token[strings.LastIndexByte(token, '.')+1:]} {
		if strings.Contains(logs, s) {
			t.Errorf("the %s appears in the log", name)
		}
	}
	if !strings.Contains(logs, "key_identifier="+k.Identifier) {
		t.Error("the calling key's identifier is not logged")
	}
}

// An invalid API setting stops the server from starting.
func TestAPIConfigFromEnv(t *testing.T) {
	if _, err := parseConfig("KEYDESK_API_READ_LIMIT", "lots"); err == nil || !strings.Contains(err.Error(), "KEYDESK_API_READ_LIMIT") {
		t.Fatalf("bad read limit: %v", err)
	}
	if _, err := parseConfig("KEYDESK_API_READ_LIMIT", "0", "KEYDESK_API_KEY_CACHE_TTL", "1h"); err == nil {
		t.Fatal("a cache TTL of an hour was accepted")
	}
	opts, err := parseConfig("KEYDESK_API_READ_LIMIT", "0", "KEYDESK_API_KEY_CACHE_TTL", "10s", "KEYDESK_API_LAST_USED_INTERVAL", "30s")
	cfg := opts.API
	if err != nil || cfg.ReadPerMinute != 0 || cfg.WritePerMinute != 120 || cfg.KeyCacheTTL != 10*time.Second || cfg.LastUsedInterval != 30*time.Second {
		t.Fatalf("cfg = %+v, %v", cfg, err)
	}
}
