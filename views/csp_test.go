package views

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The console's CSP allows no inline script or style, and mails carry none
// either: no template may hold a style attribute, a <style> element, an
// inline <script> or an on… event handler attribute.
func TestTemplatesHoldNoInlineScriptOrStyle(t *testing.T) {
	forbidden := map[string]*regexp.Regexp{
		"style attribute":     regexp.MustCompile(`\sstyle=`),
		"style element":       regexp.MustCompile(`<style[\s>]`),
		"inline script":       regexp.MustCompile(`<script(?:\s[^>]*)?>[^<\s]`),
		"script without src":  regexp.MustCompile(`<script(?:\s(?:[^>s]|s[^r]|sr[^c])*)?>`),
		"event handler":       regexp.MustCompile(`\son[a-z]+=`),
		"javascript: address": regexp.MustCompile(`(?i)javascript:`),
	}
	files, err := filepath.Glob("*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates found: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for what, re := range forbidden {
			if loc := re.FindIndex(b); loc != nil {
				t.Errorf("%s: %s at byte %d: %q", f, what, loc[0], b[loc[0]:min(len(b), loc[1]+40)])
			}
		}
	}
}
