package web

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"keydesk/models/audit"
)

// auditCheckpointWriter appends signed audit checkpoints to a file kept
// outside the database (KEYDESK_AUDIT_CHECKPOINT_FILE).
type auditCheckpointWriter struct {
	path     string
	interval time.Duration
}

// writeAuditCheckpoints appends one checkpoint per chain at start, then
// every interval, until ctx ends. A failed write is logged and retried at
// the next tick.
func (s *Server) writeAuditCheckpoints(ctx context.Context) {
	w := s.auditCheckpoints
	interval := w.interval
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	write := func() {
		if err := s.appendAuditCheckpoints(ctx); err != nil && ctx.Err() == nil {
			s.logger.Error("audit checkpoint not written; retrying at the next tick", "path", w.path, "error", err.Error())
		}
	}
	write()
	every(ctx, interval, write)
}

// appendAuditCheckpoints signs every chain's head and appends the lines to
// the file in one write, synced to disk.
func (s *Server) appendAuditCheckpoints(ctx context.Context) error {
	cps, err := s.Stores.Audit.Checkpoints(ctx, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.auditCheckpoints.path), 0o700); err != nil {
		return fmt.Errorf("create the checkpoint file's directory: %w", err)
	}
	f, err := os.OpenFile(s.auditCheckpoints.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open checkpoint file: %w", err)
	}
	var buf bytes.Buffer
	if err := audit.WriteCheckpoints(&buf, cps); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("append checkpoints: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync checkpoint file: %w", err)
	}
	return f.Close()
}
