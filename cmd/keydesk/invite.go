package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"keydesk/routes"
)

// inviteUser creates an invitation to a program and prints its one-time
// link (KEYDESK_BASE_URL, default http://127.0.0.1:8080, starts it).
func inviteUser(args []string, out io.Writer) error {
	ctx := context.Background()
	fs := flag.NewFlagSet("users invite", flag.ContinueOnError)
	partnerID := fs.String("program", "", "partner ID of the program")
	email := fs.String("email", "", "email address")
	access := fs.String("access", "", "full or limited")
	modules := fs.String("modules", "", "comma-separated modules for limited access (audit_trail)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *partnerID == "" || *email == "" || *access == "" {
		return errors.New("--program, --email and --access are required")
	}
	store, cfg, err := openStore(newLogger(false))
	if err != nil {
		return err
	}
	defer store.Close()
	program, err := store.Accounts.ProgramByPartnerID(ctx, *partnerID)
	if err != nil {
		return fmt.Errorf("program %s: %w", *partnerID, err)
	}
	var mods []string
	if *modules != "" {
		mods = strings.Split(*modules, ",")
	}
	inv, token, err := store.Accounts.Invite(ctx, cliActor(), program.ID, *email, *access, mods)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s%s\n", cfg.PublicURL(), routes.Invite(token))
	if err == nil {
		_, err = fmt.Fprintf(out, "invitation for %s to %s (%s access), valid until %s\n", inv.Email, program.Name, *access, inv.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return err
}
