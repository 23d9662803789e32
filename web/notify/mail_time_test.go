package notify_test

import (
	"strings"
	"testing"
	"time"

	"keydesk/models/outbox"
	"keydesk/web/notify"
)

// TestMailTimesReadLikeTheConsole: mails show times as the console does
// (views.TimeText: "Jan 22, 2027, 00:00 UTC"), not as the payload's RFC 3339.
func TestMailTimesReadLikeTheConsole(t *testing.T) {
	m, err := notify.NewMailer("smtp://127.0.0.1:2525", "keydesk@example.com", "http://localhost:8080", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ event, payload, want string }{
		{outbox.EventKeyExpiring, `{"data":{"partner_id":"p1","notice":"7d","api_key":{"name":"Shop","identifier":"kdi_x","expires_at":"2027-01-22T00:00:00Z"}}}`, "stops working at Jan 22, 2027, 00:00 UTC."},
		{outbox.EventKeyExpired, `{"data":{"partner_id":"p1","api_key":{"name":"Shop","identifier":"kdi_x","expires_at":"2027-01-22T00:00:00.5Z"}}}`, "stopped working at Jan 22, 2027, 00:00 UTC."},
	} {
		c := &outbox.MailClaim{MailDelivery: outbox.MailDelivery{EventType: tc.event, Payload: tc.payload}}
		n, err := m.Compose(c)
		if err != nil {
			t.Fatal(err)
		}
		if text := strings.Join(n.Lines, " "); !strings.Contains(text, tc.want) {
			t.Errorf("%s mail says %q, want %q", tc.event, text, tc.want)
		}
	}
}
