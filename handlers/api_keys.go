package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/htmx"
	"keydesk/models/accounts"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/models/metrics"
	"keydesk/views"
)

func (h *Handler) keysView(c echo.Context) (views.KeysView, error) {
	p := principalOf(c)
	list, err := h.stores.Keys.List(c.Request().Context(), p.Program.ID)
	if err != nil {
		return views.KeysView{}, err
	}
	return views.KeysView{Keys: list, Limit: keys.MaxAPIKeysPerProgram, Now: h.now(), ReauthUntil: p.Session.ReauthUntil(p.Admin, p.Program.ID), PartnerID: p.Program.PartnerID, BaseURL: h.baseURL}, nil
}

// ListAPIKeys renders General » API Keys.
func (h *Handler) ListAPIKeys(c echo.Context) error {
	v, err := h.keysView(c)
	if err != nil {
		return err
	}
	if htmx.IsFragment(c) {
		return render(c, http.StatusOK, views.KeysPanel(v))
	}
	return render(c, http.StatusOK, views.APIKeysPage(h.shell(c, "API Keys", views.NavAPIKeys), v))
}

// renderPanel answers a successful action: the re-rendered panel replaces
// the old one, the dialog closes and a toast says what happened.
func (h *Handler) renderPanel(c echo.Context, level, message string) error {
	v, err := h.keysView(c)
	if err != nil {
		return err
	}
	htmx.Retarget(c, "#keys-panel")
	htmx.Reswap(c, htmx.SwapOuterHTML)
	htmx.Trigger(c, map[string]any{"toast": toast(level, message), "close-modal": true})
	return render(c, http.StatusOK, views.KeysPanel(v))
}

// keyID parses the :id parameter; anything that is not a positive integer
// is as unknown as another program's key.
func keyID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound()
	}
	return id, nil
}

// loadKey loads a key through the current program: a foreign id is a 404.
func (h *Handler) loadKey(c echo.Context) (*keys.APIKey, error) {
	id, err := keyID(c)
	if err != nil {
		return nil, err
	}
	k, err := h.stores.Keys.ByID(c.Request().Context(), principalOf(c).Program.ID, id)
	if errors.Is(err, database.ErrNotFound) {
		return nil, notFound()
	}
	return k, err
}

// NewAPIKeyDialog renders the empty Generate dialog.
func (h *Handler) NewAPIKeyDialog(c echo.Context) error {
	days, err := h.stores.Keys.MaxKeyLifetime(c.Request().Context(), principalOf(c).Program.ID)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.KeyFormDialog(views.KeyForm{MaxLifetimeDays: days}))
}

// GenerateAPIKey creates a key from the Generate dialog.
func (h *Handler) GenerateAPIKey(c echo.Context) error {
	p := principalOf(c)
	in := keys.KeyInput{Name: c.FormValue("name"), Description: c.FormValue("description"), Expiry: c.FormValue("expiry"), ExpiryDate: c.FormValue("expiry_date")}
	key, err := h.stores.Keys.Generate(c.Request().Context(), p.Program.ID, actor(c), in)
	if err != nil {
		form := views.KeyForm{Name: in.Name, Description: in.Description, Expiry: in.Expiry, ExpiryDate: input.StripUnsafe(in.ExpiryDate)}
		form.MaxLifetimeDays, _ = h.stores.Keys.MaxKeyLifetime(c.Request().Context(), p.Program.ID)
		return h.keyFormError(c, form, err)
	}
	return h.showNewKey(c, key, "API key “"+key.Name+"” generated.")
}

// keyFormError re-renders a dialog with what was wrong (as a 200, so htmx
// swaps it), or passes on an unexpected error.
func (h *Handler) keyFormError(c echo.Context, form views.KeyForm, err error) error {
	// Echo back what was typed, minus bytes that are not text at all.
	form.Name = input.StripUnsafe(form.Name)
	form.Description = input.StripUnsafe(form.Description)
	var verr input.ValidationError
	switch {
	case errors.As(err, &verr):
		form.Errors = verr
	case errors.Is(err, keys.ErrKeyLimitReached), errors.Is(err, keys.ErrDefaultKey), errors.Is(err, keys.ErrKeyInactive):
		form.FormError = keyErrorMessage(err)
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	default:
		return err
	}
	return render(c, http.StatusOK, views.KeyFormDialog(form))
}

// EditAPIKeyDialog renders the Edit dialog filled with the key's details.
func (h *Handler) EditAPIKeyDialog(c echo.Context) error {
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	f := views.KeyForm{KeyID: k.ID, Name: k.Name, Description: k.Description,
		Restricted: k.Restricted, Permissions: strings.Fields(k.Permissions), AllowedIPs: k.AllowedIPs, QuotaPeriod: k.QuotaPeriod}
	if k.Quota > 0 {
		f.Quota = strconv.FormatInt(k.Quota, 10)
	}
	if k.RateLimitPerMinute > 0 {
		f.RateLimit = strconv.Itoa(k.RateLimitPerMinute)
	}
	return render(c, http.StatusOK, views.KeyFormDialog(f))
}

// UpdateAPIKey saves the Edit dialog.
func (h *Handler) UpdateAPIKey(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	in := keys.KeyInput{Name: c.FormValue("name"), Description: c.FormValue("description")}
	if postsAny(c, "access", "permissions", "allowed_ips") {
		in.Access = accessInput(c)
	}
	if in.Access != nil && c.FormValue("confirm_breaking") != "1" {
		current, err := h.loadKey(c)
		if err != nil {
			return err
		}
		noPerms, excludesYou := keys.AccessRisks(*current, *in.Access, c.RealIP())
		if noPerms || excludesYou {
			return render(c, http.StatusOK, views.KeyFormDialog(views.KeyForm{KeyID: id, Name: input.StripUnsafe(in.Name), Description: input.StripUnsafe(in.Description),
				Restricted: in.Access.Restricted, Permissions: in.Access.Permissions, AllowedIPs: input.StripUnsafe(in.Access.AllowedIPs),
				RiskNoPermissions: noPerms, RiskExcludesYou: excludesYou, YourAddress: c.RealIP(),
				Quota: c.FormValue("quota"), QuotaPeriod: c.FormValue("quota_period"), RateLimit: c.FormValue("rate_limit")}))
		}
	}
	var key *keys.APIKey
	var limits *keys.LimitsInput
	if postsAny(c, "quota", "quota_period", "rate_limit") {
		limits, err = keys.ParseLimitsForm(c.FormValue("quota"), c.FormValue("quota_period"), c.FormValue("rate_limit"))
	}
	if err == nil {
		in.Limits = limits // nil: the limits stay as they are
		key, err = h.stores.Keys.Update(c.Request().Context(), principalOf(c).Program.ID, actor(c), id, in)
	}
	if errors.Is(err, keys.ErrNoChanges) {
		return h.renderPanel(c, toastInfo, "No changes to save.")
	}
	if err != nil {
		access := in.Access
		if access == nil {
			access = &keys.AccessInput{}
		}
		return h.keyFormError(c, views.KeyForm{KeyID: id, Name: in.Name, Description: in.Description,
			Restricted: access.Restricted, Permissions: access.Permissions, AllowedIPs: input.StripUnsafe(access.AllowedIPs),
			Quota: input.StripUnsafe(c.FormValue("quota")), QuotaPeriod: input.StripUnsafe(c.FormValue("quota_period")), RateLimit: input.StripUnsafe(c.FormValue("rate_limit"))}, err)
	}
	return h.renderPanel(c, toastSuccess, "API key “"+key.Name+"” saved.")
}

// postsAny reports whether the form has any of the named fields. The Edit
// dialog always posts its access and limit fields (empty: none); a form
// without any of a group's fields, as a script might post, leaves that part
// of the key as it is instead of widening its access or removing its
// limits.
func postsAny(c echo.Context, names ...string) bool {
	form, err := c.FormParams()
	if err != nil {
		return false
	}
	for _, name := range names {
		if _, ok := form[name]; ok {
			return true
		}
	}
	return false
}

// ConfirmInactivateDialog asks before inactivating.
func (h *Handler) ConfirmInactivateDialog(c echo.Context) error {
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ConfirmDialog(*k, "inactivate"))
}

// ConfirmDeleteDialog asks before deleting.
func (h *Handler) ConfirmDeleteDialog(c echo.Context) error {
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ConfirmDialog(*k, "delete"))
}

func (h *Handler) setActive(c echo.Context, active bool) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	key, err := h.stores.Keys.SetActive(c.Request().Context(), principalOf(c).Program.ID, actor(c), id, active)
	switch {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case errors.Is(err, keys.ErrDefaultKey):
		return echo.NewHTTPError(http.StatusConflict, keyErrorMessage(err))
	case err != nil:
		return err
	}
	if active {
		return h.renderPanel(c, toastSuccess, "API key “"+key.Name+"” is active again.")
	}
	return h.renderPanel(c, toastInfo, "API key “"+key.Name+"” inactivated. Calls using it now fail.")
}

// InactivateAPIKey turns a key off.
func (h *Handler) InactivateAPIKey(c echo.Context) error { return h.setActive(c, false) }

// ActivateAPIKey turns a key back on.
func (h *Handler) ActivateAPIKey(c echo.Context) error { return h.setActive(c, true) }

// DeleteAPIKey hard-deletes an inactive key.
func (h *Handler) DeleteAPIKey(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	key, err := h.stores.Keys.Delete(c.Request().Context(), principalOf(c).Program.ID, actor(c), id)
	switch {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case errors.Is(err, keys.ErrKeyActive), errors.Is(err, keys.ErrDefaultKey):
		return echo.NewHTTPError(http.StatusConflict, keyErrorMessage(err))
	case err != nil:
		return err
	}
	return h.renderPanel(c, toastSuccess, "API key “"+key.Name+"” deleted.")
}

// RevealAPIKey returns the unmasked key cell, if the admin re-authenticated
// within the window; otherwise it asks the page to open the password dialog.
func (h *Handler) RevealAPIKey(c echo.Context) error {
	return h.unseal(c, false)
}

// CopyAPIKey sends the full key to the page's clipboard handler.
func (h *Handler) CopyAPIKey(c echo.Context) error {
	return h.unseal(c, true)
}

func (h *Handler) unseal(c echo.Context, copied bool) error {
	p := principalOf(c)
	id, err := keyID(c)
	if err != nil {
		return err
	}
	allowed, err := p.Session.ReauthAllowed(c.Request().Context(), p.Admin, p.Program.ID)
	if err != nil {
		return err
	}
	if !allowed {
		// Make sure the key exists in this program before asking for a
		// password, so a foreign id is a 404 here too.
		if _, err := h.loadKey(c); err != nil {
			return err
		}
		return askReauth(c)
	}
	key, secret, err := h.stores.Keys.RevealConfirmed(c.Request().Context(), p.Session.SpendReauth(p.Admin.ID, p.Program.ID), p.Program.ID, actor(c), id, copied)
	if errors.Is(err, accounts.ErrReauthGrantSpent) {
		return askReauth(c)
	}
	if errors.Is(err, database.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return err
	}
	metrics.KeyReveals.WithLabelValues(revealAction(copied)).Inc()
	if copied {
		// The key travels in the body, like a reveal, never in a header;
		// app.js puts it on the clipboard and says so.
		htmx.Reswap(c, htmx.SwapNone)
		htmx.Trigger(c, map[string]any{"copy-secret": map[string]string{"message": "API key “" + key.Name + "” copied to the clipboard."}})
		return c.String(http.StatusOK, secret)
	}
	return render(c, http.StatusOK, views.KeySecret(*key, secret))
}

// keyErrorMessage is what an admin reads for a refused key action: the
// domain says what happened, the console says what to do about it.
func keyErrorMessage(err error) string {
	switch {
	case errors.Is(err, keys.ErrKeyLimitReached):
		return fmt.Sprintf("This program already has %d API keys, the most allowed. Delete an inactive key first.", keys.MaxAPIKeysPerProgram)
	case errors.Is(err, keys.ErrKeyActive):
		return "An active API key cannot be deleted. Inactivate it first."
	case errors.Is(err, keys.ErrDefaultKey):
		return "The legacy default key cannot be changed here."
	case errors.Is(err, keys.ErrKeyInactive):
		return "An inactive API key cannot be rolled. Activate it first."
	case errors.Is(err, keys.ErrNoOldKey):
		return "The old key of this API key has already stopped working."
	}
	return "This API key action could not be completed."
}
