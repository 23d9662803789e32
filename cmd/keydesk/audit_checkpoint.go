package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"keydesk/models"
	"keydesk/models/audit"
)

// auditProgramIDs resolves --program to its chain, or every chain.
func auditProgramIDs(ctx context.Context, store *models.Stores, partnerID string) ([]int64, error) {
	if partnerID == "" {
		return store.Audit.ChainIDs(ctx)
	}
	p, err := store.Accounts.ProgramByPartnerID(ctx, partnerID)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", partnerID, err)
	}
	return []int64{p.ID}, nil
}

// auditCheckpoint prints one signed checkpoint per chain as JSON Lines:
// keep them outside the database (`keydesk audit verify --checkpoints`).
func auditCheckpoint(args []string, out io.Writer) error {
	ctx := context.Background()
	fs := flag.NewFlagSet("audit checkpoint", flag.ContinueOnError)
	partnerID := fs.String("program", "", "checkpoint only this program's chain")
	if err := fs.Parse(args); err != nil {
		return err
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
	cps, err := store.Audit.Checkpoints(ctx, ids)
	if err != nil {
		return err
	}
	return audit.WriteCheckpoints(out, cps)
}

// auditPublicKey prints the keys that verify checkpoints, current first.
func auditPublicKey(args []string, out io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("audit public-key takes no arguments, got %q", args)
	}
	store, _, err := openStore(newLogger(false))
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := store.Audit.PublicKeys(context.Background())
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, k := range keys {
		if err := enc.Encode(k); err != nil {
			return err
		}
	}
	return nil
}

// auditRekey re-chains the legacy (unkeyed SHA-256) events the keyed-hash
// migration found, once, after upgrading.
func auditRekey(args []string, out io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("audit rekey takes no arguments, got %q", args)
	}
	store, _, err := openStore(newLogger(false))
	if err != nil {
		return err
	}
	defer store.Close()
	rep, err := store.Audit.RekeyLegacy(context.Background())
	fmt.Fprintf(out, "re-keyed %d events in %d audit chains\n", rep.Events, rep.Programs)
	return err
}

// verifyCheckpointsFile checks every checkpoint of file (for the programs
// in ids when only is set) against the database and reports each problem;
// it fails when any was found.
func verifyCheckpointsFile(ctx context.Context, store *models.Stores, path string, only map[int64]bool, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	defer f.Close()
	cps, err := audit.ReadCheckpoints(f)
	if err != nil {
		return fmt.Errorf("checkpoints %s: %w", path, err)
	}
	var problems []error
	checked := 0
	for _, cp := range cps {
		if only != nil && !only[cp.ProgramID] {
			continue
		}
		checked++
		if err := store.Audit.VerifyCheckpoint(ctx, cp); err != nil {
			problems = append(problems, err)
		}
	}
	if checked == 0 {
		return fmt.Errorf("%s: %w", path, errNoCheckpoints)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "keydesk:", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d of %d checkpoints in %s failed: %w", len(problems), checked, path, problems[0])
	}
	fmt.Fprintf(out, "%d checkpoints in %s match the audit trail\n", checked, path)
	return nil
}

var errNoCheckpoints = errors.New("no checkpoint for the chains verified")
