package accounts

import (
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/outbox"
)

// UseOutbox makes the team actions (invitations, removals) enqueue their
// notifiable events. The outbox imports nothing of accounts, so the
// dependency runs one way.
func (s *Store) UseOutbox(o *outbox.Store) { s.outbox = o }

// notify enqueues a team event in the action's transaction tx; without an
// outbox it does nothing. data must hold no secret (never an invitation
// token).
func (s *Store) notify(tx *gorm.DB, programID int64, eventType string, actor audit.Actor, data map[string]any) error {
	if s.outbox == nil {
		return nil
	}
	return s.outbox.Enqueue(tx, programID, eventType, actor, data)
}
