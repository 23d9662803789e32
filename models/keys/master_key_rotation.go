package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"keydesk/models/audit"
	"keydesk/models/database"

	"gorm.io/gorm"
)

// DefaultRotationBatch is how many keys one rotation transaction re-seals.
const DefaultRotationBatch = 100

// RotationOptions tune a master-key rotation.
type RotationOptions struct {
	// BatchSize is the number of keys re-sealed per transaction
	// (DefaultRotationBatch when zero). A batch never spans two programs, so
	// its audit event belongs to exactly one chain.
	BatchSize int
	// MaxKeys stops the rotation after this many keys were re-sealed
	// (0: no limit). Running again carries on where it stopped.
	MaxKeys int
	// BeforeCommit, when set, runs inside each batch's transaction just
	// before it commits; an error rolls that batch back and stops the
	// rotation, as a crash at the worst moment would.
	BeforeCommit func(batch int) error
}

// RotationReport counts what a rotation did.
type RotationReport struct {
	Resealed int64 // keys re-sealed by this run
	Batches  int   // transactions committed
	Programs int   // programs whose keys were touched
	Current  int64 // keys already at the current version when the run ended
	Pending  int64 // keys still sealed under an older master key
	// AnchoredChains counts the audit chains that got a master_key.rotated
	// event under the new key, committing to their head under the old one.
	AnchoredChains int
	// WebhookSecrets counts the webhook signing secrets and invitation
	// tokens re-sealed under the new master key.
	WebhookSecrets int
}

// ErrRotationStopped means a rotation ended early (a limit or a hook); what
// was committed stays committed and running again finishes the job.
var ErrRotationStopped = errors.New("master-key rotation stopped before the end: run it again to finish")

type staleKey struct {
	ID            int64
	ProgramID     int64
	Identifier    string
	Digest        []byte
	Sealed        []byte
	KeyVersion    int64
	OldDigest     []byte
	OldSealed     []byte
	OldKeyVersion int64
}

// staleCondition selects keys with a secret not sealed under the current
// master key: the key itself, or the previous secret a roll keeps working
// until its overlap ends.
const staleCondition = `(key_version <> ? OR (old_sealed IS NOT NULL AND old_key_version <> ?))`

// reseal opens a secret sealed under any configured master key, checks it
// against its digest and seals it again under the current one.
func (s *Store) reseal(r staleKey, what string, sealed []byte, version int64, digest []byte) ([]byte, int64, error) {
	secret, err := s.keyring.Open(r.ID, sealed, version)
	if err != nil {
		return nil, 0, fmt.Errorf("%s of API key %s (row %d, key version %d) cannot be opened: set KEYDESK_MASTER_KEY_PREVIOUS to the master key it was sealed with: %w", what, r.Identifier, r.ID, version, err)
	}
	if !bytes.Equal(KeyDigest(secret), digest) {
		return nil, 0, fmt.Errorf("%s of API key %s (row %d) does not match its digest: refusing to re-seal it", what, r.Identifier, r.ID)
	}
	resealed, newVersion := s.keyring.Seal(r.ID, secret)
	if again, err := s.keyring.Open(r.ID, resealed, newVersion); err != nil || again != secret {
		return nil, 0, fmt.Errorf("%s of API key %s (row %d) did not survive re-sealing: %v", what, r.Identifier, r.ID, err)
	}
	return resealed, newVersion, nil
}

// RotateMasterKey re-seals every API key (default keys included) that is not
// sealed under the keyring's current master key. Each batch is one
// transaction holding the re-seals of one program and their audit event, so
// an interrupted rotation leaves every key either under its old seal (still
// opened by the previous master key) or under the new one, never lost; rows
// already at the current version are skipped, so running again resumes.
func (s *Store) RotateMasterKey(ctx context.Context, actor audit.Actor, opts RotationOptions) (RotationReport, error) {
	db := s.db.WithContext(ctx)
	var report RotationReport
	batchSize := opts.BatchSize
	if batchSize <= 0 {
		batchSize = DefaultRotationBatch
	}
	current := s.keyring.CurrentVersion()
	touched := map[int64]bool{}
	// Rows that vanished or changed under us are re-read on the next pass;
	// lastID keeps one pass moving forward so a busy table cannot loop it.
	var lastProgram, lastID int64
	var runErr error
	for {
		if opts.MaxKeys > 0 && report.Resealed >= int64(opts.MaxKeys) {
			runErr = ErrRotationStopped
			break
		}
		limit := batchSize
		if opts.MaxKeys > 0 && int64(limit) > int64(opts.MaxKeys)-report.Resealed {
			limit = int(int64(opts.MaxKeys) - report.Resealed)
		}
		var done int64
		var programID, nextID int64
		err := db.Transaction(func(tx *gorm.DB) error {
			// The next program with stale keys, then up to a batch of its keys.
			var first staleKey
			if err := tx.Raw(`SELECT id, program_id FROM api_keys WHERE `+staleCondition+` AND (program_id > ? OR (program_id = ? AND id > ?)) ORDER BY program_id, id LIMIT 1`,
				current, current, lastProgram, lastProgram, lastID).Scan(&first).Error; err != nil {
				return fmt.Errorf("unable to find keys to re-seal: %w", err)
			}
			if first.ID == 0 {
				return nil
			}
			programID = first.ProgramID
			var rows []staleKey
			if err := tx.Raw(`SELECT id, program_id, identifier, digest, sealed, key_version, old_digest, old_sealed, old_key_version FROM api_keys WHERE program_id = ? AND `+staleCondition+` AND id >= ? ORDER BY id LIMIT ?`+database.ForUpdate(tx),
				programID, current, current, first.ID, limit).Scan(&rows).Error; err != nil {
				return fmt.Errorf("unable to load keys of program %d: %w", programID, err)
			}
			for _, r := range rows {
				nextID = r.ID
				sealed, version := r.Sealed, r.KeyVersion
				if version != current {
					var err error
					if sealed, version, err = s.reseal(r, "the secret", r.Sealed, r.KeyVersion, r.Digest); err != nil {
						return err
					}
				}
				oldSealed, oldVersion := r.OldSealed, r.OldKeyVersion
				if oldSealed != nil && oldVersion != current {
					var err error
					if oldSealed, oldVersion, err = s.reseal(r, "the previous secret", r.OldSealed, r.OldKeyVersion, r.OldDigest); err != nil {
						return err
					}
				}
				res := tx.Exec(`UPDATE api_keys SET sealed = ?, key_version = ?, old_sealed = ?, old_key_version = ? WHERE id = ? AND key_version = ? AND old_key_version = ?`,
					sealed, version, oldSealed, oldVersion, r.ID, r.KeyVersion, r.OldKeyVersion)
				if res.Error != nil {
					return fmt.Errorf("unable to re-seal API key %s: %w", r.Identifier, res.Error)
				}
				done += res.RowsAffected
			}
			if done > 0 {
				err := s.audit.Append(tx, programID, actor, audit.Entry{
					Action: audit.ActionMasterKeyRotated, TargetType: "program", TargetID: fmt.Sprint(programID),
					Details: map[string]any{"resealed": done, "key_version": current},
				})
				if err != nil {
					return err
				}
			}
			if opts.BeforeCommit != nil {
				if err := opts.BeforeCommit(report.Batches + 1); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			runErr = fmt.Errorf("keys: master-key rotation failed after %d keys: %w", report.Resealed, err)
			break
		}
		if programID == 0 {
			break
		}
		lastProgram, lastID = programID, nextID
		if done > 0 {
			report.Resealed += done
			report.Batches++
			touched[programID] = true
		}
	}
	report.Programs = len(touched)
	if err := db.Raw(`SELECT COUNT(*) FROM api_keys WHERE key_version = ?`, current).Scan(&report.Current).Error; err != nil && runErr == nil {
		runErr = fmt.Errorf("keys: unable to count re-sealed keys: %w", err)
	}
	if err := db.Raw(`SELECT COUNT(*) FROM api_keys WHERE `+staleCondition, current, current).Scan(&report.Pending).Error; err != nil && runErr == nil {
		runErr = fmt.Errorf("keys: unable to count keys left to re-seal: %w", err)
	}
	if errors.Is(runErr, ErrRotationStopped) && report.Pending == 0 {
		runErr = nil
	}
	if runErr == nil && s.outbox != nil {
		// Webhook signing secrets and pending invitation tokens too.
		if report.WebhookSecrets, runErr = s.outbox.ResealSecrets(ctx, actor, current); runErr != nil {
			runErr = fmt.Errorf("keys: API keys re-sealed, but not the webhook secrets: %w", runErr)
		}
	}
	if runErr == nil {
		// The audit trail too: wrap the previous chain key under the new
		// master key and anchor every chain under the new key, so the
		// previous master key can go once this returns.
		if report.AnchoredChains, runErr = s.audit.AdoptCurrentKey(ctx, actor); runErr != nil {
			runErr = fmt.Errorf("keys: API keys re-sealed, but the audit trail could not adopt the new master key: %w", runErr)
		}
	}
	return report, runErr
}
