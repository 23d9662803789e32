// Package outbox carries events that leave keydesk. An action enqueues its
// event in its own transaction (beside its audit event), so no notice is
// lost to a crash and none is sent for an action that rolled back. A
// dispatcher fans each event out to the program's subscribed webhook
// endpoints; workers on any number of instances claim due deliveries
// (FOR UPDATE SKIP LOCKED on PostgreSQL, under SQLite's write lock
// otherwise) with a lease and record each attempt, retrying with
// exponential backoff and jitter for MaxRetryAge, then marking it failed.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
)

// Event types a webhook endpoint can subscribe to, by name. Which audit
// action enqueues which (and which are mailed) is audit.ActionTable.
const (
	EventKeyCreated     = "api_key.created"
	EventKeyUpdated     = "api_key.updated"
	EventKeyRevealed    = "api_key.revealed"
	EventKeyCopied      = "api_key.copied"
	EventKeyRolled      = "api_key.rolled"
	EventKeyInactivated = "api_key.inactivated"
	EventKeyActivated   = "api_key.activated"
	EventKeyDeleted     = "api_key.deleted"
	EventKeyExpiring    = "api_key.expiring"
	EventKeyExpired     = "api_key.expired"
	EventKeyLeaked      = "api_key.leaked"
	// EventKeyQuotaThreshold: data.percent (80 or 100) and data.period_start.
	EventKeyQuotaThreshold = "api_key.quota_threshold"
	EventAdminInvited      = "admin.invited"
	EventAdminRemoved      = "admin.removed"
	// EventManagementKeyLeaked: a management key found leaked was revoked.
	EventManagementKeyLeaked = "management_key.leaked"
	// EventTest is what Send test event delivers; no endpoint subscribes to it.
	EventTest = "webhook.test"
)

// EventTypes lists the subscribable event types in the order the console
// offers them: the webhook event types of audit.ActionTable, in its order.
var EventTypes = audit.WebhookEventTypes()

// MaxRetryAge is how long a delivery is retried before it is marked failed.
const MaxRetryAge = 24 * time.Hour

// Sealer seals webhook signing secrets at rest (keys.Keyring).
type Sealer interface {
	SealLabelled(label string, rowID int64, secret string) (sealed []byte, version int64)
	OpenLabelled(label string, rowID int64, sealed []byte, version int64) (string, error)
}

// Store keeps the outbox, the webhook endpoints and their deliveries.
type Store struct {
	db     *gorm.DB
	audit  *audit.Store
	sealer Sealer
	now    database.Clock
	opts   Options
	// resolver looks up the names of endpoint URLs (targets.go).
	resolver Resolver
}

// Options are what the outbox does beyond webhooks, fixed when it is
// built (web.OutboxOptions derives them from the configuration).
type Options struct {
	// Mail turns email notices on: dispatch also fans mailable events out
	// to the program's full-access admins, and invitations are mailed
	// (mail.go).
	Mail bool
	// AllowPrivateTargets lets endpoints be saved with private, loopback
	// and link-local targets (KEYDESK_WEBHOOK_ALLOW_PRIVATE=true); by
	// default they are refused.
	AllowPrivateTargets bool
}

// NewStore builds the outbox store.
func NewStore(db *gorm.DB, auditStore *audit.Store, sealer Sealer, now database.Clock, opts Options) *Store {
	return &Store{db: db, audit: auditStore, sealer: sealer, now: now, opts: opts, resolver: net.DefaultResolver}
}

// Options are the options the store was built with.
func (s *Store) Options() Options { return s.opts }

// Payload is the body of a delivery, as the Standard Webhooks spec shapes
// it. Data carries ids, names, identifiers, the actor and the time; never a
// secret.
type Payload struct {
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// OutboxEvent is one enqueued event.
type OutboxEvent struct {
	ID           int64
	ProgramID    int64
	MessageID    string
	EventType    string
	Payload      string
	CreatedAt    time.Time
	DispatchedAt *time.Time
}

// TableName is the outbox's table.
func (OutboxEvent) TableName() string { return "outbox_events" }

// NewMessageID returns a fresh webhook-id: "msg_" and 24 random base62 characters.
func NewMessageID() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	return "msg_" + randomBase62(alphabet, 24)
}

func randomBase62(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		var r [1]byte
		for {
			if _, err := rand.Read(r[:]); err != nil {
				panic("crypto/rand failed: " + err.Error())
			}
			if int(r[0]) < 248 { // 248 = 4*62: unbiased
				break
			}
		}
		b[i] = alphabet[int(r[0])%62]
	}
	return string(b)
}

// Enqueue writes an event to the outbox inside the action's transaction tx.
// The payload names the program by partner ID and the actor by id and
// email; data must hold no secret.
func (s *Store) Enqueue(tx *gorm.DB, programID int64, eventType string, actor audit.Actor, data map[string]any) error {
	if s == nil {
		return nil
	}
	var partnerID string
	if err := tx.Raw(`SELECT partner_id FROM programs WHERE id = ?`, programID).Scan(&partnerID).Error; err != nil {
		return fmt.Errorf("outbox: unable to read the program: %w", err)
	}
	now := s.now()
	d := map[string]any{"partner_id": partnerID}
	for k, v := range data {
		d[k] = v
	}
	if actor.AdminID != 0 || actor.Email != "" {
		d["actor"] = map[string]any{"id": actor.AdminID, "email": actor.Email}
	}
	body, err := jsonPayload(eventType, now, d)
	if err != nil {
		return err
	}
	ev := OutboxEvent{ProgramID: programID, MessageID: NewMessageID(), EventType: eventType, Payload: body, CreatedAt: now}
	if err := tx.Create(&ev).Error; err != nil {
		return fmt.Errorf("outbox: unable to enqueue %s: %w", eventType, err)
	}
	return nil
}

func jsonPayload(eventType string, at time.Time, data map[string]any) (string, error) {
	body, err := json.Marshal(Payload{Type: eventType, Timestamp: at.UTC().Format(time.RFC3339Nano), Data: data})
	if err != nil {
		return "", fmt.Errorf("outbox: unable to encode the event: %w", err)
	}
	return string(body), nil
}

// skipLocked is the claiming suffix of a SELECT: on PostgreSQL rows another
// worker holds are skipped; SQLite's write lock serialises claimers.
func skipLocked(db *gorm.DB) string {
	if database.IsPostgres(db) {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// Dispatch fans up to limit undispatched events out to the subscribed,
// enabled endpoints of their programs, one delivery per endpoint and
// message, and marks them dispatched, all in one transaction: a crash
// leaves either both or neither. It returns how many events it handled.
func (s *Store) Dispatch(ctx context.Context, limit int) (int, error) {
	var n int
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var events []OutboxEvent
		if err := tx.Raw(`SELECT * FROM outbox_events WHERE dispatched_at IS NULL ORDER BY id LIMIT ?`+skipLocked(tx), limit).Scan(&events).Error; err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		now := s.now()
		endpoints := map[int64][]Endpoint{}
		ids := make([]int64, 0, len(events))
		for _, ev := range events {
			ids = append(ids, ev.ID)
			if err := s.fanOutMail(tx, &ev); err != nil {
				return err
			}
			eps, ok := endpoints[ev.ProgramID]
			if !ok {
				if err := tx.Where("program_id = ? AND enabled = ?", ev.ProgramID, true).Order("id").Find(&eps).Error; err != nil {
					return err
				}
				endpoints[ev.ProgramID] = eps
			}
			for _, ep := range eps {
				if !ep.Subscribes(ev.EventType) {
					continue
				}
				err := tx.Exec(`INSERT INTO webhook_deliveries (program_id, endpoint_id, message_id, event_type, payload, status, attempts, next_attempt_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (endpoint_id, message_id) DO NOTHING`,
					ev.ProgramID, ep.ID, ev.MessageID, ev.EventType, ev.Payload, StatusPending, ev.CreatedAt, ev.CreatedAt).Error
				if err != nil {
					return err
				}
			}
		}
		n = len(events)
		return tx.Exec(`UPDATE outbox_events SET dispatched_at = ? WHERE id IN ?`, now, ids).Error
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: unable to dispatch events: %w", err)
	}
	return n, nil
}
