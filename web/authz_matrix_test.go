package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/members"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// Who may call a route.
type policy string

const (
	policyPublic    policy = "policyPublic" // anyone, no credentials
	policyAnyAdmin  policy = "any admin"    // any signed-in admin
	policyFullAdmin policy = "full admin"   // full access to the program
	policyAuditors  policy = "audit"        // full admins and holders of the audit_trail module
	policyAPIKey    policy = "api key"      // partner-id + api-key headers
	policyUIToken   policy = "jwt"          // partner-id + Bearer JWT signed with a key
	policyManage    policy = "management"   // Bearer management key (kdm_…)
	policySSOStepUp policy = "sso step-up"  // admins signed in by SSO (the callers here used passwords)
	policySCIM      policy = "scim"         // Bearer SCIM token of a program (no caller here holds one)
)

// routePolicies is the explicit table every registered route must appear
// in: a route missing here fails the test, so no future route can skip
// authorisation.
var routePolicies = map[string]policy{
	"GET /healthz":         policyPublic,
	"GET /readyz":          policyPublic,
	"GET /static/*":        policyPublic,
	"GET /login":           policyPublic,
	"POST /login":          policyPublic,
	"GET /v2/openapi.yaml": policyPublic,
	// Authenticated by GitHub's signature, and by holding the key named.
	"POST /v2/secret-scanning/github": policyPublic,
	"POST /v2/keys/revoke":            policyPublic,
	"GET /login/code":                 policyPublic,
	"POST /login/code":                policyPublic,
	"GET /invite/:token":              policyPublic,
	"GET /login/sso":                  policyPublic,
	"POST /login/sso":                 policyPublic,
	"GET /sso/callback":               policyPublic,
	"POST /invite/:token":             policyPublic,

	"POST /logout":           policyAnyAdmin,
	"GET /":                  policyAnyAdmin,
	"POST /session/program":  policyAnyAdmin,
	"GET /general/no-access": policyAnyAdmin,

	"GET /account":                           policyAnyAdmin,
	"POST /account/password":                 policyAnyAdmin,
	"POST /account/sessions/sign-out-others": policyAnyAdmin,
	"POST /account/totp/setup":               policyAnyAdmin,
	"POST /account/totp/confirm":             policyAnyAdmin,
	"POST /account/totp/remove":              policyAnyAdmin,
	"POST /account/totp/recovery-codes":      policyAnyAdmin,
	"GET /general/api-keys/:id/usage":        policyFullAdmin,
	"POST /account/passkeys/options":         policyAnyAdmin,
	"POST /account/passkeys":                 policyAnyAdmin,
	"GET /account/passkeys/:id/rename":       policyAnyAdmin,
	"POST /account/passkeys/:id/rename":      policyAnyAdmin,
	"GET /account/passkeys/:id/remove":       policyAnyAdmin,
	"POST /account/passkeys/:id/remove":      policyAnyAdmin,
	"POST /login/passkey/options":            policyPublic,
	"POST /login/passkey":                    policyPublic,
	"POST /login/code/passkey/options":       policyPublic,
	"POST /login/code/passkey":               policyPublic,
	"POST /general/reauth/passkey/options":   policyAnyAdmin,
	"POST /general/reauth/passkey":           policyAnyAdmin,
	"GET /general/api-reference":             policyFullAdmin,

	"GET /general/admins":                         policyFullAdmin,
	"POST /general/admins/invite":                 policyFullAdmin,
	"GET /general/admins/:id/access":              policyFullAdmin,
	"POST /general/admins/:id/access":             policyFullAdmin,
	"GET /general/admins/:id/remove":              policyFullAdmin,
	"POST /general/admins/:id/remove":             policyFullAdmin,
	"POST /general/admins/invitations/:id/revoke": policyFullAdmin,
	"POST /general/settings/two-factor":           policyFullAdmin,

	"GET /general/settings":                            policyFullAdmin,
	"POST /general/reauth":                             policyAnyAdmin,
	"GET /general/api-keys":                            policyFullAdmin,
	"GET /general/api-keys/new":                        policyFullAdmin,
	"POST /general/api-keys":                           policyFullAdmin,
	"GET /general/api-keys/:id/edit":                   policyFullAdmin,
	"POST /general/api-keys/:id/edit":                  policyFullAdmin,
	"POST /general/api-keys/:id/reveal":                policyFullAdmin,
	"POST /general/api-keys/:id/copy":                  policyFullAdmin,
	"GET /general/api-keys/:id/inactivate":             policyFullAdmin,
	"POST /general/api-keys/:id/inactivate":            policyFullAdmin,
	"POST /general/api-keys/:id/activate":              policyFullAdmin,
	"GET /general/api-keys/:id/delete":                 policyFullAdmin,
	"POST /general/api-keys/:id/delete":                policyFullAdmin,
	"GET /general/api-keys/:id/roll":                   policyFullAdmin,
	"POST /general/api-keys/:id/roll":                  policyFullAdmin,
	"GET /general/api-keys/:id/expire-old":             policyFullAdmin,
	"POST /general/api-keys/:id/expire-old":            policyFullAdmin,
	"POST /general/settings/max-key-lifetime":          policyFullAdmin,
	"POST /general/settings/leak-response":             policyFullAdmin,
	"GET /general/settings/single-sign-on":             policyFullAdmin,
	"POST /general/settings/single-sign-on":            policyFullAdmin,
	"POST /general/settings/single-sign-on/scim-token": policyFullAdmin,
	"POST /general/reauth/sso":                         policySSOStepUp,
	"POST /general/reauth/code":                        policySSOStepUp,
	"POST /general/settings/default-key/activate":      policyFullAdmin,

	"GET /general/webhooks":                                 policyFullAdmin,
	"POST /general/webhooks":                                policyFullAdmin,
	"GET /general/webhooks/:id":                             policyFullAdmin,
	"POST /general/webhooks/:id":                            policyFullAdmin,
	"POST /general/webhooks/:id/test":                       policyFullAdmin,
	"POST /general/webhooks/:id/rotate":                     policyFullAdmin,
	"GET /general/webhooks/:id/delete":                      policyFullAdmin,
	"POST /general/webhooks/:id/delete":                     policyFullAdmin,
	"POST /general/webhooks/:id/deliveries/:delivery/retry": policyFullAdmin,
	"GET /general/webhooks/:id/deliveries/:delivery":        policyFullAdmin,

	"GET /general/audit-trail":                policyAuditors,
	"GET /general/audit-trail/download":       policyAuditors,
	"GET /general/audit-trail/download.jsonl": policyAuditors,
	"POST /general/audit-trail/verify":        policyAuditors,

	"GET /v2/loyalty/program":            policyAPIKey,
	"GET /v2/loyalty/members":            policyAPIKey,
	"POST /v2/loyalty/members":           policyAPIKey,
	"GET /v2/loyalty/members/:member_id": policyAPIKey,
	"GET /v2/loyalty/ui/member":          policyUIToken,

	"GET /general/management-keys":             policyFullAdmin,
	"GET /general/management-keys/new":         policyFullAdmin,
	"POST /general/management-keys":            policyFullAdmin,
	"GET /general/management-keys/:id/revoke":  policyFullAdmin,
	"POST /general/management-keys/:id/revoke": policyFullAdmin,

	"GET /v2/manage/keys":                         policyManage,
	"POST /v2/manage/keys":                        policyManage,
	"GET /v2/manage/keys/:identifier":             policyManage,
	"PATCH /v2/manage/keys/:identifier":           policyManage,
	"DELETE /v2/manage/keys/:identifier":          policyManage,
	"POST /v2/manage/keys/:identifier/roll":       policyManage,
	"POST /v2/manage/keys/:identifier/inactivate": policyManage,
	"POST /v2/manage/keys/:identifier/activate":   policyManage,
	"GET /v2/manage/keys/:identifier/usage":       policyManage,
	"GET /v2/manage/audit":                        policyManage,

	"GET /scim/v2/ServiceProviderConfig": policySCIM,
	"GET /scim/v2/Users":                 policySCIM,
	"POST /scim/v2/Users":                policySCIM,
	"GET /scim/v2/Users/:id":             policySCIM,
	"PATCH /scim/v2/Users/:id":           policySCIM,
	"DELETE /scim/v2/Users/:id":          policySCIM,
}

// caller is one kind of principal the matrix tries on every route.
type caller struct {
	name    string
	client  *client
	headers func() map[string]string
	partner string // the caller's own program, for the program switcher
}

func TestAuthorizationMatrix(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		// Hundreds of refused API calls come from one address here: the
		// failed-authentication limit has its own tests.
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.FailedAuthPerMinute = 0 }))
		demoKey, err := ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, audit.Actor{}, keys.KeyInput{Name: "matrix"})
		if err != nil {
			t.Fatal(err)
		}
		secret := secretOf(t, ts, *demoKey)
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": demoKey.Identifier, "member_id": "m-1", "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		partner := ts.Demo.Program.PartnerID
		if _, err := ts.Store.Members.Create(t.Context(), ts.Demo.Program.ID, audit.Actor{}, members.MemberInput{MemberID: "m-1", Email: "m1@example.test"}); err != nil {
			t.Fatal(err)
		}
		_, managementSecret := managementKey(t, ts, ts.Demo.Program.ID, "matrix", managementkeys.AllScopes...)
		noHeaders := func() map[string]string { return nil }
		callers := []caller{
			{"anonymous", ts.newClient(t), noHeaders, partner},
			{"full admin", ts.loggedIn(t, ts.Demo.Full.Email), noHeaders, partner},
			{"limited admin", ts.loggedIn(t, ts.Demo.Limited.Email), noHeaders, partner},
			{"support", ts.loggedIn(t, ts.Demo.Support.Email), noHeaders, partner},
			{"other program's full admin", ts.loggedIn(t, ts.Other.Full.Email), noHeaders, ts.Other.Program.PartnerID},
			{"api key", ts.newClient(t), func() map[string]string {
				return map[string]string{"partner-id": partner, "api-key": secret}
			}, partner},
			{"jwt", ts.newClient(t), func() map[string]string {
				return map[string]string{"partner-id": partner, "Authorization": "Bearer " + token}
			}, partner},
			{"management key", ts.newClient(t), func() map[string]string {
				return map[string]string{"Authorization": "Bearer " + managementSecret}
			}, partner},
		}

		var routes []*echo.Route
		seen := map[string]bool{}
		for _, r := range ts.App.Echo.Routes() {
			// HEAD runs its GET route's handler and middleware
			// (TestEveryGetRouteAnswersHead): the GET's row covers it.
			if r.Method == echo.RouteNotFound || r.Method == http.MethodHead {
				continue
			}
			id := r.Method + " " + r.Path
			if seen[id] {
				continue
			}
			seen[id] = true
			if _, ok := routePolicies[id]; !ok {
				t.Errorf("route %s has no entry in the authorisation table", id)
				continue
			}
			routes = append(routes, r)
		}
		for id := range routePolicies {
			if !seen[id] {
				t.Errorf("the authorisation table names %s, which is not registered", id)
			}
		}
		sort.Slice(routes, func(i, j int) bool { return routes[i].Method+routes[i].Path < routes[j].Method+routes[j].Path })

		checked := 0
		for _, r := range routes {
			pol := routePolicies[r.Method+" "+r.Path]
			for _, who := range callers {
				// Each action on a key gets a fresh inactive key of the demo
				// program, so earlier deletes do not change later answers.
				path := r.Path
				switch {
				case strings.HasPrefix(path, "/general/admins/invitations/"):
					inv, _, err := ts.Store.Accounts.Invite(t.Context(), audit.Actor{}, ts.Demo.Program.ID, fmt.Sprintf("inv%d@example.test", checked), "limited", nil)
					if err != nil {
						t.Fatal(err)
					}
					path = strings.Replace(path, ":id", fmt.Sprint(inv.ID), 1)
				case strings.HasPrefix(path, "/general/admins/"):
					a, err := ts.Store.Accounts.CreateAdmin(t.Context(), audit.Actor{}, ts.Demo.Program.ID, fmt.Sprintf("matrix%d@example.test", checked), modeltest.Password, "limited", nil)
					if err != nil {
						t.Fatal(err)
					}
					path = strings.Replace(path, ":id", fmt.Sprint(a.ID), 1)
				case strings.HasPrefix(path, "/account/passkeys/:id"):
					// The caller's own passkey (an admin's id for the others,
					// who are refused before it matters).
					owner := map[string]int64{"limited admin": ts.Demo.Limited.ID, "support": ts.Demo.Support.ID, "other program's full admin": ts.Other.Full.ID}[who.name]
					if owner == 0 {
						owner = ts.Demo.Full.ID
					}
					var id int64
					if err := ts.Store.DB.Raw(`INSERT INTO passkeys (admin_id, name, credential_id, credential, created_at) VALUES (?, ?, ?, '{}', ?) RETURNING id`,
						owner, "matrix", fmt.Sprintf("cred-%d", checked), time.Now()).Scan(&id).Error; err != nil {
						t.Fatal(err)
					}
					path = strings.Replace(path, ":id", fmt.Sprint(id), 1)
				case strings.HasPrefix(path, "/invite/"):
					_, token, err := ts.Store.Accounts.Invite(t.Context(), audit.Actor{}, ts.Demo.Program.ID, fmt.Sprintf("tok%d@example.test", checked), "limited", nil)
					if err != nil {
						t.Fatal(err)
					}
					path = strings.Replace(path, ":token", token, 1)
				case strings.HasPrefix(path, "/general/webhooks/:id"):
					// A fresh endpoint (and delivery) of the demo program; its
					// loopback URL is refused by the SSRF guard, so nothing leaves.
					ep, _, err := ts.Store.OutboxWith(outbox.Options{AllowPrivateTargets: true}).CreateEndpoint(t.Context(), ts.Demo.Program.ID, audit.Actor{}, outbox.EndpointInput{URL: "http://127.0.0.1:9/hook", Events: []string{outbox.EventKeyCreated}})
					if err != nil {
						t.Fatal(err)
					}
					d, err := ts.Store.Outbox.SendTest(t.Context(), ts.Demo.Program.ID, audit.Actor{}, ep.ID)
					if err != nil {
						t.Fatal(err)
					}
					path = strings.Replace(path, ":id", fmt.Sprint(ep.ID), 1)
					path = strings.Replace(path, ":delivery", fmt.Sprint(d.ID), 1)
				}
				if strings.HasPrefix(path, "/general/management-keys/:id") {
					mk, _ := managementKey(t, ts, ts.Demo.Program.ID, fmt.Sprintf("m%d", checked), managementkeys.ScopeKeysRead)
					path = strings.Replace(path, ":id", fmt.Sprint(mk.ID), 1)
				}
				if strings.Contains(path, ":id") {
					k, err := ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, audit.Actor{}, keys.KeyInput{Name: fmt.Sprintf("m%d", checked)})
					if err != nil {
						t.Fatal(err)
					}
					ts.Store.Keys.SetActive(t.Context(), ts.Demo.Program.ID, audit.Actor{}, k.ID, false)
					path = strings.Replace(path, ":identifier", k.Identifier, 1)
					path = strings.Replace(path, ":id", fmt.Sprint(k.ID), 1)
				}
				path = strings.Replace(path, ":member_id", "m-1", 1)
				path = strings.Replace(path, "*", "css/app.css", 1)
				if (path == "/logout" || r.Path == "/invite/:token" && r.Method == http.MethodPost) && who.name != "anonymous" {
					continue // signing out would end the caller's session for the rest of the matrix
				}
				status, location := send(t, who, r.Method, path)
				checked++
				if status == http.StatusSeeOther && strings.HasPrefix(location, "/login") {
					status = http.StatusUnauthorized // sent to sign in: refused
				}
				if msg := judge(pol, who.name, r.Path, status); msg != "" {
					t.Errorf("%s %s as %s: status %d: %s", r.Method, path, who.name, status, msg)
				}
				// Keep the key count below the limit for the rest of the run.
				if keys, _ := ts.Store.Keys.List(t.Context(), ts.Demo.Program.ID); len(keys) > 15 {
					for _, k := range keys[1:] {
						ts.Store.Keys.SetActive(t.Context(), ts.Demo.Program.ID, audit.Actor{}, k.ID, false)
						ts.Store.Keys.Delete(t.Context(), ts.Demo.Program.ID, audit.Actor{}, k.ID)
					}
				}
				// And the endpoints and invitations made for it below theirs.
				eps, _ := ts.Store.Outbox.Endpoints(t.Context(), ts.Demo.Program.ID)
				for _, ep := range eps {
					ts.Store.Outbox.DeleteEndpoint(t.Context(), ts.Demo.Program.ID, audit.Actor{}, ep.ID)
				}
				ts.Store.DB.Exec(`DELETE FROM invitations WHERE program_id = ?`, ts.Demo.Program.ID)
				// And the management keys made for it (the caller's own stays).
				mks, _ := ts.Store.ManagementKeys.List(t.Context(), ts.Demo.Program.ID)
				for _, mk := range mks[min(1, len(mks)):] {
					ts.Store.ManagementKeys.Revoke(t.Context(), ts.Demo.Program.ID, audit.Actor{}, mk.ID)
				}
			}
		}
		t.Logf("%d routes × %d callers: %d requests checked", len(routes), len(callers), checked)
	})
}

// send makes one request as who would: console POSTs carry the CSRF token
// and the htmx header; API callers send their headers.
func send(t *testing.T, who caller, method, path string) (int, string) {
	t.Helper()
	headers := map[string]string{}
	for k, v := range who.headers() {
		headers[k] = v
	}
	var form url.Values
	if method == http.MethodPost {
		form = url.Values{"name": {"matrix-" + who.name}, "password": {"wrong password"}, "partner_id": {who.partner}}
		if !strings.HasPrefix(path, "/v2/") {
			headers["HX-Request"] = "true"
			headers["X-CSRF-Token"] = who.client.csrf()
		}
	}
	resp, _ := who.client.do(method, path, form, headers)
	return resp.StatusCode, resp.Header.Get("Location")
}

// judge says what is wrong with status for who calling a route of pol, or "".
func judge(pol policy, who, path string, status int) string {
	refused := status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound
	isAdmin := strings.Contains(who, "admin") || who == "support"
	allowed := false
	switch pol {
	case policyPublic:
		allowed = true
	case policyAnyAdmin:
		allowed = isAdmin
	case policyFullAdmin:
		allowed = who == "full admin" || who == "other program's full admin" && !strings.Contains(path, ":id")
	case policyAuditors:
		allowed = who == "full admin" || who == "support" || who == "other program's full admin"
	case policyAPIKey:
		allowed = who == "api key"
	case policyUIToken:
		allowed = who == "jwt"
	case policyManage:
		allowed = who == "management key"
	}
	if pol == policyPublic {
		if status >= 500 {
			return "policyPublic route failed"
		}
		return ""
	}
	if allowed && refused {
		return "refused a caller the table allows"
	}
	if !allowed && !refused {
		return "allowed a caller the table refuses"
	}
	// (A console id; an API or SCIM path's caller is refused for lack of credentials first.)
	if !allowed && who == "other program's full admin" && strings.Contains(path, ":id") && !strings.HasPrefix(path, "/v2/") && !strings.HasPrefix(path, "/scim/") && status != http.StatusNotFound {
		return "another program's id must be a 404"
	}
	return ""
}
