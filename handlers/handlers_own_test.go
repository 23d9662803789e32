package handlers

// Tests of the handlers package's own pieces, through echo contexts built
// with httptest: CSRF double-submit tokens, the sign-in redirect and its
// next parameter, toasts, the session-changed answer and error wording.
// The router tests (web/) cover the same behaviour end to end; these find
// a failure here, in the package.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	gsessions "github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"keydesk/handlers/htmx"
	"keydesk/handlers/session"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/models/sessions"
)

// testHandler builds the handlers over a fresh SQLite database; secure
// says whether cookies are Secure (and __Host- prefixed).
func testHandler(t *testing.T, secure bool) *Handler {
	t.Helper()
	stores := modeltest.NewStores(t, modeltest.SQLite(t))
	sessionStore := sessions.NewStore(stores.DB, stores.Clock,
		gsessions.Options{Path: "/", MaxAge: int(SessionMaxLifetime.Seconds()), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode},
		[]byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210"))
	relyingParty, err := NewRelyingParty("http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	return New(Deps{Stores: stores.Stores, Sessions: sessionStore, Logger: slog.New(slog.DiscardHandler), ReauthWindow: 15 * time.Minute,
		BaseURL: "http://localhost:8080", RelyingParty: relyingParty})
}

// serve runs mw over a handler that answers 200 "next", on req.
func serve(req *http.Request, mw echo.MiddlewareFunc) (*httptest.ResponseRecorder, echo.Context, error) {
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(req, rec)
	err := mw(func(c echo.Context) error { return c.String(http.StatusOK, "next") })(c)
	return rec, c, err
}

func httpStatus(err error) int {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he.Code
	}
	return 0
}

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// TestCSRFAnonymousIssuesCookie: a page for a visitor without a session
// gets a fresh 32-byte token in an HttpOnly, SameSite=Strict cookie, and
// the same token for its forms; a later page keeps and refreshes it.
func TestCSRFAnonymousIssuesCookie(t *testing.T) {
	h := testHandler(t, false)
	rec, c, err := serve(httptest.NewRequest(http.MethodGet, "/login", nil), h.CSRF)
	if err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %v", rec.Code, err)
	}
	ck := cookieNamed(rec, CSRFCookieName)
	if ck == nil {
		t.Fatalf("no %s cookie issued: %v", CSRFCookieName, rec.Header()["Set-Cookie"])
	}
	raw, decodeErr := base64.RawURLEncoding.DecodeString(ck.Value)
	if decodeErr != nil || len(raw) != 32 {
		t.Errorf("token %q is not 32 random bytes in base64url (%v)", ck.Value, decodeErr)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.MaxAge != int((2*time.Hour).Seconds()) || ck.Secure {
		t.Errorf("cookie attributes: %+v", ck)
	}
	if got := csrfToken(c); got != ck.Value {
		t.Errorf("the page's token %q is not the cookie's %q", got, ck.Value)
	}

	req := httptest.NewRequest(http.MethodGet, "/login", nil)
	req.AddCookie(&http.Cookie{Name: CSRFCookieName, Value: ck.Value})
	rec, c, _ = serve(req, h.CSRF)
	if again := cookieNamed(rec, CSRFCookieName); again == nil || again.Value != ck.Value || again.MaxAge <= 0 {
		t.Errorf("a second page did not refresh the same token: %+v", again)
	}
	if got := csrfToken(c); got != ck.Value {
		t.Errorf("second page's token %q, want the cookie's", got)
	}

	// Another visitor gets another token.
	rec2, _, _ := serve(httptest.NewRequest(http.MethodGet, "/login", nil), h.CSRF)
	if other := cookieNamed(rec2, CSRFCookieName); other == nil || other.Value == ck.Value {
		t.Error("two visitors got the same token")
	}
}

// TestCSRFAnonymousPostNeedsMatchingToken: a state change by a visitor
// without a session passes only with the cookie's own, well-formed token
// in the header or the form body; never from the query string.
func TestCSRFAnonymousPostNeedsMatchingToken(t *testing.T) {
	h := testHandler(t, false)
	token := newCSRFToken()
	other := newCSRFToken()
	short := base64.RawURLEncoding.EncodeToString(make([]byte, 31))
	for _, tc := range []struct {
		name                 string
		cookie, header, form string
		query                string
		pass                 bool
	}{
		{name: "header matches", cookie: token, header: token, pass: true},
		{name: "form field matches", cookie: token, form: token, pass: true},
		{name: "header wins over a wrong form field", cookie: token, header: token, form: other, pass: true},
		{name: "no token", cookie: token},
		{name: "another token", cookie: token, header: other},
		{name: "token with a suffix", cookie: token, header: token + "A"},
		{name: "token cut short", cookie: token, header: token[:len(token)-1]},
		{name: "only in the query string", cookie: token, query: token},
		{name: "no cookie", header: token},
		{name: "malformed cookie and the same value", cookie: "abc", header: "abc"},
		{name: "31-byte token", cookie: short, header: short},
		{name: "empty cookie and no token", cookie: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "/login"
			if tc.query != "" {
				target += "?" + url.Values{CSRFField: {tc.query}}.Encode()
			}
			body := url.Values{"email": {"a@example.test"}}
			if tc.form != "" {
				body.Set(CSRFField, tc.form)
			}
			req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body.Encode()))
			req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: CSRFCookieName, Value: tc.cookie})
			}
			if tc.header != "" {
				req.Header.Set(CSRFHeader, tc.header)
			}
			rec, _, err := serve(req, h.CSRF)
			if tc.pass {
				if err != nil || rec.Body.String() != "next" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if httpStatus(err) != http.StatusForbidden || rec.Body.String() == "next" {
				t.Fatalf("passed or wrong refusal: %v, body %q", err, rec.Body.String())
			}
		})
	}
}

// TestCSRFSecureCookieName: with secure cookies the token cookie is
// __Host-keydesk_csrf and Secure; a plain-named cookie (which any page on
// the host could plant) is ignored.
func TestCSRFSecureCookieName(t *testing.T) {
	h := testHandler(t, true)
	rec, _, _ := serve(httptest.NewRequest(http.MethodGet, "/login", nil), h.CSRF)
	ck := cookieNamed(rec, "__Host-"+CSRFCookieName)
	if ck == nil || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("secure token cookie: %+v (all: %v)", ck, rec.Header()["Set-Cookie"])
	}
	planted := newCSRFToken()
	req := httptest.NewRequest(http.MethodPost, "/login", nil)
	req.AddCookie(&http.Cookie{Name: CSRFCookieName, Value: planted})
	req.Header.Set(CSRFHeader, planted)
	if _, _, err := serve(req, h.CSRF); httpStatus(err) != http.StatusForbidden {
		t.Errorf("a planted plain-named cookie passed: %v", err)
	}
	req = httptest.NewRequest(http.MethodPost, "/login", nil)
	req.AddCookie(&http.Cookie{Name: "__Host-" + CSRFCookieName, Value: ck.Value})
	req.Header.Set(CSRFHeader, ck.Value)
	if _, _, err := serve(req, h.CSRF); err != nil {
		t.Errorf("the secure cookie's own token refused: %v", err)
	}
}

// TestSafeNext: only a local path is a sign-in's next page; anything that
// a browser could read as another origin, or the sign-in and sign-out
// pages themselves, is dropped.
func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/keys":                        "/keys",
		"/keys?page=2&q=a%20b":         "/keys?page=2&q=a%20b",
		"/audit#top":                   "/audit#top",
		"":                             "",
		"keys":                         "",
		"https://evil.example/":        "",
		"//evil.example/":              "",
		"/\\evil.example/":             "",
		"/a\\b":                        "",
		"/a b":                         "",
		"/\t/evil.example":             "",
		"/a\r\nSet-Cookie: x=1":        "",
		"/a\x00":                       "",
		"/\u00a0/evil.example":         "",
		"/a\xff":                       "",
		"/login":                       "",
		"/login?next=%2Fkeys":          "",
		"/login/passkey":               "",
		"/logout":                      "",
		"javascript:alert(1)":          "",
		"/%2F%2Fevil.example":          "/%2F%2Fevil.example", // a path on this host
		"/keys/12/reveal?copied=true":  "/keys/12/reveal?copied=true",
		"/settings?tab=security&x=%0A": "/settings?tab=security&x=%0A",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// TestRequireAdminSendsToSignIn: a visitor without a live session is sent
// to sign in, back to the page they were on; a page load gets a 303, an
// htmx request an HX-Redirect to the page it came from (only on this
// host) with a 401, any other change a 401; a request that carried a
// session cookie, or came from a console page's htmx, is told its session
// ended.
func TestRequireAdminSendsToSignIn(t *testing.T) {
	h := testHandler(t, false)
	loginWith := func(q url.Values) string {
		if len(q) == 0 {
			return "/login"
		}
		return "/login?" + q.Encode()
	}
	for _, tc := range []struct {
		name           string
		method, path   string
		cookie         bool
		htmx           bool
		currentURL     string
		wantStatus     int
		wantLocation   string
		wantHXRedirect string
		wantErr        int
	}{
		{name: "page load", method: http.MethodGet, path: "/keys?page=2", wantStatus: http.StatusSeeOther,
			wantLocation: loginWith(url.Values{"next": {"/keys?page=2"}})},
		{name: "page load with an old session cookie", method: http.MethodGet, path: "/keys", cookie: true, wantStatus: http.StatusSeeOther,
			wantLocation: loginWith(url.Values{"next": {"/keys"}, "ended": {"1"}})},
		{name: "HEAD as GET", method: http.MethodHead, path: "/audit", wantStatus: http.StatusSeeOther,
			wantLocation: loginWith(url.Values{"next": {"/audit"}})},
		{name: "htmx from a console page", method: http.MethodPost, path: "/keys/3/reveal", htmx: true, currentURL: "http://example.com/keys?q=x",
			wantStatus: http.StatusUnauthorized, wantHXRedirect: loginWith(url.Values{"next": {"/keys?q=x"}, "ended": {"1"}})},
		{name: "htmx from another host", method: http.MethodPost, path: "/keys/3/reveal", htmx: true, currentURL: "http://evil.example/keys",
			wantStatus: http.StatusUnauthorized, wantHXRedirect: loginWith(url.Values{"ended": {"1"}})},
		{name: "htmx from the sign-in page", method: http.MethodGet, path: "/keys", htmx: true, currentURL: "http://example.com/login?next=%2Fkeys",
			wantStatus: http.StatusUnauthorized, wantHXRedirect: loginWith(url.Values{"ended": {"1"}})},
		{name: "plain form post", method: http.MethodPost, path: "/keys", wantErr: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.cookie {
				req.AddCookie(&http.Cookie{Name: session.CookieName, Value: "expired"})
			}
			if tc.htmx {
				req.Header.Set(htmx.HeaderRequest, "true")
				req.Header.Set(htmx.HeaderCurrentURL, tc.currentURL)
			}
			rec, _, err := serve(req, h.RequireAdmin)
			if rec.Body.String() == "next" {
				t.Fatal("an anonymous request reached the handler")
			}
			if tc.wantErr != 0 {
				if httpStatus(err) != tc.wantErr {
					t.Fatalf("error %v, want %d", err, tc.wantErr)
				}
				return
			}
			if err != nil || rec.Code != tc.wantStatus {
				t.Fatalf("status %d (%v), want %d", rec.Code, err, tc.wantStatus)
			}
			if got := rec.Header().Get(echo.HeaderLocation); got != tc.wantLocation {
				t.Errorf("Location %q, want %q", got, tc.wantLocation)
			}
			if got := rec.Header().Get(htmx.HeaderRedirect); got != tc.wantHXRedirect {
				t.Errorf("HX-Redirect %q, want %q", got, tc.wantHXRedirect)
			}
		})
	}
}

// TestRolesRefuseWithoutPrincipal: the role checks refuse a request with
// no signed-in admin (a misordered route) rather than let it through.
func TestRolesRefuseWithoutPrincipal(t *testing.T) {
	h := testHandler(t, false)
	for name, mw := range map[string]echo.MiddlewareFunc{
		"RequireFullAccess":          h.RequireFullAccess,
		"RequireModule(audit_trail)": h.RequireModule("audit_trail"),
	} {
		rec, _, err := serve(httptest.NewRequest(http.MethodGet, "/audit", nil), mw)
		if httpStatus(err) != http.StatusForbidden || rec.Body.String() == "next" {
			t.Errorf("%s without an admin: %v, body %q", name, err, rec.Body.String())
		}
	}
}

// TestToastTrigger: a toast reaches app.js as the HX-Trigger event
// "toast" with its level and message, non-ASCII escaped.
func TestToastTrigger(t *testing.T) {
	for _, level := range []string{toastSuccess, toastError, toastInfo} {
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/", nil), rec)
		htmx.Trigger(c, map[string]any{"toast": toast(level, "API key “Checkout” saved."), "close-modal": true})
		header := rec.Header().Get(htmx.HeaderTrigger)
		if strings.ContainsFunc(header, func(r rune) bool { return r > 0x7f }) {
			t.Errorf("HX-Trigger is not ASCII: %s", header)
		}
		var events struct {
			Toast struct {
				Level   string `json:"level"`
				Message string `json:"message"`
			} `json:"toast"`
			CloseModal bool `json:"close-modal"`
		}
		if err := json.Unmarshal([]byte(header), &events); err != nil {
			t.Fatalf("HX-Trigger %s: %v", header, err)
		}
		if events.Toast.Level != level || events.Toast.Message != "API key “Checkout” saved." || !events.CloseModal {
			t.Errorf("HX-Trigger %s decodes to %+v", header, events)
		}
	}
	for _, level := range []string{toastSuccess, toastError, toastInfo} {
		if !strings.Contains(string(mustReadAppJS(t)), "\n    "+level+": \"") {
			t.Errorf("app.js toastStyles has no style for the level %q", level)
		}
	}
}

// TestSessionChangedAnswer: an htmx request that raced a session rotation
// gets 409 with the retry header and nothing runs; any other request goes
// on (as anonymous).
func TestSessionChangedAnswer(t *testing.T) {
	ran := false
	next := func(c echo.Context) error { ran = true; return c.NoContent(http.StatusOK) }
	req := httptest.NewRequest(http.MethodPost, "/keys/1/reveal", nil)
	req.Header.Set(htmx.HeaderRequest, "true")
	rec := httptest.NewRecorder()
	if err := sessionChanged(echo.New().NewContext(req, rec), next); err != nil {
		t.Fatal(err)
	}
	if ran || rec.Code != http.StatusConflict || rec.Header().Get(HeaderSessionChanged) != "retry" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("htmx: ran %v, status %d, headers %v", ran, rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	if err := sessionChanged(echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/keys", nil), rec), next); err != nil || !ran {
		t.Errorf("page load did not go on: ran %v, %v", ran, err)
	}
}

// TestKeyErrorMessage: each refused key action says what to do, wrapped
// or not; anything else gets the general sentence, never the error text.
func TestKeyErrorMessage(t *testing.T) {
	for err, want := range map[error]string{
		keys.ErrKeyLimitReached: fmt.Sprintf("This program already has %d API keys", keys.MaxAPIKeysPerProgram),
		keys.ErrKeyActive:       "Inactivate it first.",
		keys.ErrDefaultKey:      "The legacy default key cannot be changed here.",
		keys.ErrKeyInactive:     "Activate it first.",
		keys.ErrNoOldKey:        "has already stopped working",
	} {
		for _, e := range []error{err, fmt.Errorf("keys: unable to act: %w", err)} {
			if got := keyErrorMessage(e); !strings.Contains(got, want) {
				t.Errorf("keyErrorMessage(%v) = %q, want it to say %q", e, got, want)
			}
		}
	}
	if got := keyErrorMessage(errors.New("pq: connection refused at 10.0.0.5")); got != "This API key action could not be completed." || strings.Contains(got, "10.0.0.5") {
		t.Errorf("unknown error: %q", got)
	}
}

// TestKeyIDIsPositiveInteger: an id that is not a positive integer is a
// 404, like another program's key.
func TestKeyIDIsPositiveInteger(t *testing.T) {
	for param, want := range map[string]int64{"1": 1, "42": 42, "0": 0, "-3": 0, "abc": 0, "1.5": 0, "": 0, "99999999999999999999": 0, "+7": 7, "0x10": 0} {
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
		c.SetParamNames("id")
		c.SetParamValues(param)
		id, err := keyID(c)
		if want == 0 {
			if httpStatus(err) != http.StatusNotFound {
				t.Errorf("keyID(%q) = %d, %v; want a 404", param, id, err)
			}
			continue
		}
		if err != nil || id != want {
			t.Errorf("keyID(%q) = %d, %v; want %d", param, id, err, want)
		}
	}
}

// TestMinutes says durations in whole minutes, in words.
func TestMinutes(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 minutes", time.Minute: "1 minute", 90 * time.Second: "1 minute", 15 * time.Minute: "15 minutes", 2 * time.Hour: "120 minutes",
	} {
		if got := minutes(d); got != want {
			t.Errorf("minutes(%v) = %q, want %q", d, got, want)
		}
	}
}

func mustReadAppJS(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../static/js/app.js")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Issue 22 item 3: what the server hands New reaches the handlers, with no
// setter after construction: /readyz carries Deps.Readiness's details, and
// without a relying party passkeys are off for Deps.PasskeysOff's reason
// (which their 409 answer carries).
func TestNewTakesItsDependencies(t *testing.T) {
	stores := modeltest.NewStores(t, modeltest.SQLite(t))
	h := New(Deps{Stores: stores.Stores, Logger: slog.New(slog.DiscardHandler), ReauthWindow: time.Minute, BaseURL: "http://127.0.0.1:8080",
		PasskeysOff: errors.New("the base URL is an IP address"),
		Readiness:   func() map[string]string { return map[string]string{"redis": "degraded: local limits"} }})

	rec := httptest.NewRecorder()
	if err := h.Readyz(echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/readyz", nil), rec)); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Status  string            `json:"status"`
		Details map[string]string `json:"details"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Status != "ready" || body.Details["redis"] != "degraded: local limits" {
		t.Errorf("/readyz: %s, want ready with the readiness details", rec.Body.String())
	}

	if rp, err := h.webAuthn(); rp != nil || err == nil || err.Error() != "the base URL is an IP address" {
		t.Errorf("webAuthn without a relying party: %v, %v", rp, err)
	}
	if rp, err := testHandler(t, false).webAuthn(); rp == nil || err != nil {
		t.Errorf("webAuthn with a relying party: %v, %v", rp, err)
	}
}
