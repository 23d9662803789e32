package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
)

// SCIMTokenPrefix starts every SCIM token, so a scanner (and a person)
// can tell what leaked.
const SCIMTokenPrefix = "kdscim_"

// Errors of SCIM provisioning.
var (
	ErrSCIMUnauthorized = errors.New("unknown SCIM token")
	// ErrSCIMUserExists: the userName is already an admin (or a
	// deprovisioned one) of the program.
	ErrSCIMUserExists = errors.New("an admin with this userName already exists in this program")
)

// SCIMActor is the audit actor of provisioning: the identity provider's
// SCIM client, no admin.
const SCIMActor = "scim"

// SCIMUser is one admin of a program as SCIM sees it: an admin with a
// membership (active) or one SCIM deprovisioned (inactive, no membership).
type SCIMUser struct {
	AdminID   int64
	Email     string
	Active    bool
	CreatedAt time.Time
}

// CreateSCIMToken makes the program's SCIM token, replacing any earlier
// one (which stops working at once), and returns it: this once, the table
// keeps its SHA-256 digest only. step, when not nil, runs first in the
// transaction (the re-authentication grant it spends).
func (s *Store) CreateSCIMToken(ctx context.Context, step database.TxStep, actor audit.Actor, programID int64) (string, error) {
	token := SCIMTokenPrefix + rand.Text() + rand.Text()
	digest := grantDigest(token)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if step != nil {
			if err := step(tx); err != nil {
				return err
			}
		}
		now := s.now()
		res := tx.Exec(`UPDATE single_sign_on SET scim_token_digest = ?, scim_token_created_at = ?, updated_at = ? WHERE program_id = ?`, digest, now, now, programID)
		if res.Error != nil {
			return res.Error
		}
		replaced := res.RowsAffected > 0
		if !replaced {
			if err := tx.Create(&ssoRow{ProgramID: programID, ScimTokenDigest: &digest, ScimTokenCreatedAt: &now, UpdatedAt: now}).Error; err != nil {
				return err
			}
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionSCIMTokenCreated, TargetType: audit.TargetProgram, TargetID: fmt.Sprint(programID),
		})
	})
	if errors.Is(err, ErrReauthGrantSpent) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("accounts: unable to create the SCIM token: %w", err)
	}
	return token, nil
}

// ProgramBySCIMToken finds the program a SCIM token belongs to, by its
// digest; anything else is ErrSCIMUnauthorized.
func (s *Store) ProgramBySCIMToken(ctx context.Context, token string) (int64, error) {
	if len(token) < len(SCIMTokenPrefix)+10 || len(token) > 128 || token[:len(SCIMTokenPrefix)] != SCIMTokenPrefix {
		return 0, ErrSCIMUnauthorized
	}
	var ids []int64
	if err := s.db.WithContext(ctx).Raw(`SELECT program_id FROM single_sign_on WHERE scim_token_digest = ?`, grantDigest(token)).Scan(&ids).Error; err != nil {
		return 0, fmt.Errorf("accounts: unable to look up the SCIM token: %w", err)
	}
	if len(ids) != 1 {
		return 0, ErrSCIMUnauthorized
	}
	return ids[0], nil
}

// scimUsersQuery lists a program's SCIM users: its admins, then the ones
// SCIM deprovisioned (unless the console has since added them back), each
// with its admin id.
const scimUsersQuery = `SELECT * FROM (
	SELECT a.id AS admin_id, a.email AS email, 1 AS active, m.created_at AS created_at FROM memberships m JOIN admins a ON a.id = m.admin_id WHERE m.program_id = ?
	UNION ALL
	SELECT a.id AS admin_id, a.email AS email, 0 AS active, d.created_at AS created_at FROM scim_deprovisioned d JOIN admins a ON a.id = d.admin_id WHERE d.program_id = ?
		AND NOT EXISTS (SELECT 1 FROM memberships m2 WHERE m2.program_id = d.program_id AND m2.admin_id = d.admin_id)
) u`

type scimRow struct {
	AdminID   int64
	Email     string
	Active    int
	CreatedAt time.Time
}

func (r scimRow) user() SCIMUser {
	return SCIMUser{AdminID: r.AdminID, Email: r.Email, Active: r.Active == 1, CreatedAt: r.CreatedAt}
}

// SCIMUsers lists the program's SCIM users in admin id order, those whose
// userName is userName when it is not empty (RFC 7644's filter
// userName eq "…", case-insensitive as emails are here).
func (s *Store) SCIMUsers(ctx context.Context, programID int64, userName string) ([]SCIMUser, error) {
	q, args := scimUsersQuery, []any{programID, programID}
	if userName != "" {
		q += ` WHERE u.email = ?`
		args = append(args, input.NormalizeEmail(userName))
	}
	var rows []scimRow
	if err := s.db.WithContext(ctx).Raw(q+` ORDER BY u.admin_id`, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("accounts: unable to list SCIM users: %w", err)
	}
	out := make([]SCIMUser, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out, nil
}

func scimUser(tx *gorm.DB, programID, adminID int64) (*SCIMUser, error) {
	var rows []scimRow
	if err := tx.Raw(scimUsersQuery+` WHERE u.admin_id = ?`, programID, programID, adminID).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, database.ErrNotFound
	}
	u := rows[0].user()
	return &u, nil
}

// SCIMUser returns one SCIM user of the program; an admin of another
// program (or none) is database.ErrNotFound.
func (s *Store) SCIMUser(ctx context.Context, programID, adminID int64) (*SCIMUser, error) {
	u, err := scimUser(s.db.WithContext(ctx), programID, adminID)
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return nil, fmt.Errorf("accounts: unable to load the SCIM user: %w", err)
	}
	return u, err
}

func scimActor(actor audit.Actor) audit.Actor {
	actor.AdminID, actor.Email = 0, SCIMActor
	return actor
}

// ProvisionAdmin adds the admin of email to the program for SCIM: limited
// access with no modules until a full-access admin changes it. An account
// that does not exist yet is created without a usable password (it signs
// in by single sign-on). A userName already in the program is
// ErrSCIMUserExists. active false provisions the user deprovisioned.
// Audited as admin.provisioned (or admin.deprovisioned) in the same
// transaction, with SCIM as the actor.
func (s *Store) ProvisionAdmin(ctx context.Context, actor audit.Actor, programID int64, email string, active bool) (*SCIMUser, error) {
	email = input.NormalizeEmail(email)
	if !validEmail(email) {
		return nil, ErrInvalidEmail
	}
	hash, err := unusablePasswordHash()
	if err != nil {
		return nil, err
	}
	actor = scimActor(actor)
	var out *SCIMUser
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		var n int64
		if err := tx.Raw(`SELECT COUNT(*) FROM (`+scimUsersQuery+`) x WHERE x.email = ?`, programID, programID, email).Scan(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrSCIMUserExists
		}
		a, created, err := s.accountFor(tx, email, hash)
		if err != nil {
			return err
		}
		now := s.now()
		action := audit.ActionAdminProvisioned
		if active {
			m := Membership{ProgramID: programID, AdminID: a.ID, Access: AccessLimited, Modules: "", CreatedAt: now}
			if err := tx.Create(&m).Error; err != nil {
				return err
			}
		} else {
			action = audit.ActionAdminDeprovisioned
			if err := tx.Exec(`INSERT INTO scim_deprovisioned (program_id, admin_id, created_at) VALUES (?, ?, ?)`, programID, a.ID, now).Error; err != nil {
				return err
			}
		}
		out = &SCIMUser{AdminID: a.ID, Email: a.Email, Active: active, CreatedAt: now}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: action, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(a.ID), TargetName: a.Email,
			Details: map[string]any{"access": AccessLimited, "modules": []string{}, "new_account": created},
		})
	})
	if errors.Is(err, ErrSCIMUserExists) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to provision the admin: %w", err)
	}
	return out, nil
}

// SetSCIMActive deprovisions (active false) or provisions again (active
// true) a SCIM user of the program. Deprovisioning takes the admin out of
// the program and ends their sessions there at once; the keys stay with
// the program. Unlike General » Admins' Remove it also takes the last
// full-access admin: the identity provider decides who works there. A
// provisioned-again admin comes back with limited access and no modules.
// Setting the state a user already has changes nothing and audits
// nothing.
func (s *Store) SetSCIMActive(ctx context.Context, actor audit.Actor, programID, adminID int64, active bool) (*SCIMUser, error) {
	actor = scimActor(actor)
	var out *SCIMUser
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		u, err := scimUser(tx, programID, adminID)
		if err != nil {
			return err
		}
		out = u
		if u.Active == active {
			return nil
		}
		now := s.now()
		entry := audit.Entry{TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(adminID), TargetName: u.Email}
		if active {
			if err := tx.Exec(`DELETE FROM scim_deprovisioned WHERE program_id = ? AND admin_id = ?`, programID, adminID).Error; err != nil {
				return err
			}
			m := Membership{ProgramID: programID, AdminID: adminID, Access: AccessLimited, Modules: "", CreatedAt: now}
			if err := tx.Create(&m).Error; err != nil {
				return err
			}
			entry.Action, entry.Details = audit.ActionAdminProvisioned, map[string]any{"access": AccessLimited, "modules": []string{}, "reactivated": true}
		} else {
			m, err := s.membershipOf(tx, programID, adminID)
			if err != nil {
				return err
			}
			ended, err := endMembership(tx, m)
			if err != nil {
				return err
			}
			if err := tx.Exec(`INSERT INTO scim_deprovisioned (program_id, admin_id, created_at) VALUES (?, ?, ?)`, programID, adminID, now).Error; err != nil {
				return err
			}
			entry.Action, entry.Details = audit.ActionAdminDeprovisioned, map[string]any{"access": m.Access, "modules": splitModules(m.Modules), "sessions_ended": ended}
		}
		out = &SCIMUser{AdminID: adminID, Email: u.Email, Active: active, CreatedAt: now}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if errors.Is(err, database.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to change the SCIM user: %w", err)
	}
	return out, nil
}

// DeleteSCIMUser takes a SCIM user out of the program for good: the
// membership (with the admin's sessions there) or the deprovisioned
// record goes; the account and the program's keys stay. Audited as
// admin.deprovisioned with deleted true.
func (s *Store) DeleteSCIMUser(ctx context.Context, actor audit.Actor, programID, adminID int64) error {
	actor = scimActor(actor)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		u, err := scimUser(tx, programID, adminID)
		if err != nil {
			return err
		}
		details := map[string]any{"deleted": true}
		if u.Active {
			m, err := s.membershipOf(tx, programID, adminID)
			if err != nil {
				return err
			}
			ended, err := endMembership(tx, m)
			if err != nil {
				return err
			}
			details["access"], details["modules"], details["sessions_ended"] = m.Access, splitModules(m.Modules), ended
		}
		if err := tx.Exec(`DELETE FROM scim_deprovisioned WHERE program_id = ? AND admin_id = ?`, programID, adminID).Error; err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionAdminDeprovisioned, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(adminID), TargetName: u.Email, Details: details,
		})
	})
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return fmt.Errorf("accounts: unable to delete the SCIM user: %w", err)
	}
	return err
}
