package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/routes"
	"keydesk/views"
)

// passkeyID reads a passkey id from the path; anything else is 404.
func passkeyID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound()
	}
	return id, nil
}

// RenamePasskey renames one of the admin's passkeys.
func (h *Handler) RenamePasskey(c echo.Context) error {
	p := principalOf(c)
	id, err := passkeyID(c)
	if err != nil {
		return err
	}
	err = h.stores.Accounts.RenamePasskey(c.Request().Context(), p.Program.ID, actor(c), id, c.FormValue("name"))
	var invalid input.ValidationError
	switch {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case errors.As(err, &invalid):
		return h.renderAccount(c, http.StatusUnprocessableEntity, accountViewWithError("passkey_"+strconv.FormatInt(id, 10), invalid["name"]))
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Account+"?notice=passkey_renamed")
}

// RemovePasskey removes one of the admin's passkeys.
func (h *Handler) RemovePasskey(c echo.Context) error {
	p := principalOf(c)
	id, err := passkeyID(c)
	if err != nil {
		return err
	}
	switch err := h.stores.Accounts.RemovePasskey(c.Request().Context(), p.Program.ID, actor(c), id); {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Account+"?notice=passkey_removed")
}

// SetPasskeyOnly turns "Sign in with a passkey only" on or off.
func (h *Handler) SetPasskeyOnly(c echo.Context) error {
	p := principalOf(c)
	on := c.FormValue("passkey_only") == "on"
	if msg, err := h.confirmCurrentPassword(c, p); err != nil {
		return err
	} else if msg != "" {
		return h.renderAccount(c, http.StatusUnprocessableEntity, accountViewWithError("passkey_only_password", msg))
	}
	switch err := h.stores.Accounts.SetPasskeyOnly(c.Request().Context(), p.Program.ID, actor(c), on); {
	case errors.Is(err, accounts.ErrNoPasskey):
		return h.renderAccount(c, http.StatusUnprocessableEntity, accountViewWithError("passkey_only", "Add a passkey first."))
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Account+"?notice=passkey_only")
}

// accountViewWithError is /account with one field's error.
func accountViewWithError(field, msg string) views.AccountView {
	return views.AccountView{Errors: map[string]string{field: msg}}
}

// passkeyRows lists the admin's passkeys for /account.
func (h *Handler) passkeyRows(c echo.Context, adminID int64) ([]views.PasskeyRow, error) {
	list, err := h.stores.Accounts.Passkeys(c.Request().Context(), adminID)
	if err != nil {
		return nil, err
	}
	rows := make([]views.PasskeyRow, len(list))
	for i, pk := range list {
		rows[i] = views.PasskeyRow{ID: pk.ID, Name: pk.Name, CreatedAt: pk.CreatedAt, LastUsedAt: pk.LastUsedAt}
	}
	return rows, nil
}
