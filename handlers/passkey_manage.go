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

// RenamePasskeyForm is the Rename passkey dialog (a page of its own
// without script).
func (h *Handler) RenamePasskeyForm(c echo.Context) error {
	pk, err := h.ownPasskey(c)
	if err != nil {
		return err
	}
	return h.renderRenamePasskey(c, http.StatusOK, views.RenamePasskeyForm{ID: pk.ID, Name: pk.Name, Current: pk.Name})
}

// RenamePasskey renames one of the admin's passkeys.
func (h *Handler) RenamePasskey(c echo.Context) error {
	p := principalOf(c)
	pk, err := h.ownPasskey(c)
	if err != nil {
		return err
	}
	name := c.FormValue("name")
	err = h.stores.Accounts.RenamePasskey(c.Request().Context(), p.Program.ID, actor(c), pk.ID, name)
	var invalid input.ValidationError
	switch {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case errors.As(err, &invalid):
		return h.renderRenamePasskey(c, http.StatusUnprocessableEntity, views.RenamePasskeyForm{ID: pk.ID, Name: name, Current: pk.Name, Error: invalid["name"]})
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Account+"?notice=passkey_renamed")
}

// ownPasskey loads the passkey the path names, of the signed-in admin;
// anyone else's (or none) is 404.
func (h *Handler) ownPasskey(c echo.Context) (*accounts.Passkey, error) {
	pk, _, err := h.ownPasskeyAmong(c)
	return pk, err
}

// ownPasskeyAmong is ownPasskey with all of the admin's passkeys, the one
// named among them.
func (h *Handler) ownPasskeyAmong(c echo.Context) (*accounts.Passkey, []accounts.Passkey, error) {
	id, err := passkeyID(c)
	if err != nil {
		return nil, nil, err
	}
	list, err := h.stores.Accounts.Passkeys(c.Request().Context(), principalOf(c).Admin.ID)
	if err != nil {
		return nil, nil, err
	}
	for i := range list {
		if list[i].ID == id {
			return &list[i], list, nil
		}
	}
	return nil, nil, notFound()
}

func (h *Handler) renderRenamePasskey(c echo.Context, status int, f views.RenamePasskeyForm) error {
	f.CSRF = csrfToken(c)
	return render(c, status, views.RenamePasskeyPage(h.shell(c, "Rename passkey", views.NavAccount), f))
}

// RemovePasskeyForm asks before removing one of the admin's passkeys (a
// page of its own without script). It warns when sign-in will then use
// the password alone: the last passkey, and no authenticator app.
func (h *Handler) RemovePasskeyForm(c echo.Context) error {
	p := principalOf(c)
	pk, list, err := h.ownPasskeyAmong(c)
	if err != nil {
		return err
	}
	f := views.RemovePasskeyForm{
		CSRF:              csrfToken(c),
		ID:                pk.ID,
		Name:              pk.Name,
		PasswordOnlyAfter: len(list) == 1 && !p.Admin.HasTOTP(),
		TwoFactorRequired: p.Program.RequireTwoFactor,
	}
	return render(c, http.StatusOK, views.RemovePasskeyPage(h.shell(c, "Remove passkey", views.NavAccount), f))
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
