package web

import (
	"bytes"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keydesk/views"
)

// handleError is the one error handler: JSON for the API, a toast-friendly
// plain text for htmx fragments, an HTML page for everything else. It does
// nothing once the response is committed.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	message := "Something went wrong on our side. Try again in a moment."
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		if m, ok := he.Message.(string); ok {
			message = m
		} else if status < 500 {
			message = http.StatusText(status)
		}
	}
	if status >= 500 {
		s.logger.Error("request failed", "error", err.Error(), "route", c.Path(), "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	if status == http.StatusNotFound && message == "Not Found" {
		message = "The page you asked for does not exist."
	}
	if status == http.StatusMethodNotAllowed {
		message = "This method is not allowed here."
	}
	if status == http.StatusRequestEntityTooLarge {
		message = "The request is too large."
	}
	path := c.Request().URL.Path
	switch {
	case strings.HasPrefix(path, "/v2/"):
		code := "ERROR_" + strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
		_ = c.JSON(status, map[string]any{"success": false, "error_code": code, "reason": message})
	case c.Request().Header.Get("HX-Request") == "true":
		_ = c.String(status, message)
	case c.Request().Method == http.MethodHead:
		_ = c.NoContent(status)
	default:
		shell := s.Handlers.ShellFor(c, "Error")
		var buf bytes.Buffer
		if rerr := views.ErrorPage(shell, shell.AdminEmail != "", status, message).Render(c.Request().Context(), &buf); rerr != nil {
			_ = c.String(status, message)
			return
		}
		_ = c.HTMLBlob(status, buf.Bytes())
	}
}
