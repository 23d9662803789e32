package keys

import (
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
)

// appendAndNotify appends the action's audit event and, for a successful
// notifiable action, its outbox event, both in the action's transaction.
// The payload carries the key's id, identifier and name, never its secret;
// a roll's also says when the old secret stops working.
func (s *Store) appendAndNotify(tx *gorm.DB, programID int64, actor audit.Actor, entry audit.Entry, k *APIKey) error {
	if err := s.audit.Append(tx, programID, actor, entry); err != nil {
		return err
	}
	eventType := audit.WebhookEventType(entry.Action)
	if eventType == "" || s.outbox == nil || (entry.Outcome != "" && entry.Outcome != audit.OutcomeSuccess) {
		return nil
	}
	data := map[string]any{"api_key": map[string]any{
		"id": k.ID, "identifier": k.Identifier, "name": k.Name, "description": k.Description, "active": k.Active,
	}}
	if k.ExpiresAt != nil {
		data["api_key"].(map[string]any)["expires_at"] = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if entry.Action == audit.ActionKeyRolled {
		// When the old secret stops working: the end of the overlap, or
		// the roll itself when it stopped at once.
		until := k.UpdatedAt
		if k.OldExpiresAt != nil {
			until = *k.OldExpiresAt
		}
		data["api_key"].(map[string]any)["old_key_expires_at"] = until.UTC().Format(time.RFC3339)
	}
	if entry.Action == audit.ActionKeyLeaked {
		data["leak"] = map[string]any{"url": entry.Details["url"], "source": entry.Details["source"], "response": entry.Details["response"], "reported_by": actor.Email}
	}
	if entry.Action == audit.ActionKeyQuotaThreshold {
		data["percent"], data["period_start"] = entry.Details["percent"], entry.Details["period_start"]
	}
	if notice, ok := entry.Details["notice"]; ok {
		data["notice"] = notice
	}
	if before, ok := entry.Details["before"]; ok && entry.Action == audit.ActionKeyUpdated {
		data["before"], data["after"] = before, entry.Details["after"]
	}
	return s.outbox.Enqueue(tx, programID, eventType, actor, data)
}
