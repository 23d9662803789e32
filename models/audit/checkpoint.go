package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Checkpoint is a signed statement of a chain's head at a moment: kept
// outside the database (a file, a log service, a partner's inbox), it
// catches what the keyed hash cannot, namely events removed from the end
// with the head fixed, and a chain rewritten by someone holding the master
// key.
type Checkpoint struct {
	PartnerID  string    `json:"partner_id"` // "" for the system chain
	ProgramID  int64     `json:"program_id"`
	Seq        int64     `json:"seq"`
	Hash       string    `json:"hash"`
	Time       time.Time `json:"time"`
	KeyVersion int64     `json:"key_version"`
	Signature  string    `json:"signature"` // base64 Ed25519 over signedBytes
}

const checkpointEncodingVersion = "keydesk-audit-checkpoint-v1"

func (c *Checkpoint) signedBytes() []byte {
	b, err := json.Marshal([]string{
		checkpointEncodingVersion, c.PartnerID, strconv.FormatInt(c.ProgramID, 10), strconv.FormatInt(c.Seq, 10),
		c.Hash, c.Time.UTC().Format(time.RFC3339Nano), strconv.FormatInt(c.KeyVersion, 10),
	})
	if err != nil {
		panic("audit: checkpoint encoding failed: " + err.Error())
	}
	return b
}

// Checkpoints signs the current head of each chain in programIDs (every
// chain when empty) with the current master key's checkpoint key. A chain
// that still waits for `keydesk audit rekey` is left out: re-keying changes
// every hash, and a checkpoint of a chain shows that it was keyed then
// (RekeyLegacy refuses a chain a checkpoint contradicts).
func (s *Store) Checkpoints(ctx context.Context, programIDs []int64) ([]Checkpoint, error) {
	ids := programIDs
	if len(ids) == 0 {
		var err error
		if ids, err = s.ChainIDs(ctx); err != nil {
			return nil, fmt.Errorf("audit: unable to list chains: %w", err)
		}
	}
	keys, err := s.verificationKeys(ctx)
	if err != nil {
		return nil, err
	}
	ck := s.keys.byVer[s.keys.current]
	now := s.now().UTC()
	out := make([]Checkpoint, 0, len(ids))
	for _, id := range ids {
		pending, err := legacyThrough(s.db.WithContext(ctx), keys, id)
		if err != nil {
			return nil, err
		}
		if pending > 0 {
			continue
		}
		var heads []struct {
			Seq       int64
			Hash      string
			PartnerID *string
		}
		if err := s.db.WithContext(ctx).Raw(`SELECT h.seq, h.hash, p.partner_id FROM audit_heads h LEFT JOIN programs p ON p.id = h.program_id WHERE h.program_id = ?`, id).Scan(&heads).Error; err != nil {
			return nil, fmt.Errorf("audit: unable to read the head of chain %d: %w", id, err)
		}
		c := Checkpoint{ProgramID: id, Time: now, KeyVersion: ck.version}
		if len(heads) > 0 {
			c.Seq, c.Hash = heads[0].Seq, heads[0].Hash
			if heads[0].PartnerID != nil {
				c.PartnerID = *heads[0].PartnerID
			}
		}
		c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(ck.signing, c.signedBytes()))
		out = append(out, c)
	}
	return out, nil
}

// WriteCheckpoints writes checkpoints as JSON Lines.
func WriteCheckpoints(w io.Writer, cps []Checkpoint) error {
	enc := json.NewEncoder(w)
	for i := range cps {
		if err := enc.Encode(&cps[i]); err != nil {
			return err
		}
	}
	return nil
}

// ReadCheckpoints parses JSON Lines of checkpoints; blank lines are skipped.
func ReadCheckpoints(r io.Reader) ([]Checkpoint, error) {
	var out []Checkpoint
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var c Checkpoint
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("checkpoint line %d: %w", line, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

// PublicKey is the verifying key of checkpoints signed now, with its
// version.
type PublicKey struct {
	Algorithm  string `json:"algorithm"`
	KeyVersion int64  `json:"key_version"`
	PublicKey  string `json:"public_key"` // base64
	Current    bool   `json:"current"`
}

// PublicKeys lists the checkpoint verifying keys this keydesk holds, the
// current one first.
func (s *Store) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	keys, err := s.verificationKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []PublicKey
	for _, v := range keys.Versions() {
		pub, _ := keys.PublicKey(v)
		out = append(out, PublicKey{Algorithm: "ed25519", KeyVersion: v, PublicKey: base64.StdEncoding.EncodeToString(pub), Current: v == keys.current})
	}
	return out, nil
}

// ErrCheckpointSignature means a checkpoint's signature does not verify.
var ErrCheckpointSignature = errors.New("bad signature")

// CheckpointMismatch is a checkpoint the database no longer agrees with.
type CheckpointMismatch struct {
	Checkpoint Checkpoint
	Reason     string
}

func (m *CheckpointMismatch) Error() string {
	return fmt.Sprintf("audit chain of program %d (%s) does not match the checkpoint of %s at seq %d: %s",
		m.Checkpoint.ProgramID, partnerOrSystem(m.Checkpoint.PartnerID), m.Checkpoint.Time.UTC().Format(time.RFC3339), m.Checkpoint.Seq, m.Reason)
}

func partnerOrSystem(partnerID string) string {
	if partnerID == "" {
		return "system chain"
	}
	return "partner " + partnerID
}

// VerifyCheckpoint checks a checkpoint's signature, then that the chain
// still holds the event it covers with the same hash. A bad signature is
// ErrCheckpointSignature; a chain that lost or rewrote covered events is a
// *CheckpointMismatch (a truncation when the chain ends before the
// checkpoint's seq, a rewrite when the hash at that seq differs).
func (s *Store) VerifyCheckpoint(ctx context.Context, c Checkpoint) error {
	keys, err := s.verificationKeys(ctx)
	if err != nil {
		return err
	}
	pub, ok := keys.PublicKey(c.KeyVersion)
	if !ok {
		return fmt.Errorf("checkpoint of program %d at seq %d: signed under key version %d, which this keydesk does not hold", c.ProgramID, c.Seq, c.KeyVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.signedBytes(), sig) {
		return fmt.Errorf("checkpoint of program %d at seq %d: %w", c.ProgramID, c.Seq, ErrCheckpointSignature)
	}
	if c.Seq == 0 {
		return nil
	}
	db := s.db.WithContext(ctx)
	var hashes []string
	if err := db.Raw(`SELECT hash FROM audit_events WHERE program_id = ? AND seq = ?`, c.ProgramID, c.Seq).Scan(&hashes).Error; err != nil {
		return fmt.Errorf("audit: unable to read event: %w", err)
	}
	if len(hashes) == 0 {
		var last int64
		if err := db.Raw(`SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE program_id = ?`, c.ProgramID).Scan(&last).Error; err != nil {
			return fmt.Errorf("audit: unable to read chain end: %w", err)
		}
		if last < c.Seq {
			return &CheckpointMismatch{c, fmt.Sprintf("truncated: the chain ends at seq %d, before the checkpointed seq %d (events were removed from the end)", last, c.Seq)}
		}
		return &CheckpointMismatch{c, fmt.Sprintf("the event at seq %d is missing (events were removed)", c.Seq)}
	}
	if hashes[0] != c.Hash {
		return &CheckpointMismatch{c, fmt.Sprintf("rewritten: the event at seq %d has another hash than the checkpoint recorded (events up to it were rewritten)", c.Seq)}
	}
	return nil
}
