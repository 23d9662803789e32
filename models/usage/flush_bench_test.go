package usage_test

import (
	"testing"
	"time"

	"keydesk/models/metrics"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

// BenchmarkFlushMinuteOfTraffic flushes what one minute of traffic over
// 4000 keys leaves in the recorder (the bench's scenario 1: every key
// called from one address and user agent): 4000 counts and 4000 client
// sightings, written in one transaction while the API keeps serving.
//
//	TEST_DATABASE_URL=… go test -run '^$' -bench FlushMinuteOfTraffic -benchtime 5x ./models/usage/
func BenchmarkFlushMinuteOfTraffic(b *testing.B) {
	const keys = 4000
	for _, open := range []func(testing.TB) modeltest.Database{modeltest.SQLite, modeltest.Postgres} {
		d := open(b)
		b.Run(d.Name, func(b *testing.B) {
			s := modeltest.NewStores(b, d)
			minute := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return minute }
			r := usage.NewRecorder(usage.NewStore(s.DB, clock), clock)
			for b.Loop() {
				minute = minute.Add(time.Minute)
				for k := int64(1); k <= keys; k++ {
					r.Count(k, 1+k/20, metrics.OutcomeValid, "127.0.0.1", "Go-http-client/1.1")
				}
				if err := r.Flush(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
