package views

import "keydesk/models/outbox"

func init() {
	for action, label := range map[string]string{
		outbox.ActionEndpointCreated: "Webhook endpoint added",
		outbox.ActionEndpointUpdated: "Webhook endpoint edited",
		outbox.ActionEndpointDeleted: "Webhook endpoint deleted",
		outbox.ActionSecretRotated:   "Webhook secret rotated",
		outbox.ActionTestSent:        "Webhook test event sent",
		outbox.ActionRetried:         "Webhook delivery retried",
	} {
		auditActionLabels[action] = label
	}
}
