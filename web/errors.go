package web

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/api"
	"keydesk/handlers/htmx"
	"keydesk/routes"
	"keydesk/views"
)

// unavailableMessage is what a person sees while the database is down.
const unavailableMessage = "keydesk is temporarily unavailable: it cannot reach its database. Nothing you did was half done; try again in a minute."

// handleError is the one error handler: JSON for the API, a toast-friendly
// plain text for htmx fragments, an HTML page for everything else (HEAD
// included: headWithoutBody drops the body, the headers stay GET's). It does
// nothing once the response is committed. A lost database is a 503 (try
// again), not a 500 (our bug).
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	message := "Something went wrong on our side. Try again in a moment."
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status = he.Code
		if m, ok := he.Message.(string); ok {
			message = m
		} else if status < 500 {
			message = http.StatusText(status)
		}
	case isDatabaseUnavailable(err):
		status = http.StatusServiceUnavailable
		message = unavailableMessage
		c.Response().Header().Set("Retry-After", "30")
	}
	switch {
	case status == http.StatusServiceUnavailable:
		s.logger.Warn("database unavailable", "error", err.Error(), "route", c.Path(), "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	case status >= 500:
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
	case strings.HasPrefix(path, routes.API+"/"):
		_ = api.WriteError(c, status, message)
	case htmx.IsRequest(c):
		_ = c.String(status, message)
	default:
		shell := s.Handlers.ShellFor(c, "Error")
		if status == http.StatusServiceUnavailable {
			shell.Title = "Temporarily unavailable"
		}
		var buf bytes.Buffer
		if rerr := views.ErrorPage(shell, shell.AdminEmail != "", status, message).Render(c.Request().Context(), &buf); rerr != nil {
			_ = c.String(status, message)
			return
		}
		_ = c.HTMLBlob(status, buf.Bytes())
	}
}

// isDatabaseUnavailable reports whether err means the database could not be
// reached (refused or dropped connections, a server shutting down, a query
// that timed out waiting for it, SQLite held busy) rather than a bug.
func isDatabaseUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) ||
		errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	// PostgreSQL errors carry their SQLSTATE: class 08 is a connection
	// exception, 57P01-57P03 a server shutting down or starting up.
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		code := state.SQLState()
		if strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" {
			return true
		}
	}
	msg := err.Error()
	for _, sign := range []string{
		"failed to connect to", "connection refused", "connection reset", "broken pipe",
		"conn closed", "bad connection", "server closed the connection", "the database system is",
		"database is locked", "SQLITE_BUSY",
	} {
		if strings.Contains(msg, sign) {
			return true
		}
	}
	return false
}
