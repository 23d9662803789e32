package audit_test

import (
	"keydesk/models/audit"
	"strings"
	"testing"
	"time"
)

// formulaSegments returns the pieces of s, split on every separator a
// spreadsheet might use (comma, semicolon, tab) and on line breaks, that a
// spreadsheet would read as a formula.
func formulaSegments(s string) []string {
	var bad []string
	for _, seg := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(",;\t\r\n", r) }) {
		if seg != "" && strings.ContainsRune("=+-@", rune(seg[0])) {
			bad = append(bad, seg)
		}
	}
	// FieldsFunc drops empty fields and the separators themselves: a
	// segment that starts with a tab or CR right after a separator is
	// caught by checking the raw text too.
	for i := 1; i < len(s); i++ {
		if strings.ContainsRune(",;\t\r\n", rune(s[i-1])) && strings.ContainsRune("=+-@\t\r\x00", rune(s[i])) {
			bad = append(bad, s[i-1:])
		}
	}
	return bad
}

// TestNeutralizeCSVCellAfterSeparators: a spreadsheet that splits a cell on
// ";" (the default separator in much of Europe), "," or a tab must not find
// a formula at the start of any piece (issue 11, item 6).
func TestNeutralizeCSVCellAfterSeparators(t *testing.T) {
	cases := map[string]string{
		"x;=1+2":                          "x;'=1+2",
		"a;=HYPERLINK(\"http://e.x\")":    "a;'=HYPERLINK(\"http://e.x\")",
		"a,+1":                            "a,'+1",
		"a\t-1":                           "a\t'-1",
		"a;@SUM(1)":                       "a;'@SUM(1)",
		"=1;=2,=3":                        "'=1;'=2,'=3",
		"a;;=1":                           "a;;'=1",
		"a,\t=1":                          "a,'\t'=1",
		"a;b=c":                           "a;b=c",
		"\x00x":                           "'\x00x",
		"a;\x00x":                         "a;'\x00x",
		"a; =1":                           "a; =1",
		"Mozilla/5.0 (X11; Linux x86_64)": "Mozilla/5.0 (X11; Linux x86_64)",
		"2026-03-01T10:00:00Z":            "2026-03-01T10:00:00Z",
		`{"before":{"name":"a,b"},"after":{"name":"=c"}}`: `{"before":{"name":"a,b"},"after":{"name":"=c"}}`,
	}
	for in, want := range cases {
		got := audit.NeutralizeCSVCell(in)
		if got != want {
			t.Errorf("NeutralizeCSVCell(%q) = %q, want %q", in, got, want)
		}
		if bad := formulaSegments(got); len(bad) > 0 {
			t.Errorf("NeutralizeCSVCell(%q) = %q still starts a formula at %q", in, got, bad)
		}
	}
}

// FuzzNeutralizeCSVCellSegments: whatever the input, no piece of the
// neutralised cell starts a formula, and removing the inserted apostrophes
// gives the input back.
func FuzzNeutralizeCSVCellSegments(f *testing.F) {
	for _, s := range []string{"x;=1+2", "a,\t=1", "=1;=2", "\t\t", ";;;", "a\n=1", "'=x", "a;'=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := audit.NeutralizeCSVCell(s)
		if bad := formulaSegments(got); len(bad) > 0 {
			t.Fatalf("NeutralizeCSVCell(%q) = %q starts a formula at %q", s, got, bad)
		}
		if len(got) < len(s) || !isSubsequenceWithApostrophes(s, got) {
			t.Fatalf("NeutralizeCSVCell(%q) = %q changed more than inserting apostrophes", s, got)
		}
	})
}

// isSubsequenceWithApostrophes reports whether out is in with only
// apostrophes inserted.
func isSubsequenceWithApostrophes(in, out string) bool {
	i := 0
	for j := 0; j < len(out); j++ {
		if i < len(in) && out[j] == in[i] {
			i++
			continue
		}
		if out[j] != '\'' {
			return false
		}
	}
	return i == len(in)
}

// TestAuditCSVRowHasNoFormulaAfterSeparators writes an event whose key name
// and user agent carry ";=" and reads the raw row the way a spreadsheet
// splitting on ";" would.
func TestAuditCSVRowHasNoFormulaAfterSeparators(t *testing.T) {
	e := &audit.Event{
		ID: 1, Seq: 1, OccurredAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		Action: audit.ActionKeyGenerated, Outcome: "success",
		TargetName: "x;=1+2", UserAgent: `a;=HYPERLINK("http://evil.example","x")`,
	}
	raw, _ := auditCSVRoundTrip(t, e)
	row := strings.SplitN(raw, "\r\n", 2)[1]
	for _, seg := range strings.FieldsFunc(row, func(r rune) bool { return strings.ContainsRune(",;\t\r\n", r) }) {
		seg = strings.TrimLeft(seg, `"`)
		if seg != "" && strings.ContainsRune("=+-@", rune(seg[0])) {
			t.Fatalf("a spreadsheet splitting on , ; or tab reads %q as a formula in %q", seg, row)
		}
	}
}
