package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// TestAuditTrailJSONLDownload: the page offers a JSON Lines download with
// its filters; through the real route it streams only matching events in
// chain order, with chain fields, and is audited like the CSV one.
func TestAuditTrailJSONLDownload(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		full := ts.loggedIn(t, ts.Demo.Full.Email)
		for _, name := range []string{"Sync one", "Sync two"} {
			if resp, body := generate(t, full, name); resp.StatusCode != http.StatusOK {
				t.Fatalf("generate: %d %s", resp.StatusCode, body)
			}
		}
		support := ts.loggedIn(t, ts.Demo.Support.Email)
		_, page := support.get(auditTrailURL + "?action=api_key.generated")
		if !strings.Contains(page, `href="/general/audit-trail/download.jsonl?action=api_key.generated`) || !strings.Contains(page, "Download JSON Lines") {
			t.Fatal("the page offers no JSON Lines download with its filters")
		}
		resp, body := support.get(auditTrailURL + "/download.jsonl?action=api_key.generated")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), ".jsonl") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
		}
		var names []string
		var prevSeq int64
		for _, s := range strings.Split(strings.TrimSpace(body), "\n") {
			var l audit.JSONLine
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				t.Fatalf("line %q: %v", s, err)
			}
			if l.Action != audit.ActionKeyGenerated || l.Hash == "" || l.PrevHash == "" || l.HashVersion == 0 || l.Seq <= prevSeq {
				t.Fatalf("line %+v", l)
			}
			prevSeq = l.Seq
			names = append(names, l.TargetName)
		}
		if strings.Join(names, ",") != "Sync one,Sync two" {
			t.Fatalf("names %v", names)
		}
		resp, body = support.get(auditTrailURL + "/download.jsonl?action=api_key.generated&period=forever")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Disposition") != "" {
			t.Fatalf("bad filter: %d %s", resp.StatusCode, body)
		}
		// Audited, with the format.
		_, body = support.get(auditTrailURL + "/download.jsonl?action=audit.downloaded&period=all")
		if !strings.Contains(body, `\"format\":\"jsonl\"`) {
			t.Fatalf("download not audited: %s", body)
		}
	})
}
