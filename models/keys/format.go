package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
)

// Key format: "kd_" + 30 random base62 characters + 6 base62 characters of the
// CRC32 of the random part (GitHub's token scheme), so a scanner can recognise a
// keydesk key and a typo is rejected without touching the database.
const (
	KeyPrefix        = "kd_"
	keyRandomLen     = 30
	keyChecksumLen   = 6
	KeyLength        = len(KeyPrefix) + keyRandomLen + keyChecksumLen
	IdentifierPrefix = "kdi_"
	identifierLen    = 16
	partnerIDLen     = 10
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformedKey is returned for strings that cannot be a keydesk key.
var ErrMalformedKey = errors.New("malformed API key")

// randomBase62 returns n characters drawn uniformly from the base62 alphabet.
func randomBase62(n int) string {
	var b strings.Builder
	b.Grow(n)
	max := big.NewInt(int64(len(base62Alphabet)))
	for range n {
		i, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		b.WriteByte(base62Alphabet[i.Int64()])
	}
	return b.String()
}

// checksumOf is the checksum of a key's random part: its CRC32 in base62,
// left-padded with zeros to six characters (62^6 > 2^32, so every CRC32
// fits). An array, so that checking a key allocates nothing.
func checksumOf(random string) [keyChecksumLen]byte {
	v := crc32.ChecksumIEEE([]byte(random))
	var out [keyChecksumLen]byte
	for i := keyChecksumLen - 1; i >= 0; i-- {
		out[i] = base62Alphabet[v%62]
		v /= 62
	}
	return out
}

// NewAPIKeyString returns a fresh key in the keydesk format.
func NewAPIKeyString() string {
	return NewPrefixedSecret(KeyPrefix)
}

// NewIdentifier returns a fresh public API key identifier.
func NewIdentifier() string {
	return IdentifierPrefix + randomBase62(identifierLen)
}

// NewPartnerID returns ten lowercase hex characters.
func NewPartnerID() string {
	b := make([]byte, partnerIDLen/2)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	const hexDigits = "0123456789abcdef"
	out := make([]byte, partnerIDLen)
	for i, v := range b {
		out[2*i] = hexDigits[v>>4]
		out[2*i+1] = hexDigits[v&0x0f]
	}
	return string(out)
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// CheckKeyFormat verifies prefix, length, alphabet and checksum offline.
func CheckKeyFormat(key string) error { return CheckPrefixedSecret(KeyPrefix, key) }

// IsIdentifier reports whether s has the shape of an API key identifier.
func IsIdentifier(s string) bool {
	return len(s) == len(IdentifierPrefix)+identifierLen && strings.HasPrefix(s, IdentifierPrefix) && isBase62(s[len(IdentifierPrefix):])
}

// IsPartnerID reports whether s has the shape of a partner ID.
func IsPartnerID(s string) bool {
	if len(s) != partnerIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// KeyDigest is the lookup digest of a key: SHA-256 of the full string.
func KeyDigest(key string) []byte {
	sum := DigestOf(key)
	return sum[:]
}

// DigestOf is KeyDigest as an array, hashed from a copy of the key on the
// stack rather than the heap: the API verifier's hot path.
func DigestOf(key string) [sha256.Size]byte {
	var buf [KeyLength]byte
	return sha256.Sum256(append(buf[:0], key...))
}

// MaskKey shows only the prefix and the last four characters.
func MaskKey(last4 string) string {
	return KeyPrefix + "••••••••••" + last4
}

// NewPrefixedSecret returns a fresh secret in the API keys' scheme under
// another prefix: prefix + 30 random base62 characters + the 6-character
// CRC32 checksum of those, as NewAPIKeyString (management keys use "kdm_").
func NewPrefixedSecret(prefix string) string {
	random := randomBase62(keyRandomLen)
	checksum := checksumOf(random)
	return prefix + random + string(checksum[:])
}

// CheckPrefixedSecret is CheckKeyFormat for a secret made by
// NewPrefixedSecret with prefix: length, alphabet and checksum, offline.
func CheckPrefixedSecret(prefix, secret string) error {
	if len(secret) != len(prefix)+keyRandomLen+keyChecksumLen || !strings.HasPrefix(secret, prefix) {
		return ErrMalformedKey
	}
	body := secret[len(prefix):]
	if !isBase62(body) {
		return ErrMalformedKey
	}
	random, checksum := body[:keyRandomLen], body[keyRandomLen:]
	if want := checksumOf(random); string(want[:]) != checksum {
		return ErrMalformedKey
	}
	return nil
}

// RandomBase62 returns n characters drawn uniformly from the base62
// alphabet (identifiers of other kinds of secret).
func RandomBase62(n int) string { return randomBase62(n) }
