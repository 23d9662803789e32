package handlers

import (
	"encoding/json"
	"fmt"
	"strings"

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
	c.Response().Header().Set("HX-Trigger", asciiJSON(string(b)))
}

// asciiJSON escapes every non-ASCII character as \uXXXX: header values
// travel as Latin-1, and htmx would show “curly quotes” as mojibake.
func asciiJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&b, "\\u%04x\\u%04x", 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

func toast(level, message string) map[string]any {
	return map[string]any{"level": level, "message": message}
}
