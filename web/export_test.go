package web

import "context"

// Housekeep runs one round of the server's housekeeping, for tests that
// cannot wait for its ten-minute tick.
func (s *Server) Housekeep(ctx context.Context) { s.housekeep(ctx) }
