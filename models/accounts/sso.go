package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/outbox"
)

// Errors of single sign-on.
var (
	// ErrSSONotConfigured: no program has set up single sign-on for the
	// email's domain.
	ErrSSONotConfigured = errors.New("single sign-on is not set up for this email domain")
	// ErrSSONoAccess: the identity provider vouched for an email that is
	// neither an admin nor invited in the program.
	ErrSSONoAccess = errors.New("this account has no access to the program")
	// ErrSSODomain: the verified email's domain is not one the program
	// allows.
	ErrSSODomain = errors.New("the email's domain is not allowed for this program's single sign-on")
)

// Limits of the single sign-on form.
const (
	maxIssuerURLLength     = 500
	maxClientIDLength      = 255
	maxClientSecretLength  = 1000
	maxAllowedDomains      = 20
	maxDomainLength        = 253
	unusablePasswordTokens = 3
)

// SSOConfig is a program's single sign-on (OIDC) set-up. ClientSecret is
// the opened secret: it never leaves the server (the form shows whether
// one is set, never it).
type SSOConfig struct {
	ProgramID         int64
	IssuerURL         string
	ClientID          string
	ClientSecret      string
	AllowedDomains    []string
	RequireSSO        bool
	BreakGlassAdminID int64
	SCIMTokenAt       *time.Time
}

// Configured reports whether the program can sign admins in with its
// identity provider.
func (c SSOConfig) Configured() bool {
	return c.IssuerURL != "" && c.ClientID != "" && c.ClientSecret != "" && len(c.AllowedDomains) > 0
}

// AllowsDomain reports whether email's domain is one of the allowed ones.
func (c SSOConfig) AllowsDomain(email string) bool {
	return slices.Contains(c.AllowedDomains, emailDomain(email))
}

// ssoRow is single_sign_on as stored.
type ssoRow struct {
	ProgramID          int64 `gorm:"primaryKey;autoIncrement:false"`
	IssuerURL          string
	ClientID           string
	ClientSecret       string
	AllowedDomains     string
	RequireSSO         bool `gorm:"column:require_sso"`
	BreakGlassAdminID  int64
	ScimTokenDigest    *string `gorm:"column:scim_token_digest"`
	ScimTokenCreatedAt *time.Time
	UpdatedAt          time.Time
}

func (ssoRow) TableName() string { return "single_sign_on" }

func ssoSecretAAD(programID int64) string {
	return "keydesk single_sign_on.client_secret " + strconv.FormatInt(programID, 10)
}

func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(email[at+1:])
}

// domainPattern is a DNS name of letters, digits and hyphens, with at
// least one dot (no wildcard, no IP address).
var domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (s *Store) openSSO(r ssoRow) (*SSOConfig, error) {
	c := &SSOConfig{ProgramID: r.ProgramID, IssuerURL: r.IssuerURL, ClientID: r.ClientID, RequireSSO: r.RequireSSO,
		BreakGlassAdminID: r.BreakGlassAdminID, SCIMTokenAt: r.ScimTokenCreatedAt}
	if r.AllowedDomains != "" {
		c.AllowedDomains = strings.Split(r.AllowedDomains, ",")
	}
	if r.ClientSecret != "" {
		plain, err := s.sealer.Open(r.ClientSecret, ssoSecretAAD(r.ProgramID))
		if err != nil {
			return nil, fmt.Errorf("accounts: unable to open the single sign-on client secret: %w", err)
		}
		c.ClientSecret = plain
	}
	return c, nil
}

// SSOConfig returns a program's single sign-on set-up; a program that has
// none gets an empty one.
func (s *Store) SSOConfig(ctx context.Context, programID int64) (*SSOConfig, error) {
	var r ssoRow
	err := s.db.WithContext(ctx).Where("program_id = ?", programID).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return &SSOConfig{ProgramID: programID}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to load single sign-on: %w", err)
	}
	return s.openSSO(r)
}

// SSOInput is the single sign-on form. An empty ClientSecret keeps the
// stored one. Issuer, client ID and domains all empty turn single sign-on
// off.
type SSOInput struct {
	IssuerURL         string
	ClientID          string
	ClientSecret      string
	AllowedDomains    string
	RequireSSO        bool
	BreakGlassAdminID int64
}

// parseDomains reads the allowed domains: one per line or separated by
// commas or spaces, lowercased, without duplicates.
func parseDomains(text string) ([]string, string) {
	fields := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	var out []string
	for _, f := range fields {
		f = strings.TrimPrefix(strings.TrimSuffix(f, "."), "@")
		if len(f) > maxDomainLength || !domainPattern.MatchString(f) {
			return nil, fmt.Sprintf("%q is not a domain name (write example.com, one per line).", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) > maxAllowedDomains {
		return nil, fmt.Sprintf("At most %d domains.", maxAllowedDomains)
	}
	return out, ""
}

// checkIssuer validates the Issuer URL: https (http only where private
// targets are allowed, for a provider on this machine), no query or
// fragment, and, unless allowPrivate, a host that resolves to public
// addresses only (the fetches are guarded again on every dial).
func checkIssuer(ctx context.Context, raw string, allowPrivate bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || len(raw) > maxIssuerURLLength || !input.Printable(raw) {
		return "Enter the issuer's URL, such as https://login.example.com (no query or fragment)."
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !allowPrivate) {
		return "The issuer URL must start with https://."
	}
	if allowPrivate {
		return ""
	}
	if problem := outbox.TargetProblem(ctx, net.DefaultResolver, raw); problem != "" {
		return problem
	}
	return ""
}

// SaveSSOConfig validates and stores a program's single sign-on set-up,
// audited in the same transaction (never the secret: only whether it
// changed). Require single sign-on needs a complete set-up and a
// break-glass admin with full access to the program. An allowed domain
// another program already claims is refused: the domain finds the program
// at sign-in. step, when not nil, runs first in the transaction (the
// re-authentication grant it spends).
func (s *Store) SaveSSOConfig(ctx context.Context, step database.TxStep, actor audit.Actor, programID int64, in SSOInput, allowPrivate bool) error {
	in.IssuerURL = strings.TrimSuffix(strings.TrimSpace(in.IssuerURL), "/")
	in.ClientID = strings.TrimSpace(in.ClientID)
	verr := input.ValidationError{}
	domains, problem := parseDomains(in.AllowedDomains)
	if problem != "" {
		verr["allowed_domains"] = problem
	}
	off := in.IssuerURL == "" && in.ClientID == "" && len(domains) == 0 && in.ClientSecret == ""
	if !off {
		if p := checkIssuer(ctx, in.IssuerURL, allowPrivate); p != "" {
			verr["issuer_url"] = p
		}
		if in.ClientID == "" || len(in.ClientID) > maxClientIDLength || !input.Printable(in.ClientID) {
			verr["client_id"] = fmt.Sprintf("Enter the client ID your identity provider gave keydesk (up to %d characters).", maxClientIDLength)
		}
		if len(in.ClientSecret) > maxClientSecretLength || !input.Printable(in.ClientSecret) {
			verr["client_secret"] = fmt.Sprintf("The client secret is up to %d characters.", maxClientSecretLength)
		}
		if len(domains) == 0 && verr["allowed_domains"] == "" {
			verr["allowed_domains"] = "Name at least one email domain whose admins sign in here, such as example.com."
		}
	}
	if off && in.RequireSSO {
		verr["require_sso"] = "Set up single sign-on before requiring it."
	}
	if len(verr) > 0 {
		return verr
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if step != nil {
			if err := step(tx); err != nil {
				return err
			}
		}
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		var old ssoRow
		err := tx.Where("program_id = ?", programID).Take(&old).Error
		exists := err == nil
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		sealed := old.ClientSecret
		if in.ClientSecret != "" {
			sealed = s.sealer.Seal(in.ClientSecret, ssoSecretAAD(programID))
		}
		if off {
			sealed = ""
		}
		if !off && sealed == "" {
			return input.ValidationError{"client_secret": "Enter the client secret your identity provider gave keydesk."}
		}
		for _, d := range domains {
			var n int64
			if err := tx.Raw(`SELECT COUNT(*) FROM single_sign_on WHERE program_id <> ? AND (',' || allowed_domains || ',') LIKE ?`, programID, "%,"+d+",%").Scan(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return input.ValidationError{"allowed_domains": fmt.Sprintf("%s is already used for single sign-on by another program.", d)}
			}
		}
		breakGlass := int64(0)
		if in.RequireSSO {
			m, err := s.membershipOf(tx, programID, in.BreakGlassAdminID)
			if err != nil || !m.IsFull() {
				return input.ValidationError{"break_glass_admin": "Choose a full-access admin who can still sign in with a password if the identity provider fails."}
			}
			breakGlass = in.BreakGlassAdminID
		}
		row := ssoRow{ProgramID: programID, IssuerURL: in.IssuerURL, ClientID: in.ClientID, ClientSecret: sealed,
			AllowedDomains: strings.Join(domains, ","), RequireSSO: in.RequireSSO, BreakGlassAdminID: breakGlass,
			ScimTokenDigest: old.ScimTokenDigest, ScimTokenCreatedAt: old.ScimTokenCreatedAt, UpdatedAt: s.now()}
		if exists {
			err = tx.Exec(`UPDATE single_sign_on SET issuer_url = ?, client_id = ?, client_secret = ?, allowed_domains = ?, require_sso = ?, break_glass_admin_id = ?, updated_at = ? WHERE program_id = ?`,
				row.IssuerURL, row.ClientID, row.ClientSecret, row.AllowedDomains, row.RequireSSO, row.BreakGlassAdminID, row.UpdatedAt, programID).Error
		} else {
			err = tx.Create(&row).Error
		}
		if err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionSSOChanged, TargetType: audit.TargetProgram, TargetID: fmt.Sprint(programID),
			Details: map[string]any{
				"before":                map[string]any{"issuer_url": old.IssuerURL, "client_id": old.ClientID, "allowed_domains": old.AllowedDomains, "require_sso": old.RequireSSO, "break_glass_admin_id": old.BreakGlassAdminID},
				"after":                 map[string]any{"issuer_url": row.IssuerURL, "client_id": row.ClientID, "allowed_domains": row.AllowedDomains, "require_sso": row.RequireSSO, "break_glass_admin_id": row.BreakGlassAdminID},
				"client_secret_changed": row.ClientSecret != old.ClientSecret,
			},
		})
	})
	var v input.ValidationError
	if errors.As(err, &v) || errors.Is(err, ErrReauthGrantSpent) {
		return err
	}
	if err != nil {
		return fmt.Errorf("accounts: unable to save single sign-on: %w", err)
	}
	return nil
}

func (s *Store) membershipOf(tx *gorm.DB, programID, adminID int64) (*Membership, error) {
	var m Membership
	err := tx.Where("program_id = ? AND admin_id = ?", programID, adminID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	return &m, err
}

// SSOConfigForEmail finds the program whose single sign-on allows the
// email's domain. The typed email only finds the program: who signs in is
// decided by the identity provider's verified email.
func (s *Store) SSOConfigForEmail(ctx context.Context, email string) (*SSOConfig, error) {
	domain := emailDomain(input.NormalizeEmail(email))
	if !domainPattern.MatchString(domain) {
		return nil, ErrSSONotConfigured
	}
	var rows []ssoRow
	err := s.db.WithContext(ctx).Raw(`SELECT * FROM single_sign_on WHERE (',' || allowed_domains || ',') LIKE ? AND issuer_url <> '' ORDER BY program_id`, "%,"+domain+",%").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to find single sign-on: %w", err)
	}
	for _, r := range rows {
		c, err := s.openSSO(r)
		if err != nil {
			return nil, err
		}
		if c.Configured() && c.AllowsDomain(email) {
			return c, nil
		}
	}
	return nil, ErrSSONotConfigured
}

// unusablePasswordHash is the password of an account that single sign-on
// or SCIM created: a random one nobody knows, so the password sign-in of
// that account fails as any wrong password does.
func unusablePasswordHash() (string, error) {
	var b strings.Builder
	for range unusablePasswordTokens {
		b.WriteString(rand.Text())
	}
	return argon2id.CreateHash(b.String(), passwordParams)
}

// SSOSignIn lets the admin of email into programID after its identity
// provider verified that email: an admin of the program gets in; a
// pending invitation of the program for that email is accepted (the
// account created when there is none, with no usable password), audited
// as the invitation's acceptance. Anyone else is ErrSSONoAccess. The
// caller audits the sign-in (or the refusal).
func (s *Store) SSOSignIn(ctx context.Context, actor audit.Actor, programID int64, email string) (*Admin, error) {
	email = input.NormalizeEmail(email)
	if !validEmail(email) {
		return nil, ErrSSONoAccess
	}
	db := s.db.WithContext(ctx)
	var admin Admin
	err := db.Raw(`SELECT a.* FROM admins a JOIN memberships m ON m.admin_id = a.id WHERE a.email = ? AND m.program_id = ?`, email, programID).Scan(&admin).Error
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to look up the admin: %w", err)
	}
	if admin.ID != 0 {
		return &admin, nil
	}
	var inv Invitation
	err = db.Where("program_id = ? AND email = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?", programID, email, s.now()).
		Order("created_at DESC, id DESC").Take(&inv).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrSSONoAccess
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to look up the invitation: %w", err)
	}
	hash, err := unusablePasswordHash()
	if err != nil {
		return nil, err
	}
	var out *Admin
	err = db.Transaction(func(tx *gorm.DB) error {
		now := s.now()
		res := tx.Exec(`UPDATE invitations SET accepted_at = ? WHERE id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?`, now, inv.ID, now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrSSONoAccess
		}
		a, created, err := s.accountFor(tx, email, hash)
		if err != nil {
			return err
		}
		m := Membership{ProgramID: programID, AdminID: a.ID, Access: inv.Access, Modules: inv.Modules, CreatedAt: now}
		if err := tx.Create(&m).Error; err != nil {
			return err
		}
		actor.AdminID, actor.Email = a.ID, a.Email
		out = a
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionAdminInvitationAccepted, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(a.ID), TargetName: a.Email,
			Details: map[string]any{"invitation_id": inv.ID, "access": inv.Access, "modules": inv.ModuleList(), "new_account": created, "method": "sso"},
		})
	})
	if errors.Is(err, ErrSSONoAccess) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to accept the invitation by single sign-on: %w", err)
	}
	return out, nil
}

// accountFor returns the account of email, creating it with hash as its
// password when there is none.
func (s *Store) accountFor(tx *gorm.DB, email, hash string) (*Admin, bool, error) {
	var a Admin
	err := tx.Where("email = ?", email).Take(&a).Error
	if err == nil {
		return &a, false, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, false, err
	}
	a = Admin{Email: email, PasswordHash: hash, CreatedAt: s.now()}
	if err := tx.Create(&a).Error; err != nil {
		return nil, false, err
	}
	return &a, true, nil
}

// RecordSSOFailure audits a refused single sign-on in the program whose
// identity provider was asked (reason says why; email is the verified one
// when the token got that far).
func (s *Store) RecordSSOFailure(ctx context.Context, programID int64, actor audit.Actor, email, reason string) error {
	actor.Email = email
	return s.audit.Record(ctx, programID, actor, audit.Entry{
		Action: audit.ActionSSOSignInFailed, Outcome: audit.OutcomeFailure, TargetType: audit.TargetAdmin, TargetName: email,
		Details: map[string]any{"reason": reason},
	})
}

// RecordSSOReauth audits an identity-provider step-up: succeeded, or
// failed with a reason.
func (s *Store) RecordSSOReauth(ctx context.Context, programID int64, actor audit.Actor, reason string) error {
	entry := audit.Entry{Action: audit.ActionReauthSucceeded, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(actor.AdminID), TargetName: actor.Email,
		Details: map[string]any{"method": "sso"}}
	if reason != "" {
		entry.Action, entry.Outcome = audit.ActionReauthFailed, audit.OutcomeFailure
		entry.Details = map[string]any{"method": "sso", "reason": reason}
	}
	return s.audit.Record(ctx, programID, actor, entry)
}

// PasswordSignInAllowed reports whether a password (or passkey) sign-in
// may act on the program of m: always, unless the program requires
// single sign-on and the admin is not its break-glass full-access admin.
func PasswordSignInAllowed(m MembershipWithProgram) bool {
	p := m.Program
	return !p.RequireSSO || (p.SSOBreakGlassAdminID == m.Membership.AdminID && m.Membership.IsFull())
}

// ResealSSOSecrets re-seals the client secrets sealed under a previous
// master key, each row only if it did not change meanwhile. It returns
// how many rows it rewrote; running it again rewrites none.
func (s *Store) ResealSSOSecrets(ctx context.Context) (int, error) {
	var rows []struct {
		ProgramID    int64
		ClientSecret string
	}
	db := s.db.WithContext(ctx)
	if err := db.Raw(`SELECT program_id, client_secret FROM single_sign_on WHERE client_secret <> ''`).Scan(&rows).Error; err != nil {
		return 0, fmt.Errorf("accounts: unable to list single sign-on secrets: %w", err)
	}
	n := 0
	for _, r := range rows {
		if s.sealer.Current(r.ClientSecret) {
			continue
		}
		plain, err := s.sealer.Open(r.ClientSecret, ssoSecretAAD(r.ProgramID))
		if err != nil {
			return n, fmt.Errorf("accounts: unable to open the single sign-on secret of program %d: %w", r.ProgramID, err)
		}
		res := db.Exec(`UPDATE single_sign_on SET client_secret = ? WHERE program_id = ? AND client_secret = ?`, s.sealer.Seal(plain, ssoSecretAAD(r.ProgramID)), r.ProgramID, r.ClientSecret)
		if res.Error != nil {
			return n, fmt.Errorf("accounts: unable to re-seal a single sign-on secret: %w", res.Error)
		}
		n += int(res.RowsAffected)
	}
	return n, nil
}
