package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"keydesk/models/accounts"
	"keydesk/models/audit"
)

// softPasskeyBase is the relying party the soft passkey tests run under
// (WebAuthn needs a host name); requests still go to httptest's address.
const softPasskeyBase = "http://localhost:8080"

// softPasskey is a software authenticator for one admin's discoverable
// credential, like a synced passkey: it verifies its user, is backed up,
// and always reports a signature count of 0, so the counter cannot tell a
// replayed assertion from a fresh one.
type softPasskey struct {
	key     *ecdsa.PrivateKey
	id      []byte
	adminID int64
}

// newSoftPasskey stores a passkey for the admin directly (its registration
// ceremony is the browser test's part); ts must be built
// withBaseURL(softPasskeyBase).
// storePasskey gives an admin of the demo program a passkey named name
// straight in the store (no key behind it: it cannot sign in) and returns
// its id: enough to list, rename and remove it.
func storePasskey(t *testing.T, ts *testServer, adminID int64, email, name string) int64 {
	t.Helper()
	cred := &webauthn.Credential{ID: []byte(rand.Text()), AttestationType: "none", Authenticator: webauthn.Authenticator{AAGUID: make([]byte, 16)}}
	pk, err := ts.Store.Accounts.AddPasskey(t.Context(), ts.Demo.Program.ID, audit.Actor{AdminID: adminID, Email: email}, name, cred)
	if err != nil {
		t.Fatal(err)
	}
	return pk.ID
}

func newSoftPasskey(t *testing.T, ts *testServer, adminID int64, email string, programID int64) *softPasskey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk := &softPasskey{key: key, id: []byte(rand.Text()), adminID: adminID}
	raw, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         int64(webauthncose.P256),
		XCoord:        raw[1:33],
		YCoord:        raw[33:],
	})
	if err != nil {
		t.Fatal(err)
	}
	cred := &webauthn.Credential{
		ID: pk.id, PublicKey: cose, AttestationType: "none",
		Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: true, BackupEligible: true, BackupState: true},
		Authenticator: webauthn.Authenticator{AAGUID: make([]byte, 16)},
	}
	if _, err := ts.Store.Accounts.AddPasskey(t.Context(), programID, audit.Actor{AdminID: adminID, Email: email}, "Synced passkey", cred); err != nil {
		t.Fatal(err)
	}
	return pk
}

// assert answers request options (the JSON the options route returned)
// as navigator.credentials.get would, in the JSON passkeys.js posts.
func (pk *softPasskey) assert(t *testing.T, options string) string {
	t.Helper()
	var opts protocol.CredentialAssertion
	if err := json.Unmarshal([]byte(options), &opts); err != nil || len(opts.Response.Challenge) == 0 {
		t.Fatalf("request options %q: %v", options, err)
	}
	base, _ := url.Parse(softPasskeyBase)
	clientData, err := json.Marshal(map[string]any{
		"type":        "webauthn.get",
		"challenge":   base64.RawURLEncoding.EncodeToString(opts.Response.Challenge),
		"origin":      softPasskeyBase,
		"crossOrigin": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	rpIDHash := sha256.Sum256([]byte(base.Hostname()))
	// User present, user verified, backup eligible, backed up; count 0.
	authData := append(rpIDHash[:], 0x01|0x04|0x08|0x10)
	authData = binary.BigEndian.AppendUint32(authData, 0)
	clientHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), clientHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, pk.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	answer, err := json.Marshal(map[string]any{
		"id":    b64(pk.id),
		"rawId": b64(pk.id),
		"type":  "public-key",
		"response": map[string]string{
			"clientDataJSON":    b64(clientData),
			"authenticatorData": b64(authData),
			"signature":         b64(sig),
			"userHandle":        b64(accounts.UserHandle(pk.adminID)),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(answer)
}
