package client

import (
	"context"
	"net/http"
)

// BearerToken is a request editor that authenticates every call with a
// management key (Authorization: Bearer kdm_…).
func BearerToken(managementKey string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+managementKey)
		return nil
	}
}

// WithIdempotencyKey is a request editor that sets the Idempotency-Key header
// of one POST, making it safe to retry.
func WithIdempotencyKey(key string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Idempotency-Key", key)
		return nil
	}
}
