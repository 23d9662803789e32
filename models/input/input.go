// Package input holds the rules every domain package applies to what people
// type: the one validation error type that maps fields to messages, email
// normalisation and the one character rule of names and free text
// (CharacterRule).
package input

import (
	"fmt"
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

// CharacterRule is the one rule for every name and free-text field that
// keydesk accepts, in the console and the API alike, as messages and the
// OpenAPI document state it: no control characters (Unicode Cc, tabs and
// line breaks included), format characters (Cf: zero-width and
// bidirectional controls, soft hyphens, byte-order marks), line or
// paragraph separators (Zl, Zp), private-use characters (Co) or
// noncharacters (U+FDD0 to U+FDEF and U+xFFFE, U+xFFFF in every plane).
// The only exception is a line break in a multi-line text (Text).
const CharacterRule = "control, format, line separator, paragraph separator, private-use and noncharacter code points (Unicode Cc, Cf, Zl, Zp, Co and noncharacters) are not allowed"

// refusedCategories are the Unicode categories of CharacterRule.
var refusedCategories = []*unicode.RangeTable{unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co}

// Refused reports whether r breaks CharacterRule.
func Refused(r rune) bool {
	return unicode.In(r, refusedCategories...) || noncharacter(r)
}

// noncharacter reports the 66 code points Unicode reserves as
// noncharacters: U+FDD0 to U+FDEF and the last two of every plane.
func noncharacter(r rune) bool {
	return (r >= 0xFDD0 && r <= 0xFDEF) || (r >= 0 && r <= unicode.MaxRune && r&0xFFFE == 0xFFFE)
}

// Line checks s, a one-line name or label, against CharacterRule (a
// leading or trailing tab is refused like any other) and trims it. It returns the trimmed value and, when s breaks the rule
// (or is not UTF-8), a message for the person who typed it that starts
// with label and names the first refused character and the rule.
func Line(label, s string) (string, string) {
	return clean(label, s, false)
}

// Text is Line for a multi-line text, such as a description typed into a
// textarea: line breaks are allowed (CR LF and CR become LF), nothing else
// that CharacterRule refuses.
func Text(label, s string) (string, string) {
	return clean(label, s, true)
}

func clean(label, s string, multiline bool) (string, string) {
	if !utf8.ValidString(s) {
		return "", label + " is not valid UTF-8 text."
	}
	if multiline {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	}
	for _, r := range s {
		if Refused(r) && (!multiline || r != '\n') {
			return "", fmt.Sprintf("%s contains %U, which is not allowed: %s.", label, r, CharacterRule)
		}
	}
	return strings.TrimSpace(s), ""
}

// StripUnsafe drops invalid UTF-8 and the characters CharacterRule
// refuses (line breaks aside), for echoing a refused value back into a
// form without reflecting them.
func StripUnsafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && Refused(r) {
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
