package handlers

import (
	"net/http"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"
)

// webAuthn is the relying party New was given, or why there is none.
func (h *Handler) webAuthn() (*webauthn.WebAuthn, error) {
	if h.relyingParty == nil {
		return nil, h.passkeysOff
	}
	return h.relyingParty, nil
}

// NewRelyingParty builds the passkeys' relying party for a base URL
// (KEYDESK_BASE_URL): its ID is the URL's host and its origin the only
// origin accepted. A base URL on an IP address cannot be one (browsers
// refuse WebAuthn there).
func NewRelyingParty(baseURL string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: PasskeyCeremonyTimeout, TimeoutUVD: PasskeyCeremonyTimeout}
	return webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "keydesk",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts:              webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
}

// PasskeysOffReason says, in an admin's words, why passkeys cannot work on
// this server: its public address (KEYDESK_BASE_URL, or the listening
// address without it) is an IP address, where browsers refuse passkeys.
// The library's own text ("field 'RPID' is not a valid domain string")
// goes to the log, not to the admin.
const PasskeysOffReason = "Passkeys are off on this server: browsers allow passkeys only on a host name, and keydesk's address is an IP address. Whoever runs keydesk can set KEYDESK_BASE_URL to the address you open the console at, such as http://localhost:8080 or https://keys.example.com."

// passkeysUnavailable refuses a passkey request when the base URL cannot
// be a relying party (browsers refuse WebAuthn on an IP address).
func passkeysUnavailable(c echo.Context, err error) error {
	c.Logger().Info("passkeys unavailable: " + err.Error())
	return passkeyError(c, http.StatusConflict, PasskeysOffReason)
}
