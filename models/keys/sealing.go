package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"keydesk/models/audit"
)

// Keyring holds the master keys that seal API keys at rest: the current one
// seals, any of them opens. A key's version is a fingerprint of the key
// itself, so rotating never needs a counter kept in sync by hand.
type Keyring struct {
	current int64
	aeads   map[int64]cipher.AEAD
	audit   *audit.Keys
	// masters are the raw master keys by version, for DeriveSealer.
	masters map[int64][]byte
}

// ErrUnseal means no master key in the keyring opens a sealed value.
var ErrUnseal = errors.New("unable to unseal API key: wrong master key or tampered value")

// NewKeyring builds a keyring whose first key seals; the others (previous
// master keys during a rotation) only open.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[int64]cipher.AEAD{}, masters: map[int64][]byte{}}
	var masters []audit.MasterKey
	for i, key := range append([][]byte{current}, previous...) {
		if len(key) != 32 {
			return nil, fmt.Errorf("master key must be 32 bytes, got %d", len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		version := keyFingerprint(key)
		k.aeads[version] = aead
		k.masters[version] = key
		if i == 0 {
			k.current = version
		}
		masters = append(masters, audit.MasterKey{Version: version, Secret: key})
	}
	auditKeys, err := audit.DeriveKeys(masters...)
	if err != nil {
		return nil, err
	}
	k.audit = auditKeys
	return k, nil
}

// AuditKeys are the audit trail's keys derived from the master keys (HKDF,
// one label per purpose), under the same versions as the seals.
func (k *Keyring) AuditKeys() *audit.Keys { return k.audit }

func keyFingerprint(key []byte) int64 {
	sum := sha256.Sum256(append([]byte("keydesk master key v1:"), key...))
	return int64(binary.BigEndian.Uint32(sum[:4]))
}

// CurrentVersion is the version new seals carry.
func (k *Keyring) CurrentVersion() int64 { return k.current }

func sealingAAD(rowID int64) []byte {
	return []byte("keydesk api_keys row " + strconv.FormatInt(rowID, 10))
}

// Seal encrypts key with AES-256-GCM, bound to its row id.
func (k *Keyring) Seal(rowID int64, key string) (sealed []byte, version int64) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return aead.Seal(nonce, nonce, []byte(key), sealingAAD(rowID)), k.current
}

// Open decrypts a sealed key; it fails when the value was moved to another
// row, altered, or sealed under a master key the ring does not hold.
func (k *Keyring) Open(rowID int64, sealed []byte, version int64) (string, error) {
	aead, ok := k.aeads[version]
	if !ok || len(sealed) < aead.NonceSize() {
		return "", ErrUnseal
	}
	nonce, ciphertext := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, ciphertext, sealingAAD(rowID))
	if err != nil {
		return "", ErrUnseal
	}
	return string(plain), nil
}

// DecodeMasterKey parses base64 of 32 bytes.
func DecodeMasterKey(encoded string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return nil, fmt.Errorf("master key is not valid base64: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("master key must decode to 32 bytes, got %d", len(key))
	}
	return key, nil
}

// LoadOrCreateMasterKeyFile reads the embedded default's master key file and
// creates it (mode 0600) the first time. Only for the embedded default: a
// production deployment sets KEYDESK_MASTER_KEY.
func LoadOrCreateMasterKeyFile(path string, logger *slog.Logger) ([]byte, error) {
	if data, err := os.ReadFile(path); err == nil {
		return DecodeMasterKey(string(data))
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("unable to read %s: %w", path, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	encoded := base64.StdEncoding.EncodeToString(key) + "\n"
	if err := os.WriteFile(path, []byte(encoded), 0o600); err != nil {
		return nil, fmt.Errorf("unable to write %s: %w", path, err)
	}
	logger.Warn("KEYDESK_MASTER_KEY is not set: generated a master key for the embedded default; set KEYDESK_MASTER_KEY in production", "path", path)
	return key, nil
}
