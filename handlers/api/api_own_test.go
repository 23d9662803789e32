package api

// Tests of the API package's own handlers and middleware, on a small Echo
// router built here (httptest) over the real stores (modeltest), in the
// order web/routes_api.go chains them: authentication, permission, rate
// limit, handler. The router tests in web/ cover the full server.

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

// countedUsage records what the API counted against keys.
type countedUsage struct {
	mu       sync.Mutex
	outcomes []string
}

func (u *countedUsage) Count(keyID, programID int64, outcome, ip, userAgent string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.outcomes = append(u.outcomes, outcome)
}

func (u *countedUsage) has(outcome string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Contains(u.outcomes, outcome)
}

// apiFixture is the API over one database, with a program, a full key,
// a restricted key (members:read only, from 203.0.113.0/24) and another
// program's key.
type apiFixture struct {
	e          *echo.Echo
	usage      *countedUsage
	partnerID  string
	otherID    string
	full       *keys.APIKey
	restricted *keys.APIKey
	other      *keys.APIKey
	handled    error // the last error the router's error handler got
}

const failedAuthPerMinute = 3

// newAPIFixture builds the fixture; each key may make perMinute calls a
// minute in each rate category.
func newAPIFixture(t *testing.T, db modeltest.Database, perMinute int) *apiFixture {
	t.Helper()
	s := modeltest.NewStores(t, db)
	demo := modeltest.Seed(t, s, "Demo")
	other := modeltest.Seed(t, s, "Other")
	key := func(programID int64, name string, access *keys.AccessInput) *keys.APIKey {
		k, err := s.Keys.Generate(t.Context(), programID, audit.Actor{}, keys.KeyInput{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		secret := k.Secret
		if access != nil {
			if k, err = s.Keys.Update(t.Context(), programID, audit.Actor{}, k.ID, keys.KeyInput{Name: name, Access: access}); err != nil {
				t.Fatal(err)
			}
			k.Secret = secret
		}
		return k
	}
	f := &apiFixture{
		usage:     &countedUsage{},
		partnerID: demo.Program.PartnerID,
		otherID:   other.Program.PartnerID,
		full:      key(demo.Program.ID, "Full", nil),
		restricted: key(demo.Program.ID, "Reader", &keys.AccessInput{
			Restricted: true, Permissions: []string{string(keys.PermMembersRead)}, AllowedIPs: "203.0.113.0/24"}),
		other: key(other.Program.ID, "Theirs", nil),
	}
	opts := apiauth.DefaultVerifierOptions()
	verifier := apiauth.NewVerifier(s.Keys, apiauth.NewUsageRecorder(s.Keys, s.Clock), opts, s.Clock)
	limiter := apiauth.NewRateLimiter(apiauth.RateLimits{ReadPerMinute: perMinute, WritePerMinute: perMinute}, s.Clock)
	failures := apiauth.NewFailedAuthLimiter(failedAuthPerMinute, 0, s.Clock)
	a := New(Deps{Members: s.Members, Verifier: verifier, Limiter: limiter, Failures: failures, Usage: f.usage})

	e := echo.New()
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		f.handled = err
		status := http.StatusInternalServerError
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status = he.Code
		}
		_ = WriteError(c, status, http.StatusText(status))
	}
	chain := func(h echo.HandlerFunc, mw ...echo.MiddlewareFunc) echo.HandlerFunc {
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		return h
	}
	g := e.Group("/v2/loyalty", middleware.BodyLimit("1K"))
	g.GET("/program", chain(a.Program, a.RequireAPIKey, a.Require(keys.PermProgramRead), a.RateLimit(apiauth.RateRead)))
	g.GET("/members", chain(a.ListMembers, a.RequireAPIKey, a.Require(keys.PermMembersRead), a.RateLimit(apiauth.RateRead)))
	g.POST("/members", chain(a.CreateMember, a.RequireAPIKey, a.Require(keys.PermMembersWrite), a.RateLimit(apiauth.RateWrite)))
	g.GET("/members/:member_id", chain(a.GetMember, a.RequireAPIKey, a.Require(keys.PermMembersRead), a.RateLimit(apiauth.RateRead)))
	g.GET("/ui/member", chain(a.UIMember, a.RequireUIToken, a.Require(keys.PermMembersRead), a.RateLimit(apiauth.RateRead)))
	f.e = e
	return f
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// call sends one request from addr (the client address) with headers.
func (f *apiFixture) call(t *testing.T, method, path, addr string, headers map[string]string, body string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = addr + ":40000"
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &a.body); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, a.raw)
	}
	return a
}

func (f *apiFixture) keyHeaders(k *keys.APIKey) map[string]string {
	return map[string]string{"partner-id": f.partnerID, "api-key": k.Secret}
}

// wantError checks the API's error body: exactly success false, the code
// and the reason (and errors when the caller expects them).
func wantError(t *testing.T, a answer, status int, code, reason string) {
	t.Helper()
	if a.status != status || a.body["success"] != false || a.body["error_code"] != code {
		t.Fatalf("status %d body %s, want %d %s", a.status, a.raw, status, code)
	}
	if reason != "" && a.body["reason"] != reason {
		t.Errorf("reason %q, want %q", a.body["reason"], reason)
	}
	for k := range a.body {
		if k != "success" && k != "error_code" && k != "reason" && k != "errors" {
			t.Errorf("error body has the member %q: %s", k, a.raw)
		}
	}
}

// TestWriteErrorBody: the error handler's body for every status is
// {"success": false, "error_code": "ERROR_<STATUS TEXT>", "reason"}.
func TestWriteErrorBody(t *testing.T) {
	for status, code := range map[int]string{
		http.StatusBadRequest:            "ERROR_BAD_REQUEST",
		http.StatusNotFound:              "ERROR_NOT_FOUND",
		http.StatusMethodNotAllowed:      "ERROR_METHOD_NOT_ALLOWED",
		http.StatusRequestEntityTooLarge: "ERROR_REQUEST_ENTITY_TOO_LARGE",
		http.StatusUnprocessableEntity:   "ERROR_UNPROCESSABLE_ENTITY",
		http.StatusInternalServerError:   "ERROR_INTERNAL_SERVER_ERROR",
		http.StatusServiceUnavailable:    "ERROR_SERVICE_UNAVAILABLE",
	} {
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/v2/x", nil), rec)
		if err := WriteError(c, status, "Because."); err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if rec.Code != status || len(body) != 3 || body["success"] != false || body["error_code"] != code || body["reason"] != "Because." {
			t.Errorf("WriteError(%d): %d %s", status, rec.Code, rec.Body.String())
		}
		if ct := rec.Header().Get(echo.HeaderContentType); !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
			t.Errorf("WriteError(%d): Content-Type %q", status, ct)
		}
	}
}

// TestBearerToken: the Authorization scheme is matched without regard to
// case, the token is trimmed, and anything else is no token.
func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc.def.ghi": "abc.def.ghi",
		"bearer abc":         "abc",
		"BEARER   abc  ":     "abc",
		"Bearer ":            "",
		"Bearer     ":        "",
		"Bearer":             "",
		"Bearerabc":          "",
		"Basic dXNlcjpwYXNz": "",
		"":                   "",
		"Token abc":          "",
		" Bearer abc":        "",
		"Bearer\tabc":        "",
		"Bearer abc def":     "abc def",
	} {
		got, ok := bearerToken(header)
		if got != want || ok != (want != "") {
			t.Errorf("bearerToken(%q) = %q, %v; want %q", header, got, ok, want)
		}
	}
}

// TestAPIKeyAuthentication: every wrong credential is the same 401 (it
// never says which part was wrong); the right pair passes; the other
// program's key does not pass with this program's partner-id.
func TestAPIKeyAuthentication(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newAPIFixture(t, db, 1000)
		var first string
		for i, headers := range []map[string]string{
			{},
			{"partner-id": f.partnerID},
			{"api-key": f.full.Secret},
			{"partner-id": f.partnerID, "api-key": f.full.Secret + "x"},
			{"partner-id": f.partnerID, "api-key": f.other.Secret},
			{"partner-id": f.otherID, "api-key": f.full.Secret},
			{"partner-id": "nope", "api-key": f.full.Secret},
		} {
			addr := "198.51.100." + strconv.Itoa(10+i) // a fresh address each: no failure budget spent
			a := f.call(t, http.MethodGet, "/v2/loyalty/program", addr, headers, "")
			wantError(t, a, http.StatusUnauthorized, "ERROR_UNAUTHORIZED", unauthorizedReason)
			if first == "" {
				first = a.raw
			} else if a.raw != first {
				t.Errorf("refusal %d differs from the first: %s vs %s", i, a.raw, first)
			}
		}
		a := f.call(t, http.MethodGet, "/v2/loyalty/program", "198.51.100.1", f.keyHeaders(f.full), "")
		data, _ := a.body["data"].(map[string]any)
		key, _ := data["api_key"].(map[string]any)
		if a.status != http.StatusOK || a.body["success"] != true || data["partner_id"] != f.partnerID || key["identifier"] != f.full.Identifier {
			t.Fatalf("valid key: %d %s", a.status, a.raw)
		}
		if !f.usage.has(usage.OutcomeSuccess) {
			t.Errorf("the successful call was not counted: %v", f.usage.outcomes)
		}
	})
}

// TestFailedAuthenticationBudget: an address that spent its budget of
// failed authentications gets 429 with Retry-After, even with a valid
// key; another address is not affected.
func TestFailedAuthenticationBudget(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newAPIFixture(t, db, 1000)
		bad := map[string]string{"partner-id": f.partnerID, "api-key": "kd_wrong"}
		for range failedAuthPerMinute {
			wantError(t, f.call(t, http.MethodGet, "/v2/loyalty/program", "198.51.100.7", bad, ""), http.StatusUnauthorized, "ERROR_UNAUTHORIZED", "")
		}
		a := f.call(t, http.MethodGet, "/v2/loyalty/program", "198.51.100.7", f.keyHeaders(f.full), "")
		wantError(t, a, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "Too many failed authentications from this address.")
		if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After %q, want whole seconds, at least 1", a.header.Get("Retry-After"))
		}
		if a := f.call(t, http.MethodGet, "/v2/loyalty/program", "198.51.100.8", f.keyHeaders(f.full), ""); a.status != http.StatusOK {
			t.Errorf("another address refused: %d %s", a.status, a.raw)
		}
	})
}

// TestPermissionAndAddressChecks: a restricted key is refused, 403 with
// the reason, outside its allowed addresses and for a permission it lacks,
// and passes for the one it has from an allowed address.
func TestPermissionAndAddressChecks(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newAPIFixture(t, db, 1000)
		h := f.keyHeaders(f.restricted)
		wantError(t, f.call(t, http.MethodGet, "/v2/loyalty/members", "198.51.100.1", h, ""),
			http.StatusForbidden, "ERROR_FORBIDDEN", "This API key may not be used from the IP address 198.51.100.1 (the address keydesk saw for this call).")
		wantError(t, f.call(t, http.MethodGet, "/v2/loyalty/program", "203.0.113.9", h, ""),
			http.StatusForbidden, "ERROR_FORBIDDEN", "This API key does not have the permission "+keys.PermProgramRead.Label()+" (program:read).")
		wantError(t, f.call(t, http.MethodPost, "/v2/loyalty/members", "203.0.113.9", withJSON(h), `{"member_id":"m1","email":"m1@example.com"}`),
			http.StatusForbidden, "ERROR_FORBIDDEN", "This API key does not have the permission "+keys.PermMembersWrite.Label()+" (members:write).")
		if a := f.call(t, http.MethodGet, "/v2/loyalty/members", "203.0.113.9", h, ""); a.status != http.StatusOK {
			t.Errorf("restricted key with its permission, from its address: %d %s", a.status, a.raw)
		}
		if !f.usage.has(usage.OutcomeNoPermission) || !f.usage.has(usage.OutcomeWrongAddress) {
			t.Errorf("refusals not counted against the key: %v", f.usage.outcomes)
		}
	})
}

// TestMiddlewareWithoutAuthentication: Require and RateLimit chained
// without an authentication before them refuse with 401 instead of
// letting the call through.
func TestMiddlewareWithoutAuthentication(t *testing.T) {
	a := New(Deps{})
	for name, mw := range map[string]echo.MiddlewareFunc{"Require": a.Require(keys.PermProgramRead), "RateLimit": a.RateLimit(apiauth.RateRead)} {
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/v2/loyalty/program", nil), rec)
		ran := false
		if err := mw(func(echo.Context) error { ran = true; return nil })(c); err != nil {
			t.Fatal(err)
		}
		if ran || rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"ERROR_UNAUTHORIZED"`) {
			t.Errorf("%s without a key: ran %v, %d %s", name, ran, rec.Code, rec.Body.String())
		}
	}
}

// TestKeyRateLimit: past its budget a key gets 429 with Retry-After.
func TestKeyRateLimit(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newAPIFixture(t, db, 5)
		var last answer
		for range 6 {
			last = f.call(t, http.MethodGet, "/v2/loyalty/program", "198.51.100.1", f.keyHeaders(f.full), "")
		}
		wantError(t, last, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded")
		if s, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After %q", last.header.Get("Retry-After"))
		}
		if !f.usage.has("rate_limited") {
			t.Errorf("the refusal was not counted: %v", f.usage.outcomes)
		}
	})
}

func withJSON(h map[string]string) map[string]string {
	out := map[string]string{echo.HeaderContentType: echo.MIMEApplicationJSON}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// TestJSONBodyDecoder: POST /members takes exactly one JSON object sent
// as application/json: 415 for another type, 400 for a body that is not
// one object or has a field of the wrong type, 422 for a repeated member
// name or an invalid field, 413 beyond the body limit (also when the
// length is not announced), 409 for a member that exists.
func TestJSONBodyDecoder(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newAPIFixture(t, db, 1000)
		h := f.keyHeaders(f.full)
		post := func(contentType, body string) answer {
			headers := map[string]string{}
			for k, v := range h {
				headers[k] = v
			}
			if contentType != "" {
				headers[echo.HeaderContentType] = contentType
			}
			return f.call(t, http.MethodPost, "/v2/loyalty/members", "198.51.100.1", headers, body)
		}
		const member = `{"member_id":"m1","email":"m1@example.com","first_name":"Ana"}`
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/json;;"} {
			wantError(t, post(ct, member), http.StatusUnsupportedMediaType, "ERROR_UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json.")
		}
		for body, reason := range map[string]string{
			``:                "The body is empty: send a JSON object.",
			`{`:               "The body is not valid JSON.",
			`{"member_id":}`:  "The body is not valid JSON.",
			`[]`:              "The body must be a JSON object.",
			`"m1"`:            "The body must be a JSON object.",
			`{"member_id":5}`: "The field member_id must be a string.",
			member + ` {}`:    "The body must be a single JSON object.",
			member + `x`:      "The body must be a single JSON object.",
		} {
			a := post(echo.MIMEApplicationJSON, body)
			wantError(t, a, http.StatusBadRequest, "ERROR_BAD_REQUEST", reason)
			if reason, _ := a.body["reason"].(string); len(body) > 2 && strings.Contains(reason, body) {
				t.Errorf("the reason repeats the body %q: %s", body, a.raw)
			}
		}
		a := post(echo.MIMEApplicationJSON, `{"member_id":"m1","email":"m1@example.com","Member_ID":"m2"}`)
		wantError(t, a, http.StatusUnprocessableEntity, "ERROR_UNPROCESSABLE_ENTITY", `The body repeats the member name "Member_ID": send each field once.`)
		if errs, _ := a.body["errors"].(map[string]any); errs["Member_ID"] == nil || len(errs) != 1 {
			t.Errorf("errors of a repeated member: %s", a.raw)
		}
		a = post(echo.MIMEApplicationJSON, `{"member_id":"m1","email":"not an address"}`)
		wantError(t, a, http.StatusUnprocessableEntity, "ERROR_UNPROCESSABLE_ENTITY", "Some fields are invalid.")
		if errs, _ := a.body["errors"].(map[string]any); errs["email"] == nil {
			t.Errorf("invalid email not named in errors: %s", a.raw)
		}

		big := `{"member_id":"m1","email":"m1@example.com","first_name":"` + strings.Repeat("a", 2000) + `"}`
		wantError(t, post(echo.MIMEApplicationJSON, big), http.StatusRequestEntityTooLarge, "ERROR_REQUEST_ENTITY_TOO_LARGE", "")
		// Without a Content-Length the limit trips while the body is read:
		// the decoder must pass the limit's own error on.
		req := httptest.NewRequest(http.MethodPost, "/v2/loyalty/members", strings.NewReader(big))
		req.ContentLength = -1
		req.RemoteAddr = "198.51.100.1:40000"
		for k, v := range withJSON(h) {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		f.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "ERROR_REQUEST_ENTITY_TOO_LARGE") {
			t.Errorf("streamed body over the limit: %d %s", rec.Code, rec.Body.String())
		}

		a = post("application/json; charset=utf-8", member)
		data, _ := a.body["data"].(map[string]any)
		if a.status != http.StatusCreated || a.body["success"] != true || data["member_id"] != "m1" || data["first_name"] != "Ana" {
			t.Fatalf("valid member: %d %s", a.status, a.raw)
		}
		wantError(t, post(echo.MIMEApplicationJSON, member), http.StatusConflict, "ERROR_CONFLICT", "A member with this member_id already exists.")
	})
}

// TestMemberReads: a member is found in the key's own program only, and
// the list's limit and cursor are checked.
func TestMemberReads(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newAPIFixture(t, db, 1000)
		create := f.call(t, http.MethodPost, "/v2/loyalty/members", "198.51.100.1", withJSON(f.keyHeaders(f.full)), `{"member_id":"m1","email":"m1@example.com"}`)
		if create.status != http.StatusCreated {
			t.Fatalf("create: %d %s", create.status, create.raw)
		}
		if a := f.call(t, http.MethodGet, "/v2/loyalty/members/m1", "198.51.100.1", f.keyHeaders(f.full), ""); a.status != http.StatusOK {
			t.Errorf("own member: %d %s", a.status, a.raw)
		}
		theirs := map[string]string{"partner-id": f.otherID, "api-key": f.other.Secret}
		wantError(t, f.call(t, http.MethodGet, "/v2/loyalty/members/m1", "198.51.100.2", theirs, ""), http.StatusNotFound, "ERROR_NOT_FOUND", "No member with this member_id.")
		for _, q := range []string{"limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5"} {
			wantError(t, f.call(t, http.MethodGet, "/v2/loyalty/members?"+q, "198.51.100.3", f.keyHeaders(f.full), ""),
				http.StatusBadRequest, "ERROR_BAD_REQUEST", "limit must be a whole number from 1 to 100.")
		}
		wantError(t, f.call(t, http.MethodGet, "/v2/loyalty/members?cursor=forged", "198.51.100.4", f.keyHeaders(f.full), ""),
			http.StatusBadRequest, "ERROR_BAD_REQUEST", "cursor is not one this API returned.")
		a := f.call(t, http.MethodGet, "/v2/loyalty/members?limit=1", "198.51.100.4", f.keyHeaders(f.full), "")
		data, _ := a.body["data"].(map[string]any)
		if list, _ := data["members"].([]any); a.status != http.StatusOK || len(list) != 1 || data["limit"] != float64(1) {
			t.Errorf("list: %d %s", a.status, a.raw)
		}
	})
}

// TestUITokenAuthentication: the UI API takes a Bearer JWT signed with a
// key of the program; without one it answers 401 with a Bearer challenge,
// with a bad one 401 with error="invalid_token".
func TestUITokenAuthentication(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newAPIFixture(t, db, 1000)
		if a := f.call(t, http.MethodPost, "/v2/loyalty/members", "198.51.100.1", withJSON(f.keyHeaders(f.full)), `{"member_id":"ana-1","email":"ana@example.com"}`); a.status != http.StatusCreated {
			t.Fatalf("create: %d %s", a.status, a.raw)
		}
		mint := func(secret string, claims jwt.MapClaims) string {
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		exp := time.Now().Add(5 * time.Minute).Unix()
		ui := func(addr, authorization string) answer {
			h := map[string]string{"partner-id": f.partnerID}
			if authorization != "" {
				h[echo.HeaderAuthorization] = authorization
			}
			return f.call(t, http.MethodGet, "/v2/loyalty/ui/member", addr, h, "")
		}
		for i, authz := range []string{"", "Basic abc", "Bearer "} {
			a := ui("198.51.100."+strconv.Itoa(20+i), authz)
			wantError(t, a, http.StatusUnauthorized, "ERROR_UNAUTHORIZED", unauthorizedReason)
			if got := a.header.Get(echo.HeaderWWWAuthenticate); got != `Bearer realm="keydesk"` {
				t.Errorf("%q: WWW-Authenticate %q", authz, got)
			}
		}
		for i, token := range []string{
			"not-a-jwt",
			mint(f.full.Secret+"x", jwt.MapClaims{"sub": f.full.Identifier, "member_id": "ana-1", "exp": exp}),
			mint(f.other.Secret, jwt.MapClaims{"sub": f.other.Identifier, "member_id": "ana-1", "exp": exp}),
			mint(f.full.Secret, jwt.MapClaims{"sub": f.full.Identifier, "member_id": "ana-1", "exp": time.Now().Add(-time.Minute).Unix()}),
		} {
			a := ui("198.51.100."+strconv.Itoa(30+i), "Bearer "+token)
			wantError(t, a, http.StatusUnauthorized, "ERROR_UNAUTHORIZED", unauthorizedReason)
			if got := a.header.Get(echo.HeaderWWWAuthenticate); got != `Bearer realm="keydesk", error="invalid_token"` {
				t.Errorf("token %d: WWW-Authenticate %q", i, got)
			}
		}
		a := ui("198.51.100.40", "bearer "+mint(f.full.Secret, jwt.MapClaims{"sub": f.full.Identifier, "member_id": "ana-1", "exp": exp}))
		data, _ := a.body["data"].(map[string]any)
		if a.status != http.StatusOK || data["member_id"] != "ana-1" {
			t.Fatalf("valid token: %d %s", a.status, a.raw)
		}
	})
}
