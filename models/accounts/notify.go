package accounts

import (
	"gorm.io/gorm"

	"keydesk/models/audit"
)

// notify enqueues a team event in the action's transaction tx; without an
// outbox it does nothing. data must hold no secret (never an invitation
// token).
func (s *Store) notify(tx *gorm.DB, programID int64, eventType string, actor audit.Actor, data map[string]any) error {
	if s.outbox == nil {
		return nil
	}
	return s.outbox.Enqueue(tx, programID, eventType, actor, data)
}
