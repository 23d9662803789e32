package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

func TestNeutralizeCSVCell(t *testing.T) {
	cases := map[string]string{
		"":                    "",
		"plain":               "plain",
		"=SUM(A1:A2)":         "'=SUM(A1:A2)",
		"+1-555":              "'+1-555",
		"-2+3":                "'-2+3",
		"@cmd":                "'@cmd",
		"\tx":                 "'\tx",
		"\rx":                 "'\rx",
		"a=b":                 "a=b",
		" =1":                 " =1",
		"'=already":           "'=already",
		`=HYPERLINK("http")`:  `'=HYPERLINK("http")`,
		"ünïcode":             "ünïcode",
		"0":                   "0",
		"kd_not_a_formula_at": "kd_not_a_formula_at",
	}
	for in, want := range cases {
		if got := audit.NeutralizeCSVCell(in); got != want {
			t.Errorf("NeutralizeCSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// auditCSVRoundTrip writes one event and reads it back.
func auditCSVRoundTrip(t testing.TB, e *audit.Event) (raw string, records [][]string) {
	var buf bytes.Buffer
	w := audit.NewCSVWriter(&buf)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(e); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(buf.Bytes()))
	r.FieldsPerRecord = len(audit.CSVHeader)
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%q", err, buf.String())
	}
	return buf.String(), records
}

func TestAuditCSVQuoting(t *testing.T) {
	e := &audit.Event{
		ID: 9, Seq: 3, OccurredAt: time.Date(2026, 3, 1, 10, 0, 0, 5000, time.UTC),
		Action: audit.ActionKeyUpdated, Outcome: "success", ActorEmail: "ana@demo.test",
		TargetType: "api_key", TargetID: "kdi_x", TargetName: "Sync, \"quoted\"\nsecond line",
		UserAgent: "=cmd|' /C calc'!A0", IP: "-1+1", RequestID: "@SUM(1)",
		Details: `{"before":{"name":"a,b"},"after":{"name":"=c"}}`,
	}
	raw, records := auditCSVRoundTrip(t, e)
	if !strings.HasPrefix(raw, strings.Join(audit.CSVHeader, ",")+"\r\n") {
		t.Fatalf("header row missing or not CRLF-terminated: %q", raw)
	}
	if !strings.Contains(raw, `"Sync, ""quoted""`+"\r\n"+`second line"`) {
		t.Fatalf("RFC 4180 quoting: %q", raw)
	}
	if len(records) != 2 || !slices.Equal(records[0], audit.CSVHeader) {
		t.Fatalf("records: %q", records)
	}
	row := map[string]string{}
	for i, h := range audit.CSVHeader {
		row[h] = records[1][i]
	}
	want := map[string]string{
		"occurred_at_utc": "2026-03-01T10:00:00.000005Z",
		"seq":             "3",
		"event_id":        "9",
		"target_name":     "Sync, \"quoted\"\nsecond line",
		"user_agent":      "'=cmd|' /C calc'!A0",
		"ip":              "'-1+1",
		"request_id":      "'@SUM(1)",
		"details":         e.Details,
	}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s = %q, want %q", k, row[k], v)
		}
	}
}

// FuzzAuditCSV checks that any text in any cell comes back from a CSV parser
// as one field, never read as a formula, and otherwise unchanged.
func FuzzAuditCSV(f *testing.F) {
	for _, s := range []string{"", "plain", "=1+1", "+x", "-x", "@x", "\tx", "\rx", "a,b", `"q"`, "line\r\nbreak", " lead", "\x00", "\xff", "=\"\n\"", "\r\n=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := &audit.Event{ActorEmail: s, TargetName: s, UserAgent: s, Details: s, OccurredAt: time.Unix(0, 0)}
		_, records := auditCSVRoundTrip(t, e)
		if len(records) != 2 {
			t.Fatalf("%q made %d records", s, len(records))
		}
		got := records[1][slices.Index(audit.CSVHeader, "target_name")]
		// The CRLF writer drops a carriage return inside a cell (it writes
		// every line break as \r\n, which the reader turns back into \n).
		want := strings.ReplaceAll(audit.NeutralizeCSVCell(s), "\r", "")
		if got != want {
			t.Fatalf("cell %q read back as %q, want %q", s, got, want)
		}
		if got != "" && strings.ContainsRune("=+-@\t\r", rune(got[0])) {
			t.Fatalf("cell %q starts a formula: %q", s, got)
		}
		// Only apostrophes are inserted; a cell without a separator gets
		// at most the leading one.
		n := audit.NeutralizeCSVCell(s)
		if !isSubsequenceWithApostrophes(s, n) || (!strings.ContainsAny(s, ",;\t\r\n") && n != s && "'"+s != n) {
			t.Fatalf("neutralising %q changed more than inserting apostrophes: %q", s, n)
		}
	})
}

func TestAuditCSVStreamsExactlyTheFilteredEvents(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, store, "Alpha")
		other := modeltest.Seed(t, store, "Beta")
		// More matching events than one batch, in one transaction for speed.
		const n = 1260 // 1008 matching events: more than one batch of 1000
		err := store.DB.Transaction(func(tx *gorm.DB) error {
			for i := range n {
				action := audit.ActionKeyCopied
				if i%5 == 0 {
					action = audit.ActionKeyRevealed
				}
				if err := store.Audit.Append(tx, fx.Program.ID, audit.Actor{Email: "a@x.test"}, audit.Entry{Action: action, TargetName: fmt.Sprintf("=row %d", i)}); err != nil {
					return err
				}
			}
			return store.Audit.Append(tx, other.Program.ID, audit.Actor{}, audit.Entry{Action: audit.ActionKeyCopied, TargetName: "foreign"})
		})
		if err != nil {
			t.Fatal(err)
		}
		f, err := audit.FilterInput{Action: audit.ActionKeyCopied}.Resolve(store.Now())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		rows, err := store.Audit.DownloadCSV(context.Background(), &buf, fx.Program.ID, audit.Actor{Email: fx.Support.Email}, f)
		if err != nil {
			t.Fatal(err)
		}
		records, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := n - n/5
		if rows != int64(want) || len(records) != want+1 {
			t.Fatalf("%d rows reported, %d records, want %d", rows, len(records)-1, want)
		}
		nameCol := slices.Index(audit.CSVHeader, "target_name")
		seqCol := slices.Index(audit.CSVHeader, "seq")
		prevSeq := int64(0)
		for i, rec := range records[1:] {
			if rec[nameCol] == "foreign" || !strings.HasPrefix(rec[nameCol], "'=row ") {
				t.Fatalf("row %d: %q", i, rec)
			}
			// Chain order, as the JSON Lines download (TestAuditDownloadsListTheSameEventsInTheSameOrder).
			seq, err := strconv.ParseInt(rec[seqCol], 10, 64)
			if err != nil || seq <= prevSeq {
				t.Fatalf("rows not in chain order at %d: %s after %d", i, rec[seqCol], prevSeq)
			}
			prevSeq = seq
		}
		// The download is audited, with its filters.
		var last audit.Event
		store.DB.Where("program_id = ?", fx.Program.ID).Order("seq DESC").Take(&last)
		if last.Action != audit.ActionAuditDownloaded || last.ActorEmail != fx.Support.Email {
			t.Fatalf("download not audited: %+v", last)
		}
		var details struct {
			Filters map[string]any `json:"filters"`
		}
		if err := json.Unmarshal([]byte(last.Details), &details); err != nil || details.Filters["action"] != audit.ActionKeyCopied || details.Filters["period"] != "30d" {
			t.Fatalf("download details %s (%v)", last.Details, err)
		}
	})
}
