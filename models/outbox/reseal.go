package outbox

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"keydesk/models/audit"
)

// ResealSecrets re-seals, under the master key of version current, every
// webhook signing secret (and a rotation's previous secret still in its
// overlap) and every pending invitation token sealed under an older one,
// so the previous master key can go. Each program's endpoints are re-sealed
// in one transaction with a master_key.rotated audit event; rows already
// current are skipped, so running again resumes. It returns how many
// secrets it re-sealed.
func (s *Store) ResealSecrets(ctx context.Context, actor audit.Actor, current int64) (int, error) {
	db := s.db.WithContext(ctx)
	var programs []int64
	if err := db.Raw(`SELECT DISTINCT program_id FROM webhook_endpoints WHERE secret_key_version <> ? OR (previous_secret_sealed IS NOT NULL AND previous_key_version <> ?) ORDER BY program_id`,
		current, current).Scan(&programs).Error; err != nil {
		return 0, fmt.Errorf("outbox: unable to find webhook secrets to re-seal: %w", err)
	}
	total := 0
	for _, programID := range programs {
		err := db.Transaction(func(tx *gorm.DB) error {
			var eps []Endpoint
			if err := tx.Raw(`SELECT * FROM webhook_endpoints WHERE program_id = ? AND (secret_key_version <> ? OR (previous_secret_sealed IS NOT NULL AND previous_key_version <> ?)) ORDER BY id`+skipLocked(tx),
				programID, current, current).Scan(&eps).Error; err != nil {
				return err
			}
			n := 0
			for i := range eps {
				e := &eps[i]
				if e.SecretKeyVersion != current {
					secret, err := s.sealer.OpenLabelled(secretLabel, e.ID, e.SecretSealed, e.SecretKeyVersion)
					if err != nil {
						return fmt.Errorf("webhook endpoint %d's secret cannot be opened: set KEYDESK_MASTER_KEY_PREVIOUS to the master key it was sealed with: %w", e.ID, err)
					}
					e.SecretSealed, e.SecretKeyVersion = s.sealer.SealLabelled(secretLabel, e.ID, secret)
					n++
				}
				if len(e.PreviousSecretSealed) > 0 && e.PreviousKeyVersion != current {
					prev, err := s.sealer.OpenLabelled(secretLabel+" previous", e.ID, e.PreviousSecretSealed, e.PreviousKeyVersion)
					if err != nil {
						return fmt.Errorf("webhook endpoint %d's previous secret cannot be opened: %w", e.ID, err)
					}
					e.PreviousSecretSealed, e.PreviousKeyVersion = s.sealer.SealLabelled(secretLabel+" previous", e.ID, prev)
					n++
				}
				if err := tx.Exec(`UPDATE webhook_endpoints SET secret_sealed = ?, secret_key_version = ?, previous_secret_sealed = ?, previous_key_version = ? WHERE id = ?`,
					e.SecretSealed, e.SecretKeyVersion, e.PreviousSecretSealed, e.PreviousKeyVersion, e.ID).Error; err != nil {
					return err
				}
			}
			var tokens []MailDelivery
			if err := tx.Raw(`SELECT * FROM mail_deliveries WHERE program_id = ? AND token_sealed IS NOT NULL AND token_key_version <> ?`, programID, current).Scan(&tokens).Error; err != nil {
				return err
			}
			for _, m := range tokens {
				token, err := s.sealer.OpenLabelled(tokenLabel, m.ID, m.TokenSealed, m.TokenKeyVersion)
				if err != nil {
					return fmt.Errorf("invitation mail %d's token cannot be opened: %w", m.ID, err)
				}
				sealed, version := s.sealer.SealLabelled(tokenLabel, m.ID, token)
				if err := tx.Exec(`UPDATE mail_deliveries SET token_sealed = ?, token_key_version = ? WHERE id = ?`, sealed, version, m.ID).Error; err != nil {
					return err
				}
				n++
			}
			if n == 0 {
				return nil
			}
			total += n
			return s.audit.Append(tx, programID, actor, audit.Entry{
				Action: audit.ActionMasterKeyRotated, TargetType: "program", TargetID: fmt.Sprint(programID),
				Details: map[string]any{"webhook_secrets_resealed": n, "key_version": current},
			})
		})
		if err != nil {
			return total, fmt.Errorf("outbox: unable to re-seal webhook secrets: %w", err)
		}
	}
	return total, nil
}
