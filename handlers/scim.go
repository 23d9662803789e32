package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/routes"
)

// SCIM 2.0 (RFC 7643, RFC 7644) at /scim/v2: the program's identity
// provider provisions and deprovisions its admins with the program's SCIM
// token. Users only; userName is the admin's email.

// SCIM schema and message URNs.
const (
	scimUserSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimListSchema  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	scimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimSPCSchema   = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	scimContentType = "application/scim+json"
	// scimMaxCount bounds a list page.
	scimMaxCount = 200
)

const scimProgramKey = "keydesk.scim_program"

// scimError writes RFC 7644's error body.
func scimError(c echo.Context, status int, scimType, detail string) error {
	body := map[string]any{"schemas": []string{scimErrorSchema}, "status": strconv.Itoa(status), "detail": detail}
	if scimType != "" {
		body["scimType"] = scimType
	}
	return scimJSON(c, status, body)
}

func scimJSON(c echo.Context, status int, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(status, scimContentType, b)
}

// SCIMAuth admits a request with the program's SCIM bearer token; any
// other is 401 (RFC 7644 §3.12) and never says why. Each refused token
// spends one of the client address's failed authentications (shared with
// the REST and management APIs), so that guessing tokens cannot buy a
// database lookup per request: past the budget the address gets 429 with
// Retry-After, before any token is looked at.
func (h *Handler) SCIMAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if blocked, wait := h.failedAuth.Blocked(c.RealIP()); blocked {
			c.Response().Header().Set("Retry-After", apiauth.RetryAfter(wait))
			return scimError(c, http.StatusTooManyRequests, "", "Too many failed authentications from this address.")
		}
		header := c.Request().Header.Get("Authorization")
		token, ok := strings.CutPrefix(header, "Bearer ")
		if !ok {
			h.failedAuth.Failed(c.RealIP())
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="keydesk SCIM"`)
			return scimError(c, http.StatusUnauthorized, "", "Authorization: Bearer with the program's SCIM token is required.")
		}
		programID, err := h.stores.Accounts.ProgramBySCIMToken(c.Request().Context(), strings.TrimSpace(token))
		if errors.Is(err, accounts.ErrSCIMUnauthorized) {
			h.failedAuth.Failed(c.RealIP())
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="keydesk SCIM", error="invalid_token"`)
			return scimError(c, http.StatusUnauthorized, "", "The SCIM token is not valid.")
		}
		if err != nil {
			return err
		}
		c.Set(scimProgramKey, programID)
		return next(c)
	}
}

func scimProgram(c echo.Context) int64 {
	id, _ := c.Get(scimProgramKey).(int64)
	return id
}

// scimActor is the request as an audit actor; the store names SCIM.
func scimActor(c echo.Context) audit.Actor {
	return audit.Actor{IP: c.RealIP(), UserAgent: c.Request().UserAgent(), RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
}

// scimUserResource is a SCIM User as RFC 7643 §4.1 shapes it.
func (h *Handler) scimUserResource(u accounts.SCIMUser) map[string]any {
	id := strconv.FormatInt(u.AdminID, 10)
	created := u.CreatedAt.UTC().Format(time.RFC3339)
	return map[string]any{
		"schemas":  []string{scimUserSchema},
		"id":       id,
		"userName": u.Email,
		"emails":   []map[string]any{{"value": u.Email, "primary": true, "type": "work"}},
		"active":   u.Active,
		"meta": map[string]any{"resourceType": "User", "created": created, "lastModified": created,
			"location": h.baseURL + routes.SCIMUsers + "/" + id},
	}
}

// scimFilter reads the one filter keydesk supports: userName eq "value"
// (attribute and operator case-insensitive, RFC 7644 §3.4.2.2).
var scimFilter = regexp.MustCompile(`(?i)^\s*userName\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$`)

// SCIMListUsers lists the program's users (GET /Users), with
// filter=userName eq "…", startIndex and count.
func (h *Handler) SCIMListUsers(c echo.Context) error {
	userName := ""
	if f := c.QueryParam("filter"); f != "" {
		m := scimFilter.FindStringSubmatch(f)
		if m == nil {
			return scimError(c, http.StatusBadRequest, "invalidFilter", `Only the filter userName eq "…" is supported.`)
		}
		var v string
		if err := json.Unmarshal([]byte(`"`+m[1]+`"`), &v); err != nil || v == "" {
			return scimError(c, http.StatusBadRequest, "invalidFilter", "The filter's value is not a valid string.")
		}
		userName = v
	}
	start, count := 1, scimMaxCount
	if s := c.QueryParam("startIndex"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return scimError(c, http.StatusBadRequest, "invalidValue", "startIndex must be a number.")
		}
		start = max(n, 1)
	}
	if s := c.QueryParam("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return scimError(c, http.StatusBadRequest, "invalidValue", "count must be a number.")
		}
		count = min(max(n, 0), scimMaxCount)
	}
	users, err := h.stores.Accounts.SCIMUsers(c.Request().Context(), scimProgram(c), userName)
	if err != nil {
		return err
	}
	resources := []map[string]any{}
	for i := start - 1; i < len(users) && len(resources) < count; i++ {
		resources = append(resources, h.scimUserResource(users[i]))
	}
	return scimJSON(c, http.StatusOK, map[string]any{"schemas": []string{scimListSchema}, "totalResults": len(users),
		"startIndex": start, "itemsPerPage": len(resources), "Resources": resources})
}

// scimUserID reads :id; anything but a number is a user that does not
// exist.
func scimUserID(c echo.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	return id, err == nil && id > 0
}

func scimNotFound(c echo.Context) error {
	return scimError(c, http.StatusNotFound, "", "No such user in this program.")
}

// SCIMGetUser returns one user (GET /Users/{id}); another program's is 404.
func (h *Handler) SCIMGetUser(c echo.Context) error {
	id, ok := scimUserID(c)
	if !ok {
		return scimNotFound(c)
	}
	u, err := h.stores.Accounts.SCIMUser(c.Request().Context(), scimProgram(c), id)
	if errors.Is(err, database.ErrNotFound) {
		return scimNotFound(c)
	}
	if err != nil {
		return err
	}
	return scimJSON(c, http.StatusOK, h.scimUserResource(*u))
}

// readSCIMBody decodes a JSON request body into v.
func readSCIMBody(c echo.Context, v any) error {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// SCIMCreateUser provisions an admin (POST /Users): 201 with the user, 409
// uniqueness when the userName is already in the program.
func (h *Handler) SCIMCreateUser(c echo.Context) error {
	var body struct {
		UserName string `json:"userName"`
		Active   *bool  `json:"active"`
	}
	if err := readSCIMBody(c, &body); err != nil {
		return scimError(c, http.StatusBadRequest, "invalidSyntax", "The body is not a SCIM User in JSON.")
	}
	active := body.Active == nil || *body.Active
	u, err := h.stores.Accounts.ProvisionAdmin(c.Request().Context(), scimActor(c), scimProgram(c), body.UserName, active)
	switch {
	case errors.Is(err, accounts.ErrSCIMUserExists):
		return scimError(c, http.StatusConflict, "uniqueness", "A user with this userName already exists.")
	case errors.Is(err, accounts.ErrInvalidEmail):
		return scimError(c, http.StatusBadRequest, "invalidValue", "userName must be the person's email address.")
	case err != nil:
		return err
	}
	res := h.scimUserResource(*u)
	c.Response().Header().Set("Location", res["meta"].(map[string]any)["location"].(string))
	return scimJSON(c, http.StatusCreated, res)
}

// scimActive reads an active value as identity providers send it: a
// boolean, or (Azure AD) the string "True"/"False".
func scimActive(raw json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(s) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// SCIMPatchUser applies a PatchOp (PATCH /Users/{id}): replace active
// deprovisions (false) or provisions again (true). Other attributes that
// keydesk keeps nothing of are ignored; userName cannot change.
func (h *Handler) SCIMPatchUser(c echo.Context) error {
	id, ok := scimUserID(c)
	if !ok {
		return scimNotFound(c)
	}
	var body struct {
		Schemas    []string `json:"schemas"`
		Operations []struct {
			Op    string          `json:"op"`
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if err := readSCIMBody(c, &body); err != nil || len(body.Operations) == 0 {
		return scimError(c, http.StatusBadRequest, "invalidSyntax", "The body is not a SCIM PatchOp with Operations.")
	}
	var active *bool
	for _, op := range body.Operations {
		kind := strings.ToLower(op.Op)
		if kind != "replace" && kind != "add" {
			if strings.EqualFold(op.Path, "active") || strings.EqualFold(op.Path, "userName") {
				return scimError(c, http.StatusBadRequest, "invalidValue", "active and userName can only be replaced.")
			}
			continue
		}
		values := map[string]json.RawMessage{}
		if op.Path == "" {
			if err := json.Unmarshal(op.Value, &values); err != nil {
				return scimError(c, http.StatusBadRequest, "invalidValue", "An operation without path needs an object value.")
			}
		} else {
			values[op.Path] = op.Value
		}
		for name, raw := range values {
			switch strings.ToLower(name) {
			case "active":
				v, ok := scimActive(raw)
				if !ok {
					return scimError(c, http.StatusBadRequest, "invalidValue", "active must be true or false.")
				}
				active = &v
			case "username":
				return scimError(c, http.StatusBadRequest, "mutability", "userName cannot be changed: it is the admin's email.")
			}
		}
	}
	ctx := c.Request().Context()
	var u *accounts.SCIMUser
	var err error
	if active != nil {
		u, err = h.stores.Accounts.SetSCIMActive(ctx, scimActor(c), scimProgram(c), id, *active)
	} else {
		u, err = h.stores.Accounts.SCIMUser(ctx, scimProgram(c), id)
	}
	if errors.Is(err, database.ErrNotFound) {
		return scimNotFound(c)
	}
	if err != nil {
		return err
	}
	return scimJSON(c, http.StatusOK, h.scimUserResource(*u))
}

// SCIMDeleteUser takes a user out of the program (DELETE /Users/{id}):
// 204; its sessions there end at once.
func (h *Handler) SCIMDeleteUser(c echo.Context) error {
	id, ok := scimUserID(c)
	if !ok {
		return scimNotFound(c)
	}
	err := h.stores.Accounts.DeleteSCIMUser(c.Request().Context(), scimActor(c), scimProgram(c), id)
	if errors.Is(err, database.ErrNotFound) {
		return scimNotFound(c)
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// SCIMServiceProviderConfig says what this SCIM service supports (RFC
// 7643 §5).
func (h *Handler) SCIMServiceProviderConfig(c echo.Context) error {
	no := map[string]any{"supported": false}
	return scimJSON(c, http.StatusOK, map[string]any{
		"schemas":        []string{scimSPCSchema},
		"patch":          map[string]any{"supported": true},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":         map[string]any{"supported": true, "maxResults": scimMaxCount},
		"changePassword": no,
		"sort":           no,
		"etag":           no,
		"authenticationSchemes": []map[string]any{{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
			"description": "The program's SCIM token from General » Settings » Single sign-on."}},
	})
}
