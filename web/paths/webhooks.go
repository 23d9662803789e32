package paths

import "strconv"

// General » Webhooks.
const (
	Webhooks                  = General + "/webhooks"
	WebhookEndpointRoute      = Webhooks + "/:id"
	WebhookTestRoute          = Webhooks + "/:id/test"
	WebhookRotateRoute        = Webhooks + "/:id/rotate"
	WebhookDeleteRoute        = Webhooks + "/:id/delete"
	WebhookDeliveryRetryRoute = Webhooks + "/:id/deliveries/:delivery/retry"
)

// WebhookEndpoint is the page of one endpoint.
func WebhookEndpoint(id int64) string { return Webhooks + "/" + strconv.FormatInt(id, 10) }

// WebhookEndpointAction is the path of one action ("test", "rotate", "delete") on an endpoint.
func WebhookEndpointAction(id int64, action string) string { return WebhookEndpoint(id) + "/" + action }

// WebhookDeliveryRetry is the Retry now path of one delivery.
func WebhookDeliveryRetry(endpointID, deliveryID int64) string {
	return WebhookEndpoint(endpointID) + "/deliveries/" + strconv.FormatInt(deliveryID, 10) + "/retry"
}
