package views

import (
	"testing"

	"keydesk/models/audit"
)

// Every action the Audit Trail's filter offers reads as words, never as
// its internal name.
func TestEveryAuditActionHasALabel(t *testing.T) {
	for _, a := range audit.Actions {
		if auditActionLabel(a) == a {
			t.Errorf("audit action %q has no label in auditActionLabels", a)
		}
	}
}
