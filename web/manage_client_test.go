package web_test

import (
	"net/http"
	"testing"

	keydesk "keydesk/client"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/modeltest"
)

// The generated Go client drives every management route against the real
// server, on SQLite and PostgreSQL.
func TestManageAPIThroughTheGeneratedClient(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		_, secret := managementKey(t, ts, demo.ID, "Client", managementkeys.AllScopes...)
		c, err := keydesk.NewClientWithResponses(ts.URL, keydesk.WithRequestEditorFn(keydesk.BearerToken(secret)))
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		check := func(what string, status, want int, body []byte) {
			t.Helper()
			if status != want {
				t.Fatalf("%s: %d %s, want %d", what, status, body, want)
			}
		}

		days := 30
		perms := []keydesk.ManagedKeyCreatePermissions{"members:read"}
		created, err := c.ManageCreateKeyWithResponse(ctx, &keydesk.ManageCreateKeyParams{}, keydesk.ManageCreateKeyJSONRequestBody{
			Name: "Shop sync", ExpiresInDays: &days, Permissions: &perms,
		}, keydesk.WithIdempotencyKey("client-create-1"))
		if err != nil {
			t.Fatal(err)
		}
		check("create", created.StatusCode(), http.StatusCreated, created.Body)
		k := created.JSON201
		if keys.CheckKeyFormat(k.Key) != nil || !keys.IsIdentifier(k.Identifier) || k.ExpiresAt == nil || k.Permissions == nil || len(*k.Permissions) != 1 {
			t.Fatalf("create answer: %+v", k)
		}

		list, err := c.ManageListKeysWithResponse(ctx, &keydesk.ManageListKeysParams{})
		if err != nil {
			t.Fatal(err)
		}
		check("list", list.StatusCode(), http.StatusOK, list.Body)
		if len(list.JSON200.Data) != 1 || list.JSON200.Data[0].Identifier != k.Identifier || list.JSON200.HasMore {
			t.Fatalf("list: %+v", list.JSON200)
		}

		got, err := c.ManageGetKeyWithResponse(ctx, k.Identifier)
		if err != nil {
			t.Fatal(err)
		}
		check("get", got.StatusCode(), http.StatusOK, got.Body)
		if got.JSON200.Status != "active" || got.JSON200.Name != "Shop sync" {
			t.Fatalf("get: %+v", got.JSON200)
		}

		name := "Shop sync v2"
		patched, err := c.ManageUpdateKeyWithResponse(ctx, k.Identifier, keydesk.ManageUpdateKeyJSONRequestBody{Name: &name})
		if err != nil {
			t.Fatal(err)
		}
		check("patch", patched.StatusCode(), http.StatusOK, patched.Body)
		if patched.JSON200.Name != name {
			t.Fatalf("patch: %+v", patched.JSON200)
		}

		overlap := keydesk.RollRequestOldKeyExpiresInSeconds(3600)
		rolled, err := c.ManageRollKeyWithResponse(ctx, k.Identifier, &keydesk.ManageRollKeyParams{}, keydesk.ManageRollKeyJSONRequestBody{OldKeyExpiresInSeconds: &overlap})
		if err != nil {
			t.Fatal(err)
		}
		check("roll", rolled.StatusCode(), http.StatusOK, rolled.Body)
		if rolled.JSON200.Identifier != k.Identifier || rolled.JSON200.Key == k.Key || rolled.JSON200.OldKeyExpiresAt == nil {
			t.Fatalf("roll: %+v", rolled.JSON200)
		}

		inactivated, err := c.ManageInactivateKeyWithResponse(ctx, k.Identifier, &keydesk.ManageInactivateKeyParams{})
		if err != nil {
			t.Fatal(err)
		}
		check("inactivate", inactivated.StatusCode(), http.StatusNoContent, inactivated.Body)
		assertUnauthorized(t, "inactivated through the client", apiCall(t, ts.URL, "GET", "/v2/loyalty/members", restHeaders(demo.PartnerID, rolled.JSON200.Key), ""))

		activated, err := c.ManageActivateKeyWithResponse(ctx, k.Identifier, &keydesk.ManageActivateKeyParams{})
		if err != nil {
			t.Fatal(err)
		}
		check("activate", activated.StatusCode(), http.StatusNoContent, activated.Body)

		rangeName := keydesk.ManageKeyUsageParamsRange("24h")
		usage, err := c.ManageKeyUsageWithResponse(ctx, k.Identifier, &keydesk.ManageKeyUsageParams{Range: &rangeName})
		if err != nil {
			t.Fatal(err)
		}
		check("usage", usage.StatusCode(), http.StatusOK, usage.Body)
		if usage.JSON200.Identifier != k.Identifier || usage.JSON200.Range != "24h" {
			t.Fatalf("usage: %+v", usage.JSON200)
		}

		action := "api_key.rolled"
		trail, err := c.ManageListAuditWithResponse(ctx, &keydesk.ManageListAuditParams{Action: &action})
		if err != nil {
			t.Fatal(err)
		}
		check("audit", trail.StatusCode(), http.StatusOK, trail.Body)
		if len(trail.JSON200.Data) != 1 || trail.JSON200.Data[0].TargetId != k.Identifier || trail.JSON200.Data[0].Hash == "" {
			t.Fatalf("audit: %+v", trail.JSON200)
		}

		active, err := c.ManageDeleteKeyWithResponse(ctx, k.Identifier)
		if err != nil {
			t.Fatal(err)
		}
		check("delete of an active key", active.StatusCode(), http.StatusConflict, active.Body)
		if active.JSON409 == nil || active.JSON409.ErrorCode != "ERROR_CONFLICT" {
			t.Fatalf("delete of an active key: %s", active.Body)
		}
		if r, err := c.ManageInactivateKeyWithResponse(ctx, k.Identifier, &keydesk.ManageInactivateKeyParams{}); err != nil || r.StatusCode() != http.StatusNoContent {
			t.Fatalf("inactivate: %v", err)
		}
		deleted, err := c.ManageDeleteKeyWithResponse(ctx, k.Identifier)
		if err != nil {
			t.Fatal(err)
		}
		check("delete", deleted.StatusCode(), http.StatusNoContent, deleted.Body)
		gone, err := c.ManageGetKeyWithResponse(ctx, k.Identifier)
		if err != nil {
			t.Fatal(err)
		}
		check("get after delete", gone.StatusCode(), http.StatusNotFound, gone.Body)
		if gone.JSON404 == nil || gone.JSON404.ErrorCode != "ERROR_NOT_FOUND" {
			t.Fatalf("get after delete: %s", gone.Body)
		}
	})
}
