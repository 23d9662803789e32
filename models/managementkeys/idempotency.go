package managementkeys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// IdempotencyWindow is how long an Idempotency-Key's first answer is kept
// and replayed.
const IdempotencyWindow = 24 * time.Hour

// MaxIdempotencyKeyLength bounds an Idempotency-Key header.
const MaxIdempotencyKeyLength = 255

// idempotencyLabel binds a sealed answer to its table and row.
const idempotencyLabel = "management idempotency"

// Errors of idempotent requests.
var (
	// ErrIdempotencyMismatch: the key was used within the window with
	// another request (method, path or body).
	ErrIdempotencyMismatch = errors.New("managementkeys: the Idempotency-Key was used with another request")
	// ErrIdempotencyInProgress: the first request with this key has not
	// answered yet.
	ErrIdempotencyInProgress = errors.New("managementkeys: a request with this Idempotency-Key is still in progress")
)

// Replay is a stored answer to an idempotent request.
type Replay struct {
	Status int
	Body   []byte
}

type idempotencyRecord struct {
	ID          int64
	RequestHash string
	Status      int
	Sealed      []byte
	KeyVersion  int64
	CreatedAt   time.Time
}

// BeginIdempotent claims key for the request whose hash is requestHash
// (the caller's digest of method, path and body). It returns the stored
// answer when the same request already answered within the window (replay
// it and change nothing), or the id of a fresh claim the caller finishes
// with FinishIdempotent or AbandonIdempotent. The claim is an insert under
// the (program, key) unique index, so of two simultaneous requests with one
// key exactly one runs.
func (s *Store) BeginIdempotent(ctx context.Context, programID int64, key, requestHash string) (*Replay, int64, error) {
	var replay *Replay
	var claimed int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.now().UTC()
		if err := tx.Exec(`DELETE FROM management_idempotency WHERE program_id = ? AND created_at < ?`, programID, now.Add(-IdempotencyWindow)).Error; err != nil {
			return err
		}
		res := tx.Exec(`INSERT INTO management_idempotency (program_id, idempotency_key, request_hash, status, created_at) VALUES (?, ?, ?, 0, ?)
ON CONFLICT (program_id, idempotency_key) DO NOTHING`, programID, key, requestHash, now)
		if res.Error != nil {
			return res.Error
		}
		var rec idempotencyRecord
		if err := tx.Raw(`SELECT id, request_hash, status, sealed, key_version, created_at FROM management_idempotency WHERE program_id = ? AND idempotency_key = ?`, programID, key).Scan(&rec).Error; err != nil {
			return err
		}
		if res.RowsAffected == 1 {
			claimed = rec.ID
			return nil
		}
		switch {
		case rec.RequestHash != requestHash:
			return ErrIdempotencyMismatch
		case rec.Status == 0:
			return ErrIdempotencyInProgress
		}
		body, err := s.keyring.OpenLabelled(idempotencyLabel, rec.ID, rec.Sealed, rec.KeyVersion)
		if err != nil {
			return err
		}
		replay = &Replay{Status: rec.Status, Body: []byte(body)}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrIdempotencyMismatch) || errors.Is(err, ErrIdempotencyInProgress) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("managementkeys: unable to claim an Idempotency-Key: %w", err)
	}
	return replay, claimed, nil
}

// FinishIdempotent stores the answer of a claimed request, sealed (a create
// or roll answer holds a secret), for BeginIdempotent to replay.
func (s *Store) FinishIdempotent(ctx context.Context, id int64, status int, body []byte) error {
	sealed, version := s.keyring.SealLabelled(idempotencyLabel, id, string(body))
	if err := s.db.WithContext(ctx).Exec(`UPDATE management_idempotency SET status = ?, sealed = ?, key_version = ? WHERE id = ?`, status, sealed, version, id).Error; err != nil {
		return fmt.Errorf("managementkeys: unable to store an idempotent answer: %w", err)
	}
	return nil
}

// AbandonIdempotent drops a claim whose request failed on the server's
// side, so that a retry runs again.
func (s *Store) AbandonIdempotent(ctx context.Context, id int64) error {
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM management_idempotency WHERE id = ? AND status = 0`, id).Error; err != nil {
		return fmt.Errorf("managementkeys: unable to drop an Idempotency-Key claim: %w", err)
	}
	return nil
}

// PurgeIdempotency deletes the answers kept longer than the window (each
// sealed answer may hold a secret: none outlives the 24 hours), and
// reports how many.
func (s *Store) PurgeIdempotency(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM management_idempotency WHERE created_at < ?`, s.now().UTC().Add(-IdempotencyWindow))
	if res.Error != nil {
		return 0, fmt.Errorf("managementkeys: unable to purge Idempotency-Key answers: %w", res.Error)
	}
	return res.RowsAffected, nil
}
