package web_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/config"
	"keydesk/models/modeltest"
)

// TestServerRefreshesKeysInUse: a key called steadily for five cache
// lifetimes is loaded once; from then on the server's refresh loop reads
// it again in batches before its entry expires, so no call waits for a
// reload (without the loop it would be loaded about five times).
func TestServerRefreshesKeysInUse(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const ttl = time.Second
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.KeyCacheTTL = ttl }))
		_, secret := apiKey(t, ts, ts.Demo.Program.ID, "Steady")
		var loads, refreshes atomic.Int64
		count := func(tx *gorm.DB) {
			sql := tx.Statement.SQL.String()
			switch {
			case !strings.Contains(sql, "FROM api_keys k JOIN programs p"):
			case strings.Contains(sql, "k.digest IN"):
				refreshes.Add(1)
			case strings.Contains(sql, "k.digest ="):
				loads.Add(1)
			}
		}
		if err := ts.Store.DB.Callback().Row().Before("gorm:row").Register("test:count_key_reads", count); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(5 * ttl); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(ts.Demo.Program.PartnerID, secret), ""); r.Status != http.StatusOK {
				t.Fatalf("call: %d %s", r.Status, r.Raw)
			}
		}
		// One stall of the refresh loop on a loaded machine may cost one
		// reload; five would mean no refresh at all.
		if loads.Load() > 2 || refreshes.Load() < 3 {
			t.Fatalf("over five cache lifetimes: %d loads, %d batched refreshes; want 1 load (at most 2) and a refresh per half lifetime", loads.Load(), refreshes.Load())
		}
	})
}
