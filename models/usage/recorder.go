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

// keyTally is what one key did since the last flush. A few (minute,
// outcome) counts and client sightings are held per key, so they are
// scanned rather than hashed: one lookup by key ID per call, however many
// keys are in use.
type keyTally struct {
	programID int64
	counts    []minuteCount
	clients   []clientCount
	// clientIndex finds a sighting once a key has been used from more
	// than fewClients distinct clients since the last flush.
	clientIndex map[clientID]int
}

type minuteCount struct {
	minute  int64 // unix seconds of the minute's start
	outcome string
	n       int64
}

type clientID struct {
	ip, userAgent string
}

type clientCount struct {
	clientID
	lastSeen time.Time
	n        int64
}

// fewClients is how many sightings of a key are scanned before they are
// indexed.
const fewClients = 8

// Recorder counts verifications in memory by key, minute and outcome, and
// remembers the addresses and user agents keys were used from; Flush
// writes them in one batch. Count never touches the database.
type Recorder struct {
	store *Store
	now   database.Clock

	mu      sync.Mutex
	keys    map[int64]*keyTally
	clients int // sightings held, across keys
}

// NewRecorder builds a recorder over store.
func NewRecorder(store *Store, now database.Clock) *Recorder {
	return &Recorder{store: store, now: now, keys: map[int64]*keyTally{}}
}

// Count records one verification of a key with its outcome, from the
// client's address and user agent.
func (r *Recorder) Count(keyID, programID int64, outcome, ip, userAgent string) {
	now := r.now().UTC()
	if len(userAgent) > MaxUserAgent {
		userAgent = userAgent[:MaxUserAgent]
	}
	minute := now.Truncate(time.Minute).Unix()
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.keys[keyID]
	if t == nil {
		t = &keyTally{}
		r.keys[keyID] = t
	}
	t.programID = programID
	t.count(minute, outcome, 1)
	r.sight(t, clientCount{clientID: clientID{ip, userAgent}, lastSeen: now, n: 1})
}

// sight adds a sighting to t's key, unless it is of a new client and
// maxPendingClients are held already (sightings are dropped, never counts).
func (r *Recorder) sight(t *keyTally, c clientCount) {
	if r.clients >= maxPendingClients && t.find(c.clientID) < 0 {
		return
	}
	r.clients += t.sight(c)
}

// count adds n to the key's count of a minute and outcome.
func (t *keyTally) count(minute int64, outcome string, n int64) {
	for i := len(t.counts) - 1; i >= 0; i-- {
		if c := &t.counts[i]; c.minute == minute && c.outcome == outcome {
			c.n += n
			return
		}
	}
	t.counts = append(t.counts, minuteCount{minute: minute, outcome: outcome, n: n})
}

// find is the index of a client's sighting, or -1.
func (t *keyTally) find(id clientID) int {
	if t.clientIndex != nil {
		if i, ok := t.clientIndex[id]; ok {
			return i
		}
		return -1
	}
	for i := range t.clients {
		if t.clients[i].clientID == id {
			return i
		}
	}
	return -1
}

// sight adds a sighting to the client's, keeping the latest time; it
// returns 1 when the client is new to the key.
func (t *keyTally) sight(s clientCount) int {
	if i := t.find(s.clientID); i >= 0 {
		c := &t.clients[i]
		if s.lastSeen.After(c.lastSeen) {
			c.lastSeen = s.lastSeen
		}
		c.n += s.n
		return 0
	}
	t.clients = append(t.clients, s)
	switch {
	case t.clientIndex != nil:
		t.clientIndex[s.clientID] = len(t.clients) - 1
	case len(t.clients) > fewClients:
		t.clientIndex = make(map[clientID]int, 2*len(t.clients))
		for i, c := range t.clients {
			t.clientIndex[c.clientID] = i
		}
	}
	return 1
}

// Pending is the number of (key, minute, outcome) counts waiting.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, t := range r.keys {
		n += len(t.counts)
	}
	return n
}

// Flush writes what was counted since the last flush in one transaction.
// On failure the counts are kept for the next flush.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	tallies := r.keys
	r.keys, r.clients = map[int64]*keyTally{}, 0
	r.mu.Unlock()
	if len(tallies) == 0 {
		return nil
	}
	var batch []Count
	var seen []Client
	for keyID, t := range tallies {
		for _, c := range t.counts {
			batch = append(batch, Count{KeyID: keyID, ProgramID: t.programID, Bucket: time.Unix(c.minute, 0).UTC(), Outcome: c.outcome, Count: c.n})
		}
		for _, c := range t.clients {
			seen = append(seen, Client{KeyID: keyID, ProgramID: t.programID, IP: c.ip, UserAgent: c.userAgent, LastSeen: c.lastSeen, Count: c.n})
		}
	}
	if err := r.store.Write(ctx, batch, seen); err != nil {
		metrics.UsageFlushes.WithLabelValues("error").Inc()
		r.restore(tallies)
		return err
	}
	metrics.UsageFlushes.WithLabelValues("ok").Inc()
	return nil
}

// restore puts back what a failed flush took, added to what was counted
// meanwhile.
func (r *Recorder) restore(tallies map[int64]*keyTally) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for keyID, old := range tallies {
		t := r.keys[keyID]
		if t == nil {
			t = &keyTally{programID: old.programID}
			r.keys[keyID] = t
		}
		for _, c := range old.counts {
			t.count(c.minute, c.outcome, c.n)
		}
		for _, c := range old.clients {
			r.sight(t, c)
		}
	}
}
