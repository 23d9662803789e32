package keys_test

import (
	"errors"
	"keydesk/models/input"
	"keydesk/models/keys"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzKeyInputValidate: Validate never panics; what it accepts is trimmed,
// valid UTF-8, within the limits, and free of what input.CharacterRule
// refuses (a description may hold line breaks, as LF only); what it refuses
// names a field.
func FuzzKeyInputValidate(f *testing.F) {
	for _, seed := range [][2]string{
		{"Shopify sync", "Order sync from the store"},
		{"  padded  ", "\tdesc\n"},
		{"", ""},
		{"bad \xff", ""},
		{"a\x00b", "c\x1bd"},
		{"invoice\u202egpj.exe", ""},
		{"admin\u200b", "\ufeffx"},
		{"two\nlines", "multi\nline\ndescription"},
		{strings.Repeat("n", 101), strings.Repeat("d", 501)},
		{strings.Repeat("é", 100), strings.Repeat("€", 500)},
		{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`},
		{"\u2066isolate\u2069", "\u061c"},
		{"\u0085next line", "\u2028line separator"},
		{"soft\u00adhyphen", "crlf\r\nline"},
		{"private\ue000use", "non\ufffecharacter"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, name, description string) {
		in := keys.KeyInput{Name: name, Description: description}
		err := in.Validate()
		if err != nil {
			var verr input.ValidationError
			if !errors.As(err, &verr) || len(verr) == 0 {
				t.Fatalf("refusal %v is not a ValidationError naming a field", err)
			}
			for field, msg := range verr {
				if (field != "name" && field != "description") || msg == "" {
					t.Fatalf("refusal names field %q with message %q", field, msg)
				}
			}
			return
		}
		for field, v := range map[string]string{"name": in.Name, "description": in.Description} {
			if !utf8.ValidString(v) {
				t.Fatalf("accepted %s is not valid UTF-8: %q", field, v)
			}
			if v != strings.TrimSpace(v) {
				t.Fatalf("accepted %s is not trimmed: %q", field, v)
			}
			for _, r := range v {
				if r == '\n' && field == "description" {
					continue
				}
				if input.Refused(r) {
					t.Fatalf("accepted %s holds %U: %q", field, r, v)
				}
			}
		}
		if in.Name == "" {
			t.Fatal("accepted an empty name")
		}
		if n := utf8.RuneCountInString(in.Name); n > keys.MaxKeyNameLength {
			t.Fatalf("accepted a %d-character name", n)
		}
		if n := utf8.RuneCountInString(in.Description); n > keys.MaxKeyDescriptionLength {
			t.Fatalf("accepted a %d-character description", n)
		}
		// Validating again changes nothing.
		again := in
		if err := again.Validate(); err != nil || again != in {
			t.Fatalf("validation is not idempotent: %+v → %+v (%v)", in, again, err)
		}
	})
}
