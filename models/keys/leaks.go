package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
)

// Who reports a leaked secret: the audit actor (actor_email, no admin id)
// of the api_key.leaked events they cause, and the reporter a Leaked row
// names.
const (
	LeakReporterGitHub = "github_secret_scanning"
	LeakReporterPublic = "public_revocation"
)

// LeakResponse is what a program does with a key found leaked (General »
// Settings » When a key is found leaked).
type LeakResponse string

// The responses to a leak: inactivate the key at once (the default), or
// only mark it Leaked and tell the admins.
const (
	LeakInactivate LeakResponse = "inactivate"
	LeakNotifyOnly LeakResponse = "notify"
)

// LeakResponses are the choices in the order Settings offers them, with
// their labels.
var LeakResponses = []struct {
	Value LeakResponse
	Label string
}{
	{LeakInactivate, "Inactivate it at once"},
	{LeakNotifyOnly, "Notify only"},
}

// Label is the response as Settings and the audit trail name it.
func (r LeakResponse) Label() string {
	for _, c := range LeakResponses {
		if c.Value == r {
			return c.Label
		}
	}
	return string(r)
}

// ManagementKeyPrefix starts a management key ("kdm_" + 30 base62 + 6
// base62 of the CRC32 of the random part, as API keys). It is the one
// definition: package managementkeys makes and checks its keys with it.
const ManagementKeyPrefix = "kdm_"

// CheckManagementKeyFormat verifies a management key's prefix, length,
// alphabet and checksum offline, as CheckKeyFormat does for API keys.
func CheckManagementKeyFormat(token string) error {
	return CheckPrefixedSecret(ManagementKeyPrefix, token)
}

// LeakReport is one secret reported leaked and where it was found. The
// token is hashed to find its key and never stored.
type LeakReport struct {
	Token string
	// URL is where the secret was found (GitHub's url; empty from the
	// public revocation API); Source what kind of place (GitHub's source:
	// "content", "commit", …).
	URL    string
	Source string
}

// LeakAlert is one report of leaked secrets: who sent it (Actor.Email is
// LeakReporterGitHub or LeakReporterPublic), its digest (the same alert
// sent again has the same digest, and changes nothing twice) and its
// reports.
type LeakAlert struct {
	Actor   audit.Actor
	Digest  []byte
	Reports []LeakReport
	// Revoke switches the keys off whatever their program's setting: the
	// public revocation API, whose caller holds the key and asks for
	// exactly that.
	Revoke bool
}

// LeakSighting is one report of a leaked secret without the secret: who
// reported it, in which alert, and where it was found.
type LeakSighting struct {
	Actor       audit.Actor
	AlertDigest []byte
	URL         string
	Source      string
}

// Clipped is the sighting with its URL and source cut to what a leak
// report stores of the reporter's words.
func (w LeakSighting) Clipped() LeakSighting {
	w.URL, w.Source = clip(w.URL, maxLeakURLLength), clip(w.Source, maxLeakSourceLength)
	return w
}

// leakedKeyRow is what the one lookup of an alert reads of each key.
type leakedKeyRow struct {
	ID        int64
	ProgramID int64
	Digest    []byte
	OldDigest []byte
}

// ReportLeaked handles an alert of leaked API keys: found[i] tells whether
// alert.Reports[i] named a key of keydesk (its current secret or a roll's
// old one). A token that fails the format check is not looked up; all the
// others are looked up with one query, whatever their number. Each key
// found is then, in one transaction of its own, marked Leaked with where
// it was found, inactivated when its program's setting or alert.Revoke
// says so (announced to every instance's cache as the console's
// Inactivate does) and audited
// as api_key.leaked with its webhook and mail, once per key and alert: a
// key reported twice in one alert, or by the same alert sent again, is
// handled once.
func (s *Store) ReportLeaked(ctx context.Context, alert LeakAlert) (found []bool, err error) {
	found = make([]bool, len(alert.Reports))
	digests := make([][]byte, 0, len(alert.Reports))
	seen := map[string]bool{}
	for _, r := range alert.Reports {
		if CheckKeyFormat(r.Token) != nil {
			continue
		}
		d := KeyDigest(r.Token)
		if !seen[string(d)] {
			seen[string(d)] = true
			digests = append(digests, d)
		}
	}
	if len(digests) == 0 {
		return found, nil
	}
	var rows []leakedKeyRow
	if err := s.db.WithContext(ctx).Raw(`SELECT id, program_id, digest, old_digest FROM api_keys WHERE digest IN ? OR old_digest IN ?`, digests, digests).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("keys: unable to look up reported keys: %w", err)
	}
	byDigest := map[string]leakedKeyRow{}
	for _, row := range rows {
		byDigest[string(row.Digest)] = row
		if row.OldDigest != nil {
			byDigest[string(row.OldDigest)] = row
		}
	}
	// The first report of each key says where it was found; keys are
	// handled in id order.
	first := map[int64]LeakReport{}
	var hits []leakedKeyRow
	for i, r := range alert.Reports {
		if CheckKeyFormat(r.Token) != nil {
			continue
		}
		row, ok := byDigest[string(KeyDigest(r.Token))]
		if !ok {
			continue
		}
		found[i] = true
		if _, ok := first[row.ID]; !ok {
			first[row.ID] = r
			hits = append(hits, row)
		}
	}
	slices.SortFunc(hits, func(a, b leakedKeyRow) int { return cmp.Compare(a.ID, b.ID) })
	for _, row := range hits {
		if err := s.handleLeak(ctx, alert, row, first[row.ID]); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// Bounds of what a leak report stores of the reporter's words.
const (
	maxLeakURLLength    = 2048
	maxLeakSourceLength = 100
)

// clip shortens s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// handleLeak marks one key leaked, in one transaction with its audit
// event (see ReportLeaked).
func (s *Store) handleLeak(ctx context.Context, alert LeakAlert, row leakedKeyRow, report LeakReport) error {
	report.URL, report.Source = clip(report.URL, maxLeakURLLength), clip(report.Source, maxLeakSourceLength)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		k, err := lockedKey(tx, row.ProgramID, row.ID)
		if errors.Is(err, database.ErrNotFound) {
			return nil // deleted since the lookup: nothing left to switch off
		}
		if err != nil {
			return err
		}
		now := s.now()
		first := tx.Exec(`INSERT INTO leak_reports (api_key_id, alert_digest, created_at) VALUES (?, ?, ?) ON CONFLICT (api_key_id, alert_digest) DO NOTHING`,
			k.ID, fmt.Sprintf("%x", alert.Digest), now)
		if first.Error != nil {
			return first.Error
		}
		if first.RowsAffected == 0 {
			return nil // this alert was handled already
		}
		response, err := leakResponse(tx, row.ProgramID)
		if err != nil {
			return err
		}
		outcome := "notified"
		switch {
		case !k.Active:
			outcome = "already inactive"
		case response == LeakInactivate || alert.Revoke:
			outcome = "inactivated"
			k.Active = false
		}
		k.LeakedAt, k.LeakedURL, k.LeakedBy, k.UpdatedAt = &now, report.URL, alert.Actor.Email, now
		if err := tx.Exec(`UPDATE api_keys SET active = ?, leaked_at = ?, leaked_url = ?, leaked_by = ?, updated_at = ? WHERE id = ?`,
			k.Active, now, k.LeakedURL, k.LeakedBy, now, k.ID).Error; err != nil {
			return err
		}
		if outcome == "inactivated" {
			if err := s.announceKey(tx, k); err != nil {
				return err
			}
		}
		entry := keyAudit(audit.ActionKeyLeaked, k)
		entry.Details = map[string]any{"url": report.URL, "source": report.Source, "response": outcome}
		return s.appendAndNotify(tx, row.ProgramID, alert.Actor, entry, k)
	})
	if err != nil {
		return fmt.Errorf("keys: unable to handle a leaked API key: %w", err)
	}
	return nil
}

// lockedKey loads a key through its program with its row locked
// (PostgreSQL; SQLite's immediate transaction holds the lock already). The
// legacy default key included: a leak concerns it as any other.
func lockedKey(tx *gorm.DB, programID, id int64) (*APIKey, error) {
	var locked []int64
	if err := tx.Raw(`SELECT id FROM api_keys WHERE program_id = ? AND id = ?`+database.ForUpdate(tx), programID, id).Scan(&locked).Error; err != nil {
		return nil, fmt.Errorf("keys: unable to lock API key: %w", err)
	}
	return keyByID(tx, programID, id)
}

// LeakResponse is what the program does with a key found leaked.
func (s *Store) LeakResponse(ctx context.Context, programID int64) (LeakResponse, error) {
	return leakResponse(s.db.WithContext(ctx), programID)
}

func leakResponse(tx *gorm.DB, programID int64) (LeakResponse, error) {
	var v []string
	if err := tx.Raw(`SELECT leak_response FROM programs WHERE id = ?`, programID).Scan(&v).Error; err != nil {
		return "", fmt.Errorf("keys: unable to read the leak response: %w", err)
	}
	if len(v) == 0 {
		return "", database.ErrNotFound
	}
	return LeakResponse(v[0]), nil
}

// SetLeakResponse sets what the program does with a key found leaked,
// auditing before/after. It applies to the next report on every instance
// (each report reads it in its transaction).
func (s *Store) SetLeakResponse(ctx context.Context, programID int64, actor audit.Actor, response LeakResponse) error {
	if !slices.ContainsFunc(LeakResponses, func(c struct {
		Value LeakResponse
		Label string
	}) bool {
		return c.Value == response
	}) {
		return input.ValidationError{"leak_response": "Choose what happens when a key is found leaked."}
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		before, err := leakResponse(tx, programID)
		if err != nil {
			return err
		}
		if before == response {
			return nil
		}
		if err := tx.Exec(`UPDATE programs SET leak_response = ? WHERE id = ?`, string(response), programID).Error; err != nil {
			return err
		}
		var partnerID string
		if err := tx.Raw(`SELECT partner_id FROM programs WHERE id = ?`, programID).Scan(&partnerID).Error; err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionLeakResponseChanged, TargetType: audit.TargetProgram, TargetID: partnerID,
			Details: map[string]any{"before": map[string]any{"leak_response": before.Label()}, "after": map[string]any{"leak_response": response.Label()}},
		})
	})
	if err != nil {
		return passThroughKeyErrors(err, "set the leak response for")
	}
	return nil
}

// ActivateDefaultConfirmed turns the program's legacy default key back on
// (a leak may have inactivated it; the console offers no other way to
// switch it off), running confirm (when not nil) first in its transaction:
// the admin's one-time confirmation is spent if and only if the key is
// activated. Audited as api_key.activated; a key already active changes
// nothing (ErrNoChanges).
func (s *Store) ActivateDefaultConfirmed(ctx context.Context, confirm database.TxStep, programID int64, actor audit.Actor) (*APIKey, error) {
	var key *APIKey
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if confirm != nil {
			if err := confirm(tx); err != nil {
				return err
			}
		}
		var ids []int64
		if err := tx.Raw(`SELECT id FROM api_keys WHERE program_id = ? AND is_default = ?`, programID, true).Scan(&ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return database.ErrNotFound
		}
		k, err := lockedKey(tx, programID, ids[0])
		if err != nil {
			return err
		}
		if k.Active {
			return ErrNoChanges
		}
		k.Active, k.UpdatedAt = true, s.now()
		if err := tx.Exec(`UPDATE api_keys SET active = ?, updated_at = ? WHERE id = ?`, true, k.UpdatedAt, k.ID).Error; err != nil {
			return err
		}
		if err := s.announceKey(tx, k); err != nil {
			return err
		}
		key = k
		return s.appendAndNotify(tx, programID, actor, keyAudit(audit.ActionKeyActivated, k), k)
	})
	if err != nil {
		return nil, passThroughKeyErrors(err, "activate the default")
	}
	return key, nil
}
