package views

import (
	"strings"
	"testing"
)

// Every field of an expanded row reads in words: a roll's last4 is "Key
// ends in", known fields have their label, unknown ones are spelled out,
// nested values list their fields with labels, and fields are sorted by
// label.
func TestAuditDetailsLabelEveryField(t *testing.T) {
	changes, fields, raw := auditDetails(`{"before":{"last4":"abcd","allowed_ips":["198.51.100.0/24"]},"after":{"last4":"wxyz","allowed_ips":[]},` +
		`"old_key_works_until":"Jan 2, 2027","filters":{"period":"30d","api_key":"shop"},"client_ip_count":3,"passkey_only":true}`)
	if raw != "" {
		t.Fatalf("raw %q", raw)
	}
	gotChanges := map[string]auditChange{}
	for _, c := range changes {
		gotChanges[c.Field] = c
	}
	if c := gotChanges["Key ends in"]; c.Key != "last4" || c.Before != "abcd" || c.After != "wxyz" {
		t.Fatalf("changes %+v", changes)
	}
	if c := gotChanges["Allowed IP addresses"]; c.Before != "198.51.100.0/24" || c.After != "(none)" {
		t.Fatalf("changes %+v", changes)
	}
	if changes[0].Field != "Allowed IP addresses" {
		t.Fatalf("changes not sorted by label: %+v", changes)
	}
	want := []auditField{
		{"client_ip_count", "Client IP count", "3"},
		{"filters", "Filters", "API key: shop; Period: 30d"},
		{"old_key_works_until", "Old key works until", "Jan 2, 2027"},
		{"passkey_only", "Passkey-only sign-in", "Yes"},
	}
	if len(fields) != len(want) {
		t.Fatalf("fields %+v", fields)
	}
	for i := range want {
		if fields[i] != want[i] {
			t.Fatalf("field %d: %+v, want %+v", i, fields[i], want[i])
		}
	}
	for _, l := range append(append([]string{}, fieldLabels(fields)...), changeLabels(changes)...) {
		if strings.Contains(l, "_") || l != strings.TrimSpace(l) || strings.ToUpper(l[:1]) != l[:1] {
			t.Fatalf("label %q is not in words", l)
		}
	}
	// Details that are not an object are shown whole.
	if _, _, raw := auditDetails("not json"); raw != "not json" {
		t.Fatalf("raw %q", raw)
	}
	if got := auditTargetType("api_key"); got != "API key" {
		t.Fatalf("target type %q", got)
	}
}

func fieldLabels(fs []auditField) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Label
	}
	return out
}

func changeLabels(cs []auditChange) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Field
	}
	return out
}
