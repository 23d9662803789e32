package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/keys"
)

// Token types of the secret-scanning answer: keydesk's own names for its
// two kinds of secret.
const (
	TokenTypeAPIKey        = "keydesk_api_key"
	TokenTypeManagementKey = "keydesk_management_key"
)

// Labels of the secret-scanning answer.
const (
	labelTruePositive  = "true_positive"
	labelFalsePositive = "false_positive"
)

// Headers of a GitHub secret-scanning alert, in Go's canonical form.
const (
	HeaderAlertKeyID     = "Github-Public-Key-Identifier"
	HeaderAlertSignature = "Github-Public-Key-Signature"
)

// Bounds of the leak-response routes' bodies.
const (
	// MaxAlertBytes bounds an alert: GitHub batches the tokens it found,
	// and 1,000 of them take about 150 KiB.
	MaxAlertBytes = 1 << 20
	// MaxRevokeKeys is how many keys one public revocation may name.
	MaxRevokeKeys = 100
	// RevokePerMinute is how many public revocations a client address
	// may make a minute (IPv6 per /64).
	RevokePerMinute = 60
)

// LeakedManagementKeys revokes a leaked management key (kdm_…, its
// checksum already checked): found reports whether token was one of
// keydesk's. managementkeys.Store implements it; where says who
// reported the leak, where the token was found and in which alert (one
// audit event per key and alert).
type LeakedManagementKeys interface {
	RevokeLeaked(ctx context.Context, token string, where keys.LeakSighting) (found bool, err error)
}

// LeakResponse serves the leak-response routes: GitHub's secret-scanning
// partner endpoint and the public revocation API.
type LeakResponse struct {
	keys       *keys.Store
	management LeakedManagementKeys
	alertKeys  *AlertKeys
	revokes    *apiauth.AddressLimiter
	wake       func()
	logger     *slog.Logger
}

// LeakDeps are what the leak-response handlers work with.
type LeakDeps struct {
	Keys *keys.Store
	// Management revokes leaked management keys (the management keys'
	// store); nil answers every kdm_ token false_positive.
	Management LeakedManagementKeys
	AlertKeys  *AlertKeys
	// Revokes limits public revocations per client address.
	Revokes *apiauth.AddressLimiter
	// Wake tells the webhook worker that events were enqueued (nil: none).
	Wake   func()
	Logger *slog.Logger
}

// NewLeakResponse builds the leak-response handlers.
func NewLeakResponse(d LeakDeps) *LeakResponse {
	wake := d.Wake
	if wake == nil {
		wake = func() {}
	}
	return &LeakResponse{keys: d.Keys, management: d.Management, alertKeys: d.AlertKeys, revokes: d.Revokes, wake: wake, logger: d.Logger}
}

// alertItem is one token of a GitHub alert.
type alertItem struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// alertAnswer is the answer for one token.
type alertAnswer struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// GitHubAlert serves POST /v2/secret-scanning/github: GitHub's partner
// alert, a JSON array of tokens found in public places, signed with one of
// the keys of the key document. A missing or bad signature is 401 and
// changes nothing; a key document that cannot be fetched is 503 (GitHub
// retries). Each token is answered true_positive or false_positive; a
// token failing the format check is false_positive without a lookup.
func (l *LeakResponse) GitHubAlert(c echo.Context) error {
	req := c.Request()
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxAlertBytes+1))
	if err != nil {
		return apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), "The request body could not be read.", nil)
	}
	if len(body) > MaxAlertBytes {
		return apiError(c, http.StatusRequestEntityTooLarge, statusCode(http.StatusRequestEntityTooLarge), "The alert is larger than "+strconv.Itoa(MaxAlertBytes)+" bytes.", nil)
	}
	err = l.alertKeys.Verify(req.Context(), req.Header.Get(HeaderAlertKeyID), req.Header.Get(HeaderAlertSignature), body)
	switch {
	case errors.Is(err, ErrAlertKeysUnavailable):
		l.logger.Error("secret scanning alert refused: its signature cannot be checked", "error", err.Error(),
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
		return apiError(c, http.StatusServiceUnavailable, statusCode(http.StatusServiceUnavailable), "The public keys that sign alerts could not be fetched; try again later.", nil)
	case err != nil:
		return apiError(c, http.StatusUnauthorized, codeUnauthorized, "The alert's signature is missing or does not verify.", nil)
	}
	var items []alertItem
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&items); err != nil || dec.More() || items == nil {
		return apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), "The alert must be a JSON array of {\"token\", \"type\", \"url\", \"source\"}.", nil)
	}
	digest := sha256.Sum256(body)
	alert := keys.LeakAlert{Actor: leakActor(c, keys.LeakReporterGitHub), Digest: digest[:]}
	for _, it := range items {
		alert.Reports = append(alert.Reports, keys.LeakReport{Token: it.Token, URL: it.URL, Source: it.Source})
	}
	found, err := l.handle(req.Context(), alert)
	if err != nil {
		return err
	}
	answers := make([]alertAnswer, len(items))
	for i, it := range items {
		sum := sha256.Sum256([]byte(it.Token))
		answers[i] = alertAnswer{TokenHash: hex.EncodeToString(sum[:]), TokenType: tokenType(it.Token), Label: labelFalsePositive}
		if found[i] {
			answers[i].Label = labelTruePositive
		}
	}
	return c.JSON(http.StatusOK, answers)
}

// revokeRequest is the body of a public revocation.
type revokeRequest struct {
	Keys []string `json:"keys"`
}

// RevokeKeys serves POST /v2/keys/revoke: whoever holds a leaked key can
// switch it off. Each live key named is inactivated, whatever the
// program's When a key is found leaked (the caller asks for exactly that),
// and audited as api_key.leaked with actor public_revocation, before the
// answer, which is 202 whether or not any key existed.
// RevokePerMinute requests a minute per client address, then 429.
func (l *LeakResponse) RevokeKeys(c echo.Context) error {
	if ok, retry := l.revokes.Allow(c.RealIP()); !ok {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
		return apiError(c, http.StatusTooManyRequests, codeRateLimited, "Too many revocation requests from this address; try again later.", nil)
	}
	var in revokeRequest
	if refused, err := refuseJSONBody(c, &in); refused {
		return err
	}
	switch {
	case in.Keys == nil:
		return apiError(c, http.StatusUnprocessableEntity, statusCode(http.StatusUnprocessableEntity), "Some fields are invalid.",
			map[string]any{"errors": map[string]string{"keys": "Name the keys to revoke: {\"keys\": [\"kd_…\"]}."}})
	case len(in.Keys) > MaxRevokeKeys:
		return apiError(c, http.StatusUnprocessableEntity, statusCode(http.StatusUnprocessableEntity), "Some fields are invalid.",
			map[string]any{"errors": map[string]string{"keys": "Name at most " + strconv.Itoa(MaxRevokeKeys) + " keys in one request."}})
	}
	// Each request is an alert of its own: sent again (after an admin
	// activated the key, say), it switches the key off again. A key named
	// twice in one request is handled once.
	alert := keys.LeakAlert{Actor: leakActor(c, keys.LeakReporterPublic), Digest: make([]byte, 16), Revoke: true}
	_, _ = rand.Read(alert.Digest)
	for _, k := range in.Keys {
		alert.Reports = append(alert.Reports, keys.LeakReport{Token: k})
	}
	if _, err := l.handle(c.Request().Context(), alert); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"success": true})
}

// handle passes the alert's API keys to the keys store (one lookup for
// all) and its management keys to the management keys' store; found[i]
// tells whether alert.Reports[i] was a secret of keydesk.
func (l *LeakResponse) handle(ctx context.Context, alert keys.LeakAlert) ([]bool, error) {
	found, err := l.keys.ReportLeaked(ctx, alert)
	if err != nil {
		return nil, err
	}
	// Events were enqueued only for keys found.
	defer func() {
		if slices.Contains(found, true) {
			l.wake()
		}
	}()
	if l.management == nil {
		return found, nil
	}
	for i, r := range alert.Reports {
		if keys.CheckManagementKeyFormat(r.Token) != nil {
			continue
		}
		ok, err := l.management.RevokeLeaked(ctx, r.Token, keys.LeakSighting{Actor: alert.Actor, AlertDigest: alert.Digest, URL: r.URL, Source: r.Source})
		if err != nil {
			return nil, err
		}
		found[i] = ok
	}
	return found, nil
}

// tokenType is the answer's token_type: keydesk's name for the kind of
// secret the token looks like.
func tokenType(token string) string {
	if strings.HasPrefix(token, keys.ManagementKeyPrefix) {
		return TokenTypeManagementKey
	}
	return TokenTypeAPIKey
}

// leakActor is the audit actor of a leak report: the reporter's name in
// actor_email, no admin id, and the request's address, agent and id.
func leakActor(c echo.Context, reporter string) audit.Actor {
	return audit.Actor{
		Email:     reporter,
		IP:        c.RealIP(),
		UserAgent: c.Request().UserAgent(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	}
}
