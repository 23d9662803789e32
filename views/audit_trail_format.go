package views

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"keydesk/models/audit"
)

// How the Audit Trail page puts events into words: period labels (the
// actions' are in audit.ActionTable), times, actors, outcomes and the details of an edit.

// auditActionLabel is an action in words (audit.ActionTable).
func auditActionLabel(action string) string { return audit.ActionLabel(action) }

var auditPeriodLabels = map[string]string{
	audit.Period24h:    "Last 24 hours",
	audit.Period7d:     "Last 7 days",
	audit.Period30d:    "Last 30 days",
	audit.PeriodAll:    "All time",
	audit.PeriodCustom: "Custom range",
}

// auditTime is how a time reads before audit-time.js puts it in the
// browser's zone: UTC, to the second.
func auditTime(e audit.Event) string {
	return e.OccurredAt.UTC().Format("Jan 2, 2006, 15:04:05") + " UTC"
}

func auditISO(e audit.Event) string {
	return e.OccurredAt.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

func auditActor(e audit.Event) string {
	if e.ActorEmail == "" {
		return "System"
	}
	if id, ok := e.ActorAPIKey(); ok {
		return "API key " + id
	}
	return e.ActorEmail
}

// auditChange is one field of an edit, before and after.
type auditChange struct {
	Key    string // the field's name in the event's details (and exports)
	Field  string // the field in words
	Before string
	After  string
}

// auditField is one other field of an event's details.
type auditField struct {
	Key   string
	Label string
	Value string
}

// auditFieldLabels puts the fields of events' details into words; a field
// not listed reads as its name in sentence case (auditFieldLabel).
var auditFieldLabels = map[string]string{
	"access":                      "Access",
	"action":                      "Action",
	"active":                      "Active",
	"actor":                       "Actor",
	"allowed_ips":                 "Allowed IP addresses",
	"api_key":                     "API key",
	"broken_at_seq":               "Broken at sequence",
	"broken_event_id":             "Broken event",
	"chain_key_version":           "Chain key version",
	"delivery_id":                 "Delivery",
	"description":                 "Description",
	"email":                       "Email",
	"enabled":                     "Enabled",
	"event_type":                  "Event type",
	"events":                      "Events",
	"expires":                     "Expires",
	"expires_at":                  "Expires",
	"expiry":                      "Expiry",
	"expiry_date":                 "Expiry date",
	"failures":                    "Failed attempts",
	"filters":                     "Filters",
	"format":                      "Format",
	"from":                        "From",
	"identifier":                  "Identifier",
	"invitation_id":               "Invitation",
	"key_version":                 "Master key version",
	"last4":                       "Key ends in",
	"legacy_through_seq":          "Legacy events through sequence",
	"limit":                       "Limit",
	"locked_until":                "Locked until",
	"max_key_lifetime":            "Maximum key lifetime",
	"message_id":                  "Message ID",
	"modules":                     "Modules",
	"name":                        "Name",
	"new_account":                 "New account",
	"notice":                      "Notice",
	"old_key_expires_at":          "Old key stops working",
	"old_key_works_until":         "Old key works until",
	"passkey":                     "Passkey",
	"passkey_only":                "Passkey-only sign-in",
	"pending_limit":               "Pending deliveries limit",
	"per_minute_limit":            "Per-minute limit",
	"period":                      "Period",
	"permissions":                 "Permissions",
	"previous_chain_key_version":  "Previous chain key version",
	"previous_head_seq":           "Previous last sequence",
	"previous_secret_valid_until": "Previous secret valid until",
	"reason":                      "Reason",
	"require_two_factor":          "Two-factor sign-in required",
	"resealed":                    "Keys re-sealed",
	"search":                      "Target name contains",
	"sessions_ended":              "Sessions ended",
	"since":                       "Since",
	"throttled":                   "Throttled",
	"to":                          "To",
	"until":                       "Until",
	"url":                         "URL",
	"verified":                    "Events verified",
	"was_working_until":           "Worked until",
	"webhook_secrets_resealed":    "Webhook secrets re-sealed",
}

// auditFieldLabel is a details field in words: its label, or its name in
// sentence case with the usual abbreviations ("ip" → "IP").
func auditFieldLabel(key string) string {
	if l, ok := auditFieldLabels[key]; ok {
		return l
	}
	words := strings.Fields(strings.ReplaceAll(key, "_", " "))
	if len(words) == 0 {
		return key
	}
	for i, w := range words {
		if r, ok := auditFieldWords[w]; ok {
			words[i] = r
		}
	}
	label := strings.Join(words, " ")
	return strings.ToUpper(label[:1]) + label[1:]
}

// auditFieldWords spell out abbreviations in field names.
var auditFieldWords = map[string]string{
	"ip": "IP", "ips": "IP addresses", "id": "ID", "url": "URL", "api": "API", "csv": "CSV",
	"utc": "UTC", "totp": "TOTP", "seq": "sequence", "at": "at",
}

// auditTargetTypeLabels put target types into words.
var auditTargetTypeLabels = map[string]string{
	audit.TargetAPIKey:     "API key",
	audit.TargetAdmin:      "Admin",
	audit.TargetProgram:    "Program",
	audit.TargetAuditTrail: "Audit trail",
	audit.TargetMember:     "Member",
	audit.TargetInvitation: "Invitation",
	"webhook":              "Webhook endpoint",
	"route":                "Page",
}

// auditTargetType is an event's target type in words.
func auditTargetType(t string) string {
	if l, ok := auditTargetTypeLabels[t]; ok {
		return l
	}
	return auditFieldLabel(t)
}

// auditDetails splits an event's details into the before/after of an edit
// and the other fields, each with its label, sorted by label. Details that
// are not a JSON object come back whole as raw.
func auditDetails(details string) (changes []auditChange, fields []auditField, raw string) {
	var m map[string]any
	if err := json.Unmarshal([]byte(details), &m); err != nil {
		return nil, nil, details
	}
	before, okB := m["before"].(map[string]any)
	after, okA := m["after"].(map[string]any)
	if okB && okA {
		var keys []string
		for k := range before {
			keys = append(keys, k)
		}
		for k := range after {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			changes = append(changes, auditChange{Key: k, Field: auditFieldLabel(k), Before: auditValue(before[k]), After: auditValue(after[k])})
		}
		slices.SortFunc(changes, func(a, b auditChange) int { return strings.Compare(a.Field, b.Field) })
		delete(m, "before")
		delete(m, "after")
	}
	for k, v := range m {
		fields = append(fields, auditField{Key: k, Label: auditFieldLabel(k), Value: auditValue(v)})
	}
	slices.SortFunc(fields, func(a, b auditField) int { return strings.Compare(a.Label, b.Label) })
	return changes, fields, ""
}

// auditValue is a details value in words; an object lists its fields with
// their labels.
func auditValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		if x == "" {
			return "(empty)"
		}
		return x
	case bool:
		if x {
			return "Yes"
		}
		return "No"
	case map[string]any:
		parts := make([]string, 0, len(x))
		for k, v := range x {
			parts = append(parts, auditFieldLabel(k)+": "+auditValue(v))
		}
		slices.Sort(parts)
		return strings.Join(parts, "; ")
	case []any:
		parts := make([]string, len(x))
		for i, v := range x {
			parts[i] = auditValue(v)
		}
		if len(parts) == 0 {
			return "(none)"
		}
		return strings.Join(parts, ", ")
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func auditOutcomeClass(outcome string) string {
	switch outcome {
	case audit.OutcomeSuccess:
		return "inline-flex items-center rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700 ring-1 ring-inset ring-emerald-600/20"
	case audit.OutcomeFailure:
		return "inline-flex items-center rounded-full bg-red-50 px-2 py-0.5 text-xs font-medium text-red-700 ring-1 ring-inset ring-red-600/20"
	default:
		return "inline-flex items-center rounded-full bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-800 ring-1 ring-inset ring-amber-600/20"
	}
}

func auditOutcomeLabel(outcome string) string {
	switch outcome {
	case audit.OutcomeSuccess:
		return "Success"
	case audit.OutcomeFailure:
		return "Failure"
	case audit.OutcomeRefused:
		return "Refused"
	}
	return outcome
}

func auditEventLabel(e audit.Event) string {
	return fmt.Sprintf("Event #%d · sequence %d", e.ID, e.Seq)
}
