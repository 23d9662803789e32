package audit

import (
	"slices"
	"strings"
)

// ActionGroup is a heading of the Audit Trail's action filter with its
// actions.
type ActionGroup struct {
	Label   string
	Actions []Action
}

// actionGroupLabels names the group of each action name's prefix (the part
// before the first dot).
var actionGroupLabels = map[string]string{
	"signin":     "Sign-in and sessions",
	"signout":    "Sign-in and sessions",
	"reauth":     "Sign-in and sessions",
	"session":    "Sign-in and sessions",
	"api_key":    "API keys",
	"access":     "API requests",
	"member":     "API requests",
	"program":    "Program settings",
	"admin":      "Admins and accounts",
	"webhook":    "Webhooks",
	"audit":      "Audit trail and master key",
	"master_key": "Audit trail and master key",
}

// otherActions heads the actions of a prefix no group names; it comes last.
const otherActions = "Other"

// ActionGroups lists every action of ActionTable once, grouped by what it
// acts on: groups by label, actions by label within a group (in any case),
// as the Audit Trail's filter offers them.
func ActionGroups() []ActionGroup {
	byLabel := map[string]*ActionGroup{}
	var groups []*ActionGroup
	for _, a := range ActionTable {
		prefix, _, _ := strings.Cut(a.Name, ".")
		label, ok := actionGroupLabels[prefix]
		if !ok {
			label = otherActions
		}
		g := byLabel[label]
		if g == nil {
			g = &ActionGroup{Label: label}
			byLabel[label] = g
			groups = append(groups, g)
		}
		g.Actions = append(g.Actions, a)
	}
	slices.SortFunc(groups, func(a, b *ActionGroup) int {
		if (a.Label == otherActions) != (b.Label == otherActions) {
			if a.Label == otherActions {
				return 1
			}
			return -1
		}
		return compareWords(a.Label, b.Label)
	})
	out := make([]ActionGroup, len(groups))
	for i, g := range groups {
		slices.SortStableFunc(g.Actions, func(a, b Action) int { return compareWords(a.Label, b.Label) })
		out[i] = *g
	}
	return out
}

// compareWords orders labels as a reader does: in any case.
func compareWords(a, b string) int {
	if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}
