package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/htmx"
	"keydesk/models/accounts"
	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/views"
)

// SetLeakResponse saves General » Settings' When a key is found leaked.
func (h *Handler) SetLeakResponse(c echo.Context) error {
	p := principalOf(c)
	response := keys.LeakResponse(c.FormValue("leak_response"))
	err := h.stores.Keys.SetLeakResponse(c.Request().Context(), p.Program.ID, actor(c), response)
	var verr input.ValidationError
	if errors.As(err, &verr) {
		current, lerr := h.stores.Keys.LeakResponse(c.Request().Context(), p.Program.ID)
		if lerr != nil {
			return lerr
		}
		return render(c, http.StatusOK, views.LeakResponseSection(current, verr["leak_response"]))
	}
	if err != nil {
		return err
	}
	htmx.Trigger(c, map[string]any{"toast": toast(toastSuccess, "When a key is found leaked: "+response.Label()+". Saved.")})
	return render(c, http.StatusOK, views.LeakResponseSection(response, ""))
}

// ActivateDefaultKey turns the legacy default key back on after a leak
// inactivated it, with the password step-up of a reveal.
func (h *Handler) ActivateDefaultKey(c echo.Context) error {
	if answered, err := h.stepUpRequired(c); answered {
		return err
	}
	p := principalOf(c)
	key, err := h.stores.Keys.ActivateDefaultConfirmed(c.Request().Context(), p.Session.SpendReauth(p.Admin.ID, p.Program.ID), p.Program.ID, actor(c))
	switch {
	case errors.Is(err, accounts.ErrReauthGrantSpent):
		return askReauth(c)
	case errors.Is(err, keys.ErrNoChanges):
		key, err = h.stores.Keys.Default(c.Request().Context(), p.Program.ID)
		if err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		htmx.Trigger(c, map[string]any{"toast": toast(toastSuccess, "The default API key is active again.")})
	}
	return render(c, http.StatusOK, views.DefaultKeySection(*key))
}
