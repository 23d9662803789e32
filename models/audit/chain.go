// Package audit keeps each program's append-only, tamper-evident trail:
// appending events in the caller's transaction, verifying the chain,
// querying it page by page and streaming it as CSV.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"keydesk/models/database"
	"keydesk/models/metrics"
)

// Store appends to and reads the audit chains.
type Store struct {
	db   *gorm.DB
	now  database.Clock
	keys *Keys
}

// NewStore builds the audit store over db. keys are derived from the master
// keyring (keys.Keyring.AuditKeys): the chain is an HMAC under them and
// checkpoints are signed with them.
func NewStore(db *gorm.DB, keys *Keys, now database.Clock) *Store {
	return &Store{db: db, now: now, keys: keys}
}

// Actor says who does something and from where; it goes into audit events.
type Actor struct {
	AdminID   int64
	Email     string
	IP        string
	UserAgent string
	RequestID string
}

// Target types of audit events.
const (
	TargetAPIKey     = "api_key"
	TargetAdmin      = "admin"
	TargetProgram    = "program"
	TargetAuditTrail = "audit_trail"
	// TargetMember is a loyalty member; the target id is its member_id.
	TargetMember = "member"
	// TargetManagementKey is a management key; the target id is its kdmi_ identifier.
	TargetManagementKey = "management_key"
	// TargetInvitation is an invitation; the target id is its row id.
	TargetInvitation = "invitation"
)

// SystemProgramID is the chain of events that belong to no program, such as a
// failed sign-in for an unknown email.
const SystemProgramID int64 = 0

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeRefused = "refused"
)

// Event is one link of a program's tamper-evident chain.
type Event struct {
	ID         int64
	ProgramID  int64
	Seq        int64
	PrevHash   string
	Hash       string
	OccurredAt time.Time
	ActorID    int64
	ActorEmail string
	Action     string
	TargetType string
	TargetID   string
	TargetName string
	Outcome    string
	IP         string
	UserAgent  string
	RequestID  string
	Details    string
	// HashVersion names how Hash was computed (HashHMACv1, or
	// HashLegacySHA256 for events awaiting re-keying) and KeyVersion under
	// which master key.
	HashVersion int
	KeyVersion  int64
}

// TableName pins the table.
func (Event) TableName() string { return "audit_events" }

// Entry is what a caller records; the chain fields are filled in.
type Entry struct {
	Action     string
	TargetType string
	TargetID   string
	TargetName string
	Outcome    string
	Details    map[string]any
}

const (
	legacyEncodingVersion = "keydesk-audit-v1"
	keyedEncodingVersion  = "keydesk-audit-hmac-v1"
)

// legacyEncoding is the byte string the unkeyed (legacy) hash covers: a
// JSON array of every field in a fixed order, behind a version tag.
func (e *Event) legacyEncoding() []byte {
	return e.encoding(legacyEncodingVersion)
}

// keyedEncoding is what the keyed hash covers: the same fields behind
// another tag, with the key version, so moving an event under another key
// breaks its hash.
func (e *Event) keyedEncoding() []byte {
	return e.encoding(keyedEncodingVersion, strconv.FormatInt(e.KeyVersion, 10))
}

func (e *Event) encoding(tag string, extra ...any) []byte {
	fields := []any{
		tag,
		strconv.FormatInt(e.ProgramID, 10),
		strconv.FormatInt(e.Seq, 10),
		e.PrevHash,
		e.OccurredAt.UTC().Format(time.RFC3339Nano),
		strconv.FormatInt(e.ActorID, 10),
		e.ActorEmail,
		e.Action,
		e.TargetType,
		e.TargetID,
		e.TargetName,
		e.Outcome,
		e.IP,
		e.UserAgent,
		e.RequestID,
		e.Details,
	}
	fields = append(fields, extra...)
	b, err := json.Marshal(fields)
	if err != nil {
		panic("audit: canonical encoding failed: " + err.Error())
	}
	return b
}

// legacyHash is the unkeyed hash of the first chains: hex SHA-256 of the
// legacy encoding.
func (e *Event) legacyHash() string {
	sum := sha256.Sum256(e.legacyEncoding())
	return hex.EncodeToString(sum[:])
}

// Append appends an event to the program's chain inside the caller's
// transaction, so the action and its event commit together or not at all.
// The chain head row is locked, so appends to one program are serialised
// and the chain never forks.
func (s *Store) Append(tx *gorm.DB, programID int64, actor Actor, entry Entry) error {
	if err := tx.Exec(`INSERT INTO audit_heads (program_id, seq, hash) VALUES (?, 0, '') ON CONFLICT (program_id) DO NOTHING`, programID).Error; err != nil {
		return fmt.Errorf("audit: unable to create chain head: %w", err)
	}
	var head struct {
		Seq  int64
		Hash string
	}
	if err := tx.Raw(`SELECT seq, hash FROM audit_heads WHERE program_id = ?`+database.ForUpdate(tx), programID).Scan(&head).Error; err != nil {
		return fmt.Errorf("audit: unable to lock chain head: %w", err)
	}
	details := "{}"
	if len(entry.Details) > 0 {
		b, err := json.Marshal(entry.Details)
		if err != nil {
			return fmt.Errorf("audit: unable to encode details: %w", err)
		}
		details = string(b)
	}
	outcome := entry.Outcome
	if outcome == "" {
		outcome = OutcomeSuccess
	}
	event := Event{
		ProgramID:  programID,
		Seq:        head.Seq + 1,
		PrevHash:   head.Hash,
		OccurredAt: s.now(),
		ActorID:    actor.AdminID,
		ActorEmail: actor.Email,
		Action:     entry.Action,
		TargetType: entry.TargetType,
		TargetID:   entry.TargetID,
		TargetName: entry.TargetName,
		Outcome:    outcome,
		IP:         actor.IP,
		UserAgent:  truncate(actor.UserAgent, 512),
		RequestID:  actor.RequestID,
		Details:    details,

		HashVersion: HashHMACv1,
		KeyVersion:  s.keys.CurrentVersion(),
	}
	event.Hash, _ = s.keys.ComputeHash(&event)
	if err := tx.Create(&event).Error; err != nil {
		return fmt.Errorf("audit: unable to append event: %w", err)
	}
	if err := tx.Exec(`UPDATE audit_heads SET seq = ?, hash = ? WHERE program_id = ?`, event.Seq, event.Hash, programID).Error; err != nil {
		return fmt.Errorf("audit: unable to advance chain head: %w", err)
	}
	metrics.AuditAppends.WithLabelValues(entry.Action).Inc()
	return nil
}

// Record appends one event in its own transaction.
func (s *Store) Record(ctx context.Context, programID int64, actor Actor, entry Entry) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.Append(tx, programID, actor, entry)
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ChainBreak describes the first event at which a chain fails to verify.
type ChainBreak struct {
	ProgramID int64
	Seq       int64
	EventID   int64
	Reason    string
}

// reasonAwaitsRekey is the break of a legacy chain that an authenticated
// re-keying mark covers.
const reasonAwaitsRekey = "event still carries the legacy unkeyed SHA-256 hash: run `keydesk audit rekey` once after upgrading"

// AwaitsRekey says that the chain breaks only because it still waits for
// `keydesk audit rekey` under an authenticated re-keying mark. A signed
// checkpoint the chain contradicts overrules that advice (the chain was
// keyed once, see RekeyLegacy).
func (b *ChainBreak) AwaitsRekey() bool { return b.Reason == reasonAwaitsRekey }

func (b *ChainBreak) Error() string {
	return fmt.Sprintf("audit chain of program %d broken at event #%d (seq %d): %s", b.ProgramID, b.EventID, b.Seq, b.Reason)
}

// VerifyChain walks one program's chain in sequence order and returns the
// first break, or nil when every event verifies. It reads in batches, so a
// chain of millions of events needs constant memory. Every event must carry
// a keyed hash (HMAC-SHA-256 under a key derived from a master key the
// keyring holds, or one wrapped in audit_chain_keys at a rotation): whoever
// writes the database without the master key cannot recompute the chain.
// Legacy events under an authenticated re-keying mark break the chain with
// advice to re-key (ChainBreak.AwaitsRekey), given only when no other event
// breaks it.
func (s *Store) VerifyChain(ctx context.Context, programID int64) (verified int64, brk *ChainBreak, err error) {
	const batch = 2000
	db := s.db.WithContext(ctx)
	keys, err := s.verificationKeys(ctx)
	if err != nil {
		return 0, nil, err
	}
	legacyThrough, err := legacyThrough(db, keys, programID)
	if err != nil {
		return 0, nil, err
	}
	prevHash := ""
	expectSeq := int64(1)
	lastSeq := int64(0)
	var awaitsRekey *ChainBreak
	var verifiedBeforeRekey int64
	for {
		var events []Event
		if err := db.Where("program_id = ? AND seq > ?", programID, lastSeq).Order("seq ASC").Limit(batch).Find(&events).Error; err != nil {
			return verified, nil, fmt.Errorf("audit: unable to read chain: %w", err)
		}
		for i := range events {
			e := &events[i]
			switch {
			case e.Seq != expectSeq:
				return verified, &ChainBreak{programID, expectSeq, e.ID, fmt.Sprintf("sequence gap: expected %d, found %d (an event was removed or reordered)", expectSeq, e.Seq)}, nil
			case e.PrevHash != prevHash:
				return verified, &ChainBreak{programID, e.Seq, e.ID, "previous-hash link does not match the preceding event"}, nil
			}
			switch reason := checkEventHash(keys, e, legacyThrough); {
			case reason == reasonAwaitsRekey:
				// Advise re-keying only if nothing else in the chain
				// breaks: walk on.
				if awaitsRekey == nil {
					awaitsRekey, verifiedBeforeRekey = &ChainBreak{programID, e.Seq, e.ID, reason}, verified
				}
			case reason != "":
				return verified, &ChainBreak{programID, e.Seq, e.ID, reason}, nil
			}
			prevHash = e.Hash
			expectSeq++
			lastSeq = e.Seq
			verified++
		}
		if len(events) < batch {
			break
		}
	}
	var head struct {
		Seq  int64
		Hash string
	}
	if err := db.Raw(`SELECT seq, hash FROM audit_heads WHERE program_id = ?`, programID).Scan(&head).Error; err != nil {
		return verified, nil, fmt.Errorf("audit: unable to read chain head: %w", err)
	}
	if head.Seq != lastSeq || head.Hash != prevHash {
		return verified, &ChainBreak{programID, lastSeq + 1, 0, fmt.Sprintf("chain ends at seq %d but its head records seq %d (events were removed from the end)", lastSeq, head.Seq)}, nil
	}
	if awaitsRekey != nil {
		return verifiedBeforeRekey, awaitsRekey, nil
	}
	return verified, nil, nil
}

// checkEventHash says why an event's hash fails, or "" when it verifies.
// legacyThrough is the last seq an authenticated re-keying mark leaves with
// an unkeyed hash (0: none wait for re-keying; see legacyThrough).
func checkEventHash(keys *Keys, e *Event, legacyThrough int64) string {
	switch e.HashVersion {
	case HashHMACv1:
		want, ok := keys.ComputeHash(e)
		if !ok {
			return fmt.Sprintf("hashed under master key version %d, which this keydesk does not hold (configure that key as KEYDESK_MASTER_KEY_PREVIOUS, or the event was altered)", e.KeyVersion)
		}
		if !hmac.Equal([]byte(want), []byte(e.Hash)) {
			return "hash does not match the event's fields (the event was altered)"
		}
		return ""
	case HashLegacySHA256:
		if e.Seq > legacyThrough {
			return "unkeyed SHA-256 hash on an event that no re-keying mark authenticated under the master key covers (the event was altered or forged; re-keying does not apply to it)"
		}
		if e.legacyHash() != e.Hash {
			return "hash does not match the event's fields (the event was altered)"
		}
		return reasonAwaitsRekey
	default:
		return fmt.Sprintf("unknown hash version %d (the event was altered)", e.HashVersion)
	}
}

// verificationKeys are the keys the keyring holds plus the earlier chain
// keys a master-key rotation wrapped under the current master key.
func (s *Store) verificationKeys(ctx context.Context) (*Keys, error) {
	var rows []struct {
		KeyVersion int64
		Wrapped    []byte
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT key_version, wrapped FROM audit_chain_keys WHERE wrapped_under = ?`, s.keys.CurrentVersion()).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("audit: unable to read earlier chain keys: %w", err)
	}
	extra := map[int64]*chainKey{}
	for _, r := range rows {
		ck, err := s.keys.unwrap(r.KeyVersion, r.Wrapped)
		if err != nil {
			// An altered row verifies nothing: events under that version
			// then fail as not held.
			continue
		}
		extra[r.KeyVersion] = ck
	}
	return s.keys.with(extra), nil
}

// ChainIDs lists every program id that has a chain.
func (s *Store) ChainIDs(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT program_id FROM audit_heads UNION SELECT DISTINCT program_id FROM audit_events ORDER BY 1`).Scan(&ids).Error
	return ids, err
}

// RecordRefusal records an attempt refused for lack of a role.
func (s *Store) RecordRefusal(ctx context.Context, programID int64, actor Actor, what string) error {
	return s.Record(ctx, programID, actor, Entry{Action: ActionAccessRefused, Outcome: OutcomeRefused, TargetType: "route", TargetName: what})
}
