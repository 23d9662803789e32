package audit

import (
	"context"
	"crypto/hmac"
	"errors"
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
// recompute, so it re-keys only what the upgrade itself marked:
//
//   - a mark counts only when it is authenticated under the master key
//     (SealRekeyMarks, right after the migration); a mark someone inserted
//     later is refused;
//   - the events up to the mark must be exactly the unkeyed events the
//     upgrade found (the mark pins the hash of its last one): a chain that
//     holds keyed events there, or other legacy events, is refused;
//   - every checkpoint in against for the chain (the signed checkpoint file)
//     must still match it: a chain a checkpoint shows as it was once keyed
//     and has since been rewritten or cut is refused.
//
// Refused chains are left untouched and named in the returned error; the
// others are re-keyed, each with an audit.rekeyed event by actor appended
// in the same transaction.
func (s *Store) RekeyLegacy(ctx context.Context, actor Actor, against []Checkpoint) (RekeyReport, error) {
	var report RekeyReport
	marks, err := readRekeyMarks(s.db.WithContext(ctx), nil)
	if err != nil {
		return report, fmt.Errorf("audit: unable to list chains awaiting re-keying: %w", err)
	}
	keys, err := s.verificationKeys(ctx)
	if err != nil {
		return report, err
	}
	var refusals []error
	for _, m := range marks {
		if !keys.authentic(&m) {
			refusals = append(refusals, fmt.Errorf("audit: refusing to re-key the chain of program %d: %s", m.ProgramID, rekeyMarkNotAuthenticated))
			continue
		}
		if err := s.checkpointsAgree(ctx, m.ProgramID, against); err != nil {
			refusals = append(refusals, fmt.Errorf("audit: refusing to re-key the chain of program %d: %w", m.ProgramID, err))
			continue
		}
		n, err := s.rekeyChain(ctx, keys, actor, m)
		if err != nil {
			refusals = append(refusals, err)
			continue
		}
		report.Programs++
		report.Events += n
	}
	return report, errors.Join(refusals...)
}

// checkpointsAgree checks every checkpoint of a program's chain among cps.
func (s *Store) checkpointsAgree(ctx context.Context, programID int64, cps []Checkpoint) error {
	for _, cp := range cps {
		if cp.ProgramID != programID {
			continue
		}
		if err := s.VerifyCheckpoint(ctx, cp); err != nil {
			return fmt.Errorf("a signed checkpoint contradicts it (it was keyed, then rewritten or cut): %w", err)
		}
	}
	return nil
}

// PendingRekey counts the chains that still wait for `keydesk audit rekey`:
// those with a re-keying mark authenticated under the master key.
func (s *Store) PendingRekey(ctx context.Context) (int64, error) {
	marks, err := readRekeyMarks(s.db.WithContext(ctx), nil)
	if err != nil {
		return 0, err
	}
	keys, err := s.verificationKeys(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, m := range marks {
		if keys.authentic(&m) {
			n++
		}
	}
	return n, nil
}

func (s *Store) rekeyChain(ctx context.Context, keys *Keys, actor Actor, mark rekeyMark) (int64, error) {
	const batch = 2000
	programID, legacyThrough := mark.ProgramID, mark.ThroughSeq
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
				case e.Seq <= legacyThrough && e.HashVersion != HashLegacySHA256:
					reason = "keyed event where the re-keying mark expects the legacy events the upgrade found (the chain was keyed there)"
				case e.Seq == legacyThrough && !hmac.Equal([]byte(e.Hash), []byte(mark.ThroughHash)):
					reason = "the legacy events differ from those the upgrade found (they were altered since)"
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
		if lastSeq < legacyThrough {
			return fmt.Errorf("audit: refusing to re-key the chain of program %d: it ends at seq %d, before the seq %d its re-keying mark ends at (events were removed)", programID, lastSeq, legacyThrough)
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
		if err := migrations.RestoreAuditGuard(tx); err != nil {
			return err
		}
		// The chain records, under the keyed hash, that it was re-keyed: a
		// later attempt to pass it off as legacy again must cut this event.
		return s.Append(tx, programID, actor, Entry{
			Action: ActionAuditRekeyed, TargetType: TargetAuditTrail,
			Details: map[string]any{"events": rewritten, "legacy_through_seq": legacyThrough},
		})
	})
	if err != nil {
		return 0, err
	}
	return rewritten, nil
}
