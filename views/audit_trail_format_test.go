package views

import (
	"testing"

	"keydesk/models/audit"
)

// Every action the Audit Trail's filter offers reads as words, never as
// its internal name; a former name reads as the action it is now.
func TestEveryAuditActionHasALabel(t *testing.T) {
	for _, a := range audit.ActionTable {
		if got := auditActionLabel(a.Name); got == a.Name || got != a.Label {
			t.Errorf("audit action %q reads %q, want its table label %q", a.Name, got, a.Label)
		}
		for _, former := range a.Formerly {
			if got := auditActionLabel(former); got != a.Label {
				t.Errorf("former name %q reads %q, want %q", former, got, a.Label)
			}
		}
	}
}
