package notify

import (
	"mime"
	"strings"
	"testing"
)

// TestEncodeHeaderTextDecodesToTheLiteralText: whatever a name holds, the
// Subject value decodes (as a mail client decodes it) to exactly that
// text; text a client could take for an encoded-word is never left plain,
// and every line stays within RFC 2047's 76 characters.
func TestEncodeHeaderTextDecodesToTheLiteralText(t *testing.T) {
	for _, s := range []string{
		"=?utf-8?q?Bcc=3A_evil=40evil.test?=",
		"[Demo Store] API key created: =?utf-8?b?QmNjOiBldmlsQGV2aWwudGVzdA==?=",
		`Shop "main" sync_with underscores?=and = signs`,
		"Clé für Zürich — 東京 " + strings.Repeat("é", 60),
		strings.Repeat("a b", 80),
		"  leading and trailing spaces  ",
		"",
	} {
		v := s
		if isPlainHeaderText(s) {
			if strings.Contains(s, "=?") || strings.TrimSpace(s) != s {
				t.Fatalf("%q would go plain", s)
			}
		} else {
			v = encodeHeaderText(s)
			for _, line := range strings.Split(v, "\r\n") {
				if len("Subject: "+line) > 76 {
					t.Fatalf("line %q of %q is longer than 76 characters", line, s)
				}
			}
		}
		// net/mail unfolds a header by joining its lines with a space.
		unfolded := strings.ReplaceAll(v, "\r\n ", " ")
		got, err := new(mime.WordDecoder).DecodeHeader(unfolded)
		if err != nil || got != s {
			t.Fatalf("%q decodes to %q (%v), want it as it is", s, got, err)
		}
	}
}
