package keys

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// RetiredSecretRetention is how long the digest of a secret that stopped
// working (a roll's old secret, or the secret a roll replaced at once) is
// kept, so that calls still made with it are counted against its key as
// "old key expired" rather than as unknown keys. Only the digest is kept:
// the secret itself is erased when it stops working.
const RetiredSecretRetention = 30 * 24 * time.Hour

// RetiredSecret is the key a retired secret belonged to.
type RetiredSecret struct {
	KeyID     int64
	ProgramID int64
	PartnerID string
}

// retireDigest remembers, inside tx, that digest was k's secret and no
// longer works.
func (s *Store) retireDigest(tx *gorm.DB, k *APIKey, digest []byte) error {
	if digest == nil {
		return nil
	}
	// The digest is not the first value: GORM expands a slice right
	// after "(" into one value per byte.
	return tx.Exec(`INSERT INTO api_key_retired_secrets (key_id, digest, program_id, retired_at) VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING`,
		k.ID, digest, k.ProgramID, s.now().UTC()).Error
}

// RetiredSecretByDigest is the key whose retired secret has this digest;
// nil when none (never one, or retired longer than RetiredSecretRetention
// ago and forgotten).
func (s *Store) RetiredSecretByDigest(ctx context.Context, digest []byte) (*RetiredSecret, error) {
	var rows []RetiredSecret
	if err := s.db.WithContext(ctx).Raw(`SELECT r.key_id, r.program_id, p.partner_id FROM api_key_retired_secrets r
JOIN programs p ON p.id = r.program_id WHERE r.digest = ?`, digest).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("keys: unable to look up a retired secret: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// ForgetRetiredSecrets deletes the digests retired longer than
// RetiredSecretRetention ago and reports how many.
func (s *Store) ForgetRetiredSecrets(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM api_key_retired_secrets WHERE retired_at < ?`, s.now().UTC().Add(-RetiredSecretRetention))
	if res.Error != nil {
		return 0, fmt.Errorf("keys: unable to forget retired secrets: %w", res.Error)
	}
	return res.RowsAffected, nil
}
