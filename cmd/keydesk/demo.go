package main

import (
	"context"
	"fmt"
	"io"

	"keydesk/models"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
)

// The demo logins are fixed so they can be printed on every start.
var demoAdmins = []struct {
	email, access, module, role string
}{
	{"ana@demo.test", accounts.AccessFull, "", "full-access admin"},
	{"lee@demo.test", accounts.AccessLimited, "", "limited admin (no modules)"},
	{"sam@demo.test", accounts.AccessLimited, accounts.ModuleAuditTrail, "support staff (audit trail)"},
}

const demoPassword = "keydesk-demo-password"

// seedDemo creates the Demo Store program, its admins and a few keys on an
// empty database, then prints the logins.
func seedDemo(store *models.Stores, out io.Writer) error {
	ctx := context.Background()
	programs, err := store.Accounts.AllPrograms(ctx)
	if err != nil {
		return err
	}
	if len(programs) == 0 {
		actor := audit.Actor{Email: "demo-seed", UserAgent: "keydesk-cli"}
		program, err := store.Keys.CreateProgram(ctx, actor, "Demo Store")
		if err != nil {
			return err
		}
		var ana *accounts.Admin
		for _, a := range demoAdmins {
			var modules []string
			if a.module != "" {
				modules = []string{a.module}
			}
			admin, err := store.Accounts.CreateAdmin(ctx, actor, program.ID, a.email, demoPassword, a.access, modules)
			if err != nil {
				return err
			}
			if ana == nil {
				ana = admin
			}
		}
		owner := audit.Actor{AdminID: ana.ID, Email: ana.Email, UserAgent: "keydesk-cli"}
		for _, k := range []keys.KeyInput{
			{Name: "Shopify sync", Description: "Order sync from the store"},
			{Name: "Mobile app", Description: "iOS and Android loyalty screens"},
			{Name: "Legacy ERP", Description: "Nightly points export"},
		} {
			key, err := store.Keys.Generate(ctx, program.ID, owner, k)
			if err != nil {
				return err
			}
			if k.Name == "Legacy ERP" {
				if _, err := store.Keys.SetActive(ctx, program.ID, owner, key.ID, false); err != nil {
					return err
				}
			}
		}
	} else if programs[0].Name != "Demo Store" {
		fmt.Fprintln(out, "--demo: the database already holds programs; no demo data added.")
		return nil
	}
	fmt.Fprintln(out, "Demo logins (password for all: "+demoPassword+"):")
	for _, a := range demoAdmins {
		fmt.Fprintf(out, "  %-16s %s\n", a.email, a.role)
	}
	return nil
}
