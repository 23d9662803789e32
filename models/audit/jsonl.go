package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// JSONLine is one audit event as a line of a JSON Lines export. It carries
// every field the chain's hash covers, exactly as hashed (details stays the
// stored JSON text, occurred_at is RFC 3339 with nanoseconds in UTC), plus
// hash_version and key_version, so a SIEM holding the chain key can
// recompute each hash and follow prev_hash from line to line.
type JSONLine struct {
	EventID     int64  `json:"event_id"`
	ProgramID   int64  `json:"program_id"`
	PartnerID   string `json:"partner_id,omitempty"`
	Seq         int64  `json:"seq"`
	OccurredAt  string `json:"occurred_at"`
	ActorID     int64  `json:"actor_id"`
	ActorEmail  string `json:"actor_email"`
	Action      string `json:"action"`
	TargetType  string `json:"target_type"`
	TargetID    string `json:"target_id"`
	TargetName  string `json:"target_name"`
	Outcome     string `json:"outcome"`
	IP          string `json:"ip"`
	UserAgent   string `json:"user_agent"`
	RequestID   string `json:"request_id"`
	Details     string `json:"details"`
	PrevHash    string `json:"prev_hash"`
	Hash        string `json:"hash"`
	HashVersion int    `json:"hash_version"`
	KeyVersion  int64  `json:"key_version"`
}

// JSONLineOf converts an event; partnerID names its program for readers
// that do not know keydesk's internal ids.
func JSONLineOf(e *Event, partnerID string) JSONLine {
	return JSONLine{
		EventID: e.ID, ProgramID: e.ProgramID, PartnerID: partnerID, Seq: e.Seq,
		OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano),
		ActorID:    e.ActorID, ActorEmail: e.ActorEmail, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, TargetName: e.TargetName,
		Outcome: e.Outcome, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID,
		Details: e.Details, PrevHash: e.PrevHash, Hash: e.Hash,
		HashVersion: e.HashVersion, KeyVersion: e.KeyVersion,
	}
}

// auditJSONLBatch is how many events an export reads at a time.
const auditJSONLBatch = 1000

// WriteJSONL streams a program's events matching f as JSON Lines in chain
// order (ascending seq), so a reader can check each prev_hash against the
// line before. It reads in batches: a million events need constant memory.
// When w can Flush (an HTTP response), every batch is pushed as written.
func (s *Store) WriteJSONL(ctx context.Context, w io.Writer, programID int64, partnerID string, f Filter) (rows int64, err error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	flush := func() {}
	if fl, ok := w.(interface{ Flush() }); ok {
		flush = fl.Flush
	}
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	err = s.eachBatchInChainOrder(ctx, programID, f, auditJSONLBatch, func(events []Event) error {
		for i := range events {
			if err := enc.Encode(JSONLineOf(&events[i], partnerID)); err != nil {
				return err
			}
			rows++
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		flush()
		return nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return rows, fmt.Errorf("audit: unable to write the audit JSON Lines: %w", err)
	}
	return rows, nil
}

// DownloadJSONL records that actor downloads the events matching f as JSON
// Lines, then streams them. Like DownloadCSV, the event is appended before
// the first byte is written, and is part of the download when it matches.
func (s *Store) DownloadJSONL(ctx context.Context, w io.Writer, programID int64, partnerID string, actor Actor, f Filter) (int64, error) {
	err := s.Record(ctx, programID, actor, Entry{
		Action: ActionAuditDownloaded, TargetType: TargetAuditTrail, TargetName: "JSON Lines download",
		Details: map[string]any{"format": "jsonl", "filters": f.Describe()},
	})
	if err != nil {
		return 0, fmt.Errorf("audit: unable to audit the download: %w", err)
	}
	return s.WriteJSONL(ctx, w, programID, partnerID, f)
}

// eachBatchInChainOrder walks every event matching f by ascending seq, in
// batches of size (keyset on the unique (program_id, seq) index).
func (s *Store) eachBatchInChainOrder(ctx context.Context, programID int64, f Filter, size int, fn func([]Event) error) error {
	var after int64 = -1
	events := make([]Event, 0, size)
	for {
		q, err := s.scope(ctx, programID, f)
		if err != nil {
			return err
		}
		events = events[:0]
		if err := q.Where("seq > ?", after).Order("seq ASC").Limit(size).Find(&events).Error; err != nil {
			return fmt.Errorf("audit: unable to read audit events: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		if err := fn(events); err != nil {
			return err
		}
		if len(events) < size {
			return nil
		}
		after = events[len(events)-1].Seq
	}
}
