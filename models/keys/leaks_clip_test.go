package keys

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A reporter's URL and source are stored bounded, cut on a rune boundary.
func TestLeakReportWordsAreBounded(t *testing.T) {
	long := "https://github.com/" + strings.Repeat("é", maxLeakURLLength)
	got := clip(long, maxLeakURLLength)
	if len(got) > maxLeakURLLength || !utf8.ValidString(got) || !strings.HasPrefix(long, got) || len(got) < maxLeakURLLength-1 {
		t.Fatalf("clipped to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if clip("content", maxLeakSourceLength) != "content" {
		t.Fatal("a short source changed")
	}
}
