package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
)

// tokenLabel binds sealed invitation tokens to the mail deliveries table.
const tokenLabel = "mail_deliveries"

// MailEventTypes are the events mailed to a program's full-access admins
// (api_key.revealed only to those who did not reveal it): those marked Mail
// in audit.ActionTable.
var MailEventTypes = mailEventTypes()

func mailEventTypes() map[string]bool {
	types := map[string]bool{}
	for _, t := range audit.MailedEventTypes() {
		types[t] = true
	}
	return types
}

// MailDelivery is one email notice to one recipient, with its latest attempt.
type MailDelivery struct {
	ID              int64
	ProgramID       int64
	MessageID       string
	EventType       string
	Recipient       string
	Payload         string
	TokenSealed     []byte
	TokenKeyVersion int64
	Status          string
	Attempts        int
	NextAttemptAt   time.Time
	LockedUntil     *time.Time
	LastError       string
	LastAttemptAt   *time.Time
	CreatedAt       time.Time
	DeliveredAt     *time.Time
}

// TableName is the mail deliveries' table.
func (MailDelivery) TableName() string { return "mail_deliveries" }

// MailClaim is a mail a worker holds for one attempt; Token is the
// invitation's token for an admin.invited mail (the link's secret part),
// ProgramName the program's name at the attempt (mails name a program by
// its name; the payload carries only its partner ID).
type MailClaim struct {
	MailDelivery
	Token       string
	ProgramName string
}

// MailOn reports whether email notices are on (Options.Mail).
func (s *Store) MailOn() bool { return s != nil && s.opts.Mail }

// fanOutMail writes the mail deliveries of one event in the dispatch
// transaction: one per full-access admin of the event's program (for a
// reveal, not the admin who revealed).
func (s *Store) fanOutMail(tx *gorm.DB, ev *OutboxEvent) error {
	if !s.opts.Mail || !MailEventTypes[ev.EventType] {
		return nil
	}
	var actorID int64
	if ev.EventType == EventKeyRevealed {
		var p struct {
			Data struct {
				Actor struct{ ID int64 } `json:"actor"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(ev.Payload), &p); err == nil {
			actorID = p.Data.Actor.ID
		}
	}
	var emails []string
	if err := tx.Raw(`SELECT a.email FROM memberships m JOIN admins a ON a.id = m.admin_id WHERE m.program_id = ? AND m.access = 'full' AND a.id <> ? ORDER BY a.id`,
		ev.ProgramID, actorID).Scan(&emails).Error; err != nil {
		return err
	}
	for _, email := range emails {
		if err := tx.Exec(`INSERT INTO mail_deliveries (program_id, message_id, event_type, recipient, payload, status, attempts, next_attempt_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (message_id, recipient) DO NOTHING`,
			ev.ProgramID, ev.MessageID, ev.EventType, email, ev.Payload, StatusPending, ev.CreatedAt, ev.CreatedAt).Error; err != nil {
			return err
		}
	}
	return nil
}

// EnqueueInvitationMail writes, in the invitation's transaction tx, the
// mail that carries its link to the invited address. The token is sealed
// at rest and destroyed once the mail is sent or given up; without mail on
// it does nothing (the console shows the link instead).
func (s *Store) EnqueueInvitationMail(tx *gorm.DB, programID int64, email, token string, data map[string]any) error {
	if !s.MailOn() {
		return nil
	}
	now := s.now()
	var partnerID, name string
	row := tx.Raw(`SELECT partner_id, name FROM programs WHERE id = ?`, programID).Row()
	if err := row.Scan(&partnerID, &name); err != nil {
		return fmt.Errorf("outbox: unable to read the program: %w", err)
	}
	d := map[string]any{"partner_id": partnerID, "program_name": name}
	for k, v := range data {
		d[k] = v
	}
	body, err := jsonPayload(EventAdminInvited, now, d)
	if err != nil {
		return err
	}
	m := MailDelivery{ProgramID: programID, MessageID: NewMessageID(), EventType: EventAdminInvited, Recipient: email, Payload: body,
		Status: StatusPending, NextAttemptAt: now, CreatedAt: now}
	if err := tx.Create(&m).Error; err != nil {
		return fmt.Errorf("outbox: unable to enqueue the invitation mail: %w", err)
	}
	sealed, version := s.sealer.SealLabelled(tokenLabel, m.ID, token)
	return tx.Exec(`UPDATE mail_deliveries SET token_sealed = ?, token_key_version = ? WHERE id = ?`, sealed, version, m.ID).Error
}

// ClaimMail takes up to limit due mails for one attempt each, leased like
// webhook deliveries (ClaimDue).
func (s *Store) ClaimMail(ctx context.Context, limit int, lease time.Duration) ([]MailClaim, error) {
	var claims []MailClaim
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.now()
		var ms []MailDelivery
		err := tx.Raw(`SELECT * FROM mail_deliveries WHERE status = ? AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
ORDER BY next_attempt_at, id LIMIT ?`+skipLocked(tx), StatusPending, now, now, limit).Scan(&ms).Error
		if err != nil || len(ms) == 0 {
			return err
		}
		until := now.Add(lease)
		ids := make([]int64, len(ms))
		for i := range ms {
			ids[i] = ms[i].ID
		}
		if err := tx.Exec(`UPDATE mail_deliveries SET attempts = attempts + 1, locked_until = ? WHERE id IN ?`, until, ids).Error; err != nil {
			return err
		}
		programIDs := make([]int64, len(ms))
		for i := range ms {
			programIDs[i] = ms[i].ProgramID
		}
		var programs []struct {
			ID   int64
			Name string
		}
		if err := tx.Raw(`SELECT id, name FROM programs WHERE id IN ?`, programIDs).Scan(&programs).Error; err != nil {
			return err
		}
		programNames := make(map[int64]string, len(programs))
		for _, p := range programs {
			programNames[p.ID] = p.Name
		}
		for _, m := range ms {
			c := MailClaim{MailDelivery: m, ProgramName: programNames[m.ProgramID]}
			if len(m.TokenSealed) > 0 {
				if c.Token, err = s.sealer.OpenLabelled(tokenLabel, m.ID, m.TokenSealed, m.TokenKeyVersion); err != nil {
					return fmt.Errorf("outbox: unable to open an invitation token: %w", err)
				}
			}
			c.Attempts++
			c.LockedUntil = &until
			claims = append(claims, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: unable to claim mail: %w", err)
	}
	return claims, nil
}

// MailStatus is how the program's latest mail attempt went: Failed with
// its error (Reason) and time (At), or not failed (it went out, or no mail
// was attempted yet).
type MailStatus struct {
	Failed bool
	Reason string
	At     time.Time
}

// LastMailStatus reads the program's latest mail attempt, recorded in the
// database so every instance shows the same: the console says "Last mail
// failed" until a later attempt goes out.
func (s *Store) LastMailStatus(ctx context.Context, programID int64) (MailStatus, error) {
	var ds []MailDelivery
	err := s.db.WithContext(ctx).Where("program_id = ? AND last_attempt_at IS NOT NULL", programID).
		Order("last_attempt_at DESC").Order("id DESC").Limit(1).Find(&ds).Error
	if err != nil {
		return MailStatus{}, fmt.Errorf("outbox: unable to read the last mail attempt: %w", err)
	}
	if len(ds) == 0 || ds[0].LastError == "" {
		return MailStatus{}, nil
	}
	return MailStatus{Failed: true, Reason: ds[0].LastError, At: ds[0].LastAttemptAt.UTC()}, nil
}

// RecordMail stores the outcome of a claimed mail attempt, as Record does
// for webhooks; once sent or failed, an invitation's sealed token is
// destroyed.
func (s *Store) RecordMail(ctx context.Context, c *MailClaim, sendErr error, backoffBase time.Duration) error {
	now := s.now()
	status, next, errText := StatusDelivered, now, ""
	var deliveredAt *time.Time
	if sendErr == nil {
		deliveredAt = &now
	} else {
		errText = sendErr.Error()
		if len(errText) > 500 {
			errText = errText[:500]
		}
		next = now.Add(Backoff(c.Attempts, backoffBase))
		status = StatusPending
		if next.Sub(c.CreatedAt) > MaxRetryAge {
			status = StatusFailed
		}
	}
	err := s.db.WithContext(ctx).Exec(`UPDATE mail_deliveries SET status = ?, next_attempt_at = ?, locked_until = NULL, last_error = ?, last_attempt_at = ?, delivered_at = ?,
token_sealed = CASE WHEN ? THEN NULL ELSE token_sealed END
WHERE id = ? AND attempts = ? AND status = ?`, status, next, errText, now, deliveredAt, status != StatusPending, c.ID, c.Attempts, StatusPending).Error
	if err != nil {
		return fmt.Errorf("outbox: unable to record a mail attempt: %w", err)
	}
	c.Status, c.NextAttemptAt = status, next
	return nil
}
