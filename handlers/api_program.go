package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Program answers "who am I": the program and the key that called.
func (a *API) Program(c echo.Context) error {
	key := verifiedKey(c)
	return c.JSON(http.StatusOK, map[string]any{
		"success": true,
		"data": map[string]any{
			"program_name": key.ProgramName,
			"partner_id":   key.PartnerID,
			"api_key": map[string]any{
				"identifier": key.Identifier,
				"name":       key.Name,
				"is_default": key.IsDefault,
			},
		},
	})
}
