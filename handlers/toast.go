package handlers

import (
	"encoding/json"

	"github.com/labstack/echo/v4"
)

// Toast levels.
const (
	toastSuccess = "success"
	toastError   = "error"
	toastInfo    = "info"
)

// trigger sets the HX-Trigger header to the given client events; app.js
// listens for them (toast, close-modal, reauth-required, copy-secret…).
func trigger(c echo.Context, events map[string]any) {
	b, err := json.Marshal(events)
	if err != nil {
		return
	}
	c.Response().Header().Set("HX-Trigger", string(b))
}

func toast(level, message string) map[string]any {
	return map[string]any{"level": level, "message": message}
}
