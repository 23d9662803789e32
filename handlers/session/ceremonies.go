package session

import (
	"encoding/json"

	"github.com/go-webauthn/webauthn/webauthn"
)

// Ceremony is a WebAuthn ceremony a session can wait on, between its
// options and its answer. Its state (the library's SessionData as JSON)
// stays server-side with the session's other values.
//
// A challenge is answered once. The session is loaded at each request's
// start, so simultaneous answers all find the challenge there: the handler
// that verifies an answer records the challenge as used, one insert that
// exactly one of them wins.
type Ceremony string

// The ceremonies.
const (
	PasskeyRegistration Ceremony = "passkey_register"
	PasskeyReauth       Ceremony = "passkey_reauth"
	PasskeySecondFactor Ceremony = "passkey_second"
)

// StartCeremony keeps a ceremony's state until its answer; the caller
// saves the session.
func (s *Session) StartCeremony(kind Ceremony, data *webauthn.SessionData) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	s.raw.Values[string(kind)] = string(raw)
	return nil
}

// TakeCeremony returns a ceremony's state, or nil, and drops it from the
// session's values, to go with the session's next save (the winning
// answer's). It does not save: simultaneous answers have all loaded it,
// spending the challenge alone makes it one use, and a losing answer must
// not write a session the winner may have just rotated.
func (s *Session) TakeCeremony(kind Ceremony) *webauthn.SessionData {
	raw, _ := s.raw.Values[string(kind)].(string)
	delete(s.raw.Values, string(kind))
	if raw == "" {
		return nil
	}
	var data webauthn.SessionData
	if err := json.Unmarshal([]byte(raw), &data); err != nil {
		return nil
	}
	return &data
}

// StartPasskeyRegistration keeps the registration ceremony of a passkey
// to be added under name; the caller saves the session.
func (s *Session) StartPasskeyRegistration(name string, data *webauthn.SessionData) error {
	s.raw.Values[keyPasskeyName] = name
	return s.StartCeremony(PasskeyRegistration, data)
}

// TakePasskeyRegistration returns the name and state of the passkey being
// added (nil state when none is waiting) and drops them, as TakeCeremony.
func (s *Session) TakePasskeyRegistration() (string, *webauthn.SessionData) {
	name, _ := s.raw.Values[keyPasskeyName].(string)
	delete(s.raw.Values, keyPasskeyName)
	return name, s.TakeCeremony(PasskeyRegistration)
}
