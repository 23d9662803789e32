package session

import (
	"context"
	"time"

	"keydesk/models/accounts"
	"keydesk/models/database"
)

// Grants are the one-time re-authentication grants of a zero window, kept
// in the database (accounts.Store) so that of simultaneous actions exactly
// one spends a grant.
type Grants interface {
	GrantReauth(ctx context.Context, adminID, programID int64) (string, error)
	HasReauthGrant(ctx context.Context, adminID, programID int64, token string) (bool, error)
	SpendReauthGrant(adminID, programID int64, token string) database.TxStep
}

// Reauth is the re-authentication policy: for how long a password (or
// passkey) confirmation lets an admin show keys without confirming again.
// A zero Window asks every time: the confirmation gives a one-time grant
// that the next secret-releasing action spends in its own transaction.
type Reauth struct {
	Window time.Duration
	Grants Grants
	Now    database.Clock
}

// OpenReauth records a successful re-authentication of adminID in
// programID: the window opens for this session and that program (with a
// zero window, a new one-time grant replaces any earlier one). The caller
// rotates the session id (Rotate), which also saves it.
func (s *Session) OpenReauth(ctx context.Context, adminID, programID int64) error {
	s.raw.Values[keyReauth] = s.reauth.Now().Unix()
	s.raw.Values[keyReauthProgram] = programID
	delete(s.raw.Values, keyReauthGrant)
	if s.reauth.Window <= 0 {
		token, err := s.reauth.Grants.GrantReauth(ctx, adminID, programID)
		if err != nil {
			return err
		}
		s.raw.Values[keyReauthGrant] = token
	}
	return nil
}

// CloseReauth closes the re-authentication window (and drops its grant).
func (s *Session) CloseReauth() {
	delete(s.raw.Values, keyReauth)
	delete(s.raw.Values, keyReauthProgram)
	delete(s.raw.Values, keyReauthGrant)
}

// ReauthAllowed reports whether the admin confirmed their password within
// the window, in programID (the program they act on now), and is not
// locked out of re-authentication since (a lock closes an open window at
// once). It spends nothing: with a zero window it only looks for the
// one-time grant, so opening a dialog (a GET) leaves it for the action,
// which spends it with SpendReauth.
func (s *Session) ReauthAllowed(ctx context.Context, admin *accounts.Admin, programID int64) (bool, error) {
	at := s.unix(keyReauth)
	if at.IsZero() || s.int64(keyReauthProgram) != programID {
		return false, nil
	}
	now := s.reauth.Now()
	if admin.ReauthLockedUntil != nil && admin.ReauthLockedUntil.After(now) {
		return false, nil
	}
	if s.reauth.Window > 0 {
		return now.Sub(at) <= s.reauth.Window, nil
	}
	return s.reauth.Grants.HasReauthGrant(ctx, admin.ID, programID, s.grantToken())
}

// ReauthUntil is when the admin's confirmation in programID stops letting
// them show keys without a password; zero when none is open, or when every
// show asks (a zero window).
func (s *Session) ReauthUntil(admin *accounts.Admin, programID int64) time.Time {
	if s.reauth.Window <= 0 {
		return time.Time{}
	}
	at := s.unix(keyReauth)
	if at.IsZero() || s.int64(keyReauthProgram) != programID {
		return time.Time{}
	}
	now := s.reauth.Now()
	if admin.ReauthLockedUntil != nil && admin.ReauthLockedUntil.After(now) {
		return time.Time{}
	}
	until := at.Add(s.reauth.Window)
	if !until.After(now) {
		return time.Time{}
	}
	return until
}

// SpendReauth is the step a secret-releasing action runs in its own
// transaction after ReauthAllowed said yes. With a zero window it spends
// the one-time grant, so the confirmation goes if and only if the action
// commits, and of simultaneous actions exactly one gets through (the
// others fail with accounts.ErrReauthGrantSpent). With a window there is
// nothing to spend: nil.
func (s *Session) SpendReauth(adminID, programID int64) database.TxStep {
	if s.reauth.Window > 0 {
		return nil
	}
	return s.reauth.Grants.SpendReauthGrant(adminID, programID, s.grantToken())
}

func (s *Session) grantToken() string {
	t, _ := s.raw.Values[keyReauthGrant].(string)
	return t
}
