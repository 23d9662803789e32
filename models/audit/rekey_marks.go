package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"gorm.io/gorm"

	"keydesk/models/migrations"
)

// rekeyMark is a row of audit_rekey_pending: the keyed-hash migration found
// the events of a program's chain up to ThroughSeq with the legacy unkeyed
// hash, the one at ThroughSeq hashed ThroughHash. Anyone who writes the
// database can insert such a row, so it counts only when MAC verifies: an
// HMAC over the mark under the chain key of KeyVersion, which only the
// process that migrated the database, holding the master key, computed
// (SealRekeyMarks).
type rekeyMark struct {
	ProgramID   int64
	ThroughSeq  int64
	ThroughHash string
	KeyVersion  int64
	MAC         string
}

const (
	rekeyMarkKeyLabel         = "keydesk audit rekey mark v1"
	rekeyMarkEncodingVersion  = "keydesk-audit-rekey-mark-v1"
	rekeyMarkColumns          = `program_id, through_seq, through_hash, key_version, mac`
	rekeyMarkNotAuthenticated = "its re-keying mark is not authenticated under the master key (it was forged, or the upgrade that wrote it stopped before sealing it)"
)

func (m *rekeyMark) encoding() []byte {
	b, err := json.Marshal([]string{
		rekeyMarkEncodingVersion, strconv.FormatInt(m.ProgramID, 10), strconv.FormatInt(m.ThroughSeq, 10),
		m.ThroughHash, strconv.FormatInt(m.KeyVersion, 10),
	})
	if err != nil {
		panic("audit: re-keying mark encoding failed: " + err.Error())
	}
	return b
}

// rekeyMarkMAC is the mark's HMAC under the chain key of its key version,
// through a subkey of its own; ok is false when that version is not held.
func (k *Keys) rekeyMarkMAC(m *rekeyMark) (mac string, ok bool) {
	ck, held := k.byVer[m.KeyVersion]
	if !held {
		return "", false
	}
	sub := hmac.New(sha256.New, ck.mac)
	sub.Write([]byte(rekeyMarkKeyLabel))
	h := hmac.New(sha256.New, sub.Sum(nil))
	h.Write(m.encoding())
	return hex.EncodeToString(h.Sum(nil)), true
}

// authentic says whether the mark's MAC verifies under a key held.
func (k *Keys) authentic(m *rekeyMark) bool {
	want, ok := k.rekeyMarkMAC(m)
	return ok && m.MAC != "" && hmac.Equal([]byte(want), []byte(m.MAC))
}

// readRekeyMarks reads the marks of one program, or of every program when
// programID is nil, in program order.
func readRekeyMarks(db *gorm.DB, programID *int64) ([]rekeyMark, error) {
	var marks []rekeyMark
	q := db.Raw(`SELECT ` + rekeyMarkColumns + ` FROM audit_rekey_pending ORDER BY program_id`)
	if programID != nil {
		q = db.Raw(`SELECT `+rekeyMarkColumns+` FROM audit_rekey_pending WHERE program_id = ?`, *programID)
	}
	if err := q.Scan(&marks).Error; err != nil {
		return nil, fmt.Errorf("audit: unable to read re-keying marks: %w", err)
	}
	return marks, nil
}

// eventHashAt is the hash of the event at seq of a chain; "" when none.
func eventHashAt(db *gorm.DB, programID, seq int64) (string, error) {
	var hashes []string
	if err := db.Raw(`SELECT hash FROM audit_events WHERE program_id = ? AND seq = ?`, programID, seq).Scan(&hashes).Error; err != nil {
		return "", fmt.Errorf("audit: unable to read event: %w", err)
	}
	if len(hashes) == 0 {
		return "", nil
	}
	return hashes[0], nil
}

// legacyThrough is the last seq of a program's chain that may still carry
// the legacy unkeyed hash: the ThroughSeq of its re-keying mark when that
// mark is authenticated and the event at ThroughSeq still has the hash the
// upgrade found. 0 when no such mark exists: then every unkeyed event is
// a forgery, and verification never advises re-keying.
func legacyThrough(db *gorm.DB, keys *Keys, programID int64) (int64, error) {
	marks, err := readRekeyMarks(db, &programID)
	if err != nil || len(marks) == 0 {
		return 0, err
	}
	m := marks[0]
	if !keys.authentic(&m) {
		return 0, nil
	}
	hash, err := eventHashAt(db, programID, m.ThroughSeq)
	if err != nil {
		return 0, err
	}
	if hash == "" || !hmac.Equal([]byte(hash), []byte(m.ThroughHash)) {
		return 0, nil
	}
	return m.ThroughSeq, nil
}

// SealRekeyMarks authenticates under the current master key the re-keying
// marks that the migrations of this very process run wrote, binding each to
// the hash of the event it ends at. migratedFrom is the schema version the
// database had before this process migrated it (migrations.Version).
//
// Only a process that itself brought the database across the migration
// that made marks need a MAC seals anything: a mark inserted later by
// someone who writes the database stays unsealed, and verify and rekey
// ignore it. (Marks present when a database crosses that migration are
// trusted once, as the keyed-hash migration trusted the legacy hashes.)
func (s *Store) SealRekeyMarks(ctx context.Context, migratedFrom int) (sealed int, err error) {
	if migratedFrom >= migrations.VersionOf(migrations.RekeyMarksMigration) {
		return 0, nil
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		marks, err := readRekeyMarks(tx, nil)
		if err != nil {
			return err
		}
		for _, m := range marks {
			if m.MAC != "" {
				continue
			}
			if m.ThroughHash, err = eventHashAt(tx, m.ProgramID, m.ThroughSeq); err != nil {
				return err
			}
			m.KeyVersion = s.keys.CurrentVersion()
			m.MAC, _ = s.keys.rekeyMarkMAC(&m)
			res := tx.Exec(`UPDATE audit_rekey_pending SET through_hash = ?, key_version = ?, mac = ? WHERE program_id = ? AND mac = ''`,
				m.ThroughHash, m.KeyVersion, m.MAC, m.ProgramID)
			if res.Error != nil {
				return fmt.Errorf("audit: unable to seal the re-keying mark of program %d: %w", m.ProgramID, res.Error)
			}
			sealed += int(res.RowsAffected)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return sealed, nil
}
