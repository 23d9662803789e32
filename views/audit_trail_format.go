package views

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

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
	Field  string
	Before string
	After  string
}

// auditDetails splits an event's details into the before/after of an edit
// and the rest, pretty-printed.
func auditDetails(raw string) (changes []auditChange, rest string) {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, raw
	}
	before, okB := m["before"].(map[string]any)
	after, okA := m["after"].(map[string]any)
	if okB && okA {
		var fields []string
		for k := range before {
			fields = append(fields, k)
		}
		for k := range after {
			if !slices.Contains(fields, k) {
				fields = append(fields, k)
			}
		}
		slices.Sort(fields)
		for _, f := range fields {
			changes = append(changes, auditChange{Field: f, Before: auditValue(before[f]), After: auditValue(after[f])})
		}
		delete(m, "before")
		delete(m, "after")
	}
	if len(m) == 0 {
		return changes, ""
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return changes, raw
	}
	return changes, buf.String()
}

func auditValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		if x == "" {
			return "(empty)"
		}
		return x
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
