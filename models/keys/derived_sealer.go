package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Sealer encrypts small secrets of other stores (the authenticator apps'
// TOTP secrets) with AES-256-GCM under keys derived from the master keys
// for one purpose (HKDF-SHA256), so they never share a key with the API
// keys. A sealed value names the master key version it was sealed under:
// "v1:<version>:<base64 nonce|ciphertext>".
type Sealer struct {
	current int64
	aeads   map[int64]cipher.AEAD
}

// ErrSealedValue means a sealed value could not be opened.
var ErrSealedValue = errors.New("unable to open a sealed value: wrong master key or tampered value")

const sealedPrefix = "v1:"

// DeriveSealer returns the sealer for purpose.
func (k *Keyring) DeriveSealer(purpose string) (*Sealer, error) {
	s := &Sealer{current: k.current, aeads: map[int64]cipher.AEAD{}}
	for version, master := range k.masters {
		key, err := hkdf.Key(sha256.New, master, nil, "keydesk sealer "+purpose, 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.aeads[version] = aead
	}
	return s, nil
}

// Current reports whether value is sealed under the current master key.
func (s *Sealer) Current(value string) bool {
	return strings.HasPrefix(value, sealedPrefix+strconv.FormatInt(s.current, 10)+":")
}

// Seal encrypts plain bound to aad (the row it belongs to).
func (s *Sealer) Seal(plain, aad string) string {
	aead := s.aeads[s.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	sealed := aead.Seal(nonce, nonce, []byte(plain), []byte(aad))
	return sealedPrefix + strconv.FormatInt(s.current, 10) + ":" + base64.RawStdEncoding.EncodeToString(sealed)
}

// Open decrypts a value Seal returned for the same aad.
func (s *Sealer) Open(value, aad string) (string, error) {
	rest, ok := strings.CutPrefix(value, sealedPrefix)
	if !ok {
		return "", ErrSealedValue
	}
	v, b64, ok := strings.Cut(rest, ":")
	version, err := strconv.ParseInt(v, 10, 64)
	aead, known := s.aeads[version]
	if !ok || err != nil || !known {
		return "", ErrSealedValue
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", ErrSealedValue
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(aad))
	if err != nil {
		return "", ErrSealedValue
	}
	return string(plain), nil
}
