// Command keydesk runs the API key console and its maintenance commands.
package main

import (
	"fmt"
	"os"
)

const usage = `keydesk — the API key console of a loyalty-rewards platform

Usage:
  keydesk serve [--addr 127.0.0.1:8080] [--demo] [--log-json]
  keydesk migrate
  keydesk programs create --name NAME
  keydesk users create --program PARTNER_ID --email EMAIL --access full|limited [--modules audit_trail] --password-stdin
  keydesk users invite --program PARTNER_ID --email EMAIL --access full|limited [--modules audit_trail]
  keydesk audit verify [--program PARTNER_ID] [--checkpoints FILE]
  keydesk audit checkpoint [--program PARTNER_ID]
  keydesk audit export [--program PARTNER_ID] [--since RFC3339]
  keydesk audit public-key
  keydesk audit rekey
  keydesk keys rotate-master

Environment: DATABASE_URL, KEYDESK_ADDR, KEYDESK_MASTER_KEY, KEYDESK_MASTER_KEY_PREVIOUS,
KEYDESK_REAUTH_WINDOW, KEYDESK_SECURE_COOKIES, KEYDESK_AUDIT_CHECKPOINT_FILE (see README.md).
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "serve":
		err = serve(rest)
	case cmd == "migrate":
		err = migrate(rest)
	case cmd == "programs" && len(rest) > 0 && rest[0] == "create":
		err = createProgram(rest[1:])
	case cmd == "users" && len(rest) > 0 && rest[0] == "create":
		err = createUser(rest[1:], os.Stdin)
	case cmd == "users" && len(rest) > 0 && rest[0] == "invite":
		err = inviteUser(rest[1:], os.Stdout)
	case cmd == "audit" && len(rest) > 0 && rest[0] == "verify":
		err = verifyAudit(rest[1:])
	case cmd == "audit" && len(rest) > 0 && rest[0] == "checkpoint":
		err = auditCheckpoint(rest[1:], os.Stdout)
	case cmd == "audit" && len(rest) > 0 && rest[0] == "export":
		err = auditExport(rest[1:], os.Stdout)
	case cmd == "audit" && len(rest) > 0 && rest[0] == "public-key":
		err = auditPublicKey(rest[1:], os.Stdout)
	case cmd == "audit" && len(rest) > 0 && rest[0] == "rekey":
		err = auditRekey(rest[1:], os.Stdout)
	case cmd == "keys" && len(rest) > 0 && rest[0] == "rotate-master":
		err = rotateMaster(rest[1:])
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "keydesk: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keydesk:", err)
		return 1
	}
	return 0
}
