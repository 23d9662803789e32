package models_test

import (
	"testing"
	"time"

	"keydesk/models/modeltest"
)

func TestPurgeExpired(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStore(t, db)
		now := store.Now()
		d := store.DB()
		d.Exec(`INSERT INTO sessions (id, data, created_at, updated_at, expires_at) VALUES ('old', '', ?, ?, ?), ('live', '', ?, ?, ?)`,
			now, now, now.Add(-time.Minute), now, now, now.Add(time.Hour))
		d.Exec(`INSERT INTO auth_failures (scope, subject, created_at) VALUES ('login_ip', 'a', ?), ('login_ip', 'a', ?)`,
			now.Add(-25*time.Hour), now.Add(-time.Minute))
		sessions, failures, err := store.PurgeExpired()
		if err != nil || sessions != 1 || failures != 1 {
			t.Fatalf("purged %d sessions, %d failures, %v", sessions, failures, err)
		}
		var left []string
		d.Raw(`SELECT id FROM sessions`).Scan(&left)
		if len(left) != 1 || left[0] != "live" {
			t.Fatalf("sessions left: %v", left)
		}
	})
}
