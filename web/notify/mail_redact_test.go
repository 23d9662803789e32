package notify

import (
	"strings"
	"testing"
)

// TestRedactHidesBothCredentials: the user name and password of
// KEYDESK_SMTP_URL, as typed or URL-escaped, never survive in a failure's
// text; the rest of the text does.
func TestRedactHidesBothCredentials(t *testing.T) {
	m, err := NewMailer("smtp://mailer%40keydesk.test:s3cret%2Fp%40ss@127.0.0.1:2525", "keydesk@example.test", "https://keydesk.example.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := m.redact("535 rejected mailer@keydesk.test with s3cret/p@ss (s3cret%2Fp%40ss, mailer%40keydesk.test)")
	if want := "535 rejected [redacted] with [redacted] ([redacted], [redacted])"; got != want {
		t.Fatalf("redacted to %q, want %q", got, want)
	}
	plain, err := NewMailer("smtp://127.0.0.1:2525", "keydesk@example.test", "https://keydesk.example.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.redact("dial tcp 127.0.0.1:2525: connection refused"); !strings.HasPrefix(got, "dial tcp 127.0.0.1:2525") {
		t.Fatalf("a URL without credentials redacts %q", got)
	}
}
