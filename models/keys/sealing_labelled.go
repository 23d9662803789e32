package keys

import (
	"crypto/rand"
	"strconv"
)

// SealLabelled seals a secret other than an API key (a webhook signing
// secret) under the current master key, bound to its table and row by the
// label, so it can neither be moved to another row nor pass for an API key.
func (k *Keyring) SealLabelled(label string, rowID int64, secret string) (sealed []byte, version int64) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return aead.Seal(nonce, nonce, []byte(secret), labelledAAD(label, rowID)), k.current
}

// OpenLabelled opens what SealLabelled sealed with the same label and row.
func (k *Keyring) OpenLabelled(label string, rowID int64, sealed []byte, version int64) (string, error) {
	aead, ok := k.aeads[version]
	if !ok || len(sealed) < aead.NonceSize() {
		return "", ErrUnseal
	}
	nonce, ciphertext := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, ciphertext, labelledAAD(label, rowID))
	if err != nil {
		return "", ErrUnseal
	}
	return string(plain), nil
}

func labelledAAD(label string, rowID int64) []byte {
	return []byte("keydesk " + label + " row " + strconv.FormatInt(rowID, 10))
}
