package session

import (
	"encoding/json"
	"time"
)

// SSOFlowTimeout bounds how long an identity-provider round trip may take
// between keydesk sending the admin there and the callback.
const SSOFlowTimeout = 10 * time.Minute

// The session's single sign-on values.
const (
	// keySSOProgram is the program whose identity provider signed the
	// session in (0: a password or passkey sign-in).
	keySSOProgram = "sso_program"
	// keySSOFlow is the identity-provider round trip under way (SSOFlow
	// as JSON).
	keySSOFlow = "sso_flow"
)

// SSO flow purposes.
const (
	SSOSignIn = "signin"
	SSOStepUp = "stepup"
)

// SSOFlow is one authorization-code round trip to a program's identity
// provider: what the callback checks (State, Nonce, the PKCE Verifier) and
// what it does after (sign in, or a step-up of AdminID that resumes
// Resume on Next).
type SSOFlow struct {
	Purpose   string `json:"purpose"`
	ProgramID int64  `json:"program_id"`
	AdminID   int64  `json:"admin_id,omitempty"`
	State     string `json:"state"`
	Nonce     string `json:"nonce"`
	Verifier  string `json:"verifier"`
	Next      string `json:"next,omitempty"`
	Resume    string `json:"resume,omitempty"`
	Started   int64  `json:"started"`
}

// StartSSO keeps a round trip until its callback (one at a time: a new
// one replaces an earlier one); the caller saves the session.
func (s *Session) StartSSO(flow SSOFlow) error {
	raw, err := json.Marshal(flow)
	if err != nil {
		return err
	}
	s.raw.Values[keySSOFlow] = string(raw)
	return nil
}

// TakeSSO returns the round trip under way, or nil when there is none or
// it is older than SSOFlowTimeout, and drops it: a callback is answered
// once. The caller saves the session.
func (s *Session) TakeSSO(now time.Time) *SSOFlow {
	raw, _ := s.raw.Values[keySSOFlow].(string)
	delete(s.raw.Values, keySSOFlow)
	if raw == "" {
		return nil
	}
	var flow SSOFlow
	if err := json.Unmarshal([]byte(raw), &flow); err != nil {
		return nil
	}
	if now.Sub(time.Unix(flow.Started, 0)) > SSOFlowTimeout {
		return nil
	}
	return &flow
}

// SignInWithSSO makes the session the signed-in session of an admin whose
// identity provider (programID's) vouched for them: SignIn, marked so that
// the session acts on that program only and steps up without a password.
func (s *Session) SignInWithSSO(adminID, programID int64, now time.Time) {
	s.SignIn(adminID, programID, now)
	s.raw.Values[keySSOProgram] = programID
}

// SSOProgram is the program whose identity provider signed the session
// in, or 0 for a password or passkey sign-in.
func (s *Session) SSOProgram() int64 { return s.int64(keySSOProgram) }
