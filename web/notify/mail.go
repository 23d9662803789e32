package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"keydesk/models/outbox"
	"keydesk/views"
	"keydesk/web/paths"
)

// Mailer sends email notices through KEYDESK_SMTP_URL
// (smtp://user:pass@host:port, or smtps:// for implicit TLS) from
// KEYDESK_MAIL_FROM, with links built from KEYDESK_BASE_URL.
type Mailer struct {
	from    string
	baseURL string
	opts    []mail.Option
	host    string
}

// NewMailer checks the SMTP URL, the sender and the base URL. smtp:// uses
// STARTTLS when the server offers it; credentials go over PLAIN/LOGIN only
// as the server allows.
func NewMailer(smtpURL, from, baseURL string, timeout time.Duration) (*Mailer, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("KEYDESK_SMTP_URL must look like smtp://user:pass@host:port")
	}
	if from == "" {
		return nil, errors.New("KEYDESK_MAIL_FROM must be set with KEYDESK_SMTP_URL")
	}
	if baseURL == "" {
		return nil, errors.New("KEYDESK_BASE_URL must be set with KEYDESK_SMTP_URL (mails carry links)")
	}
	if timeout <= 0 {
		timeout = DefaultWorkerConfig().Timeout
	}
	port := 587
	if u.Scheme == "smtps" {
		port = 465
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, errors.New("KEYDESK_SMTP_URL has a bad port")
		}
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTimeout(timeout), mail.WithTLSPolicy(mail.TLSOpportunistic)}
	if u.Scheme == "smtps" {
		opts = append(opts, mail.WithSSL())
	}
	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
	}
	m := &Mailer{from: from, baseURL: strings.TrimRight(baseURL, "/"), opts: opts, host: u.Hostname()}
	if err := mail.NewMsg().From(from); err != nil {
		return nil, fmt.Errorf("KEYDESK_MAIL_FROM is not an address: %w", err)
	}
	return m, nil
}

// mailData is what a notice reads of an outbox payload.
type mailData struct {
	Type string `json:"type"`
	Data struct {
		PartnerID   string `json:"partner_id"`
		ProgramName string `json:"program_name"`
		Notice      string `json:"notice"`
		Actor       struct {
			Email string `json:"email"`
		} `json:"actor"`
		APIKey struct {
			Name       string `json:"name"`
			Identifier string `json:"identifier"`
			ExpiresAt  string `json:"expires_at"`
		} `json:"api_key"`
		Invitation struct {
			Access    string `json:"access"`
			ExpiresAt string `json:"expires_at"`
		} `json:"invitation"`
	} `json:"data"`
}

// Compose builds the notice of a claimed mail. Only an invitation carries
// a bearer link (its own, to the invited address); no mail carries a key.
func (m *Mailer) Compose(c *outbox.MailClaim) (views.MailNotice, error) {
	var d mailData
	if err := json.Unmarshal([]byte(c.Payload), &d); err != nil {
		return views.MailNotice{}, fmt.Errorf("notify: bad mail payload: %w", err)
	}
	k := d.Data.APIKey
	key := fmt.Sprintf("%q (%s)", k.Name, k.Identifier)
	program := d.Data.PartnerID
	n := views.MailNotice{LinkLabel: "Open API Keys", Link: m.baseURL + paths.APIKeys,
		Footer: "You get this because you are a full-access admin of " + program + " in keydesk."}
	by := ""
	if d.Data.Actor.Email != "" {
		by = " by " + d.Data.Actor.Email
	}
	switch c.EventType {
	case outbox.EventKeyCreated:
		n.Subject, n.Heading = "API key created: "+k.Name, "An API key was created"
		n.Lines = []string{"The API key " + key + " was created" + by + " in " + program + "."}
	case outbox.EventKeyRolled:
		n.Subject, n.Heading = "API key rolled: "+k.Name, "An API key was rolled"
		n.Lines = []string{"The API key " + key + " was given a new secret" + by + " in " + program + ". Clients need the new secret."}
	case outbox.EventKeyRevealed:
		n.Subject, n.Heading = "API key revealed: "+k.Name, "An API key was revealed"
		n.Lines = []string{"The secret of the API key " + key + " was revealed" + by + " in " + program + "."}
	case outbox.EventKeyExpiring:
		when := "in 7 days"
		if d.Data.Notice == "1d" {
			when = "within a day"
		}
		n.Subject, n.Heading = "API key expires "+when+": "+k.Name, "An API key expires "+when
		n.Lines = []string{"The API key " + key + " in " + program + " stops working at " + k.ExpiresAt + ". Roll it or set a new expiry before then."}
	case outbox.EventKeyExpired:
		n.Subject, n.Heading = "API key expired: "+k.Name, "An API key expired"
		n.Lines = []string{"The API key " + key + " in " + program + " stopped working at " + k.ExpiresAt + "."}
	case outbox.EventAdminInvited:
		if c.Token == "" {
			return n, errors.New("notify: the invitation's token is gone")
		}
		name := d.Data.ProgramName
		n.Subject, n.Heading = "You are invited to "+name+" in keydesk", "Join "+name+" in keydesk"
		n.Lines = []string{d.Data.Actor.Email + " invited you to manage the API keys of " + name + " (" + program + ").",
			"The link works once, until " + d.Data.Invitation.ExpiresAt + ". Open it to set your password."}
		n.LinkLabel, n.Link = "Accept the invitation", m.baseURL+paths.InvitePrefix+c.Token
		n.Footer = "If you did not expect this, ignore this mail."
	default:
		return n, fmt.Errorf("notify: no mail for %s", c.EventType)
	}
	return n, nil
}

// Send makes one attempt to mail a claimed notice: a plain-text part and
// an HTML part (templ).
func (m *Mailer) Send(ctx context.Context, c *outbox.MailClaim) error {
	n, err := m.Compose(c)
	if err != nil {
		return err
	}
	var html strings.Builder
	if err := views.MailHTML(n).Render(ctx, &html); err != nil {
		return err
	}
	msg := mail.NewMsg()
	if err := msg.From(m.from); err != nil {
		return err
	}
	if err := msg.To(c.Recipient); err != nil {
		return err
	}
	msg.Subject(n.Subject)
	msg.SetMessageIDWithValue(c.MessageID + "." + strconv.FormatInt(c.ID, 10) + "@keydesk")
	msg.SetBodyString(mail.TypeTextPlain, views.MailText(n))
	msg.AddAlternativeString(mail.TypeTextHTML, html.String())
	client, err := mail.NewClient(m.host, m.opts...)
	if err != nil {
		return err
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("SMTP: %w", err)
	}
	return nil
}
