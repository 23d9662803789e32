package web_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
	"keydesk/routes"
)

// usageMix is what sendUsageMix sends with one key, by outcome.
var usageMix = map[string]int64{
	usage.OutcomeSuccess:       8, // 200 (two of them with the old secret during its overlap)
	usage.OutcomeClientError:   5, // 2×404, 3×422
	usage.OutcomeServerError:   1,
	usage.OutcomeRateLimited:   2,
	usage.OutcomeWrongPartner:  1,
	usage.OutcomeNoPermission:  2,
	usage.OutcomeWrongAddress:  1,
	usage.OutcomeInactive:      2,
	usage.OutcomeOldKeyExpired: 3, // after the overlap, before and after the sweep; and after a roll "Now"
	usage.OutcomeExpired:       1,
}

// sendUsageMix sends a known mix of calls with one key through the real
// router, each outcome by its real cause, moving the server's clock from
// start (the rate limit's minute, a roll's overlap, the key's expiry), and
// flushes the counts. It returns the key; the clock is left 8 days on.
func sendUsageMix(t *testing.T, ts *testServer, start time.Time) keys.APIKey {
	t.Helper()
	demo, other := ts.Demo.Program, ts.Other.Program
	at := func(d time.Duration) { ts.Store.SetClock(func() time.Time { return start.Add(d) }) }
	at(0)
	k, err := ts.Store.Keys.Generate(t.Context(), demo.ID, audit.Actor{}, keys.KeyInput{Name: "Shop", Expiry: keys.Expiry7Days})
	if err != nil {
		t.Fatal(err)
	}
	secret := k.Secret
	call := func(want int, method, path, partnerID, key, body string) {
		t.Helper()
		if r := apiCall(t, ts.URL, method, path, restHeaders(partnerID, key), body); r.Status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Raw, want)
		}
	}
	const program, members, member = "/v2/loyalty/program", "/v2/loyalty/members", "/v2/loyalty/members/nobody"
	// The first minute: 8 reads within the budget, then 2 over it.
	for range 5 {
		call(http.StatusOK, http.MethodGet, program, demo.PartnerID, secret, "")
	}
	for range 2 {
		call(http.StatusNotFound, http.MethodGet, member, demo.PartnerID, secret, "")
	}
	for range 3 {
		call(http.StatusUnprocessableEntity, http.MethodPost, members, demo.PartnerID, secret, `{}`)
	}
	call(http.StatusOK, http.MethodGet, program, demo.PartnerID, secret, "")
	for range 2 {
		call(http.StatusTooManyRequests, http.MethodGet, program, demo.PartnerID, secret, "")
	}
	call(http.StatusUnauthorized, http.MethodGet, program, other.PartnerID, secret, "")
	// A server error: the members table is away while a member is added.
	if err := ts.Store.DB.Exec(`ALTER TABLE members RENAME TO members_away`).Error; err != nil {
		t.Fatal(err)
	}
	call(http.StatusInternalServerError, http.MethodPost, members, demo.PartnerID, secret, `{"member_id":"m-1","email":"m1@example.com","first_name":"M","last_name":"One"}`)
	if err := ts.Store.DB.Exec(`ALTER TABLE members_away RENAME TO members`).Error; err != nil {
		t.Fatal(err)
	}

	// A minute on: outside the key's permissions, then its addresses.
	at(time.Minute)
	restrict(t, ts, demo.ID, *k, []string{"members:read"}, "")
	for range 2 {
		call(http.StatusForbidden, http.MethodGet, program, demo.PartnerID, secret, "")
	}
	restrict(t, ts, demo.ID, *k, nil, "203.0.113.0/24")
	call(http.StatusForbidden, http.MethodGet, program, demo.PartnerID, secret, "")
	restrict(t, ts, demo.ID, *k, nil, "")
	// Inactive, then active again.
	setActive := func(active bool) {
		t.Helper()
		if _, err := ts.Store.Keys.SetActive(t.Context(), demo.ID, audit.Actor{}, k.ID, active); err != nil {
			t.Fatal(err)
		}
		ts.App.WaitRevocations()
	}
	setActive(false)
	for range 2 {
		call(http.StatusUnauthorized, http.MethodGet, program, demo.PartnerID, secret, "")
	}
	setActive(true)
	// Rolled with an hour's overlap: both secrets work.
	rolled, err := ts.Store.Keys.Roll(t.Context(), demo.ID, audit.Actor{}, k.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ts.App.WaitRevocations()
	call(http.StatusOK, http.MethodGet, program, demo.PartnerID, secret, "")
	call(http.StatusOK, http.MethodGet, program, demo.PartnerID, rolled.Secret, "")

	// After the overlap: the old secret is refused before the sweep
	// destroys it and after; a roll with no overlap retires the current
	// secret at once.
	at(2 * time.Hour)
	call(http.StatusUnauthorized, http.MethodGet, program, demo.PartnerID, secret, "")
	if n, err := ts.Store.Keys.DestroyEndedOverlaps(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep: %d destroyed, %v", n, err)
	}
	ts.App.WaitRevocations()
	call(http.StatusUnauthorized, http.MethodGet, program, demo.PartnerID, secret, "")
	again, err := ts.Store.Keys.Roll(t.Context(), demo.ID, audit.Actor{}, k.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	ts.App.WaitRevocations()
	call(http.StatusUnauthorized, http.MethodGet, program, demo.PartnerID, rolled.Secret, "")

	// After the key's expiry.
	at(8 * 24 * time.Hour)
	call(http.StatusUnauthorized, http.MethodGet, program, demo.PartnerID, again.Secret, "")

	if err := ts.App.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	return *k
}

// TestUsageViewCountsEachOutcome: a known mix of calls through the real
// router (2xx, 404, 422, 5xx, 429, 401 for each reason including a
// roll's old secret after its overlap, 403 for a permission and an
// address) is counted exactly, each call once, in the usage view (totals,
// reasons, chart series, table) and in the store's totals the REST read
// serves, on both databases.
func TestUsageViewCountsEachOutcome(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.ReadPerMinute = 8 }))
		start := time.Now().UTC()
		k := sendUsageMix(t, ts, start)
		var wantOK, wantFailed int64
		for o, n := range usageMix {
			if usage.Succeeded(o) {
				wantOK += n
			} else {
				wantFailed += n
			}
		}

		// The store's totals (what the REST usage read reports).
		now := start.Add(8 * 24 * time.Hour)
		counts, err := ts.Store.Usage.Sums(t.Context(), ts.Demo.Program.ID, k.ID, now.Add(-30*24*time.Hour), usage.Day)
		if err != nil {
			t.Fatal(err)
		}
		sum := usage.Summarize(counts)
		if sum.Successful != wantOK || sum.Failed != wantFailed {
			t.Errorf("store: %d successful, %d failed; want %d, %d", sum.Successful, sum.Failed, wantOK, wantFailed)
		}
		for o, n := range usageMix {
			if sum.ByOutcome[o] != n {
				t.Errorf("store: %s %d, want %d (all: %v)", o, sum.ByOutcome[o], n, sum.ByOutcome)
			}
		}

		// The view over 30 days.
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		resp, body := c.get(routes.APIKeyUsage(k.ID) + "?range=30d")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("usage view: %d", resp.StatusCode)
		}
		doc := parseHTML(t, body)
		if got := doc.Find(`[data-usage="succeeded"]`).Text(); got != itoa(wantOK) {
			t.Errorf("view: successful %q, want %d", got, wantOK)
		}
		if got := doc.Find(`[data-usage="failed"]`).Text(); got != itoa(wantFailed) {
			t.Errorf("view: failed %q, want %d", got, wantFailed)
		}
		for o, n := range usageMix {
			if usage.Succeeded(o) {
				continue
			}
			li := doc.Find(`[data-outcome="` + o + `"]`)
			if got := li.Find("span").Last().Text(); got != itoa(n) {
				t.Errorf("view: reason %s shows %q (%q), want %d", o, got, li.Text(), n)
			}
		}
		// One series per class, its total in the legend and in the table's
		// column; the bars' accessible names carry the same numbers.
		wantSeries := map[string]int64{}
		for o, n := range usageMix {
			wantSeries[usage.ClassOf(o)] += n
		}
		for i, class := range usage.Classes {
			legend := doc.Find(`[data-usage-series="` + class.Name + `"]`).Text()
			if !strings.HasSuffix(legend, ": "+itoa(wantSeries[class.Name])) {
				t.Errorf("legend %s: %q, want total %d", class.Name, legend, wantSeries[class.Name])
			}
			var column int64
			doc.Find("tbody tr").Each(func(_ int, row *goquery.Selection) {
				n, _ := strconv.ParseInt(row.Find("td").Eq(i).Text(), 10, 64)
				column += n
			})
			if column != wantSeries[class.Name] {
				t.Errorf("table column %s sums to %d, want %d", class.Name, column, wantSeries[class.Name])
			}
		}
		bars := doc.Find("[data-usage-bar]")
		if bars.Length() != 30 {
			t.Errorf("%d bars, want 30", bars.Length())
		}
		first := bars.FilterFunction(func(_ int, s *goquery.Selection) bool {
			label, _ := s.Attr("aria-label")
			return strings.HasPrefix(label, start.Format("Mon Jan 2"))
		})
		if label, _ := first.Attr("aria-label"); !strings.Contains(label, "Client errors (other 4xx): 5") || !strings.Contains(label, "Server errors (5xx): 1") {
			t.Errorf("first day's bar: %q", label)
		}
		if got := doc.Find("[data-usage-freshness]").Text(); !strings.Contains(got, "up to a minute behind") {
			t.Errorf("freshness: %q", got)
		}
		if strings.Contains(body, "style=") || strings.Contains(body, "<script>") {
			t.Error("inline style or script")
		}
		// The API Keys list's 24-hour count: the one call of the last day
		// (the expired one), every outcome counting.
		_, list := c.get(routes.APIKeys)
		row := parseHTML(t, list).Find("#key-" + strconv.FormatInt(k.ID, 10))
		if got := row.Find("[data-requests-24h]").First().Text(); !strings.HasPrefix(got, "1 request") {
			t.Errorf("list: %q", got)
		}
	})
}
