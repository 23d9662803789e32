// Package input holds the rules every domain package applies to what people
// type: the one validation error type that maps fields to messages, email
// normalisation and the one text sanitiser.
package input

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidationError maps form fields to what is wrong with them, in words
// an admin can act on.
type ValidationError map[string]string

func (v ValidationError) Error() string {
	parts := make([]string, 0, len(v))
	for field, msg := range v {
		parts = append(parts, field+": "+msg)
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// NormalizeEmail lowercases and trims an email address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// unsafeRune reports a character that never belongs in a label: a control
// character other than a line break or tab, a bidirectional override, or
// an invisible zero-width character.
func unsafeRune(r rune) bool {
	if r == '\n' || r == '\r' || r == '\t' {
		return false
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u200b' || r == '\ufeff'
}

// CleanText trims s and reports false when it holds invalid UTF-8, control
// characters (line breaks and tabs aside), bidirectional overrides or
// zero-width characters.
func CleanText(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	s = strings.TrimSpace(s)
	if strings.IndexFunc(s, unsafeRune) >= 0 {
		return "", false
	}
	return s, true
}

// StripUnsafe drops invalid UTF-8 and the characters CleanText refuses, for
// echoing a refused value back into a form without reflecting them.
func StripUnsafe(s string) string {
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

// Printable reports whether s is valid UTF-8 without any control character
// (tabs and line breaks included: browsers drop them from URLs, so
// "/\t/evil.example" would become "//evil.example").
func Printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}
