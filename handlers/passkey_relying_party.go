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

// passkeysUnavailable refuses a passkey request when the base URL cannot
// be a relying party (browsers refuse WebAuthn on an IP address).
func passkeysUnavailable(c echo.Context, err error) error {
	return passkeyError(c, http.StatusConflict, "Passkeys need KEYDESK_BASE_URL set to the console's host name, such as http://localhost:8080 (browsers refuse passkeys on an IP address): "+err.Error())
}
