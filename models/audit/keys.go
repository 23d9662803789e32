package audit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// Labels of the keys derived from a master key with HKDF-SHA-256. Each
// purpose has its own label, so no derived key ever serves two purposes.
const (
	chainKeyLabel      = "keydesk audit chain v1"
	checkpointKeyLabel = "keydesk audit checkpoint v1"
	wrapKeyLabel       = "keydesk audit key wrap v1"
)

// Hash versions an event records (column hash_version).
const (
	// HashLegacySHA256 is the original unkeyed chain: SHA-256 over the
	// canonical encoding. Anyone who can write the database can recompute
	// it, so verification accepts it only for events the migration found
	// and that wait for `keydesk audit rekey`.
	HashLegacySHA256 = 0
	// HashHMACv1 is HMAC-SHA-256 under a key derived with HKDF from the
	// master key whose version the event's key_version names.
	HashHMACv1 = 1
)

// MasterKey is one master key handed to the audit trail: its version (the
// keyring's fingerprint, as API keys' key_version) and its secret, from
// which the audit keys are derived and then the secret forgotten.
type MasterKey struct {
	Version int64
	Secret  []byte
}

// chainKey is what the trail derives from one master key.
type chainKey struct {
	version int64
	mac     []byte             // HMAC-SHA-256 key of the chain
	signing ed25519.PrivateKey // signs checkpoints
}

// Keys are the audit trail's keys: the current master key's (new events
// and checkpoints) and any earlier ones (verification only).
type Keys struct {
	current  int64
	byVer    map[int64]*chainKey
	wrapping cipher.AEAD // wraps earlier keys under the current master key
}

// DeriveKeys derives the audit keys from master keys, the first one
// current. Only derived keys are kept.
func DeriveKeys(masters ...MasterKey) (*Keys, error) {
	if len(masters) == 0 {
		return nil, errors.New("audit: no master key")
	}
	k := &Keys{current: masters[0].Version, byVer: map[int64]*chainKey{}}
	for i, m := range masters {
		ck, err := deriveChainKey(m)
		if err != nil {
			return nil, err
		}
		if _, dup := k.byVer[m.Version]; !dup {
			k.byVer[m.Version] = ck
		}
		if i == 0 {
			wk, err := hkdf.Key(sha256.New, m.Secret, nil, wrapKeyLabel, 32)
			if err != nil {
				return nil, fmt.Errorf("audit: unable to derive the key-wrapping key: %w", err)
			}
			block, err := aes.NewCipher(wk)
			if err != nil {
				return nil, err
			}
			if k.wrapping, err = cipher.NewGCM(block); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}

func deriveChainKey(m MasterKey) (*chainKey, error) {
	if len(m.Secret) < 32 {
		return nil, fmt.Errorf("audit: master key must be at least 32 bytes, got %d", len(m.Secret))
	}
	mac, err := hkdf.Key(sha256.New, m.Secret, nil, chainKeyLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("audit: unable to derive the chain key: %w", err)
	}
	seed, err := hkdf.Key(sha256.New, m.Secret, nil, checkpointKeyLabel, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("audit: unable to derive the checkpoint key: %w", err)
	}
	return &chainKey{version: m.Version, mac: mac, signing: ed25519.NewKeyFromSeed(seed)}, nil
}

// CurrentVersion is the key version new events and checkpoints carry.
func (k *Keys) CurrentVersion() int64 { return k.current }

// Versions lists the key versions held, the current one first.
func (k *Keys) Versions() []int64 {
	out := []int64{k.current}
	var rest []int64
	for v := range k.byVer {
		if v != k.current {
			rest = append(rest, v)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i] < rest[j] })
	return append(out, rest...)
}

// PublicKey is the Ed25519 key that verifies checkpoints signed under a
// key version.
func (k *Keys) PublicKey(version int64) (ed25519.PublicKey, bool) {
	ck, ok := k.byVer[version]
	if !ok {
		return nil, false
	}
	return ck.signing.Public().(ed25519.PublicKey), true
}

// ComputeHash returns the event's hash under its hash and key versions.
// ok is false when the event's key version is not held.
func (k *Keys) ComputeHash(e *Event) (hash string, ok bool) {
	switch e.HashVersion {
	case HashLegacySHA256:
		return e.legacyHash(), true
	case HashHMACv1:
		ck, held := k.byVer[e.KeyVersion]
		if !held {
			return "", false
		}
		mac := hmac.New(sha256.New, ck.mac)
		mac.Write(e.keyedEncoding())
		return hex.EncodeToString(mac.Sum(nil)), true
	}
	return "", false
}

// with returns k extended by earlier keys (unwrapped from the database);
// keys k already holds win.
func (k *Keys) with(extra map[int64]*chainKey) *Keys {
	if len(extra) == 0 {
		return k
	}
	out := &Keys{current: k.current, byVer: map[int64]*chainKey{}, wrapping: k.wrapping}
	for v, ck := range extra {
		out.byVer[v] = ck
	}
	for v, ck := range k.byVer {
		out.byVer[v] = ck
	}
	return out
}

func wrapAAD(version int64) []byte {
	return []byte("keydesk audit chain key " + strconv.FormatInt(version, 10))
}

// wrap seals an earlier key's derived material under the current master key.
func (k *Keys) wrap(ck *chainKey) ([]byte, error) {
	nonce := make([]byte, k.wrapping.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	plain := append(append([]byte{}, ck.mac...), ck.signing.Seed()...)
	return k.wrapping.Seal(nonce, nonce, plain, wrapAAD(ck.version)), nil
}

// unwrap opens what wrap sealed; it fails for a value wrapped under another
// master key or altered.
func (k *Keys) unwrap(version int64, wrapped []byte) (*chainKey, error) {
	n := k.wrapping.NonceSize()
	if len(wrapped) < n {
		return nil, errors.New("wrapped audit key too short")
	}
	plain, err := k.wrapping.Open(nil, wrapped[:n], wrapped[n:], wrapAAD(version))
	if err != nil || len(plain) != 32+ed25519.SeedSize {
		return nil, errors.New("wrapped audit key does not open under the current master key")
	}
	return &chainKey{version: version, mac: plain[:32], signing: ed25519.NewKeyFromSeed(plain[32:])}, nil
}
