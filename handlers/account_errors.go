package handlers

import (
	"errors"
	"fmt"

	"keydesk/models/accounts"
)

// accountErrorMessages are the words the console shows for the accounts
// store's sentinel errors: one sentence per error, whichever page it comes
// from (sign-in, the second step, /account, General » Admins, an
// invitation). The status each page answers with stays with the page.
var accountErrorMessages = []struct {
	err     error
	message string
}{
	{accounts.ErrInvalidCredentials, "Email or password is incorrect."},
	{accounts.ErrThrottled, "Too many failed sign-in attempts. Wait " + minutes(accounts.ThrottleWindow) + " and try again."},
	{accounts.ErrWeakPassword, fmt.Sprintf("Choose a password of %d to %d characters.", accounts.MinPasswordLength, accounts.MaxPasswordLength)},
	{accounts.ErrInvalidEmail, "Enter a valid email address."},
	{accounts.ErrAdminExists, "This person is already an admin of this program."},
	{accounts.ErrInvalidAccess, "Choose Full access or Limited access."},
	{accounts.ErrTooManyPending, fmt.Sprintf("This program already has %d pending invitations, the most allowed. Revoke one, or wait until they are used or expire.", accounts.MaxPendingInvitations)},
	{accounts.ErrInvitationRate, fmt.Sprintf("%d invitations were sent in the last minute, the most allowed. Wait a minute and send this one again.", accounts.MaxInvitationsPerMinute)},
	{accounts.ErrLastFullAdmin, "This is the program's last full-access admin: give another admin full access first."},
	{accounts.ErrInvitationInvalid, "This invitation link was used, revoked or has expired. Ask an admin of the program for a new one."},
	{accounts.ErrInvalidCode, "That code is wrong or was already used. Enter the current code from your authenticator app."},
	// At sign-in a missing app reads as a wrong code: it tells a guesser nothing.
	{accounts.ErrTOTPNotSetUp, "That code is wrong or was already used. Enter the current code from your authenticator app."},
}

// accountErrorMessage is what the console says for err, when err is (or
// wraps) one of the accounts store's sentinel errors.
func accountErrorMessage(err error) (string, bool) {
	for _, m := range accountErrorMessages {
		if errors.Is(err, m.err) {
			return m.message, true
		}
	}
	return "", false
}

// accountMessage is accountErrorMessage for a sentinel the caller already
// matched (its message is always there).
func accountMessage(err error) string {
	msg, _ := accountErrorMessage(err)
	return msg
}
