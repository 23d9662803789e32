package audit_test

import (
	"slices"
	"testing"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// The action table is the documentation: every name (current or former)
// appears once, every action reads as words, and the webhook and mail
// columns give exactly the event types of DESIGN.md's contract.
func TestActionTable(t *testing.T) {
	seen := map[string]bool{}
	labels := map[string]string{}
	for _, a := range audit.ActionTable {
		for _, name := range a.StoredNames() {
			if name == "" || seen[name] {
				t.Errorf("action name %q empty or listed twice", name)
			}
			seen[name] = true
		}
		if a.Label == "" || a.Label == a.Name {
			t.Errorf("%s: no label", a.Name)
		}
		if other, ok := labels[a.Label]; ok {
			t.Errorf("%s and %s share the label %q", other, a.Name, a.Label)
		}
		labels[a.Label] = a.Name
		if a.Mail && a.Webhook == "" {
			t.Errorf("%s: mailed without a webhook event type", a.Name)
		}
	}
	wantWebhooks := []string{"api_key.created", "api_key.updated", "api_key.revealed", "api_key.copied", "api_key.rolled",
		"api_key.inactivated", "api_key.activated", "api_key.deleted", "api_key.expiring", "api_key.expired", "api_key.leaked", "api_key.quota_threshold", "admin.invited", "admin.removed",
		"management_key.leaked"}
	if got := audit.WebhookEventTypes(); !slices.Equal(got, wantWebhooks) {
		t.Errorf("webhook event types %v, want %v", got, wantWebhooks)
	}
	wantMailed := []string{"api_key.created", "api_key.revealed", "api_key.rolled", "api_key.expiring", "api_key.expired", "api_key.leaked", "api_key.quota_threshold", "management_key.leaked"}
	if got := audit.MailedEventTypes(); !slices.Equal(got, wantMailed) {
		t.Errorf("mailed event types %v, want %v", got, wantMailed)
	}
	// The audit's name for an edit is the webhook's.
	if got := audit.WebhookEventType(audit.ActionKeyUpdated); got != audit.ActionKeyUpdated {
		t.Errorf("api_key.updated enqueues %q", got)
	}
	cases := []struct{ name, label, webhook string }{
		{audit.ActionKeyUpdated, "API key edited", "api_key.updated"},
		{audit.LegacyActionKeyEdited, "API key edited", "api_key.updated"},
		{audit.ActionKeyGenerated, "API key generated", "api_key.created"},
		{audit.ActionSignIn, "Signed in", ""},
		{audit.ActionWebhookRetried, "Webhook delivery retried", ""},
		{"no.such_action", "no.such_action", ""},
		// An admin's revocation enqueues nothing; a leak's enqueues
		// management_key.leaked (LeakWebhookEventType).
		{audit.ActionManagementKeyRevoked, "Management key revoked", ""},
	}
	if got := audit.LeakWebhookEventType(audit.ActionManagementKeyRevoked); got != "management_key.leaked" {
		t.Errorf("a leaked management key's revocation enqueues %q", got)
	}
	if got := audit.LeakWebhookEventType(audit.ActionKeyInactivated); got != "" {
		t.Errorf("api_key.inactivated has a leak event type %q", got)
	}
	for _, tc := range cases {
		if got := audit.ActionLabel(tc.name); got != tc.label {
			t.Errorf("ActionLabel(%q) = %q, want %q", tc.name, got, tc.label)
		}
		if got := audit.WebhookEventType(tc.name); got != tc.webhook {
			t.Errorf("WebhookEventType(%q) = %q, want %q", tc.name, got, tc.webhook)
		}
	}
}

// Rows stored as api_key.edited by earlier releases are never rewritten:
// the filter for api_key.updated lists them with today's edits (search
// included), and an old link filtering api_key.edited filters the same.
func TestFormerActionNamesFilterWithTheirAction(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, store, "Legacy")
		ctx := t.Context()
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		k, err := store.Keys.Generate(ctx, fx.Program.ID, actor, keys.KeyInput{Name: "Shop"})
		if err != nil {
			t.Fatal(err)
		}
		// What an earlier release appended for a rename.
		if err := store.Audit.Record(ctx, fx.Program.ID, actor, audit.Entry{
			Action: audit.LegacyActionKeyEdited, TargetType: audit.TargetAPIKey, TargetID: k.Identifier, TargetName: "Shop v1",
			Details: map[string]any{"before": map[string]any{"name": "Shop"}, "after": map[string]any{"name": "Shop v1"}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Keys.Update(ctx, fx.Program.ID, actor, k.ID, keys.KeyInput{Name: "Shop v2"}); err != nil {
			t.Fatal(err)
		}
		want := []string{audit.ActionKeyUpdated, audit.LegacyActionKeyEdited}
		for _, in := range []audit.FilterInput{
			{Period: audit.PeriodAll, Action: audit.ActionKeyUpdated},
			{Period: audit.PeriodAll, Action: audit.LegacyActionKeyEdited},
			{Period: audit.PeriodAll, Action: audit.ActionKeyUpdated, Search: "shop v"},
		} {
			f, err := in.Resolve(store.Now())
			if err != nil {
				t.Fatalf("%+v: %v", in, err)
			}
			if f.Action != audit.ActionKeyUpdated {
				t.Errorf("%+v resolves to action %q", in, f.Action)
			}
			page, err := store.Audit.List(ctx, fx.Program.ID, f, audit.PageRequest{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			if got := auditActionsOf(page.Events); !slices.Equal(got, want) {
				t.Errorf("%+v: %v, want %v", in, got, want)
			}
		}
	})
}
