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
	signed := map[int64]bool{}
	for _, cp := range cps {
		signed[cp.ProgramID] = true
	}
	for _, id := range ids {
		if !signed[id] {
			fmt.Fprintf(os.Stderr, "keydesk: the audit chain of program %d awaits `keydesk audit rekey` and is not checkpointed until then\n", id)
		}
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
// migration found, once, after upgrading. Every checkpoint of the file
// (--checkpoints, by default the server's checkpoint file when it exists)
// must still match a chain for it to be re-keyed.
func auditRekey(args []string, out io.Writer) error {
	ctx := context.Background()
	fs := flag.NewFlagSet("audit rekey", flag.ContinueOnError)
	checkpoints := fs.String("checkpoints", "", "refuse chains these signed checkpoints contradict (default: the server's checkpoint file, when it exists)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit rekey takes no arguments, got %q", fs.Args())
	}
	store, cfg, err := openStore(newLogger(false))
	if err != nil {
		return err
	}
	defer store.Close()
	path := *checkpoints
	if path == "" {
		if _, err := os.Stat(cfg.AuditCheckpointFile); cfg.AuditCheckpointFile != "" && err == nil {
			path = cfg.AuditCheckpointFile
		}
	}
	var against []audit.Checkpoint
	if path != "" {
		if against, err = readCheckpointsFile(path); err != nil {
			return err
		}
	}
	rep, err := store.Audit.RekeyLegacy(ctx, cliActor(), against)
	fmt.Fprintf(out, "re-keyed %d events in %d audit chains\n", rep.Events, rep.Programs)
	return err
}

func readCheckpointsFile(path string) ([]audit.Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	defer f.Close()
	cps, err := audit.ReadCheckpoints(f)
	if err != nil {
		return nil, fmt.Errorf("checkpoints %s: %w", path, err)
	}
	return cps, nil
}

// verifyCheckpointsFile checks every checkpoint of file for the chains in
// only against the database and reports each problem; it fails when any
// was found, and returns the checkpoints checked.
func verifyCheckpointsFile(ctx context.Context, store *models.Stores, path string, only map[int64]bool, out io.Writer) ([]audit.Checkpoint, error) {
	cps, err := readCheckpointsFile(path)
	if err != nil {
		return nil, err
	}
	var problems []error
	var checked []audit.Checkpoint
	for _, cp := range cps {
		if !only[cp.ProgramID] {
			continue
		}
		checked = append(checked, cp)
		if err := store.Audit.VerifyCheckpoint(ctx, cp); err != nil {
			problems = append(problems, err)
		}
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "keydesk:", p)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%d of %d checkpoints in %s failed: %w", len(problems), len(checked), path, problems[0])
	}
	if len(checked) > 0 {
		fmt.Fprintf(out, "%d checkpoints in %s match the audit trail\n", len(checked), path)
	}
	return checked, nil
}

var errNoCheckpoints = errors.New("no checkpoint for the chains verified")

// checkpointsContradict returns the first checkpoint of a program's chain
// in path (when that file exists) that the chain no longer matches.
func checkpointsContradict(ctx context.Context, store *models.Stores, path string, programID int64) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	cps, err := readCheckpointsFile(path)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		if cp.ProgramID != programID {
			continue
		}
		if err := store.Audit.VerifyCheckpoint(ctx, cp); err != nil {
			return fmt.Errorf("audit chain of program %d awaits re-keying by its mark, but a signed checkpoint shows it keyed once and since rewritten or cut (do not run audit rekey): %w", programID, err)
		}
	}
	return nil
}

// warnUncoveredEvents says, for each chain verified, when no checkpoint
// covers its newest events: those are protected by the keyed hash alone,
// which does not show events removed from the end of a chain.
func warnUncoveredEvents(out io.Writer, ids []int64, heads map[int64]int64, covered []audit.Checkpoint) {
	newest := map[int64]int64{}
	for _, cp := range covered {
		newest[cp.ProgramID] = max(newest[cp.ProgramID], cp.Seq)
	}
	for _, id := range ids {
		if heads[id] > newest[id] {
			fmt.Fprintf(out, "warning: no checkpoint covers events after seq %d of program %d (its chain is at seq %d)\n", newest[id], id, heads[id])
		}
	}
}
