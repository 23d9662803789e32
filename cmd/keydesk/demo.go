package main

import (
	"fmt"
	"io"

	"keydesk/models"
)

// The demo logins are fixed so they can be printed on every start.
var demoAdmins = []struct {
	email, access, module, role string
}{
	{"ana@demo.test", models.AccessFull, "", "full-access admin"},
	{"lee@demo.test", models.AccessLimited, "", "limited admin (no modules)"},
	{"sam@demo.test", models.AccessLimited, models.ModuleAuditTrail, "support staff (audit trail)"},
}

const demoPassword = "keydesk-demo-password"

// seedDemo creates the Demo Store program, its admins and a few keys on an
// empty database, then prints the logins.
func seedDemo(store *models.Store, out io.Writer) error {
	programs, err := store.AllPrograms()
	if err != nil {
		return err
	}
	if len(programs) == 0 {
		actor := models.Actor{Email: "demo-seed", UserAgent: "keydesk-cli"}
		program, err := store.CreateProgram(actor, "Demo Store")
		if err != nil {
			return err
		}
		var ana *models.Admin
		for _, a := range demoAdmins {
			var modules []string
			if a.module != "" {
				modules = []string{a.module}
			}
			admin, err := store.CreateAdmin(actor, program.ID, a.email, demoPassword, a.access, modules)
			if err != nil {
				return err
			}
			if ana == nil {
				ana = admin
			}
		}
		owner := models.Actor{AdminID: ana.ID, Email: ana.Email, UserAgent: "keydesk-cli"}
		for _, k := range []models.KeyInput{
			{Name: "Shopify sync", Description: "Order sync from the store"},
			{Name: "Mobile app", Description: "iOS and Android loyalty screens"},
			{Name: "Legacy ERP", Description: "Nightly points export"},
		} {
			key, err := store.GenerateAPIKey(program.ID, owner, k)
			if err != nil {
				return err
			}
			if k.Name == "Legacy ERP" {
				if _, err := store.SetAPIKeyActive(program.ID, owner, key.ID, false); err != nil {
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
