package accounts

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// SecretSealer encrypts the authenticator apps' secrets at rest. models.New
// passes one derived from the master keys (keys.Keyring.DeriveSealer), so
// this package needs no key of its own.
type SecretSealer interface {
	Seal(plain, aad string) string
	Open(value, aad string) (string, error)
	// Current reports whether a value is sealed under the current master key.
	Current(value string) bool
}

func totpAAD(adminID int64) string {
	return "keydesk admins.totp_secret " + strconv.FormatInt(adminID, 10)
}

// sealedTOTP tells a sealed secret from a legacy plain base32 one (base32
// has no colon).
func sealedTOTP(stored string) bool { return strings.Contains(stored, ":") }

// sealTOTP is what admins.totp_secret stores for a secret.
func (s *Store) sealTOTP(adminID int64, secret string) string {
	return s.sealer.Seal(secret, totpAAD(adminID))
}

// openTOTP returns the plain secret of a stored one (sealed, or plain from
// before sealing).
func (s *Store) openTOTP(adminID int64, stored string) (string, error) {
	if !sealedTOTP(stored) {
		return stored, nil
	}
	return s.sealer.Open(stored, totpAAD(adminID))
}

// ResealTOTPSecrets seals the secrets stored plain (before sealing) and
// re-seals those sealed under a previous master key, each row only if it
// did not change meanwhile. It returns how many rows it rewrote; running
// it again rewrites none.
func (s *Store) ResealTOTPSecrets(ctx context.Context) (int, error) {
	var rows []struct {
		ID         int64
		TotpSecret string
	}
	db := s.db.WithContext(ctx)
	if err := db.Raw(`SELECT id, totp_secret FROM admins WHERE totp_secret <> ''`).Scan(&rows).Error; err != nil {
		return 0, fmt.Errorf("accounts: unable to list TOTP secrets: %w", err)
	}
	n := 0
	for _, r := range rows {
		if sealedTOTP(r.TotpSecret) && s.sealer.Current(r.TotpSecret) {
			continue
		}
		plain, err := s.openTOTP(r.ID, r.TotpSecret)
		if err != nil {
			return n, fmt.Errorf("accounts: unable to open the TOTP secret of admin %d: %w", r.ID, err)
		}
		res := db.Exec(`UPDATE admins SET totp_secret = ? WHERE id = ? AND totp_secret = ?`, s.sealTOTP(r.ID, plain), r.ID, r.TotpSecret)
		if res.Error != nil {
			return n, fmt.Errorf("accounts: unable to seal a TOTP secret: %w", res.Error)
		}
		n += int(res.RowsAffected)
	}
	return n, nil
}
