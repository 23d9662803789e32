package audit

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"keydesk/models/database"
	"keydesk/models/migrations"
)

// RekeyReport counts what re-keying did.
type RekeyReport struct {
	Programs int   // chains re-keyed
	Events   int64 // events whose hash was recomputed
}

// RekeyLegacy re-chains, under the keyed hash and the current master key,
// the chains the keyed-hash migration found with unkeyed SHA-256 hashes
// (audit_rekey_pending). Each chain is one transaction: the legacy events
// are first verified as they stand (a chain that is already broken is
// refused, naming the break, and left untouched), then every event's hash
// and link are recomputed, the head moved and the chain's pending mark
// removed, with the append-only guard lifted only inside that transaction.
//
// Re-keying trusts the legacy hashes, which anyone with write access could
// have recomputed: run it once, right after upgrading. Later, a chain the
// migration did not mark is never re-keyed, and unkeyed events outside the
// mark fail verification as forged.
func (s *Store) RekeyLegacy(ctx context.Context) (RekeyReport, error) {
	var report RekeyReport
	var pending []struct {
		ProgramID  int64
		ThroughSeq int64
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT program_id, through_seq FROM audit_rekey_pending ORDER BY program_id`).Scan(&pending).Error; err != nil {
		return report, fmt.Errorf("audit: unable to list chains awaiting re-keying: %w", err)
	}
	keys, err := s.verificationKeys(ctx)
	if err != nil {
		return report, err
	}
	for _, p := range pending {
		n, err := s.rekeyChain(ctx, keys, p.ProgramID, p.ThroughSeq)
		if err != nil {
			return report, err
		}
		report.Programs++
		report.Events += n
	}
	return report, nil
}

// PendingRekey counts the chains that still wait for `keydesk audit rekey`.
func (s *Store) PendingRekey(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM audit_rekey_pending`).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("audit: unable to count chains awaiting re-keying: %w", err)
	}
	return n, nil
}

func (s *Store) rekeyChain(ctx context.Context, keys *Keys, programID, legacyThrough int64) (int64, error) {
	const batch = 2000
	var rewritten int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var heads []struct {
			Seq  int64
			Hash string
		}
		if err := tx.Raw(`SELECT seq, hash FROM audit_heads WHERE program_id = ?`+database.ForUpdate(tx), programID).Scan(&heads).Error; err != nil {
			return fmt.Errorf("audit: unable to lock chain head: %w", err)
		}
		if err := migrations.SuspendAuditGuard(tx); err != nil {
			return err
		}
		oldPrev, newPrev := "", ""
		expectSeq, lastSeq := int64(1), int64(0)
		for {
			var events []Event
			if err := tx.Where("program_id = ? AND seq > ?", programID, lastSeq).Order("seq ASC").Limit(batch).Find(&events).Error; err != nil {
				return fmt.Errorf("audit: unable to read chain: %w", err)
			}
			for i := range events {
				e := &events[i]
				reason := ""
				switch {
				case e.Seq != expectSeq:
					reason = fmt.Sprintf("sequence gap: expected %d, found %d", expectSeq, e.Seq)
				case e.PrevHash != oldPrev:
					reason = "previous-hash link does not match the preceding event"
				default:
					reason = checkEventHash(keys, e, legacyThrough)
					if e.HashVersion == HashLegacySHA256 && e.legacyHash() == e.Hash && e.Seq <= legacyThrough {
						reason = ""
					}
				}
				if reason != "" {
					return fmt.Errorf("audit: refusing to re-key the chain of program %d: %w", programID, &ChainBreak{programID, e.Seq, e.ID, reason})
				}
				oldPrev = e.Hash
				e.PrevHash = newPrev
				e.HashVersion = HashHMACv1
				e.KeyVersion = keys.CurrentVersion()
				e.Hash, _ = keys.ComputeHash(e)
				if err := tx.Exec(`UPDATE audit_events SET prev_hash = ?, hash = ?, hash_version = ?, key_version = ? WHERE id = ?`,
					e.PrevHash, e.Hash, e.HashVersion, e.KeyVersion, e.ID).Error; err != nil {
					return fmt.Errorf("audit: unable to re-key event #%d: %w", e.ID, err)
				}
				newPrev = e.Hash
				expectSeq++
				lastSeq = e.Seq
				rewritten++
			}
			if len(events) < batch {
				break
			}
		}
		if len(heads) == 0 || heads[0].Seq != lastSeq || heads[0].Hash != oldPrev {
			return fmt.Errorf("audit: refusing to re-key the chain of program %d: its head does not match its last event (seq %d)", programID, lastSeq)
		}
		if err := tx.Exec(`UPDATE audit_heads SET hash = ? WHERE program_id = ?`, newPrev, programID).Error; err != nil {
			return fmt.Errorf("audit: unable to move chain head: %w", err)
		}
		if err := tx.Exec(`DELETE FROM audit_rekey_pending WHERE program_id = ?`, programID).Error; err != nil {
			return fmt.Errorf("audit: unable to clear the re-keying mark: %w", err)
		}
		return migrations.RestoreAuditGuard(tx)
	})
	if err != nil {
		return 0, err
	}
	return rewritten, nil
}
