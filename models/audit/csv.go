package audit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the header row of an audit trail download.
var CSVHeader = []string{
	"occurred_at_utc", "seq", "event_id", "action", "outcome",
	"actor_id", "actor_email", "target_type", "target_id", "target_name",
	"ip", "user_agent", "request_id", "details", "prev_hash", "hash",
}

// auditCSVBatch is how many events a download reads at a time.
const auditCSVBatch = 1000

// NeutralizeCSVCell defuses formula injection: a cell a spreadsheet would
// read as a formula (starting with =, +, -, @, a tab, a carriage return or
// a NUL) gets a leading apostrophe, so it is shown as text. A spreadsheet may split
// the file on another separator than the comma (";" in much of Europe, a
// tab), and a naive import may split lines inside a quoted cell: so every
// piece of the cell that starts right after a ",", ";", tab, CR or LF is
// neutralised the same way ("x;=1+2" becomes "x;'=1+2"). Nothing but
// apostrophes is ever inserted.
func NeutralizeCSVCell(s string) string {
	if !needsNeutralizing(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		if isFormulaTrigger(s[i]) && (i == 0 || isCSVSeparator(s[i-1])) {
			b.WriteByte('\'')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func needsNeutralizing(s string) bool {
	for i := 0; i < len(s); i++ {
		if isFormulaTrigger(s[i]) && (i == 0 || isCSVSeparator(s[i-1])) {
			return true
		}
	}
	return false
}

// isFormulaTrigger reports whether a piece of a cell starting with c is
// read as a formula (OWASP's list for CSV injection, with the NUL that
// ASVS 5.0 1.2.10 adds).
func isFormulaTrigger(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r', 0:
		return true
	}
	return false
}

// isCSVSeparator reports whether a spreadsheet may start a new cell after c.
func isCSVSeparator(c byte) bool {
	switch c {
	case ',', ';', '\t', '\r', '\n':
		return true
	}
	return false
}

// CSVRecord is one event as a CSV row, every cell neutralised.
func CSVRecord(e *Event) []string {
	row := []string{
		e.OccurredAt.UTC().Format(time.RFC3339Nano),
		strconv.FormatInt(e.Seq, 10),
		strconv.FormatInt(e.ID, 10),
		e.Action, e.Outcome,
		strconv.FormatInt(e.ActorID, 10),
		e.ActorEmail, e.TargetType, e.TargetID, e.TargetName,
		e.IP, e.UserAgent, e.RequestID, e.Details, e.PrevHash, e.Hash,
	}
	for i := range row {
		row[i] = NeutralizeCSVCell(row[i])
	}
	return row
}

// CSVWriter writes audit events as RFC 4180 CSV (CRLF line ends,
// quoting where needed) with formula injection neutralised. A line break
// inside a cell is written as CRLF; a lone carriage return inside a cell is
// dropped (audited text cannot hold one: names reject control characters
// and HTTP header values cannot carry CR).
type CSVWriter struct {
	w     *csv.Writer
	flush func()
}

// NewCSVWriter writes to w. When w can Flush (an HTTP response), every
// batch is pushed to the client as it is written.
func NewCSVWriter(w io.Writer) *CSVWriter {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	aw := &CSVWriter{w: cw, flush: func() {}}
	if f, ok := w.(interface{ Flush() }); ok {
		aw.flush = f.Flush
	}
	return aw
}

// WriteHeader writes the header row.
func (a *CSVWriter) WriteHeader() error {
	return a.w.Write(CSVHeader)
}

// Write writes one event.
func (a *CSVWriter) Write(e *Event) error {
	return a.w.Write(CSVRecord(e))
}

// Flush pushes what is buffered to the underlying writer (and the client).
func (a *CSVWriter) Flush() error {
	a.w.Flush()
	if err := a.w.Error(); err != nil {
		return err
	}
	a.flush()
	return nil
}

// WriteCSV streams every event of a program matching f as CSV, in chain
// order (ascending seq) like the JSON Lines download, so both files list
// the same events in the same order and each row's prev_hash is the hash
// of the row before. It reads in batches, so any number of events needs
// constant memory.
func (s *Store) WriteCSV(ctx context.Context, w io.Writer, programID int64, f Filter) (rows int64, err error) {
	aw := NewCSVWriter(w)
	if err := aw.WriteHeader(); err != nil {
		return 0, fmt.Errorf("audit: unable to write the audit CSV: %w", err)
	}
	err = s.eachBatchInChainOrder(ctx, programID, f, auditCSVBatch, func(events []Event) error {
		for i := range events {
			if err := aw.Write(&events[i]); err != nil {
				return err
			}
			rows++
		}
		return aw.Flush()
	})
	if err == nil {
		err = aw.Flush()
	}
	if err != nil {
		return rows, fmt.Errorf("audit: unable to write the audit CSV: %w", err)
	}
	return rows, nil
}

// DownloadCSV records that actor downloads the events matching f, then
// streams them. The event is appended before the first byte is written: a
// download that could not be audited does not happen. The download's own
// event is part of it when it matches the filter.
func (s *Store) DownloadCSV(ctx context.Context, w io.Writer, programID int64, actor Actor, f Filter) (int64, error) {
	err := s.Record(ctx, programID, actor, Entry{
		Action: ActionAuditDownloaded, TargetType: TargetAuditTrail, TargetName: "CSV download",
		Details: map[string]any{"format": "csv", "filters": f.Describe()},
	})
	if err != nil {
		return 0, fmt.Errorf("audit: unable to audit the download: %w", err)
	}
	return s.WriteCSV(ctx, w, programID, f)
}
