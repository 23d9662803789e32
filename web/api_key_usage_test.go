package web_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keydesk/config"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
	"keydesk/routes"
)

func TestAPIKeyUsageView(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.ReadPerMinute = 3 }))
		demo := ts.Demo.Program
		shop, secret := apiKey(t, ts, demo.ID, "Shop")
		for range 5 {
			apiCall(t, ts.URL, http.MethodGet, "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), "")
		}
		if err := ts.App.FlushUsage(t.Context()); err != nil {
			t.Fatal(err)
		}
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		// The page and the list read hour rows: the same counts before and
		// after the retention job deletes the minutes.
		check := func(when string) {
			t.Helper()
			for _, period := range []string{"", "?range=7d", "?range=30d"} {
				resp, body := c.get(routes.APIKeyUsage(shop.ID) + period)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: usage%s: %d", when, period, resp.StatusCode)
				}
				doc := parseHTML(t, body)
				if got := doc.Find(`[data-usage="succeeded"]`).Text(); got != "3" {
					t.Errorf("%s: usage%s: successful %q, want 3", when, period, got)
				}
				if got := doc.Find(`[data-usage="failed"]`).Text(); got != "2" {
					t.Errorf("%s: usage%s: failed %q, want 2", when, period, got)
				}
				if got := strings.TrimSpace(doc.Find(`[data-outcome="rate_limited"]`).Text()); got != "Rate limit (429) 2" {
					t.Errorf("%s: usage%s: rate-limited %q", when, period, got)
				}
				if doc.Find("svg[role=group] > title").Length() != 1 || doc.Find("table caption").Length() != 1 {
					t.Errorf("usage%s: chart or table missing", period)
				}
				if !strings.Contains(doc.Find("section").Last().Text(), "127.0.0.1") {
					t.Errorf("usage%s: the address is not listed", period)
				}
				if strings.Contains(body, "style=") {
					t.Errorf("usage%s: inline style", period)
				}
				var sum int
				doc.Find("tbody tr td:nth-of-type(1)").Each(func(_ int, s *goquery.Selection) {
					n, _ := strconv.Atoi(s.Text())
					sum += n
				})
				if sum != 3 {
					t.Errorf("%s: usage%s: table sums to %d successful, want 3", when, period, sum)
				}
			}
			// The list shows the 24-hour count and the menu links the view.
			_, body := c.get(routes.APIKeys)
			doc := parseHTML(t, body)
			row := doc.Find("#key-" + strconv.FormatInt(shop.ID, 10))
			if got := row.Find("[data-requests-24h]").First().Text(); got != "5 requests in 24 hours" {
				t.Errorf("%s: list: %q", when, got)
			}
			if href, _ := row.Find(`a.menu-item:contains("Usage")`).Attr("href"); href != routes.APIKeyUsage(shop.ID) {
				t.Errorf("menu Usage link %q", href)
			}
		}
		check("after the flush")
		ts.Store.SetClock(func() time.Time { return time.Now().Add(usage.MinuteRetention + 2*time.Hour) })
		if _, err := ts.Store.Usage.Rollup(t.Context()); err != nil {
			t.Fatal(err)
		}
		ts.Store.SetClock(time.Now)
		var minutes int64
		ts.Store.DB.Raw(`SELECT COUNT(*) FROM key_usage WHERE resolution = ?`, usage.Minute).Scan(&minutes)
		if minutes != 0 {
			t.Fatalf("%d minute rows left after the retention job", minutes)
		}
		check("after the retention job")
		// Another program's key is a 404.
		other, _ := apiKey(t, ts, ts.Other.Program.ID, "Theirs")
		if resp, _ := c.get(routes.APIKeyUsage(other.ID)); resp.StatusCode != http.StatusNotFound {
			t.Errorf("foreign key's usage: %d, want 404", resp.StatusCode)
		}
	})
}
