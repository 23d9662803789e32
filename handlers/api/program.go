package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// programResponse is the body of GET /v2/loyalty/program. A typed struct
// encodes several times faster than nested maps on this hot route.
type programResponse struct {
	Success bool        `json:"success"`
	Data    programData `json:"data"`
}

type programData struct {
	ProgramName string        `json:"program_name"`
	PartnerID   string        `json:"partner_id"`
	APIKey      programAPIKey `json:"api_key"`
}

type programAPIKey struct {
	Identifier string `json:"identifier"`
	Name       string `json:"name"`
	IsDefault  bool   `json:"is_default"`
}

// Program answers "who am I": the program and the key that called.
func (a *API) Program(c echo.Context) error {
	key := verifiedKey(c)
	return c.JSON(http.StatusOK, programResponse{
		Success: true,
		Data: programData{
			ProgramName: key.ProgramName,
			PartnerID:   key.PartnerID,
			APIKey:      programAPIKey{Identifier: key.Identifier, Name: key.Name, IsDefault: key.IsDefault},
		},
	})
}
