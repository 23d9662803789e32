package audit

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// AdoptCurrentKey makes the trail independent of the previous master key
// after a master-key rotation, and is a no-op when there is nothing to do:
//
//   - every earlier chain key it holds (from KEYDESK_MASTER_KEY_PREVIOUS or
//     wrapped at an earlier rotation) is wrapped under the current master
//     key into audit_chain_keys, so events hashed under it stay verifiable
//     once the previous key is no longer configured;
//   - every chain whose last event is hashed under another key gets a
//     master_key.rotated event under the current key, whose link commits to
//     the old head: rewriting the older events, even with the old master
//     key, breaks that link.
func (s *Store) AdoptCurrentKey(ctx context.Context, actor Actor) (anchored int, err error) {
	keys, err := s.verificationKeys(ctx)
	if err != nil {
		return 0, err
	}
	db := s.db.WithContext(ctx)
	for _, v := range keys.Versions() {
		if v == keys.current {
			continue
		}
		wrapped, err := s.keys.wrap(keys.byVer[v])
		if err != nil {
			return 0, fmt.Errorf("audit: unable to wrap chain key %d: %w", v, err)
		}
		err = db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(`DELETE FROM audit_chain_keys WHERE key_version = ?`, v).Error; err != nil {
				return err
			}
			return tx.Exec(`INSERT INTO audit_chain_keys (key_version, wrapped_under, wrapped, created_at) VALUES (?, ?, ?, ?)`, v, keys.current, wrapped, s.now()).Error
		})
		if err != nil {
			return 0, fmt.Errorf("audit: unable to store chain key %d: %w", v, err)
		}
	}
	ids, err := s.ChainIDs(ctx)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		var last []struct {
			Seq        int64
			KeyVersion int64
		}
		if err := db.Raw(`SELECT seq, key_version FROM audit_events WHERE program_id = ? ORDER BY seq DESC LIMIT 1`, id).Scan(&last).Error; err != nil {
			return anchored, fmt.Errorf("audit: unable to read the end of chain %d: %w", id, err)
		}
		if len(last) == 0 || last[0].KeyVersion == keys.current {
			continue
		}
		err := s.Record(ctx, id, actor, Entry{
			Action: ActionMasterKeyRotated, TargetType: TargetAuditTrail,
			Details: map[string]any{"chain_key_version": keys.current, "previous_chain_key_version": last[0].KeyVersion, "previous_head_seq": last[0].Seq},
		})
		if err != nil {
			return anchored, err
		}
		anchored++
	}
	return anchored, nil
}
