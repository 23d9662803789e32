package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// SpendPasskeyChallenge records that a WebAuthn challenge was answered and
// reports whether this call was the first: of simultaneous finishes of one
// assertion, exactly one inserts the challenge's digest and gets true. The
// row is kept until expires (when the challenge stops being accepted
// anyway), then purged. Call it only once the assertion verified, so an
// anonymous visitor cannot make it write.
func (s *Store) SpendPasskeyChallenge(ctx context.Context, challenge string, expires time.Time) (bool, error) {
	if challenge == "" {
		return false, nil
	}
	sum := sha256.Sum256([]byte(challenge))
	res := s.db.WithContext(ctx).Exec(`INSERT INTO passkey_challenges_used (digest, expires_at) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING`,
		hex.EncodeToString(sum[:]), expires)
	if res.Error != nil {
		return false, fmt.Errorf("accounts: unable to record a passkey challenge: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}
