package usage

import (
	"context"
	"sync"
	"time"

	"keydesk/models/database"
	"keydesk/models/metrics"
)

// MaxUserAgent bounds a recorded user agent.
const MaxUserAgent = 256

// maxPendingClients bounds the client sightings held between flushes;
// beyond it new ones are dropped (counts are never dropped).
const maxPendingClients = 10000

type countKey struct {
	keyID   int64
	minute  int64 // unix seconds of the minute's start
	outcome string
}

type pendingCount struct {
	programID int64
	n         int64
}

type clientKey struct {
	keyID         int64
	ip, userAgent string
}

type pendingClient struct {
	programID int64
	lastSeen  time.Time
	n         int64
}

// Recorder counts verifications in memory by key, minute and outcome, and
// remembers the addresses and user agents keys were used from; Flush
// writes them in one batch. Count never touches the database.
type Recorder struct {
	store *Store
	now   database.Clock

	mu      sync.Mutex
	counts  map[countKey]pendingCount
	clients map[clientKey]pendingClient
}

// NewRecorder builds a recorder over store.
func NewRecorder(store *Store, now database.Clock) *Recorder {
	return &Recorder{store: store, now: now, counts: map[countKey]pendingCount{}, clients: map[clientKey]pendingClient{}}
}

// Count records one verification of a key with its outcome, from the
// client's address and user agent.
func (r *Recorder) Count(keyID, programID int64, outcome, ip, userAgent string) {
	now := r.now().UTC()
	if len(userAgent) > MaxUserAgent {
		userAgent = userAgent[:MaxUserAgent]
	}
	ck := countKey{keyID, now.Truncate(time.Minute).Unix(), outcome}
	cl := clientKey{keyID, ip, userAgent}
	r.mu.Lock()
	c := r.counts[ck]
	r.counts[ck] = pendingCount{programID: programID, n: c.n + 1}
	if p, ok := r.clients[cl]; ok || len(r.clients) < maxPendingClients {
		if now.After(p.lastSeen) {
			p.lastSeen = now
		}
		p.programID, p.n = programID, p.n+1
		r.clients[cl] = p
	}
	r.mu.Unlock()
}

// Pending is the number of (key, minute, outcome) counts waiting.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.counts)
}

// Flush writes what was counted since the last flush in one transaction.
// On failure the counts are kept for the next flush.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	counts, clients := r.counts, r.clients
	r.counts, r.clients = map[countKey]pendingCount{}, map[clientKey]pendingClient{}
	r.mu.Unlock()
	if len(counts) == 0 && len(clients) == 0 {
		return nil
	}
	batch := make([]Count, 0, len(counts))
	for k, c := range counts {
		batch = append(batch, Count{KeyID: k.keyID, ProgramID: c.programID, Bucket: time.Unix(k.minute, 0).UTC(), Outcome: k.outcome, Count: c.n})
	}
	seen := make([]Client, 0, len(clients))
	for k, c := range clients {
		seen = append(seen, Client{KeyID: k.keyID, ProgramID: c.programID, IP: k.ip, UserAgent: k.userAgent, LastSeen: c.lastSeen, Count: c.n})
	}
	if err := r.store.Write(ctx, batch, seen); err != nil {
		metrics.UsageFlushes.WithLabelValues("error").Inc()
		r.mu.Lock()
		for k, c := range counts {
			p := r.counts[k]
			r.counts[k] = pendingCount{programID: c.programID, n: p.n + c.n}
		}
		for k, c := range clients {
			p := r.clients[k]
			if c.lastSeen.After(p.lastSeen) {
				p.lastSeen = c.lastSeen
			}
			p.programID, p.n = c.programID, p.n+c.n
			r.clients[k] = p
		}
		r.mu.Unlock()
		return err
	}
	metrics.UsageFlushes.WithLabelValues("ok").Inc()
	return nil
}
