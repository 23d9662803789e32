package web

import "context"

// FlushUsage writes the per-key usage counted in memory now, as the
// background loop does every interval (tests, benchmarks).
func (s *Server) FlushUsage(ctx context.Context) error { return s.api.counts.Flush(ctx) }
