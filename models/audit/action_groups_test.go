package audit_test

import (
	"strings"
	"testing"

	"keydesk/models/audit"
)

// The Action filter offers every action once, under a group heading;
// groups and the actions in each are in alphabetical order (in any case),
// with "Other" last.
func TestActionGroupsListEveryActionOnceSorted(t *testing.T) {
	groups := audit.ActionGroups()
	seen := map[string]string{}
	for i, g := range groups {
		if g.Label == "" || len(g.Actions) == 0 {
			t.Fatalf("group %d: %+v", i, g)
		}
		if i > 0 && g.Label != "Other" && strings.ToLower(groups[i-1].Label) >= strings.ToLower(g.Label) {
			t.Fatalf("groups not sorted: %q before %q", groups[i-1].Label, g.Label)
		}
		if g.Label == "Other" && i != len(groups)-1 {
			t.Fatalf("Other is group %d of %d", i, len(groups))
		}
		for j, a := range g.Actions {
			if prev, ok := seen[a.Name]; ok {
				t.Fatalf("%s in %q and %q", a.Name, prev, g.Label)
			}
			seen[a.Name] = g.Label
			if j > 0 && strings.ToLower(g.Actions[j-1].Label) > strings.ToLower(a.Label) {
				t.Fatalf("%q: %q before %q", g.Label, g.Actions[j-1].Label, a.Label)
			}
		}
	}
	if len(seen) != len(audit.ActionTable) {
		t.Fatalf("%d actions grouped, %d in the table", len(seen), len(audit.ActionTable))
	}
	for _, want := range []struct{ action, group string }{
		{audit.ActionKeyGenerated, "API keys"},
		{audit.ActionSignIn, "Sign-in and sessions"},
		{audit.ActionPasskeyAdded, "Admins and accounts"},
		{audit.ActionMasterKeyRotated, "Audit trail and master key"},
	} {
		if seen[want.action] != want.group {
			t.Errorf("%s in %q, want %q", want.action, seen[want.action], want.group)
		}
	}
}
