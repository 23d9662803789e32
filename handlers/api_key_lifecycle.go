package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/htmx"
	"keydesk/models/accounts"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/views"
)

// accessInput reads the Edit dialog's Permissions and Allowed IP addresses.
func accessInput(c echo.Context) *keys.AccessInput {
	form, _ := c.FormParams()
	return &keys.AccessInput{
		Restricted:  c.FormValue("access") == "restricted",
		Permissions: form["permissions"],
		AllowedIPs:  c.FormValue("allowed_ips"),
	}
}

// showNewKey answers Generate or Roll: the dialog shows the new secret once
// with Copy new key, and the panel behind it swapped out of band.
func (h *Handler) showNewKey(c echo.Context, key *keys.APIKey, message string) error {
	v, err := h.keysView(c)
	if err != nil {
		return err
	}
	v.OutOfBand = true
	htmx.Trigger(c, map[string]any{"toast": toast(toastSuccess, message)})
	return render(c, http.StatusOK, views.NewKeyResponse(*key, key.Secret, v))
}

// gated answers a password-gated action of an admin who has not
// re-authenticated lately: the page opens the password dialog and, once
// confirmed, clicks the button again. It reports whether it answered. It
// spends nothing (the action does, with Session.SpendReauth).
func (h *Handler) gated(c echo.Context) (bool, error) {
	if allowed, err := reauthAllowed(c); err != nil || allowed {
		return err != nil, err
	}
	if _, err := h.loadKey(c); err != nil {
		return true, err
	}
	return true, askReauth(c)
}

// reauthAllowed reports whether the signed-in admin may do a gated action
// now (the session's re-auth window or one-time grant).
func reauthAllowed(c echo.Context) (bool, error) {
	p := principalOf(c)
	return p.Session.ReauthAllowed(c.Request().Context(), p.Admin, p.Program.ID)
}

// askReauth answers a gated request with nothing but the signal that
// opens the password dialog.
func askReauth(c echo.Context) error {
	htmx.Reswap(c, htmx.SwapNone)
	htmx.Trigger(c, map[string]any{"reauth-required": true})
	return c.NoContent(http.StatusOK)
}

// RollAPIKeyDialog opens the Roll key dialog, after the password re-prompt.
func (h *Handler) RollAPIKeyDialog(c echo.Context) error {
	if answered, err := h.gated(c); answered {
		return err
	}
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.RollKeyDialog(*k, "24h", ""))
}

// RollAPIKey gives the key a new secret, keeping the old one working for
// the chosen overlap, and shows the new one once.
func (h *Handler) RollAPIKey(c echo.Context) error {
	if answered, err := h.gated(c); answered {
		return err
	}
	id, err := keyID(c)
	if err != nil {
		return err
	}
	choice := c.FormValue("old_key_stops")
	overlap, ok := keys.RollOverlap(choice)
	if !ok {
		k, err := h.loadKey(c)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.RollKeyDialog(*k, "24h", "Choose when the old key stops working."))
	}
	p := principalOf(c)
	key, err := h.stores.Keys.RollConfirmed(c.Request().Context(), p.Session.SpendReauth(p.Admin.ID, p.Program.ID), p.Program.ID, actor(c), id, overlap)
	var verr input.ValidationError
	switch {
	case errors.Is(err, accounts.ErrReauthGrantSpent):
		return askReauth(c)
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case errors.Is(err, keys.ErrDefaultKey), errors.Is(err, keys.ErrKeyInactive), errors.As(err, &verr):
		k, lerr := h.loadKey(c)
		if lerr != nil {
			return lerr
		}
		return render(c, http.StatusOK, views.RollKeyDialog(*k, choice, keyErrorMessage(err)))
	case err != nil:
		return err
	}
	return h.showNewKey(c, key, "API key “"+key.Name+"” rolled.")
}

// ConfirmExpireOldKeyDialog asks before ending a roll's overlap.
func (h *Handler) ConfirmExpireOldKeyDialog(c echo.Context) error {
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ExpireOldKeyDialog(*k, h.now()))
}

// ExpireOldAPIKey ends a roll's overlap now.
func (h *Handler) ExpireOldAPIKey(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	key, err := h.stores.Keys.ExpireOldKey(c.Request().Context(), principalOf(c).Program.ID, actor(c), id)
	switch {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case errors.Is(err, keys.ErrNoOldKey), errors.Is(err, keys.ErrDefaultKey):
		return echo.NewHTTPError(http.StatusConflict, keyErrorMessage(err))
	case err != nil:
		return err
	}
	return h.renderPanel(c, toastInfo, "The old key of “"+key.Name+"” stopped working.")
}

// SetMaxKeyLifetime saves General » Settings' Maximum key lifetime.
func (h *Handler) SetMaxKeyLifetime(c echo.Context) error {
	p := principalOf(c)
	days, err := strconv.Atoi(c.FormValue("max_key_lifetime"))
	if err != nil {
		days = -1
	}
	err = h.stores.Keys.SetMaxKeyLifetime(c.Request().Context(), p.Program.ID, actor(c), days)
	var verr input.ValidationError
	if errors.As(err, &verr) {
		current, lerr := h.stores.Keys.MaxKeyLifetime(c.Request().Context(), p.Program.ID)
		if lerr != nil {
			return lerr
		}
		return render(c, http.StatusOK, views.MaxKeyLifetimeSection(current, verr["max_key_lifetime"]))
	}
	if err != nil {
		return err
	}
	htmx.Trigger(c, map[string]any{"toast": toast(toastSuccess, "Maximum key lifetime saved.")})
	return render(c, http.StatusOK, views.MaxKeyLifetimeSection(days, ""))
}
