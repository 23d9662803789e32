// Package paths names every console URL once. web registers its routes
// with these names, handlers redirect to them and views link to them, so a
// path changes in one place. It imports nothing of keydesk, so every layer
// may import it.
package paths

import "strconv"

// Pages and actions outside /general.
const (
	Home          = "/"
	Login         = "/login"
	Logout        = "/logout"
	SwitchProgram = "/session/program"
)

// General is the prefix of the console's sections; NoAccess lies below it
// but outside the full-access group.
const (
	General  = "/general"
	NoAccess = General + "/no-access"
	Settings = General + "/settings"
	Reauth   = General + "/reauth"
)

// General » API Keys. The Route constants are Echo patterns with an :id
// parameter; the functions of the same name fill it in.
const (
	APIKeys               = General + "/api-keys"
	NewAPIKey             = APIKeys + "/new"
	APIKeyEditRoute       = APIKeys + "/:id/edit"
	APIKeyRevealRoute     = APIKeys + "/:id/reveal"
	APIKeyCopyRoute       = APIKeys + "/:id/copy"
	APIKeyInactivateRoute = APIKeys + "/:id/inactivate"
	APIKeyActivateRoute   = APIKeys + "/:id/activate"
	APIKeyDeleteRoute     = APIKeys + "/:id/delete"
	APIKeyUsageRoute      = APIKeys + "/:id/usage"
	// APIReference is the REST and UI API reference, read from openapi.yaml.
	APIReference = General + "/api-reference"
)

// General » Audit Trail.
const (
	AuditTrail         = General + "/audit-trail"
	AuditTrailDownload = AuditTrail + "/download"
	// AuditTrailDownloadJSONL is the same download as JSON Lines, with each
	// event's chain fields.
	AuditTrailDownloadJSONL = AuditTrail + "/download.jsonl"
	AuditTrailVerify        = AuditTrail + "/verify"
)

// APIKeyAction is the path of one action ("edit", "inactivate", …) on the
// API key with the given id.
func APIKeyAction(id int64, action string) string {
	return APIKeys + "/" + strconv.FormatInt(id, 10) + "/" + action
}

// APIKeyUsage is a key's usage view.
func APIKeyUsage(id int64) string { return APIKeyAction(id, "usage") }

// APIKeyEdit is the Edit dialog of a key and where it is saved.
func APIKeyEdit(id int64) string { return APIKeyAction(id, "edit") }

// APIKeyReveal shows a key's secret.
func APIKeyReveal(id int64) string { return APIKeyAction(id, "reveal") }

// APIKeyCopy puts a key's secret on the clipboard.
func APIKeyCopy(id int64) string { return APIKeyAction(id, "copy") }

// APIKeyInactivate asks for and performs the inactivation of a key.
func APIKeyInactivate(id int64) string { return APIKeyAction(id, "inactivate") }

// APIKeyActivate turns a key back on.
func APIKeyActivate(id int64) string { return APIKeyAction(id, "activate") }

// APIKeyDelete asks for and performs the deletion of a key.
func APIKeyDelete(id int64) string { return APIKeyAction(id, "delete") }

// General » Management keys: keys of the management API (kdm_…).
const (
	ManagementKeys           = General + "/management-keys"
	NewManagementKey         = ManagementKeys + "/new"
	ManagementKeyRevokeRoute = ManagementKeys + "/:id/revoke"
)

// ManagementKeyRevoke asks for and performs the revocation of a management key.
func ManagementKeyRevoke(id int64) string {
	return ManagementKeys + "/" + strconv.FormatInt(id, 10) + "/revoke"
}

// Under returns path relative to a group's prefix, for registering a route
// on an Echo group. It panics if path is not below prefix: a programming
// error found at start-up.
func Under(prefix, path string) string {
	if len(path) < len(prefix) || path[:len(prefix)] != prefix {
		panic("paths: " + path + " is not below " + prefix)
	}
	return path[len(prefix):]
}
