package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
)

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
)

// Delivery is one message to one endpoint, with its latest attempt.
type Delivery struct {
	ID            int64
	ProgramID     int64
	EndpointID    int64
	MessageID     string
	EventType     string
	Payload       string
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LockedUntil   *time.Time
	ResponseCode  int
	LastError     string
	DurationMS    int64
	CreatedAt     time.Time
	DeliveredAt   *time.Time
}

// TableName is the deliveries' table.
func (Delivery) TableName() string { return "webhook_deliveries" }

// Claim is a delivery a worker holds for one attempt, with where and how to send it.
type Claim struct {
	Delivery
	URL     string
	Secrets []string
}

// Result is the outcome of one attempt, as Record keeps it in the
// delivery's log of attempts.
type Result struct {
	OK           bool
	ResponseCode int
	Error        string // never a secret, never a response body
	Duration     time.Duration
	// RequestHeaders and RequestBody are what was sent, the body exactly as
	// signed; the headers carry the signature, never the secret.
	RequestHeaders string
	RequestBody    string
	// ResponseHeaders are the answer's headers ("Name: value" lines), the
	// first MaxKeptResponseBody bytes of its body in ResponseBody;
	// ResponseBodyTruncated says the body went on.
	ResponseHeaders       string
	ResponseBody          string
	ResponseBodyTruncated bool
}

// MaxKeptResponseBody is how much of a receiver's answer an attempt keeps
// (and how much of its headers).
const MaxKeptResponseBody = 4 << 10

// MaxKeptAttempts is how many attempts of one delivery are kept, the latest.
const MaxKeptAttempts = 20

// Attempt is one try at a delivery: the request as sent and the answer,
// or why there was none.
type Attempt struct {
	ID                    int64
	ProgramID             int64
	EndpointID            int64
	DeliveryID            int64
	Attempt               int
	AttemptedAt           time.Time
	RequestHeaders        string
	RequestBody           string
	ResponseCode          int
	ResponseHeaders       string
	ResponseBody          string
	ResponseBodyTruncated bool
	Error                 string
	DurationMS            int64
}

// TableName is the attempts' table.
func (Attempt) TableName() string { return "webhook_delivery_attempts" }

// storableText makes text from a receiver fit a TEXT column on both
// databases: valid UTF-8 and no NUL (which PostgreSQL refuses).
func storableText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Backoff is the wait after the attempt-th failed attempt: base doubled
// each time, at most an hour, with jitter (between half and all of it) so
// receivers coming back are not hit by every retry at once.
func Backoff(attempt int, base time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// ClaimDue takes up to limit due deliveries for one attempt each, leasing
// them for lease: another worker (on this instance or another) skips them
// until the lease ends, so a crashed worker's deliveries are picked up again
// afterwards. The attempt counter is raised at claim time and fences the
// result.
func (s *Store) ClaimDue(ctx context.Context, limit int, lease time.Duration) ([]Claim, error) {
	var claims []Claim
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.now()
		var ds []Delivery
		err := tx.Raw(`SELECT * FROM webhook_deliveries WHERE status = ? AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
ORDER BY next_attempt_at, id LIMIT ?`+skipLocked(tx), StatusPending, now, now, limit).Scan(&ds).Error
		if err != nil || len(ds) == 0 {
			return err
		}
		until := now.Add(lease)
		ids := make([]int64, len(ds))
		for i := range ds {
			ids[i] = ds[i].ID
		}
		if err := tx.Exec(`UPDATE webhook_deliveries SET attempts = attempts + 1, locked_until = ? WHERE id IN ?`, until, ids).Error; err != nil {
			return err
		}
		endpoints := map[int64]*Endpoint{}
		for _, d := range ds {
			ep, ok := endpoints[d.EndpointID]
			if !ok {
				ep, err = endpointByID(tx, d.ProgramID, d.EndpointID)
				if err != nil {
					return err
				}
				endpoints[d.EndpointID] = ep
			}
			secrets, err := s.Secrets(ep)
			if err != nil {
				return err
			}
			d.Attempts++
			d.LockedUntil = &until
			claims = append(claims, Claim{Delivery: d, URL: ep.URL, Secrets: secrets})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: unable to claim deliveries: %w", err)
	}
	return claims, nil
}

// Record stores the outcome of a claimed attempt: delivered, or pending
// again after backoff, or failed once MaxRetryAge has passed since the event.
// A result that comes after another worker re-claimed the delivery (this
// worker's lease ran out) is dropped.
func (s *Store) Record(ctx context.Context, c *Claim, r Result, backoffBase time.Duration) error {
	now := s.now()
	status, next := StatusDelivered, now
	var deliveredAt *time.Time
	if r.OK {
		deliveredAt = &now
	} else {
		next = now.Add(Backoff(c.Attempts, backoffBase))
		status = StatusPending
		if next.Sub(c.CreatedAt) > MaxRetryAge {
			status = StatusFailed
		}
	}
	errText := r.Error
	if len(errText) > 500 {
		errText = errText[:500]
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, locked_until = NULL, response_code = ?, last_error = ?, duration_ms = ?, delivered_at = ?
WHERE id = ? AND attempts = ? AND status = ?`, status, next, r.ResponseCode, errText, r.Duration.Milliseconds(), deliveredAt, c.ID, c.Attempts, StatusPending)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		a := Attempt{ProgramID: c.ProgramID, EndpointID: c.EndpointID, DeliveryID: c.ID, Attempt: c.Attempts, AttemptedAt: now,
			RequestHeaders: storableText(r.RequestHeaders), RequestBody: storableText(r.RequestBody),
			ResponseCode: r.ResponseCode, ResponseHeaders: storableText(r.ResponseHeaders), ResponseBody: storableText(r.ResponseBody),
			ResponseBodyTruncated: r.ResponseBodyTruncated, Error: errText, DurationMS: r.Duration.Milliseconds()}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		return tx.Exec(`DELETE FROM webhook_delivery_attempts WHERE delivery_id = ? AND attempt <= ?`, c.ID, c.Attempts-MaxKeptAttempts).Error
	})
	if err != nil {
		return fmt.Errorf("outbox: unable to record a delivery attempt: %w", err)
	}
	c.Status, c.NextAttemptAt = status, next
	return nil
}

// Deliveries lists an endpoint's latest deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, programID, endpointID int64, limit int) ([]Delivery, error) {
	var ds []Delivery
	err := s.db.WithContext(ctx).Where("program_id = ? AND endpoint_id = ?", programID, endpointID).Order("id DESC").Limit(limit).Find(&ds).Error
	if err != nil {
		return nil, fmt.Errorf("outbox: unable to list deliveries: %w", err)
	}
	return ds, nil
}

// DeliveryAttempts is one delivery of an endpoint with its kept attempts,
// newest first (database.ErrNotFound when the program has no such
// delivery at that endpoint).
func (s *Store) DeliveryAttempts(ctx context.Context, programID, endpointID, deliveryID int64) (*Delivery, []Attempt, error) {
	var d Delivery
	err := s.db.WithContext(ctx).Where("program_id = ? AND endpoint_id = ? AND id = ?", programID, endpointID, deliveryID).Take(&d).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, database.ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: unable to read the delivery: %w", err)
	}
	var as []Attempt
	if err := s.db.WithContext(ctx).Where("delivery_id = ?", d.ID).Order("attempt DESC").Find(&as).Error; err != nil {
		return nil, nil, fmt.Errorf("outbox: unable to list the delivery's attempts: %w", err)
	}
	return &d, as, nil
}

// Errors of RetryNow: a delivery the receiver already accepted is never
// sent again, and one being sent right now is left to that attempt.
var (
	ErrAlreadyDelivered = errors.New("outbox: the delivery was already delivered")
	ErrDeliveryInFlight = errors.New("outbox: the delivery is being attempted now")
)

// RetryNow makes a delivery due at once (a failed one gets another 24
// hours). A delivered one, or one a worker holds, is left as it is
// (ErrAlreadyDelivered, ErrDeliveryInFlight), decided in the UPDATE itself
// so that a delivery completing meanwhile is not sent twice.
func (s *Store) RetryNow(ctx context.Context, programID int64, actor audit.Actor, endpointID, deliveryID int64) (*Delivery, error) {
	var d Delivery
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ep, err := endpointByID(tx, programID, endpointID)
		if err != nil {
			return err
		}
		err = tx.Where("program_id = ? AND endpoint_id = ? AND id = ?", programID, endpointID, deliveryID).Take(&d).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return database.ErrNotFound
		}
		if err != nil {
			return err
		}
		now := s.now()
		res := tx.Exec(`UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, locked_until = NULL, created_at = CASE WHEN status = ? THEN ? ELSE created_at END
WHERE id = ? AND status <> ? AND (locked_until IS NULL OR locked_until < ?)`,
			StatusPending, now, StatusFailed, now, d.ID, StatusDelivered, now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			if d.Status == StatusDelivered {
				return ErrAlreadyDelivered
			}
			var current Delivery
			if err := tx.Where("id = ?", d.ID).Take(&current).Error; err != nil {
				return err
			}
			if current.Status == StatusDelivered {
				return ErrAlreadyDelivered
			}
			return ErrDeliveryInFlight
		}
		d.Status, d.NextAttemptAt = StatusPending, now
		entry := endpointAudit(audit.ActionWebhookRetried, ep)
		entry.Details = map[string]any{"message_id": d.MessageID, "event_type": d.EventType, "delivery_id": strconv.FormatInt(d.ID, 10)}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if errors.Is(err, ErrAlreadyDelivered) || errors.Is(err, ErrDeliveryInFlight) {
		return nil, err
	}
	if err != nil {
		return nil, passThrough(err, "retry the delivery")
	}
	return &d, nil
}

// SendTest queues a webhook.test delivery to one endpoint (due at once,
// retried like any other).
func (s *Store) SendTest(ctx context.Context, programID int64, actor audit.Actor, endpointID int64) (*Delivery, error) {
	var d *Delivery
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ep, err := endpointByID(tx, programID, endpointID)
		if err != nil {
			return err
		}
		var partnerID string
		if err := tx.Raw(`SELECT partner_id FROM programs WHERE id = ?`, programID).Scan(&partnerID).Error; err != nil {
			return err
		}
		now := s.now()
		body, err := jsonPayload(EventTest, now, map[string]any{
			"partner_id": partnerID, "endpoint_id": ep.ID,
			"actor":   map[string]any{"id": actor.AdminID, "email": actor.Email},
			"message": "A test event from keydesk.",
		})
		if err != nil {
			return err
		}
		d = &Delivery{ProgramID: programID, EndpointID: ep.ID, MessageID: NewMessageID(), EventType: EventTest, Payload: body,
			Status: StatusPending, NextAttemptAt: now, CreatedAt: now}
		if err := tx.Create(d).Error; err != nil {
			return err
		}
		entry := endpointAudit(audit.ActionWebhookTestSent, ep)
		entry.Details = map[string]any{"message_id": d.MessageID}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if err != nil {
		return nil, passThrough(err, "send a test event")
	}
	return d, nil
}
