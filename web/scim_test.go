package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"keydesk/config"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// scimCall sends a SCIM request with a bearer token and decodes the JSON
// answer (nil for none).
func scimCall(t *testing.T, ts *testServer, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	status, _, out := scimCallWith(t, http.DefaultClient, ts, token, method, path, body)
	return status, out
}

// scimCallWith is scimCall through client, with the answer's headers.
func scimCallWith(t *testing.T, client *http.Client, ts *testServer, token, method, path string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, ts.URL+"/scim/v2"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) == 0 {
		return resp.StatusCode, resp.Header, nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, raw)
	}
	return resp.StatusCode, resp.Header, out
}

func scimToken(t *testing.T, ts *testServer, programID int64) string {
	t.Helper()
	token, err := ts.Store.Accounts.CreateSCIMToken(t.Context(), nil, audit.Actor{}, programID)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func deactivate(active bool) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "active", "value": active}}}
}

func TestSCIMUsersPerRFC7644(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		token := scimToken(t, ts, ts.Demo.Program.ID)
		otherToken := scimToken(t, ts, ts.Other.Program.ID)
		email := "hired@" + ts.Demo.Program.PartnerID + ".test"

		// Create: 201 with the User, limited access and no modules.
		status, user := scimCall(t, ts, token, http.MethodPost, "/Users", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": email, "active": true,
			"emails": []map[string]any{{"value": email, "primary": true}}})
		if status != http.StatusCreated || user["userName"] != email || user["active"] != true || user["id"] == "" {
			t.Fatalf("create: %d %v", status, user)
		}
		id := user["id"].(string)
		var adminID int64
		fmt.Sscan(id, &adminID)
		m, err := ts.Store.Accounts.MembershipFor(t.Context(), adminID, ts.Demo.Program.ID)
		if err != nil || m.Access != accounts.AccessLimited || m.Modules != "" {
			t.Fatalf("SCIM-created membership: %+v %v", m, err)
		}
		// A duplicate userName is 409 uniqueness.
		status, body := scimCall(t, ts, token, http.MethodPost, "/Users", map[string]any{"userName": strings.ToUpper(email)})
		if status != http.StatusConflict || body["scimType"] != "uniqueness" || body["status"] != "409" {
			t.Fatalf("duplicate: %d %v", status, body)
		}
		// An admin the console added is a user too.
		status, body = scimCall(t, ts, token, http.MethodPost, "/Users", map[string]any{"userName": ts.Demo.Limited.Email})
		if status != http.StatusConflict {
			t.Fatalf("existing admin: %d %v", status, body)
		}

		// List with filter, and all.
		status, list := scimCall(t, ts, token, http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "`+email+`"`), nil)
		if status != http.StatusOK || list["totalResults"] != float64(1) || len(list["Resources"].([]any)) != 1 {
			t.Fatalf("filtered list: %d %v", status, list)
		}
		status, list = scimCall(t, ts, token, http.MethodGet, "/Users", nil)
		if status != http.StatusOK || list["totalResults"] != float64(4) {
			t.Fatalf("list: %d %v", status, list)
		}
		status, list = scimCall(t, ts, token, http.MethodGet, "/Users?startIndex=2&count=2", nil)
		if status != http.StatusOK || list["itemsPerPage"] != float64(2) || list["startIndex"] != float64(2) {
			t.Fatalf("page: %d %v", status, list)
		}
		if status, _ := scimCall(t, ts, token, http.MethodGet, "/Users?filter="+url.QueryEscape(`emails co "x"`), nil); status != http.StatusBadRequest {
			t.Fatalf("unsupported filter: %d", status)
		}

		// Get.
		status, got := scimCall(t, ts, token, http.MethodGet, "/Users/"+id, nil)
		if status != http.StatusOK || got["userName"] != email {
			t.Fatalf("get: %d %v", status, got)
		}

		// Tenant isolation: another program's token sees none of it.
		if status, _ := scimCall(t, ts, otherToken, http.MethodGet, "/Users/"+id, nil); status != http.StatusNotFound {
			t.Fatalf("another program's user: %d", status)
		}
		if status, _ := scimCall(t, ts, otherToken, http.MethodPatch, "/Users/"+id, deactivate(false)); status != http.StatusNotFound {
			t.Fatalf("another program's PATCH: %d", status)
		}
		if status, _ := scimCall(t, ts, otherToken, http.MethodDelete, "/Users/"+id, nil); status != http.StatusNotFound {
			t.Fatalf("another program's DELETE: %d", status)
		}
		status, list = scimCall(t, ts, otherToken, http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "`+email+`"`), nil)
		if status != http.StatusOK || list["totalResults"] != float64(0) {
			t.Fatalf("another program's filter: %d %v", status, list)
		}
		// A wrong or missing token is 401.
		for _, bad := range []string{"", "kdscim_nottherightoneatall", token + "x"} {
			if status, body := scimCall(t, ts, bad, http.MethodGet, "/Users", nil); status != http.StatusUnauthorized || body["status"] != "401" {
				t.Fatalf("token %q: %d %v", bad, status, body)
			}
		}

		// PATCH active=false deprovisions; the user stays, inactive.
		status, got = scimCall(t, ts, token, http.MethodPatch, "/Users/"+id, deactivate(false))
		if status != http.StatusOK || got["active"] != false {
			t.Fatalf("deactivate: %d %v", status, got)
		}
		if _, err := ts.Store.Accounts.MembershipFor(t.Context(), adminID, ts.Demo.Program.ID); err == nil {
			t.Fatal("a deprovisioned admin kept the membership")
		}
		status, got = scimCall(t, ts, token, http.MethodGet, "/Users/"+id, nil)
		if status != http.StatusOK || got["active"] != false {
			t.Fatalf("get deprovisioned: %d %v", status, got)
		}
		// Azure AD's form: no path, the string "True".
		status, got = scimCall(t, ts, token, http.MethodPatch, "/Users/"+id, map[string]any{
			"Operations": []map[string]any{{"op": "Replace", "value": map[string]any{"active": "True"}}}})
		if status != http.StatusOK || got["active"] != true {
			t.Fatalf("reactivate: %d %v", status, got)
		}
		// userName cannot change.
		if status, _ := scimCall(t, ts, token, http.MethodPatch, "/Users/"+id, map[string]any{
			"Operations": []map[string]any{{"op": "replace", "path": "userName", "value": "someone@else.test"}}}); status != http.StatusBadRequest {
			t.Fatalf("userName change: %d", status)
		}

		// Delete: 204, then 404.
		if status, _ := scimCall(t, ts, token, http.MethodDelete, "/Users/"+id, nil); status != http.StatusNoContent {
			t.Fatalf("delete: %d", status)
		}
		if status, _ := scimCall(t, ts, token, http.MethodGet, "/Users/"+id, nil); status != http.StatusNotFound {
			t.Fatalf("get deleted: %d", status)
		}
		if status, _ := scimCall(t, ts, token, http.MethodDelete, "/Users/"+id, nil); status != http.StatusNotFound {
			t.Fatalf("delete again: %d", status)
		}

		// A new token replaces the old one.
		fresh := scimToken(t, ts, ts.Demo.Program.ID)
		if status, _ := scimCall(t, ts, token, http.MethodGet, "/Users", nil); status != http.StatusUnauthorized {
			t.Fatalf("replaced token: %d", status)
		}
		if status, _ := scimCall(t, ts, fresh, http.MethodGet, "/Users", nil); status != http.StatusOK {
			t.Fatalf("new token: %d", status)
		}

		var provisioned, deprovisioned int
		for _, a := range ts.auditActions(t, ts.Demo.Program.ID) {
			switch a {
			case "admin.provisioned:success":
				provisioned++
			case "admin.deprovisioned:success":
				deprovisioned++
			}
		}
		if provisioned != 2 || deprovisioned != 2 {
			t.Fatalf("audited %d provisioned, %d deprovisioned; want 2 and 2", provisioned, deprovisioned)
		}
		var digest string
		if err := ts.Store.DB.Raw(`SELECT scim_token_digest FROM single_sign_on WHERE program_id = ?`, ts.Demo.Program.ID).Scan(&digest).Error; err != nil {
			t.Fatal(err)
		}
		if digest == "" || strings.Contains(digest, fresh) || strings.Contains(fresh, digest) {
			t.Fatal("the SCIM token is not stored as a digest")
		}
	})
}

func TestSCIMDeprovisioningEndsOpenSessions(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		token := scimToken(t, ts, ts.Demo.Program.ID)
		support := ts.loggedIn(t, ts.Demo.Support.Email)
		if resp, _ := support.get("/general/audit-trail"); resp.StatusCode != http.StatusOK {
			t.Fatalf("before: %d", resp.StatusCode)
		}
		// Another request of the same session, under way while the
		// identity provider deprovisions, must not bring it back.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			support.get("/general/audit-trail")
		}()
		status, _ := scimCall(t, ts, token, http.MethodPatch, fmt.Sprintf("/Users/%d", ts.Demo.Support.ID), deactivate(false))
		wg.Wait()
		if status != http.StatusOK {
			t.Fatalf("deactivate: %d", status)
		}
		resp, _ := support.get("/general/audit-trail")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("a deprovisioned admin's open session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := support.htmx(http.MethodGet, "/general/audit-trail", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a deprovisioned admin's htmx request: %d", resp.StatusCode)
		}
		// Keys stay with the program; the deprovisioned admin's password no
		// longer reaches it.
		resp, _ = ts.newClient(t).post("/login", url.Values{"email": {ts.Demo.Support.Email}, "password": {modeltest.Password}})
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatal("a deprovisioned admin signed in again")
		}
		if !hasAction(ts.auditActions(t, ts.Demo.Program.ID), "admin.deprovisioned:success") {
			t.Fatal("deprovisioning not audited")
		}
		// Added back through the console, the admin is one active user.
		if _, err := ts.Store.Accounts.CreateAdmin(t.Context(), audit.Actor{}, ts.Demo.Program.ID, ts.Demo.Support.Email, modeltest.Password, accounts.AccessLimited, nil); err != nil {
			t.Fatal(err)
		}
		status, list := scimCall(t, ts, token, http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "`+ts.Demo.Support.Email+`"`), nil)
		if status != http.StatusOK || list["totalResults"] != float64(1) || list["Resources"].([]any)[0].(map[string]any)["active"] != true {
			t.Fatalf("re-added admin: %d %v", status, list)
		}
	})
}

func TestSCIMTokenFromTheSettingsPage(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	resp, body := c.htmx(http.MethodPost, "/general/settings/single-sign-on/scim-token", nil)
	if !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || strings.Contains(body, "kdscim_") {
		t.Fatal("Create SCIM token was not gated")
	}
	reauth(t, c, modeltest.Password)
	resp, body = c.htmx(http.MethodPost, "/general/settings/single-sign-on/scim-token", nil)
	doc := parseHTML(t, body)
	token := strings.TrimSpace(doc.Find("#scim-token").Text())
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(token, "kdscim_") {
		t.Fatalf("Create SCIM token: %d\n%s", resp.StatusCode, body)
	}
	if status, _ := scimCall(t, ts, token, http.MethodGet, "/Users", nil); status != http.StatusOK {
		t.Fatalf("the new token: %d", status)
	}
	// Shown once: the page never shows it again.
	_, page := c.get("/general/settings/single-sign-on")
	if strings.Contains(page, token) {
		t.Fatal("the SCIM token was shown again")
	}
	// A limited admin cannot make one.
	limited := ts.loggedIn(t, ts.Demo.Limited.Email)
	if resp, _ := limited.htmx(http.MethodPost, "/general/settings/single-sign-on/scim-token", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("limited admin: %d", resp.StatusCode)
	}
}

// TestSCIMSimultaneousCreates: the identity provider retrying a create
// over several connections makes one admin; the rest are 409.
func TestSCIMSimultaneousCreates(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		token := scimToken(t, ts, ts.Demo.Program.ID)
		const n = 8
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/scim/v2/Users", strings.NewReader(`{"userName": "twice@`+ts.Demo.Program.PartnerID+`.test"}`))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		if counts[http.StatusCreated] != 1 || counts[http.StatusConflict] != n-1 {
			t.Fatalf("simultaneous creates: %v, want one 201 and %d 409", counts, n-1)
		}
	})
}

// Wrong SCIM tokens spend the client address's failed-authentication
// budget (KEYDESK_API_FAILED_AUTH_LIMIT, shared with the REST API): past
// it the address gets 429 with Retry-After in SCIM's error format, before
// any token is looked up, even with the right token; another address is
// not slowed.
func TestSCIMWrongTokensSpendTheAddressBudget(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const limit = 3
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.FailedAuthPerMinute = limit }))
		token := scimToken(t, ts, ts.Demo.Program.ID)
		guesser, provider := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
		for i, bad := range []string{"", "kdscim_nottherightoneatall", token + "x"} {
			if status, _, body := scimCallWith(t, guesser, ts, bad, http.MethodGet, "/Users", nil); status != http.StatusUnauthorized || body["status"] != "401" {
				t.Fatalf("wrong token %d: %d %v, want 401", i+1, status, body)
			}
		}
		status, header, body := scimCallWith(t, guesser, ts, token, http.MethodGet, "/Users", nil)
		if status != http.StatusTooManyRequests || body["status"] != "429" || !slices.Contains(anyStrings(body["schemas"]), "urn:ietf:params:scim:api:messages:2.0:Error") {
			t.Fatalf("after %d wrong tokens: %d %v, want a SCIM 429", limit, status, body)
		}
		if s, err := strconv.Atoi(header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After = %q, want 1..60 seconds", header.Get("Retry-After"))
		}
		if status, _, body := scimCallWith(t, provider, ts, token, http.MethodGet, "/Users", nil); status != http.StatusOK {
			t.Fatalf("the right token from another address: %d %v", status, body)
		}
	})
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s, ok := s.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// The budget is the one the REST API spends: wrong keys there count
// toward SCIM's 429 from the same address.
func TestSCIMSharesTheAPIFailedAuthBudget(t *testing.T) {
	const limit = 2
	ts := newTestServer(t, modeltest.SQLite(t), withAPIConfig(func(c *config.API) { c.FailedAuthPerMinute = limit }))
	token := scimToken(t, ts, ts.Demo.Program.ID)
	guesser := clientFrom(t, "127.0.0.1")
	for i := range limit {
		if r := apiCallWith(t, guesser, ts.URL, "GET", "/v2/loyalty/program", restHeaders(ts.Demo.Program.PartnerID, keys.NewAPIKeyString()), ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong API key %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	if status, _, body := scimCallWith(t, guesser, ts, token, http.MethodGet, "/Users", nil); status != http.StatusTooManyRequests {
		t.Fatalf("SCIM after %d wrong API keys: %d %v, want 429", limit, status, body)
	}
}
