package web_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keydesk/config"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// TestMixedLoad has simulated admins working the console while integrations
// call the API. Afterwards: no unexpected status, the 20-key limit held, keys
// and their creation events match, and the audit chain verifies.
//
// The suite runs a small, bounded version; KEYDESK_SOAK=1 runs the full size
// (30 admins for 60 s), as `make soak` does.
func TestMixedLoad(t *testing.T) {
	admins, duration := 6, 3*time.Second
	if os.Getenv("KEYDESK_SOAK") == "1" {
		admins, duration = 30, 60*time.Second
	}
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.ReadPerMinute = 0 }))
		defaultKey, err := ts.Store.Keys.Default(t.Context(), ts.Demo.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		apiSecret := secretOf(t, ts, *defaultKey)
		clients := make([]*client, admins)
		for i := range clients {
			email := fmt.Sprintf("admin%02d@load.test", i)
			if _, err := ts.Store.Accounts.CreateAdmin(t.Context(), audit.Actor{}, ts.Demo.Program.ID, email, modeltest.Password, accounts.AccessFull, nil); err != nil {
				t.Fatal(err)
			}
			clients[i] = ts.loggedIn(t, email)
			reauth(t, clients[i], modeltest.Password)
		}

		var requests, unexpected atomic.Int64
		var mu sync.Mutex
		var firstErrors []string
		report := func(what string, status int) {
			unexpected.Add(1)
			mu.Lock()
			if len(firstErrors) < 10 {
				firstErrors = append(firstErrors, fmt.Sprintf("%s: %d", what, status))
			}
			mu.Unlock()
		}
		deadline := time.Now().Add(duration)
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(i), 7))
				for n := 0; time.Now().Before(deadline); n++ {
					keys, _ := ts.Store.Keys.List(t.Context(), ts.Demo.Program.ID)
					var target string
					if len(keys) > 0 {
						target = strconv.FormatInt(keys[r.IntN(len(keys))].ID, 10)
					}
					var method, path string
					var form url.Values
					// 404 and 409 are expected when another admin deleted or
					// re-activated the key in between.
					okStatus := map[int]bool{http.StatusOK: true}
					switch op := r.IntN(8); {
					case op == 0 || target == "":
						method, path = http.MethodGet, "/general/api-keys"
					case op == 1:
						method, path, form = http.MethodPost, "/general/api-keys", url.Values{"name": {fmt.Sprintf("load %d-%d", i, n)}}
					case op == 2:
						method, path, form = http.MethodPost, "/general/api-keys/"+target+"/edit", url.Values{"name": {fmt.Sprintf("edited %d-%d", i, n)}}
						okStatus[http.StatusNotFound] = true
					case op == 3:
						method, path = http.MethodPost, "/general/api-keys/"+target+"/reveal"
						okStatus[http.StatusNotFound] = true
					case op == 4:
						method, path = http.MethodPost, "/general/api-keys/"+target+"/inactivate"
						okStatus[http.StatusNotFound] = true
					case op == 5:
						method, path = http.MethodPost, "/general/api-keys/"+target+"/activate"
						okStatus[http.StatusNotFound] = true
					default:
						method, path = http.MethodPost, "/general/api-keys/"+target+"/delete"
						okStatus[http.StatusNotFound] = true
						okStatus[http.StatusConflict] = true
					}
					resp, _ := c.htmx(method, path, form)
					requests.Add(1)
					if !okStatus[resp.StatusCode] {
						report(method+" "+path, resp.StatusCode)
					}
				}
			}()
		}
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				api := ts.newClient(t)
				for time.Now().Before(deadline) {
					resp, _ := api.do(http.MethodGet, "/v2/loyalty/program", nil, map[string]string{"partner-id": ts.Demo.Program.PartnerID, "api-key": apiSecret})
					requests.Add(1)
					if resp.StatusCode != http.StatusOK {
						report("GET /v2/loyalty/program", resp.StatusCode)
					}
				}
			}()
		}
		wg.Wait()
		t.Logf("%d admins and 4 API clients for %s: %d requests, %d unexpected", admins, duration, requests.Load(), unexpected.Load())
		if unexpected.Load() != 0 {
			t.Fatalf("%d unexpected responses, first: %v", unexpected.Load(), firstErrors)
		}
		n, _ := ts.Store.Keys.Count(t.Context(), ts.Demo.Program.ID)
		if n > keys.MaxAPIKeysPerProgram {
			t.Fatalf("%d keys: the limit did not hold", n)
		}
		var created, deleted int64
		ts.Store.DB.Raw("SELECT COUNT(*) FROM audit_events WHERE program_id = ? AND action = ? AND outcome = ?", ts.Demo.Program.ID, audit.ActionKeyGenerated, audit.OutcomeSuccess).Scan(&created)
		ts.Store.DB.Raw("SELECT COUNT(*) FROM audit_events WHERE program_id = ? AND action = ? AND outcome = ?", ts.Demo.Program.ID, audit.ActionKeyDeleted, audit.OutcomeSuccess).Scan(&deleted)
		if created-deleted != n {
			t.Fatalf("keys %d, but %d generated and %d deleted events", n, created, deleted)
		}
		if _, brk, err := ts.Store.Audit.VerifyChain(t.Context(), ts.Demo.Program.ID); err != nil || brk != nil {
			t.Fatalf("audit chain after the load: %v %v", brk, err)
		}
	})
}
