package handlers

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"keydesk/models/accounts"
)

// Each sentinel error of the accounts store reads as one sentence of the
// console's, wrapped or not; nothing else does.
func TestAccountErrorMessages(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{accounts.ErrInvalidCredentials, "Email or password is incorrect."},
		{accounts.ErrThrottled, "Too many failed sign-in attempts. Wait 15 minutes and try again."},
		{accounts.ErrWeakPassword, "Choose a password of 12 to 256 characters."},
		{accounts.ErrInvalidEmail, "Enter a valid email address."},
		{accounts.ErrAdminExists, "This person is already an admin of this program."},
		{accounts.ErrInvalidAccess, "Choose Full access or Limited access."},
		{accounts.ErrTooManyPending, "This program already has 20 pending invitations, the most allowed. Revoke one, or wait until they are used or expire."},
		{accounts.ErrInvitationRate, "10 invitations were sent in the last minute, the most allowed. Wait a minute and send this one again."},
		{accounts.ErrLastFullAdmin, "This is the program's last full-access admin: give another admin full access first."},
		{accounts.ErrInvitationInvalid, "This invitation link was used, revoked or has expired. Ask an admin of the program for a new one."},
		{accounts.ErrInvalidCode, "That code is wrong or was already used. Enter the current code from your authenticator app."},
		{accounts.ErrTOTPNotSetUp, "That code is wrong or was already used. Enter the current code from your authenticator app."},
	}
	if len(cases) != len(accountErrorMessages) {
		t.Errorf("%d cases for %d mapped errors", len(cases), len(accountErrorMessages))
	}
	for _, tc := range cases {
		for _, err := range []error{tc.err, fmt.Errorf("accounts: unable to act: %w", tc.err)} {
			got, ok := accountErrorMessage(err)
			if !ok || got != tc.want {
				t.Errorf("accountErrorMessage(%v) = %q, %v; want %q", err, got, ok, tc.want)
			}
			if got == tc.err.Error() || !strings.HasSuffix(got, ".") {
				t.Errorf("%v reads as the store's own text or not as a sentence: %q", err, got)
			}
		}
	}
	for _, err := range []error{nil, errors.New("email address is not valid"), accounts.ErrTOTPAlreadyOn} {
		if got, ok := accountErrorMessage(err); ok {
			t.Errorf("accountErrorMessage(%v) = %q, want no message", err, got)
		}
	}
}
