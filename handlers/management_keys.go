package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/htmx"
	"keydesk/models/accounts"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/managementkeys"
	"keydesk/views"
)

// ManagementKeys renders General » Management keys.
func (h *Handler) ManagementKeys(c echo.Context) error {
	v, err := h.managementKeysView(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ManagementKeysPage(h.shell(c, "Management keys", views.NavManagementKeys), v))
}

func (h *Handler) managementKeysView(c echo.Context) (views.ManagementKeysView, error) {
	list, err := h.stores.ManagementKeys.List(c.Request().Context(), principalOf(c).Program.ID)
	if err != nil {
		return views.ManagementKeysView{}, err
	}
	return views.ManagementKeysView{Keys: list, Now: h.now(), Limit: managementkeys.MaxPerProgram}, nil
}

// NewManagementKeyDialog opens Create management key, after the password
// re-prompt.
func (h *Handler) NewManagementKeyDialog(c echo.Context) error {
	if answered, err := h.stepUpRequired(c); answered {
		return err
	}
	return render(c, http.StatusOK, views.CreateManagementKeyDialog(views.ManagementKeyForm{Expiry: managementkeys.Expiry90Days}))
}

// CreateManagementKey makes a management key, spending the admin's
// password confirmation in the same transaction, and shows its secret once.
func (h *Handler) CreateManagementKey(c echo.Context) error {
	if answered, err := h.stepUpRequired(c); answered {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	in := managementkeys.Input{Name: form.Get("name"), Scopes: form["scopes"], Expiry: form.Get("expiry")}
	p := principalOf(c)
	key, err := h.stores.ManagementKeys.CreateConfirmed(c.Request().Context(), p.Session.SpendReauth(p.Admin.ID, p.Program.ID), p.Program.ID, actor(c), in)
	f := views.ManagementKeyForm{Name: in.Name, Scopes: in.Scopes, Expiry: in.Expiry}
	var verr input.ValidationError
	switch {
	case errors.Is(err, accounts.ErrReauthGrantSpent):
		return askReauth(c)
	case errors.As(err, &verr):
		f.Errors = verr
		return render(c, http.StatusOK, views.CreateManagementKeyDialog(f))
	case errors.Is(err, managementkeys.ErrLimitReached):
		f.Problem = "This program has the most management keys allowed. Revoke a key you no longer use first."
		return render(c, http.StatusOK, views.CreateManagementKeyDialog(f))
	case err != nil:
		return err
	}
	v, err := h.managementKeysView(c)
	if err != nil {
		return err
	}
	v.OutOfBand = true
	htmx.Trigger(c, map[string]any{"toast": toast(toastSuccess, "Management key “"+key.Name+"” created.")})
	return render(c, http.StatusOK, views.NewManagementKeyResponse(*key, key.Secret, v))
}

// loadManagementKey loads the :id management key through the current
// program: another program's key, or a revoked one, is a 404.
func (h *Handler) loadManagementKey(c echo.Context) (*managementkeys.Key, error) {
	id, err := keyID(c)
	if err != nil {
		return nil, err
	}
	k, err := h.stores.ManagementKeys.ByID(c.Request().Context(), principalOf(c).Program.ID, id)
	if errors.Is(err, database.ErrNotFound) {
		return nil, notFound()
	}
	return k, err
}

// ConfirmRevokeManagementKey asks before revoking a management key.
func (h *Handler) ConfirmRevokeManagementKey(c echo.Context) error {
	k, err := h.loadManagementKey(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.RevokeManagementKeyDialog(*k))
}

// RevokeManagementKey revokes a management key: refused at once on every
// instance.
func (h *Handler) RevokeManagementKey(c echo.Context) error {
	k, err := h.loadManagementKey(c)
	if err != nil {
		return err
	}
	if _, err := h.stores.ManagementKeys.Revoke(c.Request().Context(), principalOf(c).Program.ID, actor(c), k.ID); err != nil {
		if errors.Is(err, database.ErrNotFound) {
			return notFound()
		}
		return err
	}
	v, err := h.managementKeysView(c)
	if err != nil {
		return err
	}
	htmx.Trigger(c, map[string]any{"toast": toast(toastInfo, "Management key “"+k.Name+"” revoked. Calls using it now fail."), "close-modal": true})
	return render(c, http.StatusOK, views.ManagementKeysPanel(v))
}
