package views

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"keydesk/models/audit"
)

// How the Audit Trail page puts events into words: action and period
// labels, times, actors, outcomes and the details of an edit.

var auditActionLabels = map[string]string{
	audit.ActionSignIn:          "Signed in",
	audit.ActionSignInFailed:    "Sign-in failed",
	audit.ActionSignOut:         "Signed out",
	audit.ActionReauthSucceeded: "Password confirmed",
	audit.ActionReauthFailed:    "Password confirmation failed",
	audit.ActionReauthLocked:    "Password confirmation locked",
	audit.ActionKeyGenerated:    "API key generated",
	audit.ActionKeyRevealed:     "API key revealed",
	audit.ActionKeyCopied:       "API key copied",
	audit.ActionKeyEdited:       "API key edited",
	audit.ActionKeyInactivated:  "API key inactivated",
	audit.ActionKeyActivated:    "API key activated",
	audit.ActionKeyDeleted:      "API key deleted",
	audit.ActionAccessRefused:   "Access refused",
	audit.ActionAuditDownloaded: "Audit trail downloaded",
	audit.ActionAuditVerified:   "Audit trail verified",
	audit.ActionProgramCreated:  "Program created",
	audit.ActionAdminCreated:    "Admin added",
	audit.ActionMemberCreated:   "Member created",
	audit.ActionProgramSwitched: "Switched program",
	// The key lifecycle.
	audit.ActionKeyUpdated:         "API key access changed",
	audit.ActionKeyRolled:          "API key rolled",
	audit.ActionKeyOldExpired:      "Old API key stopped working",
	audit.ActionKeyLifetimeChanged: "Maximum key lifetime changed",
	audit.ActionKeyExpiring:        "API key expiring soon",
	audit.ActionKeyExpired:         "API key expired",

	audit.ActionAdminInvited:            "Admin invited",
	audit.ActionAdminInvitationAccepted: "Invitation accepted",
	audit.ActionAdminInvitationRevoked:  "Invitation revoked",
	audit.ActionAdminAccessChanged:      "Admin access changed",
	audit.ActionAdminRemoved:            "Admin removed",
	audit.ActionPasswordChanged:         "Password changed",
	audit.ActionSessionsEnded:           "Other sessions signed out",
	audit.ActionTOTPEnabled:             "Authenticator app set up",
	audit.ActionTOTPDisabled:            "Authenticator app removed",
	audit.ActionSecondFactorFailed:      "Two-factor code refused",
	audit.ActionRecoveryCodeUsed:        "Recovery code used",
	audit.ActionTwoFactorPolicyChanged:  "Two-factor policy changed",
	audit.ActionPasskeyAdded:            "Passkey added",
	audit.ActionPasskeyRenamed:          "Passkey renamed",
	audit.ActionPasskeyRemoved:          "Passkey removed",
	audit.ActionPasskeyOnlyChanged:      "Passkey-only sign-in changed",
	audit.ActionMasterKeyRotated:        "Master key rotated",
	audit.ActionAuditRekeyed:            "Audit trail re-keyed",
}

// auditActionLabel is an action in words.
func auditActionLabel(action string) string {
	if l, ok := auditActionLabels[action]; ok {
		return l
	}
	return action
}

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
