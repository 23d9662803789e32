package audit_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// plainSHA256 is what an attacker without the master key computes: the
// pre-keyed hash, SHA-256 over the published canonical encoding.
func plainSHA256(e audit.Event) string {
	b, err := json.Marshal([]any{
		"keydesk-audit-v1",
		strconv.FormatInt(e.ProgramID, 10), strconv.FormatInt(e.Seq, 10), e.PrevHash,
		e.OccurredAt.UTC().Format(time.RFC3339Nano), strconv.FormatInt(e.ActorID, 10),
		e.ActorEmail, e.Action, e.TargetType, e.TargetID, e.TargetName, e.Outcome,
		e.IP, e.UserAgent, e.RequestID, e.Details,
	})
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// auditRechain rewrites a program's chain from seq from onwards with hash,
// relinking every later event and the head, as someone with write access
// to the database (and, for a keyed hash, whatever key hash holds) would.
func auditRechain(t *testing.T, db *gorm.DB, programID, from int64, edit func(e *audit.Event), hash func(e audit.Event) string) {
	t.Helper()
	var events []audit.Event
	if err := db.Where("program_id = ?", programID).Order("seq").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i := range events {
		e := &events[i]
		if e.Seq < from {
			prev = e.Hash
			continue
		}
		if e.Seq == from {
			edit(e)
		}
		e.PrevHash = prev
		e.Hash = hash(*e)
		if err := db.Save(e).Error; err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	last := events[len(events)-1]
	if err := db.Exec(`UPDATE audit_heads SET seq = ?, hash = ? WHERE program_id = ?`, last.Seq, last.Hash, programID).Error; err != nil {
		t.Fatal(err)
	}
}

// Issue 11 item 4: an attacker who edits an event and recomputes every
// plain SHA-256 hash and the head is caught, because the chain's hash is
// keyed with a key derived from the master key.
func TestVerifyChainDetectsAChainRecomputedWithPlainSHA256(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, store, "Alpha")
		auditAppendN(t, store, f.Program.ID, 6)
		if _, brk, err := store.Audit.VerifyChain(t.Context(), f.Program.ID); err != nil || brk != nil {
			t.Fatalf("intact chain: %v %v", brk, err)
		}
		auditDisableProtection(t, store.DB)
		auditRechain(t, store.DB, f.Program.ID, 5, func(e *audit.Event) { e.ActorEmail = "someone-else@example.test" }, plainSHA256)

		_, brk, err := store.Audit.VerifyChain(t.Context(), f.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		if brk == nil {
			t.Fatal("a chain recomputed with plain SHA-256 after an edit verified as intact")
		}
		if brk.Seq != 5 || !strings.Contains(brk.Reason, "altered") {
			t.Fatalf("break at seq %d (%s), want seq 5, altered", brk.Seq, brk.Reason)
		}
	})
}
