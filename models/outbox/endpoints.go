package outbox

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
)

// SecretPrefix starts every signing secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// SecretOverlap is how long the previous secret still signs after a rotation.
const SecretOverlap = 24 * time.Hour

// MaxURLLength bounds an endpoint URL.
const MaxURLLength = 2000

// MaxEndpointsPerProgram caps a program's webhook endpoints: every key
// action is signed and delivered to each of them, with retries for
// MaxRetryAge.
const MaxEndpointsPerProgram = 10

// ErrEndpointLimitReached is an Add endpoint refused at the cap.
var ErrEndpointLimitReached = errors.New("outbox: the program has reached its webhook endpoint limit")

// secretLabel binds sealed secrets to the endpoints table.
const secretLabel = "webhook_endpoints"

// TargetWebhook is a webhook endpoint; the target id is its row id.
const TargetWebhook = "webhook"

// Endpoint is a program's webhook receiver.
type Endpoint struct {
	ID                   int64
	ProgramID            int64
	URL                  string
	Description          string
	EventTypes           string // space-separated
	Enabled              bool
	SecretSealed         []byte
	SecretKeyVersion     int64
	PreviousSecretSealed []byte
	PreviousKeyVersion   int64
	PreviousExpiresAt    *time.Time
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// TableName is the endpoints' table.
func (Endpoint) TableName() string { return "webhook_endpoints" }

// Events lists the event types the endpoint subscribes to.
func (e *Endpoint) Events() []string { return strings.Fields(e.EventTypes) }

// Subscribes reports whether the endpoint wants events of type t.
func (e *Endpoint) Subscribes(t string) bool { return slices.Contains(e.Events(), t) }

// EndpointInput is an endpoint as the admin typed it.
type EndpointInput struct {
	URL         string
	Description string
	Events      []string
}

// Validate checks the input and normalises it.
func (in *EndpointInput) Validate() error {
	errs := input.ValidationError{}
	in.URL = strings.TrimSpace(in.URL)
	desc, problem := input.Line("Description", in.Description)
	in.Description = desc
	if problem != "" {
		errs["description"] = problem
	}
	u, err := url.Parse(in.URL)
	switch {
	case in.URL == "":
		errs["url"] = "Enter the URL that receives the events."
	case len(in.URL) > MaxURLLength:
		errs["url"] = fmt.Sprintf("Enter at most %d characters.", MaxURLLength)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "":
		errs["url"] = "Enter a full http:// or https:// URL, e.g. https://example.com/keydesk."
	case u.User != nil:
		errs["url"] = "Leave credentials out of the URL; verify the signature instead."
	}
	if problem == "" && len(in.Description) > 200 {
		errs["description"] = "Enter at most 200 characters."
	}
	var events []string
	for _, e := range in.Events {
		if !slices.Contains(EventTypes, e) {
			errs["events"] = "Choose events from the list."
			break
		}
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	if len(events) == 0 && errs["events"] == "" {
		errs["events"] = "Choose at least one event."
	}
	slices.SortFunc(events, func(a, b string) int { return slices.Index(EventTypes, a) - slices.Index(EventTypes, b) })
	in.Events = events
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// NewSecret returns a fresh signing secret: whsec_ and base64 of 24 random bytes.
func NewSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

func endpointAudit(action string, e *Endpoint) audit.Entry {
	return audit.Entry{Action: action, TargetType: TargetWebhook, TargetID: strconv.FormatInt(e.ID, 10), TargetName: e.URL}
}

// CreateEndpoint adds an endpoint and returns it with its signing secret,
// which is shown once and stored only sealed.
//
// The count and the insert happen under the program's row lock, so
// simultaneous requests never pass MaxEndpointsPerProgram; a refused
// attempt is audited and answers ErrEndpointLimitReached.
func (s *Store) CreateEndpoint(ctx context.Context, programID int64, actor audit.Actor, in EndpointInput) (*Endpoint, string, error) {
	if err := s.validateEndpoint(ctx, &in, true); err != nil {
		return nil, "", err
	}
	secret := NewSecret()
	now := s.now()
	ep := &Endpoint{ProgramID: programID, URL: in.URL, Description: in.Description, EventTypes: strings.Join(in.Events, " "),
		Enabled: true, SecretSealed: []byte{0}, CreatedAt: now, UpdatedAt: now}
	limitReached := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		var n int64
		if err := tx.Raw(`SELECT COUNT(*) FROM webhook_endpoints WHERE program_id = ?`, programID).Scan(&n).Error; err != nil {
			return err
		}
		if n >= MaxEndpointsPerProgram {
			limitReached = true
			return s.audit.Append(tx, programID, actor, audit.Entry{
				Action: audit.ActionWebhookCreated, Outcome: audit.OutcomeRefused, TargetType: TargetWebhook, TargetName: in.URL,
				Details: map[string]any{"reason": "limit", "limit": MaxEndpointsPerProgram},
			})
		}
		if err := tx.Create(ep).Error; err != nil {
			return err
		}
		ep.SecretSealed, ep.SecretKeyVersion = s.sealer.SealLabelled(secretLabel, ep.ID, secret)
		if err := tx.Exec(`UPDATE webhook_endpoints SET secret_sealed = ?, secret_key_version = ? WHERE id = ?`, ep.SecretSealed, ep.SecretKeyVersion, ep.ID).Error; err != nil {
			return err
		}
		entry := endpointAudit(audit.ActionWebhookCreated, ep)
		entry.Details = map[string]any{"events": in.Events, "description": ep.Description}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if err != nil {
		return nil, "", passThrough(err, "add the webhook endpoint")
	}
	if limitReached {
		return nil, "", ErrEndpointLimitReached
	}
	return ep, secret, nil
}

// validateEndpoint checks the input and, unless private targets are
// allowed, refuses a URL that points at a private, loopback or link-local
// address (looked up now; the delivery client checks again on every dial).
// enabled says whether the endpoint will send: a disabled one may keep
// the target it has, so an admin can always switch a bad one off.
func (s *Store) validateEndpoint(ctx context.Context, in *EndpointInput, enabled bool) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if s.opts.AllowPrivateTargets || !enabled {
		return nil
	}
	if problem := TargetProblem(ctx, s.resolver, in.URL); problem != "" {
		if strings.HasPrefix(problem, targetRefusal) {
			problem += " This server's setting KEYDESK_WEBHOOK_ALLOW_PRIVATE is off; whoever runs keydesk can turn it on for private receivers."
		}
		return input.ValidationError{"url": problem}
	}
	return nil
}

// Endpoints lists a program's endpoints, oldest first.
func (s *Store) Endpoints(ctx context.Context, programID int64) ([]Endpoint, error) {
	var eps []Endpoint
	if err := s.db.WithContext(ctx).Where("program_id = ?", programID).Order("id").Find(&eps).Error; err != nil {
		return nil, fmt.Errorf("outbox: unable to list webhook endpoints: %w", err)
	}
	return eps, nil
}

// EndpointByID loads an endpoint through its program: another program's id
// is database.ErrNotFound.
func (s *Store) EndpointByID(ctx context.Context, programID, id int64) (*Endpoint, error) {
	return endpointByID(s.db.WithContext(ctx), programID, id)
}

func endpointByID(tx *gorm.DB, programID, id int64) (*Endpoint, error) {
	var ep Endpoint
	err := tx.Where("program_id = ? AND id = ?", programID, id).Take(&ep).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: unable to load the webhook endpoint: %w", err)
	}
	return &ep, nil
}

// UpdateEndpoint changes an endpoint's URL, description, events and
// enabled state, auditing before/after.
func (s *Store) UpdateEndpoint(ctx context.Context, programID int64, actor audit.Actor, id int64, in EndpointInput, enabled bool) (*Endpoint, error) {
	if err := s.validateEndpoint(ctx, &in, enabled); err != nil {
		return nil, err
	}
	var ep *Endpoint
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		e, err := endpointByID(tx, programID, id)
		if err != nil {
			return err
		}
		before := map[string]any{"url": e.URL, "description": e.Description, "events": e.Events(), "enabled": e.Enabled}
		e.URL, e.Description, e.EventTypes, e.Enabled, e.UpdatedAt = in.URL, in.Description, strings.Join(in.Events, " "), enabled, s.now()
		if err := tx.Exec(`UPDATE webhook_endpoints SET url = ?, description = ?, event_types = ?, enabled = ?, updated_at = ? WHERE id = ?`,
			e.URL, e.Description, e.EventTypes, e.Enabled, e.UpdatedAt, e.ID).Error; err != nil {
			return err
		}
		ep = e
		entry := endpointAudit(audit.ActionWebhookUpdated, e)
		entry.Details = map[string]any{"before": before, "after": map[string]any{"url": e.URL, "description": e.Description, "events": e.Events(), "enabled": e.Enabled}}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if err != nil {
		return nil, passThrough(err, "update the webhook endpoint")
	}
	return ep, nil
}

// DeleteEndpoint removes an endpoint and its delivery log.
func (s *Store) DeleteEndpoint(ctx context.Context, programID int64, actor audit.Actor, id int64) (*Endpoint, error) {
	var ep *Endpoint
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		e, err := endpointByID(tx, programID, id)
		if err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM webhook_delivery_attempts WHERE endpoint_id = ?`, e.ID).Error; err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM webhook_deliveries WHERE endpoint_id = ?`, e.ID).Error; err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM webhook_endpoints WHERE id = ?`, e.ID).Error; err != nil {
			return err
		}
		ep = e
		entry := endpointAudit(audit.ActionWebhookDeleted, e)
		entry.Details = map[string]any{"events": e.Events()}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if err != nil {
		return nil, passThrough(err, "delete the webhook endpoint")
	}
	return ep, nil
}

// RotateSecret gives the endpoint a new signing secret, returned once. The
// previous secret keeps signing beside it for SecretOverlap, so receivers
// can switch without dropping a delivery.
func (s *Store) RotateSecret(ctx context.Context, programID int64, actor audit.Actor, id int64) (*Endpoint, string, error) {
	secret := NewSecret()
	var ep *Endpoint
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		e, err := endpointByID(tx, programID, id)
		if err != nil {
			return err
		}
		old, err := s.sealer.OpenLabelled(secretLabel, e.ID, e.SecretSealed, e.SecretKeyVersion)
		if err != nil {
			return err
		}
		now := s.now()
		until := now.Add(SecretOverlap)
		e.PreviousSecretSealed, e.PreviousKeyVersion = s.sealer.SealLabelled(secretLabel+" previous", e.ID, old)
		e.PreviousExpiresAt = &until
		e.SecretSealed, e.SecretKeyVersion = s.sealer.SealLabelled(secretLabel, e.ID, secret)
		e.UpdatedAt = now
		if err := tx.Exec(`UPDATE webhook_endpoints SET secret_sealed = ?, secret_key_version = ?, previous_secret_sealed = ?, previous_key_version = ?, previous_expires_at = ?, updated_at = ? WHERE id = ?`,
			e.SecretSealed, e.SecretKeyVersion, e.PreviousSecretSealed, e.PreviousKeyVersion, e.PreviousExpiresAt, e.UpdatedAt, e.ID).Error; err != nil {
			return err
		}
		ep = e
		entry := endpointAudit(audit.ActionWebhookSecretRotated, e)
		entry.Details = map[string]any{"previous_secret_valid_until": until.UTC().Format(time.RFC3339)}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if err != nil {
		return nil, "", passThrough(err, "rotate the webhook secret")
	}
	return ep, secret, nil
}

// Secrets opens the secrets that sign the endpoint's deliveries now: the
// current one, and the previous one during a rotation's overlap.
func (s *Store) Secrets(e *Endpoint) ([]string, error) {
	cur, err := s.sealer.OpenLabelled(secretLabel, e.ID, e.SecretSealed, e.SecretKeyVersion)
	if err != nil {
		return nil, fmt.Errorf("outbox: unable to open the webhook secret: %w", err)
	}
	secrets := []string{cur}
	if e.PreviousExpiresAt != nil && s.now().Before(*e.PreviousExpiresAt) && len(e.PreviousSecretSealed) > 0 {
		prev, err := s.sealer.OpenLabelled(secretLabel+" previous", e.ID, e.PreviousSecretSealed, e.PreviousKeyVersion)
		if err != nil {
			return nil, fmt.Errorf("outbox: unable to open the previous webhook secret: %w", err)
		}
		secrets = append(secrets, prev)
	}
	return secrets, nil
}

func passThrough(err error, doing string) error {
	var verr input.ValidationError
	if errors.As(err, &verr) || errors.Is(err, database.ErrNotFound) {
		return err
	}
	return fmt.Errorf("outbox: unable to %s: %w", doing, err)
}
