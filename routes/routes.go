// Package routes names every URL of keydesk once: the route table
// (table.go) holds each route's pattern, and the functions here build a
// route's URL from its pattern with Reverse. web registers its routes from
// the table, handlers redirect to them and views link to them, so a path
// changes in one place. It imports nothing of keydesk, so every layer may
// import it.
package routes

import (
	"net/url"
	"strconv"
	"strings"
)

// Prefixes of route groups, not routes themselves: General is the prefix
// of the console's sections, API of the REST and UI API, SCIM the base URL
// an identity provider is given for SCIM 2.0.
const (
	General = "/general"
	API     = "/v2"
	SCIM    = "/scim/v2"
)

// Reverse fills pattern's parameters (its ":name" segments, in order) with
// params, each escaped as one path segment. A count that does not match is
// a programming error: it panics (TestRouteBuilders calls every builder).
func Reverse(pattern string, params ...string) string {
	segments := strings.Split(pattern, "/")
	n := 0
	for i, s := range segments {
		if !strings.HasPrefix(s, ":") {
			continue
		}
		if n == len(params) {
			panic("routes: " + pattern + " takes more than " + strconv.Itoa(len(params)) + " parameters")
		}
		segments[i] = url.PathEscape(params[n])
		n++
	}
	if n != len(params) {
		panic("routes: " + pattern + " takes " + strconv.Itoa(n) + " parameters, not " + strconv.Itoa(len(params)))
	}
	return strings.Join(segments, "/")
}

// id is a row id as a path segment.
func id(v int64) string { return strconv.FormatInt(v, 10) }

// Invite is an invitation's link (public), below the base URL.
func Invite(token string) string { return Reverse(InviteRoute, token) }

// AccountPasskeyRename renames a passkey.
func AccountPasskeyRename(passkeyID int64) string {
	return Reverse(AccountPasskeyRenameRoute, id(passkeyID))
}

// AccountPasskeyRemove asks before removing a passkey, and removes it.
func AccountPasskeyRemove(passkeyID int64) string {
	return Reverse(AccountPasskeyRemoveRoute, id(passkeyID))
}

// APIKeyEdit is the Edit dialog of a key and where it is saved.
func APIKeyEdit(keyID int64) string { return Reverse(APIKeyEditRoute, id(keyID)) }

// APIKeyReveal shows a key's secret.
func APIKeyReveal(keyID int64) string { return Reverse(APIKeyRevealRoute, id(keyID)) }

// APIKeyCopy puts a key's secret on the clipboard.
func APIKeyCopy(keyID int64) string { return Reverse(APIKeyCopyRoute, id(keyID)) }

// APIKeyInactivate asks for and performs the inactivation of a key.
func APIKeyInactivate(keyID int64) string { return Reverse(APIKeyInactivateRoute, id(keyID)) }

// APIKeyActivate turns a key back on.
func APIKeyActivate(keyID int64) string { return Reverse(APIKeyActivateRoute, id(keyID)) }

// APIKeyDelete asks for and performs the deletion of a key.
func APIKeyDelete(keyID int64) string { return Reverse(APIKeyDeleteRoute, id(keyID)) }

// APIKeyRoll opens (GET) and performs (POST) a roll.
func APIKeyRoll(keyID int64) string { return Reverse(APIKeyRollRoute, id(keyID)) }

// APIKeyExpireOld confirms (GET) and ends (POST) a roll's overlap now.
func APIKeyExpireOld(keyID int64) string { return Reverse(APIKeyExpireOldRoute, id(keyID)) }

// APIKeyUsage is a key's usage view.
func APIKeyUsage(keyID int64) string { return Reverse(APIKeyUsageRoute, id(keyID)) }

// WebhookEndpoint is the page of one endpoint, and where it is saved.
func WebhookEndpoint(endpointID int64) string { return Reverse(WebhookEndpointRoute, id(endpointID)) }

// WebhookTest sends an endpoint a test event.
func WebhookTest(endpointID int64) string { return Reverse(WebhookTestRoute, id(endpointID)) }

// WebhookRotate rotates an endpoint's signing secret.
func WebhookRotate(endpointID int64) string { return Reverse(WebhookRotateRoute, id(endpointID)) }

// WebhookDelete asks for and performs an endpoint's deletion.
func WebhookDelete(endpointID int64) string { return Reverse(WebhookDeleteRoute, id(endpointID)) }

// WebhookDelivery is one delivery's attempts (a dialog of the endpoint's page).
func WebhookDelivery(endpointID, deliveryID int64) string {
	return Reverse(WebhookDeliveryRoute, id(endpointID), id(deliveryID))
}

// WebhookDeliveryRetry is the Retry now of one delivery.
func WebhookDeliveryRetry(endpointID, deliveryID int64) string {
	return Reverse(WebhookDeliveryRetryRoute, id(endpointID), id(deliveryID))
}

// AdminAccess is the Change access form of an admin.
func AdminAccess(adminID int64) string { return Reverse(AdminAccessRoute, id(adminID)) }

// AdminRemove asks for and performs an admin's removal.
func AdminRemove(adminID int64) string { return Reverse(AdminRemoveRoute, id(adminID)) }

// InvitationRevoke cancels a pending invitation.
func InvitationRevoke(invitationID int64) string {
	return Reverse(InvitationRevokeRoute, id(invitationID))
}

// ManagementKeyRevoke asks for and performs the revocation of a management key.
func ManagementKeyRevoke(keyID int64) string { return Reverse(ManagementKeyRevokeRoute, id(keyID)) }
