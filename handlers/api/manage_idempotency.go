package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/models/managementkeys"
)

// HeaderIdempotencyKey names the header that makes a POST safe to retry.
const HeaderIdempotencyKey = "Idempotency-Key"

// Idempotent makes a POST with an Idempotency-Key safe to retry: the same
// key with the same request (method, path, body) within 24 hours replays
// the first answer, sealed meanwhile, and changes nothing; another request
// with the key is 409, as is a retry while the first has not answered. A
// 5xx answer is not kept, so a retry runs again. It runs after
// authentication and the scope check; keys are per program.
func (m *Manage) Idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		idemKey := c.Request().Header.Get(HeaderIdempotencyKey)
		if idemKey == "" {
			return next(c)
		}
		if len(idemKey) > managementkeys.MaxIdempotencyKeyLength {
			return invalidField(c, HeaderIdempotencyKey, "The Idempotency-Key header may be at most 255 characters.")
		}
		req := c.Request()
		body, err := io.ReadAll(req.Body)
		if err != nil {
			var tooLarge *echo.HTTPError
			if errors.As(err, &tooLarge) {
				return err
			}
			return apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), "The body could not be read.", nil)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		h := sha256.New()
		// The calling management key is part of the request: another key
		// of the program reusing the value gets 409, never this key's
		// answer (a create's answer holds a secret).
		for _, part := range []string{managementKey(c).Identifier, req.Method, c.Path(), c.Param("identifier"), req.Header.Get(echo.HeaderContentType)} {
			h.Write([]byte(part))
			h.Write([]byte{0})
		}
		h.Write(body)
		requestHash := hex.EncodeToString(h.Sum(nil))

		ctx, programID := req.Context(), managementKey(c).ProgramID
		replay, claim, err := m.mgmt.BeginIdempotent(ctx, programID, idemKey, requestHash)
		switch {
		case errors.Is(err, managementkeys.ErrIdempotencyMismatch):
			return apiError(c, http.StatusConflict, codeConflict, "This Idempotency-Key was used with another request in the last 24 hours. Use a new key for a new request.", nil)
		case errors.Is(err, managementkeys.ErrIdempotencyInProgress):
			return apiError(c, http.StatusConflict, codeConflict, "A request with this Idempotency-Key is still in progress. Retry later.", nil)
		case err != nil:
			return err
		case replay != nil:
			c.Response().Header().Set("Idempotent-Replayed", "true")
			if len(replay.Body) == 0 {
				return c.NoContent(replay.Status)
			}
			return c.JSONBlob(replay.Status, replay.Body)
		}

		rec := &recordingWriter{ResponseWriter: c.Response().Writer}
		c.Response().Writer = rec
		err = next(c)
		c.Response().Writer = rec.ResponseWriter
		status := c.Response().Status
		if err != nil || status >= http.StatusInternalServerError || !c.Response().Committed {
			// No answer to keep: the error handler writes it after us.
			if abandonErr := m.mgmt.AbandonIdempotent(context.WithoutCancel(ctx), claim); abandonErr != nil {
				return errors.Join(err, abandonErr)
			}
			return err
		}
		return m.mgmt.FinishIdempotent(context.WithoutCancel(ctx), claim, status, rec.body.Bytes())
	}
}

// recordingWriter keeps a copy of what the handler writes.
type recordingWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}
