package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keydesk/models/input"
	"keydesk/models/keys"
)

// ManagedKey is an API key as the management API shows it: the row as the
// console shows it, never a secret. Every key object of the management
// API is built by managedKeyOf, the one place to extend it.
type ManagedKey struct {
	Identifier  string   `json:"identifier"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Status      string   `json:"status"`
	MaskedKey   string   `json:"masked_key"`
	Permissions []string `json:"permissions"`
	AllowedIPs  []string `json:"allowed_ips"`
	// ExpiresAt nil: never.
	ExpiresAt *time.Time `json:"expires_at"`
	// OldKeyExpiresAt is set while a roll's old secret still works.
	OldKeyExpiresAt *time.Time `json:"old_key_expires_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	CreatedBy       string     `json:"created_by"`
	LastUsedAt      *time.Time `json:"last_used_at"`
	// Quota is requests per QuotaPeriod ("day" or "month", UTC); nil: no
	// quota. RateLimitPerMinute nil: the program's default limits.
	Quota              *int64  `json:"quota"`
	QuotaPeriod        *string `json:"quota_period"`
	RateLimitPerMinute *int    `json:"rate_limit_per_minute"`
}

// Key statuses.
const (
	statusActive   = "active"
	statusInactive = "inactive"
	statusExpired  = "expired"
)

// managedKeyOf is k as the management API shows it at now.
func managedKeyOf(k *keys.APIKey, now time.Time) ManagedKey {
	out := ManagedKey{
		Identifier: k.Identifier, Name: k.Name, Description: k.Description,
		Status: keyStatus(k, now), MaskedKey: k.Masked(),
		AllowedIPs: k.AllowedIPList(), ExpiresAt: utc(k.ExpiresAt),
		CreatedAt: k.CreatedAt.UTC(), CreatedBy: k.CreatedByEmail, LastUsedAt: utc(k.LastUsedAt),
	}
	if out.AllowedIPs == nil {
		out.AllowedIPs = []string{}
	}
	if k.Restricted {
		out.Permissions = []string{}
		for _, p := range k.PermissionList() {
			out.Permissions = append(out.Permissions, string(p))
		}
	}
	if k.OldKeyWorks(now) {
		out.OldKeyExpiresAt = utc(k.OldExpiresAt)
	}
	if k.Quota > 0 {
		quota, period := k.Quota, k.QuotaPeriod
		out.Quota, out.QuotaPeriod = &quota, &period
	}
	if k.RateLimitPerMinute > 0 {
		rate := k.RateLimitPerMinute
		out.RateLimitPerMinute = &rate
	}
	return out
}

func keyStatus(k *keys.APIKey, now time.Time) string {
	switch {
	case !k.Active:
		return statusInactive
	case k.Expired(now):
		return statusExpired
	}
	return statusActive
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// keyWithSecret is a create or roll answer: the key object with its new
// secret, this once.
type keyWithSecret struct {
	ManagedKey
	Key string `json:"key"`
}

// keyList is one page of keys, oldest first; NextAfter is the cursor of
// the next page (the last key's identifier) when HasMore.
type keyList struct {
	Data      []ManagedKey `json:"data"`
	HasMore   bool         `json:"has_more"`
	NextAfter string       `json:"next_after,omitempty"`
}

// Page sizes of the management API's lists.
const (
	defaultPageLimit = 20
	maxPageLimit     = 100
)

func pageLimit(c echo.Context) (int, error) {
	raw := c.QueryParam("limit")
	if raw == "" {
		return defaultPageLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxPageLimit {
		return 0, invalidField(c, "limit", "limit must be a whole number from 1 to 100.")
	}
	return n, nil
}

// ListKeys lists the program's keys (not the legacy default key), oldest
// first, filtered by status and q (in name, description or identifier),
// after the key whose identifier is after.
func (m *Manage) ListKeys(c echo.Context) error {
	limit, err := pageLimit(c)
	if err != nil || limit == 0 {
		return err
	}
	status := c.QueryParam("status")
	if status != "" && status != statusActive && status != statusInactive && status != statusExpired {
		return invalidField(c, "status", "status must be active, inactive or expired.")
	}
	q := strings.ToLower(strings.TrimSpace(c.QueryParam("q")))
	after := c.QueryParam("after")
	if after != "" && !keys.IsIdentifier(after) {
		return invalidField(c, "after", "after must be a key identifier (kdi_…) from a previous page.")
	}
	all, err := m.keys.List(c.Request().Context(), managementKey(c).ProgramID)
	if err != nil {
		return err
	}
	now := m.now()
	if after != "" {
		i := slices.IndexFunc(all, func(k keys.APIKey) bool { return k.Identifier == after })
		if i < 0 {
			return invalidField(c, "after", "after names no key of this program: start again without it.")
		}
		all = all[i+1:]
	}
	out := keyList{Data: []ManagedKey{}}
	for i := range all {
		k := &all[i]
		if status != "" && keyStatus(k, now) != status {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(k.Name+"\n"+k.Description+"\n"+k.Identifier), q) {
			continue
		}
		if len(out.Data) == limit {
			out.HasMore = true
			out.NextAfter = out.Data[len(out.Data)-1].Identifier
			break
		}
		out.Data = append(out.Data, managedKeyOf(k, now))
	}
	return c.JSON(http.StatusOK, out)
}

// GetKey shows one key.
func (m *Manage) GetKey(c echo.Context) error {
	k, err := m.loadKeyByIdentifier(c)
	if err != nil {
		return manageError(c, err)
	}
	return c.JSON(http.StatusOK, managedKeyOf(k, m.now()))
}

// readManageBody reads the request body, one JSON object, into its members
// by name. A body refused is answered (415, 413, 400, 422) and ok is false.
func readManageBody(c echo.Context, allowed ...string) (map[string]json.RawMessage, bool, error) {
	if mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType)); err != nil || mt != echo.MIMEApplicationJSON {
		return nil, false, apiError(c, http.StatusUnsupportedMediaType, statusCode(http.StatusUnsupportedMediaType), "Send the body as application/json.", nil)
	}
	body, err := io.ReadAll(c.Request().Body)
	var tooLarge *echo.HTTPError
	if errors.As(err, &tooLarge) {
		return nil, false, err
	}
	if err != nil {
		return nil, false, apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), "The body could not be read.", nil)
	}
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&members); err != nil || members == nil {
		problem := "The body must be a JSON object."
		if err != nil {
			problem = jsonProblem(err)
		}
		return nil, false, apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), problem, nil)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false, apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), "The body must be a single JSON object.", nil)
	}
	if path, repeated := repeatedMember(body); repeated {
		return nil, false, invalidField(c, path, "This member name appears more than once in its object.")
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.Contains(allowed, name) {
			return nil, false, invalidField(c, name, "Unknown field "+strconv.Quote(name)+".")
		}
	}
	return members, true, nil
}

// field decodes members[name] into dst; present is false when absent. A
// value of the wrong type is a 422 naming the field, already answered.
func field(c echo.Context, members map[string]json.RawMessage, name string, dst any, want string) (present bool, answered bool, err error) {
	raw, ok := members[name]
	if !ok {
		return false, false, nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, true, invalidField(c, name, name+" must be "+want+".")
	}
	return true, false, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// limitsOf reads quota, quota_period and rate_limit_per_minute, starting
// from current's (nil: a new key's none); null or 0 removes a quota or
// the rate limit override. None of the three sent: nil, nothing changes.
func limitsOf(c echo.Context, members map[string]json.RawMessage, current *keys.APIKey) (*keys.LimitsInput, bool, error) {
	_, hasQuota := members["quota"]
	_, hasPeriod := members["quota_period"]
	_, hasRate := members["rate_limit_per_minute"]
	if !hasQuota && !hasPeriod && !hasRate {
		return nil, false, nil
	}
	in := &keys.LimitsInput{}
	if current != nil {
		in.Quota, in.QuotaPeriod, in.RateLimitPerMinute = current.Quota, current.QuotaPeriod, current.RateLimitPerMinute
	}
	if raw := members["quota"]; hasQuota {
		in.Quota = 0
		if !isNull(raw) {
			if _, answered, err := field(c, members, "quota", &in.Quota, "a whole number of requests, or null for no quota"); answered {
				return nil, true, err
			}
		}
	}
	if raw := members["quota_period"]; hasPeriod {
		in.QuotaPeriod = ""
		if !isNull(raw) {
			if _, answered, err := field(c, members, "quota_period", &in.QuotaPeriod, "day or month"); answered {
				return nil, true, err
			}
		}
	}
	if raw := members["rate_limit_per_minute"]; hasRate {
		in.RateLimitPerMinute = 0
		if !isNull(raw) {
			if _, answered, err := field(c, members, "rate_limit_per_minute", &in.RateLimitPerMinute, "a whole number of requests per minute, or null for the default"); answered {
				return nil, true, err
			}
		}
	}
	return in, false, nil
}

// accessOf reads permissions and allowed_ips: permissions absent or null is
// full access, a list is restricted to it; allowed_ips a list of addresses
// or CIDRs (absent or empty: any).
func accessOf(c echo.Context, members map[string]json.RawMessage, current *keys.APIKey) (*keys.AccessInput, bool, error) {
	rawPerms, hasPerms := members["permissions"]
	_, hasIPs := members["allowed_ips"]
	if !hasPerms && !hasIPs {
		return nil, false, nil
	}
	in := &keys.AccessInput{}
	if current != nil {
		in.Restricted = current.Restricted
		for _, p := range current.PermissionList() {
			in.Permissions = append(in.Permissions, string(p))
		}
		in.AllowedIPs = current.AllowedIPs
	}
	if hasPerms {
		in.Restricted, in.Permissions = false, nil
		if !isNull(rawPerms) {
			var perms []string
			if _, answered, err := field(c, members, "permissions", &perms, "null or a list of program:read, members:read, members:write"); answered {
				return nil, true, err
			}
			in.Restricted, in.Permissions = true, perms
		}
	}
	if hasIPs {
		var ips []string
		if !isNull(members["allowed_ips"]) {
			if _, answered, err := field(c, members, "allowed_ips", &ips, "a list of IP addresses or CIDR ranges"); answered {
				return nil, true, err
			}
		}
		in.AllowedIPs = strings.Join(ips, "\n")
	}
	return in, false, nil
}

// CreateKey makes a key through the console's Generate: the 20-key cap,
// the program's maximum key lifetime and the audit event
// (api_key.generated) hold as in the console. The answer carries the
// secret, this once.
func (m *Manage) CreateKey(c echo.Context) error {
	members, ok, err := readManageBody(c, "name", "description", "expires_at", "expires_in_days", "permissions", "allowed_ips", "quota", "quota_period", "rate_limit_per_minute")
	if !ok {
		return err
	}
	var in keys.KeyInput
	if _, answered, err := field(c, members, "name", &in.Name, "a string"); answered {
		return err
	}
	if _, answered, err := field(c, members, "description", &in.Description, "a string"); answered {
		return err
	}
	access, answered, err := accessOf(c, members, nil)
	if answered {
		return err
	}
	limits, answered, err := limitsOf(c, members, nil)
	if answered {
		return err
	}
	var expiresAt *time.Time
	if raw, ok := members["expires_at"]; ok && !isNull(raw) {
		if _, answered, err := field(c, members, "expires_at", &expiresAt, "an RFC 3339 time"); answered {
			return err
		}
	}
	var days *int
	if raw, ok := members["expires_in_days"]; ok && !isNull(raw) {
		if _, answered, err := field(c, members, "expires_in_days", &days, "a whole number of days from 1 to 3650"); answered {
			return err
		}
		if *days < 1 || *days > 3650 {
			return invalidField(c, "expires_in_days", "expires_in_days must be a whole number of days from 1 to 3650.")
		}
	}
	if expiresAt != nil && days != nil {
		return invalidField(c, "expires_at", "Send expires_at or expires_in_days, not both.")
	}
	if days != nil {
		at := m.now().AddDate(0, 0, *days).UTC()
		expiresAt = &at
	}
	ctx, actor, programID := c.Request().Context(), managementActor(c), managementKey(c).ProgramID
	if expiresAt != nil {
		in.Expiry, in.ExpiryDate = keys.ExpiryAt, expiresAt.UTC().Format(time.RFC3339Nano)
	}
	in.Access, in.Limits = access, limits
	k, err := m.keys.Generate(ctx, programID, actor, in)
	if err != nil {
		return manageError(c, renameAPIFields(err))
	}
	return c.JSON(http.StatusCreated, keyWithSecret{ManagedKey: managedKeyOf(k, m.now()), Key: k.Secret})
}

// PatchKey changes any of name, description, permissions, allowed_ips and
// expires_at through the console's Update (api_key.updated with
// before/after). A patch that changes nothing answers the key unchanged.
func (m *Manage) PatchKey(c echo.Context) error {
	members, ok, err := readManageBody(c, "name", "description", "permissions", "allowed_ips", "expires_at", "quota", "quota_period", "rate_limit_per_minute")
	if !ok {
		return err
	}
	k, err := m.loadKeyByIdentifier(c)
	if err != nil {
		return manageError(c, err)
	}
	in := keys.KeyInput{Name: k.Name, Description: k.Description}
	if _, answered, err := field(c, members, "name", &in.Name, "a string"); answered {
		return err
	}
	if _, answered, err := field(c, members, "description", &in.Description, "a string"); answered {
		return err
	}
	access, answered, err := accessOf(c, members, k)
	if answered {
		return err
	}
	in.Access = access
	if in.Limits, answered, err = limitsOf(c, members, k); answered {
		return err
	}
	if raw, ok := members["expires_at"]; ok {
		change := &keys.ExpiryChange{}
		if !isNull(raw) {
			if _, answered, err := field(c, members, "expires_at", &change.At, "an RFC 3339 time or null"); answered {
				return err
			}
		}
		in.NewExpiry = change
	}
	updated, err := m.keys.Update(c.Request().Context(), managementKey(c).ProgramID, managementActor(c), k.ID, in)
	if errors.Is(err, keys.ErrNoChanges) {
		updated, err = k, nil
	}
	if err != nil {
		return manageError(c, renameAPIFields(err))
	}
	return c.JSON(http.StatusOK, managedKeyOf(updated, m.now()))
}

// rollOverlaps are the old_key_expires_in_seconds a roll accepts, as the
// console's "Old key stops working".
var rollOverlaps = []int{0, 3600, 86400, 604800}

// RollKey gives the key a new secret under the same identifier through the
// console's Roll; the answer carries the new secret, this once.
func (m *Manage) RollKey(c echo.Context) error {
	members, ok, err := readManageBody(c, "old_key_expires_in_seconds")
	if !ok {
		return err
	}
	seconds := 0
	if _, answered, err := field(c, members, "old_key_expires_in_seconds", &seconds, "0, 3600, 86400 or 604800"); answered {
		return err
	}
	if !slices.Contains(rollOverlaps, seconds) {
		return invalidField(c, "old_key_expires_in_seconds", "old_key_expires_in_seconds must be 0, 3600, 86400 or 604800.")
	}
	k, err := m.loadKeyByIdentifier(c)
	if err != nil {
		return manageError(c, err)
	}
	rolled, err := m.keys.Roll(c.Request().Context(), managementKey(c).ProgramID, managementActor(c), k.ID, time.Duration(seconds)*time.Second)
	if err != nil {
		return manageError(c, err)
	}
	return c.JSON(http.StatusOK, keyWithSecret{ManagedKey: managedKeyOf(rolled, m.now()), Key: rolled.Secret})
}

// InactivateKey turns the key off on every instance at once (the console's
// Inactivate).
func (m *Manage) InactivateKey(c echo.Context) error { return m.setActive(c, false) }

// ActivateKey turns the key back on (the console's Activate).
func (m *Manage) ActivateKey(c echo.Context) error { return m.setActive(c, true) }

func (m *Manage) setActive(c echo.Context, active bool) error {
	k, err := m.loadKeyByIdentifier(c)
	if err != nil {
		return manageError(c, err)
	}
	if _, err := m.keys.SetActive(c.Request().Context(), managementKey(c).ProgramID, managementActor(c), k.ID, active); err != nil {
		return manageError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// DeleteKey hard-deletes an inactive key (the console's Delete); an
// active key is 409.
func (m *Manage) DeleteKey(c echo.Context) error {
	k, err := m.loadKeyByIdentifier(c)
	if err != nil {
		return manageError(c, err)
	}
	if _, err := m.keys.Delete(c.Request().Context(), managementKey(c).ProgramID, managementActor(c), k.ID); err != nil {
		return manageError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// renameAPIFields names the console's form fields in a validation error
// as the management API's: expiry and expiry_date are expires_at,
// rate_limit is rate_limit_per_minute.
func renameAPIFields(err error) error {
	var verr input.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	out := input.ValidationError{}
	for f, problem := range verr {
		switch f {
		case "expiry", "expiry_date":
			f = "expires_at"
		case "rate_limit":
			f = "rate_limit_per_minute"
		}
		out[f] = problem
	}
	return out
}
