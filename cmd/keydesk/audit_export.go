package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"keydesk/models/audit"
	"keydesk/models/database"
)

// auditExport writes every chain's events (or one program's) as JSON Lines
// in chain order, each line with its chain fields so a SIEM can verify it.
// It streams in batches: memory stays constant whatever the trail's size.
// Like audit verify, it is an operator's read and is not itself audited.
func auditExport(args []string, out io.Writer) error {
	ctx := context.Background()
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	partnerID := fs.String("program", "", "export only this program's events (its partner ID)")
	since := fs.String("since", "", "export only events at or after this time (RFC 3339, e.g. 2026-01-02T15:04:05Z)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f := audit.Filter{Period: audit.PeriodAll}
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			return fmt.Errorf("--since: give a time as RFC 3339, e.g. 2026-01-02T15:04:05Z: %w", err)
		}
		f.Since = t.UTC()
	}
	store, _, err := openStore(newLogger(false))
	if err != nil {
		return err
	}
	defer store.Close()
	ids, err := auditProgramIDs(ctx, store, *partnerID)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 64<<10)
	for _, id := range ids {
		partner := ""
		if id != audit.SystemProgramID {
			p, err := store.Accounts.ProgramByID(ctx, id)
			switch {
			case err == nil:
				partner = p.PartnerID
			case !errors.Is(err, database.ErrNotFound):
				return err
			}
		}
		if _, err := store.Audit.WriteJSONL(ctx, w, id, partner, f); err != nil {
			return err
		}
	}
	return w.Flush()
}
