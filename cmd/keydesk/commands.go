package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"keydesk/config"
	"keydesk/models"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/keys"
	"keydesk/models/migrations"
	"keydesk/models/outbox"
	"keydesk/web"
)

func newLogger(json bool) *slog.Logger {
	if json {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// openStore reads the configuration (the one call of config.FromEnvironment
// for a command), opens and migrates the database.
func openStore(logger *slog.Logger) (*models.Stores, config.Options, error) {
	cfg, err := config.FromEnvironment()
	if err != nil {
		return nil, cfg, err
	}
	return openConfiguredStore(cfg, outbox.Options{}, logger)
}

// loadMasterKey gives the embedded default its master key: without
// KEYDESK_MASTER_KEY (PostgreSQL refuses to start without it, see
// config.Parse) the key is read from cfg.MasterKeyFile, which is generated
// (mode 0600, with a warning) the first time. Configuration only names the
// file; this is the one place that writes it.
func loadMasterKey(cfg *config.Options, logger *slog.Logger) error {
	if cfg.MasterKey != nil || cfg.MasterKeyFile == "" {
		return nil
	}
	key, err := keys.LoadOrCreateMasterKeyFile(cfg.MasterKeyFile, logger)
	if err != nil {
		return err
	}
	cfg.MasterKey = key
	return nil
}

// openConfiguredStore opens and migrates the database cfg names, with its
// master key (loadMasterKey), and builds the stores with outboxOptions
// (serve's are web.OutboxOptions(cfg); commands that send nothing pass the
// zero value: mail off, no private webhook targets).
func openConfiguredStore(cfg config.Options, outboxOptions outbox.Options, logger *slog.Logger) (*models.Stores, config.Options, error) {
	if err := loadMasterKey(&cfg, logger); err != nil {
		return nil, cfg, err
	}
	db, err := database.Open(cfg.DatabaseURL)
	if err != nil {
		return nil, cfg, err
	}
	migratedFrom, err := migrations.Version(context.Background(), db)
	if err != nil {
		return nil, cfg, err
	}
	applied, err := migrations.Migrate(context.Background(), db)
	if err != nil {
		return nil, cfg, err
	}
	if applied > 0 {
		logger.Info("database migrated", "applied", applied, "schema_version", migrations.SchemaVersion())
	}
	keyring, err := cfg.Keyring()
	if err != nil {
		return nil, cfg, err
	}
	store, err := models.New(db, keyring, database.SystemClock, outboxOptions)
	if err != nil {
		return nil, cfg, err
	}
	// The re-keying marks the migrations just wrote are authenticated under
	// the master key now, before anyone else can add one.
	if n, err := store.Audit.SealRekeyMarks(context.Background(), migratedFrom); err != nil {
		return nil, cfg, err
	} else if n > 0 {
		logger.Info("audit chains awaiting `keydesk audit rekey` sealed under the master key", "chains", n)
	}
	// Authenticator secrets stored plain (before sealing) or under a
	// previous master key are sealed under the current one.
	if n, err := store.Accounts.ResealTOTPSecrets(context.Background()); err != nil {
		return nil, cfg, err
	} else if n > 0 {
		logger.Info("authenticator app secrets sealed under the current master key", "admins", n)
	}
	if n, err := store.Accounts.ResealSSOSecrets(context.Background()); err != nil {
		return nil, cfg, err
	} else if n > 0 {
		logger.Info("single sign-on client secrets sealed under the current master key", "programs", n)
	}
	return store, cfg, nil
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address (default $KEYDESK_ADDR or 127.0.0.1:8080)")
	demo := fs.Bool("demo", false, "seed the Demo Store program and its admins on an empty database, and print their logins")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := newLogger(*logJSON)
	cfg, err := config.FromEnvironment()
	if err != nil {
		return err
	}
	store, cfg, err := openConfiguredStore(cfg, web.OutboxOptions(cfg), logger)
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	if n, err := store.Audit.PendingRekey(context.Background()); err != nil {
		return err
	} else if n > 0 {
		logger.Warn("audit chains still carry the legacy unkeyed SHA-256 hash and fail verification: run `keydesk audit rekey` once", "chains", n)
	}
	if cfg.AuditCheckpointFile == "" {
		logger.Warn("signed audit checkpoints are off (KEYDESK_AUDIT_CHECKPOINT_FILE=off): nothing kept outside the database shows audit events removed from the end of a chain or a chain rewritten")
	} else {
		logger.Info("signed audit checkpoints are appended at start and every 10 minutes", "path", cfg.AuditCheckpointFile)
	}
	// Built before the demo is seeded: a configuration web.New refuses
	// (such as a KEYDESK_BASE_URL that cannot carry passkeys) stops the
	// start before the demo is seeded or anything is served.
	server, err := web.New(cfg, store, logger)
	if err != nil {
		return err
	}
	if *demo {
		if err := seedDemo(store, os.Stdout); err != nil {
			return err
		}
	}
	if err := server.Start(); err != nil {
		return err
	}
	defer server.Close()
	httpServer := &http.Server{
		Addr:              cfg.Addr,
		Handler:           server.Echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	errs := make(chan error, 1)
	go func() { errs <- httpServer.ListenAndServe() }()
	logger.Info("keydesk is serving", "url", "http://"+cfg.Addr, "database", databaseKind(cfg.DatabaseURL))
	fmt.Fprintf(os.Stdout, "keydesk is serving on http://%s\n", cfg.Addr)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errs:
		return err
	case sig := <-stop:
		logger.Info("shutting down", "signal", sig.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(ctx); err != nil {
		return err
	}
	return nil
}

func databaseKind(url string) string {
	if database.IsPostgresURL(url) {
		return "postgres"
	}
	return "sqlite"
}

// migrate applies pending migrations (openStore migrates) and says where
// the schema stands.
func migrate(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("migrate takes no arguments, got %q", args)
	}
	if _, _, err := openStore(newLogger(false)); err != nil {
		return err
	}
	fmt.Printf("database at schema version %d\n", migrations.SchemaVersion())
	return nil
}

func createProgram(args []string) error {
	ctx := context.Background()
	fs := flag.NewFlagSet("programs create", flag.ContinueOnError)
	name := fs.String("name", "", "program name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("--name is required")
	}
	store, _, err := openStore(newLogger(false))
	if err != nil {
		return err
	}
	p, err := store.Keys.CreateProgram(ctx, cliActor(), *name)
	if err != nil {
		return err
	}
	fmt.Println(p.PartnerID)
	return nil
}

func cliActor() audit.Actor {
	return audit.Actor{Email: "cli", UserAgent: "keydesk-cli"}
}

func createUser(args []string, stdin io.Reader) error {
	ctx := context.Background()
	fs := flag.NewFlagSet("users create", flag.ContinueOnError)
	partnerID := fs.String("program", "", "partner ID of the program")
	email := fs.String("email", "", "email address")
	access := fs.String("access", "", "full or limited")
	modules := fs.String("modules", "", "comma-separated modules for limited access (audit_trail)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *partnerID == "" || *email == "" || *access == "" {
		return errors.New("--program, --email and --access are required")
	}
	if !*passwordStdin {
		return errors.New("--password-stdin is required: pass the password on standard input, never as an argument")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	password := strings.TrimRight(line, "\r\n")
	store, _, err := openStore(newLogger(false))
	if err != nil {
		return err
	}
	program, err := store.Accounts.ProgramByPartnerID(ctx, *partnerID)
	if err != nil {
		return fmt.Errorf("program %s: %w", *partnerID, err)
	}
	var mods []string
	if *modules != "" {
		mods = strings.Split(*modules, ",")
	}
	admin, err := store.Accounts.CreateAdmin(ctx, cliActor(), program.ID, *email, password, *access, mods)
	if err != nil {
		return err
	}
	fmt.Printf("admin %s added to %s (%s access)\n", admin.Email, program.Name, *access)
	return nil
}

func verifyAudit(args []string) error {
	ctx := context.Background()
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	partnerID := fs.String("program", "", "verify only this program's chain")
	checkpoints := fs.String("checkpoints", "", "also check the chains against these signed checkpoints (JSON Lines from audit checkpoint or KEYDESK_AUDIT_CHECKPOINT_FILE; default: the server's checkpoint file, when it exists)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, cfg, err := openStore(newLogger(false))
	if err != nil {
		return err
	}
	defer store.Close()
	ids, err := auditProgramIDs(ctx, store, *partnerID)
	if err != nil {
		return err
	}
	checkpointFile := *checkpoints
	if checkpointFile == "" {
		checkpointFile = cfg.AuditCheckpointFile
	}
	heads := map[int64]int64{}
	for _, id := range ids {
		n, brk, err := store.Audit.VerifyChain(ctx, id)
		if err != nil {
			return err
		}
		if brk != nil && brk.AwaitsRekey() {
			// A chain a signed checkpoint shows keyed once is a forgery,
			// whatever its re-keying mark says: never advise re-keying it.
			if err := checkpointsContradict(ctx, store, checkpointFile, id); err != nil {
				return err
			}
		}
		if brk != nil {
			return brk
		}
		heads[id] = n
		fmt.Printf("program %d: %d events verified\n", id, n)
	}
	only := map[int64]bool{}
	for _, id := range ids {
		only[id] = true
	}
	var covered []audit.Checkpoint
	switch {
	case *checkpoints != "":
		if covered, err = verifyCheckpointsFile(ctx, store, *checkpoints, only, os.Stdout); err != nil {
			return err
		}
		if len(covered) == 0 {
			return fmt.Errorf("%s: %w", *checkpoints, errNoCheckpoints)
		}
	case cfg.AuditCheckpointFile == "":
		fmt.Println("warning: signed audit checkpoints are off (KEYDESK_AUDIT_CHECKPOINT_FILE=off): nothing kept outside the database shows events removed from the end of a chain or a chain rewritten")
	default:
		if _, err := os.Stat(cfg.AuditCheckpointFile); errors.Is(err, os.ErrNotExist) {
			fmt.Printf("warning: no checkpoint file at %s yet (the server writes it at start and every 10 minutes)\n", cfg.AuditCheckpointFile)
		} else if covered, err = verifyCheckpointsFile(ctx, store, cfg.AuditCheckpointFile, only, os.Stdout); err != nil {
			return err
		}
	}
	warnUncoveredEvents(os.Stdout, ids, heads, covered)
	fmt.Println("audit trail intact")
	return nil
}
