package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"keydesk/models/modeltest"
)

// refusedCharacters are characters of the documented rule (Unicode Cc, Cf,
// Zl, Zp, Co and noncharacters) that the API and the console both refuse.
var refusedCharacters = []struct{ label, char, code string }{
	{"tab", "\t", "U+0009"},
	{"zero-width space", "\u200b", "U+200B"},
	{"soft hyphen", "\u00ad", "U+00AD"},
	{"line separator", "\u2028", "U+2028"},
	{"noncharacter", "\ufffe", "U+FFFE"},
	{"private use", "\ue000", "U+E000"},
}

// A JSON body that repeats a member name, at any depth, is 422 naming it,
// and creates nothing.
func TestAPIRefusesRepeatedMemberNames(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		_, secret := apiKey(t, ts, ts.Demo.Program.ID, "Shop")
		h := restHeaders(ts.Demo.Program.PartnerID, secret)
		cases := []struct{ label, body, field string }{
			{"top level", `{"member_id":"m1","email":"a@example.com","member_id":"m2"}`, "member_id"},
			{"differing case", `{"member_id":"m1","email":"a@example.com","EMAIL":"b@example.com"}`, "EMAIL"},
			{"nested object", `{"member_id":"m1","email":"a@example.com","extra":{"a":1,"b":{"c":1,"c":2}}}`, "extra.b.c"},
			{"object in an array", `{"member_id":"m1","email":"a@example.com","tags":[{"id":1},{"id":2,"id":3}]}`, "tags[1].id"},
		}
		for _, tc := range cases {
			r := apiCall(t, ts.URL, http.MethodPost, "/v2/loyalty/members", h, tc.body)
			fields, _ := r.Body["errors"].(map[string]any)
			if r.Status != http.StatusUnprocessableEntity || r.Body["success"] != false || r.Body["error_code"] != "ERROR_UNPROCESSABLE_ENTITY" ||
				fields[tc.field] == nil || !strings.Contains(fmt.Sprint(r.Body["reason"]), tc.field) {
				t.Errorf("%s: %d %s, want 422 naming %s", tc.label, r.Status, r.Raw, tc.field)
			}
		}
		if r := apiCall(t, ts.URL, http.MethodGet, "/v2/loyalty/members", h, ""); !strings.Contains(r.Raw, `"members":[]`) {
			t.Fatalf("a refused body created a member: %s", r.Raw)
		}
		// The same name in two different objects is no repetition.
		r := apiCall(t, ts.URL, http.MethodPost, "/v2/loyalty/members", h, `{"member_id":"m1","email":"a@example.com","x":{"id":1},"y":{"id":1},"z":[{"id":1},{"id":2}]}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("distinct objects with the same member names: %d %s", r.Status, r.Raw)
		}
	})
}

// The character rule holds through the API: each refused character is 422
// naming the field and the code point; text of any script is accepted.
func TestAPIMemberNamesFollowTheCharacterRule(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		_, secret := apiKey(t, ts, ts.Demo.Program.ID, "Shop")
		h := restHeaders(ts.Demo.Program.PartnerID, secret)
		for i, rc := range refusedCharacters {
			body := fmt.Sprintf(`{"member_id":"m%d","email":"m%d@example.com","first_name":%q}`, i, i, "Ana"+rc.char+"Maria")
			r := apiCall(t, ts.URL, http.MethodPost, "/v2/loyalty/members", h, body)
			fields, _ := r.Body["errors"].(map[string]any)
			msg := fmt.Sprint(fields["first_name"])
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(msg, rc.code) || !strings.Contains(msg, "Cc, Cf, Zl, Zp, Co") {
				t.Errorf("%s in first_name: %d %s", rc.label, r.Status, r.Raw)
			}
		}
		for i, name := range []string{"Zoë Ångström", "李小龍", "🎉 Party", "Đặng Thị"} {
			body := fmt.Sprintf(`{"member_id":"ok%d","email":"ok%d@example.com","first_name":%q,"last_name":%q}`, i, i, name, name)
			if r := apiCall(t, ts.URL, http.MethodPost, "/v2/loyalty/members", h, body); r.Status != http.StatusCreated {
				t.Errorf("%q refused: %d %s", name, r.Status, r.Raw)
			}
		}
	})
}

// The same rule in the console: key names and descriptions, webhook
// endpoint descriptions.
func TestConsoleNamesFollowTheCharacterRule(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	admin := ts.loggedIn(t, ts.Demo.Full.Email)
	before := takeSnapshot(t, ts)
	for _, rc := range refusedCharacters {
		for field, form := range map[string]url.Values{
			"name":        {"name": {"Shop" + rc.char + "sync"}, "description": {""}},
			"description": {"name": {"Shop sync"}, "description": {"Order" + rc.char + "sync"}},
		} {
			resp, body := admin.htmx(http.MethodPost, "/general/api-keys", form)
			msg := strings.TrimSpace(parseHTML(t, body).Find("#key-" + field + "-error").Text())
			if resp.StatusCode != http.StatusOK || !strings.Contains(msg, rc.code) {
				t.Errorf("key %s with %s: status %d, message %q", field, rc.label, resp.StatusCode, msg)
			}
		}
		resp, body := admin.post("/general/webhooks", url.Values{"url": {"https://hooks.example.com/keydesk"}, "description": {"CRM" + rc.char + "sync"}, "events": {"api_key.created"}})
		msg := strings.TrimSpace(parseHTML(t, body).Find("#webhook-description-error").Text())
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, rc.code) {
			t.Errorf("webhook description with %s: status %d, message %q", rc.label, resp.StatusCode, msg)
		}
	}
	if after := takeSnapshot(t, ts); after != before {
		t.Fatalf("refused names changed the database: %+v → %+v", before, after)
	}
	// A description may span lines; a name of any script is accepted.
	resp, body := admin.htmx(http.MethodPost, "/general/api-keys", url.Values{"name": {"顧客同期 🔑 Crème"}, "description": {"first line\r\nsecond line"}})
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "-error\"") && strings.Contains(body, "not allowed") {
		t.Fatalf("ordinary name refused: %d\n%s", resp.StatusCode, body)
	}
	if k := keyByName(t, ts, ts.Demo.Program.ID, "顧客同期 🔑 Crème"); k.Description != "first line\nsecond line" {
		t.Fatalf("description stored as %q", k.Description)
	}
}

// 405 and 413, as openapi.yaml documents them, in the API's error body.
func TestAPIMethodNotAllowedAndTooLarge(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	_, secret := apiKey(t, ts, ts.Demo.Program.ID, "Shop")
	h := restHeaders(ts.Demo.Program.PartnerID, secret)
	for path, allow := range map[string]string{
		"/v2/openapi.yaml":       "GET",
		"/v2/loyalty/program":    "GET",
		"/v2/loyalty/members":    "GET, POST",
		"/v2/loyalty/members/m1": "GET",
		"/v2/loyalty/ui/member":  "GET",
	} {
		for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
			r := apiCall(t, ts.URL, method, path, h, "")
			if r.Status != http.StatusMethodNotAllowed || r.Body["error_code"] != "ERROR_METHOD_NOT_ALLOWED" || !sameMethods(r.Header.Get("Allow"), allow) {
				t.Errorf("%s %s: %d Allow %q %s, want 405 Allow %q", method, path, r.Status, r.Header.Get("Allow"), r.Raw, allow)
			}
		}
	}

	big := `{"member_id":"big","email":"big@example.com","note":"` + strings.Repeat("x", 70_000) + `"}`
	for _, tc := range []struct{ method, path string }{{http.MethodPost, "/v2/loyalty/members"}, {http.MethodGet, "/v2/openapi.yaml"}, {http.MethodGet, "/v2/loyalty/program"}} {
		r := apiCall(t, ts.URL, tc.method, tc.path, h, big)
		if r.Status != http.StatusRequestEntityTooLarge || r.Body["error_code"] != "ERROR_REQUEST_ENTITY_TOO_LARGE" {
			t.Errorf("%s %s with 70 KB: %d %s", tc.method, tc.path, r.Status, r.Raw)
		}
	}
	// Without a Content-Length (chunked), the body limit stops the read:
	// still 413, not a 400 about JSON.
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/v2/loyalty/members", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), "ERROR_REQUEST_ENTITY_TOO_LARGE") {
		t.Fatalf("chunked 70 KB body: %d %s", resp.StatusCode, raw)
	}
}

// sameMethods compares two Allow header values as sets.
func sameMethods(got, want string) bool {
	set := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" && v != http.MethodOptions && v != http.MethodHead {
				m[v] = true
			}
		}
		return m
	}
	g, w := set(got), set(want)
	if len(g) != len(w) {
		return false
	}
	for m := range w {
		if !g[m] {
			return false
		}
	}
	return true
}

// openapi.yaml says where 405 and 413 occur (each path's 405 with the Allow
// the server really sends) and states the character rule of names
// (Spectral and Redocly check the rest: make openapi-lint).
func TestOpenAPIDocumentsStatusesAndTheCharacterRule(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	var doc struct {
		Paths      map[string]map[string]yaml.Node `yaml:"paths"`
		Components struct {
			Schemas map[string]struct {
				Description string `yaml:"description"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths {
		var methods []string
		desc := item["description"].Value
		for method, node := range item {
			if method == "description" {
				continue
			}
			methods = append(methods, strings.ToUpper(method))
			var op struct {
				Responses map[string]any `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatal(err)
			}
			if op.Responses["413"] == nil {
				t.Errorf("%s %s does not document 413", method, path)
			}
		}
		r := apiCall(t, ts.URL, http.MethodPut, strings.ReplaceAll(path, "{member_id}", "m1"), nil, "")
		if slices.Contains(methods, http.MethodPut) || r.Status != http.StatusMethodNotAllowed {
			t.Fatalf("PUT %s: %d, want 405", path, r.Status)
		}
		if allow := r.Header.Get("Allow"); !strings.Contains(desc, "`405`") || !strings.Contains(desc, "`Allow: "+allow+"`") {
			t.Errorf("%s: description %q does not document 405 with the Allow sent, %q", path, desc, allow)
		}
	}
	if d := doc.Components.Schemas["PersonName"].Description; !strings.Contains(d, "Cc") || !strings.Contains(d, "Cf") || !strings.Contains(d, "Zl and Zp") || !strings.Contains(d, "Co (private use)") || !strings.Contains(d, "noncharacters") {
		t.Errorf("PersonName does not state the character rule: %q", d)
	}
}

// The linters of make openapi-lint, when Node and its modules are here
// (CI runs make openapi-lint in any case): Spectral spectral:oas and
// Redocly recommended, no error and no warning.
func TestOpenAPILintersReportNothing(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	spectral, redocly := filepath.Join(root, "node_modules", ".bin", "spectral"), filepath.Join(root, "node_modules", ".bin", "redocly")
	for _, bin := range []string{spectral, redocly} {
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing under CI=true: run make openapi-lint (it installs them)", bin)
			}
			t.Skipf("%s not installed (make openapi-lint installs it)", bin)
		}
	}
	for _, cmd := range []*exec.Cmd{
		exec.Command(spectral, "lint", "--ruleset", ".spectral.yaml", "--fail-severity=warn", "web/openapi.yaml"),
		exec.Command(redocly, "lint", "--config", "redocly.yaml", "web/openapi.yaml"),
	} {
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
		}
	}
}
