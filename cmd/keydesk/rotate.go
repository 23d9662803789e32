package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"keydesk/config"
	"keydesk/models/keys"
	"keydesk/models/outbox"
)

// rotateMaster re-seals every API key under KEYDESK_MASTER_KEY, opening the
// old seals with KEYDESK_MASTER_KEY_PREVIOUS. It is safe to interrupt and to
// run again: committed batches stay re-sealed, the rest keep their old seal.
func rotateMaster(args []string) error {
	return runRotateMaster(args, os.Stdout)
}

func runRotateMaster(args []string, out io.Writer) error {
	ctx := context.Background()
	fs := flag.NewFlagSet("keys rotate-master", flag.ContinueOnError)
	batch := fs.Int("batch-size", keys.DefaultRotationBatch, "keys re-sealed per transaction")
	maxKeys := fs.Int("max-keys", 0, "stop after re-sealing this many keys (0: all); run again to continue")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *batch <= 0 || *maxKeys < 0 {
		return errors.New("--batch-size must be positive and --max-keys at least 0")
	}
	cfg, err := config.FromEnvironment()
	if errors.Is(err, config.ErrNoMasterKey) || err == nil && cfg.MasterKey == nil {
		return errors.New("KEYDESK_MASTER_KEY must name the new master key, and KEYDESK_MASTER_KEY_PREVIOUS the one the keys are sealed with now")
	}
	if err != nil {
		return err
	}
	store, cfg, err := openConfiguredStore(cfg, outbox.Options{}, newLogger(false))
	if err != nil {
		return err
	}
	if cfg.PreviousKey == nil {
		fmt.Fprintln(os.Stderr, "keydesk: KEYDESK_MASTER_KEY_PREVIOUS is not set: only keys already under the current master key can be accounted for")
	}
	report, err := store.Keys.RotateMasterKey(ctx, cliActor(), keys.RotationOptions{BatchSize: *batch, MaxKeys: *maxKeys})
	fmt.Fprintf(out, "re-sealed %d API keys of %d programs in %d transactions; %d keys under the current master key, %d still under an older one\n",
		report.Resealed, report.Programs, report.Batches, report.Current, report.Pending)
	if errors.Is(err, keys.ErrRotationStopped) && *maxKeys > 0 {
		fmt.Fprintf(out, "stopped after %d keys as --max-keys asked: run keys rotate-master again to continue\n", report.Resealed)
		return nil
	}
	if err != nil {
		return err
	}
	if report.Pending > 0 {
		return fmt.Errorf("%d API keys are still sealed under an older master key: run keys rotate-master again", report.Pending)
	}
	fmt.Fprintf(out, "webhooks: %d signing secrets and invitation tokens re-sealed\n", report.WebhookSecrets)
	fmt.Fprintf(out, "audit trail: earlier chain keys wrapped under the new master key, %d chains anchored under it\n", report.AnchoredChains)
	fmt.Fprintln(out, "master-key rotation complete: KEYDESK_MASTER_KEY_PREVIOUS may now be removed; checkpoints are now signed with a new key (keydesk audit public-key)")
	return nil
}
