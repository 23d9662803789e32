package input_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"keydesk/models/input"
)

// One rule for names and free text: Unicode Cc, Cf, Zl, Zp, Co and the
// noncharacters are refused, wherever they stand; ordinary text of any
// script is accepted.
func TestLineRefusesTheDocumentedCharacterSet(t *testing.T) {
	refused := []struct {
		label string
		value string
		char  string // as the message names it
	}{
		{"tab (Cc)", "a\tb", "U+0009"},
		{"leading tab (Cc)", "\tname", "U+0009"},
		{"line feed (Cc)", "two\nlines", "U+000A"},
		{"carriage return (Cc)", "a\rb", "U+000D"},
		{"NUL (Cc)", "a\x00b", "U+0000"},
		{"DEL (Cc)", "a\x7fb", "U+007F"},
		{"next line (Cc)", "a\u0085b", "U+0085"},
		{"zero-width space (Cf)", "admin\u200b", "U+200B"},
		{"soft hyphen (Cf)", "soft\u00adhyphen", "U+00AD"},
		{"zero-width joiner (Cf)", "a\u200db", "U+200D"},
		{"right-to-left override (Cf)", "invoice\u202egpj.exe", "U+202E"},
		{"isolate (Cf)", "a\u2066b\u2069", "U+2066"},
		{"byte-order mark (Cf)", "\ufeffkey", "U+FEFF"},
		{"Arabic letter mark (Cf)", "a\u061cb", "U+061C"},
		{"tag character (Cf)", "a\U000E0041b", "U+E0041"},
		{"line separator (Zl)", "a\u2028b", "U+2028"},
		{"paragraph separator (Zp)", "a\u2029b", "U+2029"},
		{"private use (Co)", "a\ue000b", "U+E000"},
		{"private use, end of BMP area (Co)", "a\uf8ffb", "U+F8FF"},
		{"supplementary private use (Co)", "a\U000F0000b", "U+F0000"},
		{"noncharacter U+FFFE", "a\ufffeb", "U+FFFE"},
		{"noncharacter U+FFFF", "a\uffffb", "U+FFFF"},
		{"noncharacter U+FDD0", "a\ufdd0b", "U+FDD0"},
		{"noncharacter U+FDEF", "a\ufdefb", "U+FDEF"},
		{"noncharacter U+1FFFE", "a\U0001FFFEb", "U+1FFFE"},
		{"noncharacter U+10FFFF", "a\U0010FFFFb", "U+10FFFF"},
	}
	for _, tc := range refused {
		got, msg := input.Line("Name", tc.value)
		if msg == "" || got != "" {
			t.Errorf("%s: %q accepted as %q", tc.label, tc.value, got)
			continue
		}
		if !strings.HasPrefix(msg, "Name ") || !strings.Contains(msg, tc.char) || !strings.Contains(msg, "Cc, Cf, Zl, Zp, Co and noncharacters") {
			t.Errorf("%s: message %q does not name the field, %s and the rule", tc.label, msg, tc.char)
		}
		if _, msg := input.Text("Description", tc.value); msg == "" && tc.char != "U+000A" && tc.char != "U+000D" {
			t.Errorf("%s: Text accepted %q", tc.label, tc.value)
		}
	}
	if _, msg := input.Line("Name", "bad \xff"); msg == "" {
		t.Error("invalid UTF-8 accepted")
	}

	accepted := []struct{ label, value, want string }{
		{"ASCII", "Shopify sync", "Shopify sync"},
		{"trimmed spaces", "  padded  ", "padded"},
		{"accented letters", "Crème brûlée, Ærøskøbing", "Crème brûlée, Ærøskøbing"},
		{"emoji", "🔑 Keys ✅ 🇫🇷", "🔑 Keys ✅ 🇫🇷"},
		{"CJK", "顧客同期 キー 열쇠", "顧客同期 キー 열쇠"},
		{"right-to-left script", "مفتاح עברית", "مفتاح עברית"},
		{"combining marks", "e\u0301 n\u0303", "e\u0301 n\u0303"},
		{"no-break space (Zs)", "a\u00a0b", "a\u00a0b"},
		{"around the noncharacter block", "\ufdcf\ufdf0", "\ufdcf\ufdf0"},
		{"replacement character", "a\ufffdb", "a\ufffdb"},
		{"punctuation and markup", `<b>"x" & 'y'</b>`, `<b>"x" & 'y'</b>`},
	}
	for _, tc := range accepted {
		got, msg := input.Line("Name", tc.value)
		if msg != "" || got != tc.want {
			t.Errorf("%s: Line(%q) = %q, %q; want %q accepted", tc.label, tc.value, got, msg, tc.want)
		}
	}
}

// A multi-line text keeps its line breaks as LF and refuses the rest of
// the set.
func TestTextAllowsLineBreaksOnly(t *testing.T) {
	for in, want := range map[string]string{
		"first\nsecond":       "first\nsecond",
		"first\r\nsecond\r":   "first\nsecond",
		"old\rmac":            "old\nmac",
		"\n  padded text  \n": "padded text",
	} {
		if got, msg := input.Text("Description", in); msg != "" || got != want {
			t.Errorf("Text(%q) = %q, %q; want %q", in, got, msg, want)
		}
	}
	for _, in := range []string{"a\tb", "a\u2028b", "a\u200bb", "a\x0bb"} {
		if _, msg := input.Text("Description", in); msg == "" {
			t.Errorf("Text accepted %q", in)
		}
	}
}

// Refused covers exactly the five categories and the 66 noncharacters.
func TestRefusedIsTheCategoriesAndTheNoncharacters(t *testing.T) {
	noncharacters := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		inCategory := unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co)
		if !input.Refused(r) {
			if inCategory {
				t.Fatalf("%U is in a refused category but accepted", r)
			}
			continue
		}
		if !inCategory {
			noncharacters++
			if !(r >= 0xFDD0 && r <= 0xFDEF) && r&0xFFFF != 0xFFFE && r&0xFFFF != 0xFFFF {
				t.Fatalf("%U refused but neither in a category nor a noncharacter", r)
			}
		}
	}
	if noncharacters != 66 {
		t.Fatalf("%d noncharacters refused, Unicode has 66", noncharacters)
	}
}

// StripUnsafe, for echoing a refused value back, leaves nothing Line would
// refuse but line breaks.
func FuzzStripUnsafe(f *testing.F) {
	for _, s := range []string{"a\tb", "x\u200by\u00ad\u2028\ufffe\ue000", "bad \xff", "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := input.StripUnsafe(s)
		if !utf8.ValidString(out) {
			t.Fatalf("StripUnsafe(%q) = %q, not UTF-8", s, out)
		}
		if _, msg := input.Text("x", out); msg != "" {
			t.Fatalf("StripUnsafe(%q) = %q still refused: %s", s, out, msg)
		}
		if got, msg := input.Line("x", s); msg == "" && got != strings.TrimSpace(s) {
			t.Fatalf("Line changed an accepted %q to %q", s, got)
		}
	})
}
