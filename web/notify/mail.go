package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"keydesk/models/outbox"
	"keydesk/routes"
	"keydesk/views"
)

// Mailer sends email notices through KEYDESK_SMTP_URL
// (smtp://user:pass@host:port, or smtps:// for implicit TLS) from
// KEYDESK_MAIL_FROM, with links built from KEYDESK_BASE_URL and
// Message-IDs on its host.
type Mailer struct {
	from            string
	baseURL         string
	messageIDDomain string
	opts            []mail.Option
	host            string
	// credentials are KEYDESK_SMTP_URL's user name and password, as typed
	// and URL-escaped: a failure's text never carries them (redact).
	credentials []string
}

// NewMailer checks the SMTP URL, the sender and the base URL; its error
// says which variable is wrong or missing and how to fix it (the console
// and the start-up log show it). smtp:// uses STARTTLS when the server
// offers it; credentials go over PLAIN/LOGIN only as the server allows.
func NewMailer(smtpURL, from, baseURL string, timeout time.Duration) (*Mailer, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("KEYDESK_SMTP_URL must look like smtp://user:pass@host:port")
	}
	if err := missingMailSettings(from, baseURL); err != nil {
		return nil, err
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
	domain, err := messageIDDomain(baseURL)
	if err != nil {
		return nil, err
	}
	m := &Mailer{from: from, baseURL: strings.TrimRight(baseURL, "/"), messageIDDomain: domain, opts: opts, host: u.Hostname()}
	if u.User != nil {
		pass, _ := u.User.Password()
		for _, c := range []string{u.User.Username(), pass} {
			if c != "" {
				m.credentials = append(m.credentials, c, url.QueryEscape(c), url.PathEscape(c))
			}
		}
		// Longest first, so a credential inside another is not half-replaced.
		slices.SortFunc(m.credentials, func(a, b string) int { return len(b) - len(a) })
	}
	if err := mail.NewMsg().From(from); err != nil {
		return nil, fmt.Errorf("KEYDESK_MAIL_FROM is not an address: %w", err)
	}
	return m, nil
}

// missingMailSettings names what KEYDESK_SMTP_URL needs beside it and is
// not set: the sender, and the public URL that mailed links start with.
func missingMailSettings(from, baseURL string) error {
	switch {
	case from == "" && baseURL == "":
		return errors.New("KEYDESK_SMTP_URL is set but KEYDESK_MAIL_FROM and KEYDESK_BASE_URL are not: set KEYDESK_MAIL_FROM to the sender's address and KEYDESK_BASE_URL to keydesk's public URL (mails carry links to it)")
	case from == "":
		return errors.New("KEYDESK_SMTP_URL is set but KEYDESK_MAIL_FROM is not: set it to the sender's address")
	case baseURL == "":
		return errors.New("KEYDESK_SMTP_URL is set but KEYDESK_BASE_URL is not: set it to keydesk's public URL, such as https://keydesk.example.com (mails carry links to it)")
	}
	return nil
}

// mailData is what a notice reads of an outbox payload.
type mailData struct {
	Type string `json:"type"`
	Data struct {
		PartnerID   string `json:"partner_id"`
		ProgramName string `json:"program_name"`
		Notice      string `json:"notice"`
		Percent     int    `json:"percent"`
		PeriodStart string `json:"period_start"`
		Actor       struct {
			Email string `json:"email"`
		} `json:"actor"`
		APIKey struct {
			Name       string `json:"name"`
			Identifier string `json:"identifier"`
			ExpiresAt  string `json:"expires_at"`
		} `json:"api_key"`
		ManagementKey struct {
			Name       string `json:"name"`
			Identifier string `json:"identifier"`
		} `json:"management_key"`
		Leak struct {
			URL        string `json:"url"`
			Response   string `json:"response"`
			ReportedBy string `json:"reported_by"`
		} `json:"leak"`
		Invitation struct {
			Access    string `json:"access"`
			ExpiresAt string `json:"expires_at"`
		} `json:"invitation"`
	} `json:"data"`
}

// Compose builds the notice of a claimed mail. Only an invitation carries
// a bearer link (its own, to the invited address); no mail carries a key.
// The program is named by its name (its partner ID beside it in the
// text); a key's name stands between curly quotes, as it is.
func (m *Mailer) Compose(c *outbox.MailClaim) (views.MailNotice, error) {
	var d mailData
	if err := json.Unmarshal([]byte(c.Payload), &d); err != nil {
		return views.MailNotice{}, fmt.Errorf("notify: bad mail payload: %w", err)
	}
	k := d.Data.APIKey
	key := "“" + k.Name + "” (" + k.Identifier + ")"
	partnerID := d.Data.PartnerID
	program := c.ProgramName
	if program == "" {
		program = d.Data.ProgramName
	}
	if program == "" {
		program = partnerID
	}
	tag := "[" + program + "] "
	n := views.MailNotice{LinkLabel: "Open API Keys", Link: m.baseURL + routes.APIKeys,
		Footer: "You get this because you are a full-access admin of " + program + " (partner ID " + partnerID + ") in keydesk."}
	by := ""
	if d.Data.Actor.Email != "" {
		by = " by " + d.Data.Actor.Email
	}
	switch c.EventType {
	case outbox.EventKeyCreated:
		n.Subject, n.Heading = tag+"API key created: "+k.Name, "An API key was created"
		n.Lines = []string{"The API key " + key + " was created" + by + " in " + program + "."}
	case outbox.EventKeyRolled:
		n.Subject, n.Heading = tag+"API key rolled: "+k.Name, "An API key was rolled"
		n.Lines = []string{"The API key " + key + " was given a new secret" + by + " in " + program + ". Clients need the new secret."}
	case outbox.EventKeyRevealed:
		n.Subject, n.Heading = tag+"API key revealed: "+k.Name, "An API key was revealed"
		n.Lines = []string{"The secret of the API key " + key + " was revealed" + by + " in " + program + "."}
	case outbox.EventKeyExpiring:
		when := "in 7 days"
		if d.Data.Notice == "1d" {
			when = "within a day"
		}
		n.Subject, n.Heading = tag+"API key expires "+when+": "+k.Name, "An API key expires "+when
		n.Lines = []string{"The API key " + key + " in " + program + " stops working at " + mailTime(k.ExpiresAt) + ". Roll it or set a new expiry before then."}
	case outbox.EventKeyExpired:
		n.Subject, n.Heading = tag+"API key expired: "+k.Name, "An API key expired"
		n.Lines = []string{"The API key " + key + " in " + program + " stopped working at " + mailTime(k.ExpiresAt) + "."}
	case outbox.EventKeyLeaked:
		n.Subject, n.Heading = tag+"API key found leaked: "+k.Name, "An API key was found leaked"
		n.Lines = []string{leakLine("API key", key, program, d.Data.Leak.ReportedBy, d.Data.Leak.URL), leakResponseLine(d.Data.Leak.Response)}
	case outbox.EventKeyQuotaThreshold:
		pct := strconv.Itoa(d.Data.Percent) + " %"
		n.Subject, n.Heading = tag+"API key at "+pct+" of its quota: "+k.Name, "An API key reached "+pct+" of its quota"
		n.Lines = []string{"The API key " + key + " in " + program + " has used " + pct + " of its quota for the period that began " + d.Data.PeriodStart + "."}
		if d.Data.Percent >= 100 {
			n.Lines = append(n.Lines, "Further calls are refused with 429 QUOTA_EXCEEDED until the next period, unless the quota is raised.")
		}
	case outbox.EventManagementKeyLeaked:
		mk := d.Data.ManagementKey
		n.Subject, n.Heading = tag+"Management key found leaked: "+mk.Name, "A management key was found leaked"
		n.Lines = []string{leakLine("management key", "“"+mk.Name+"” ("+mk.Identifier+")", program, d.Data.Leak.ReportedBy, d.Data.Leak.URL),
			"keydesk revoked it: calls to the management API with it now fail. Create a new management key for the code that used it."}
		n.LinkLabel, n.Link = "Open Management keys", m.baseURL+routes.ManagementKeys
	case outbox.EventAdminInvited:
		if c.Token == "" {
			return n, errors.New("notify: the invitation's token is gone")
		}
		n.Subject, n.Heading = "You are invited to "+program+" in keydesk", "Join "+program+" in keydesk"
		n.Lines = []string{d.Data.Actor.Email + " invited you to manage the API keys of " + program + " (partner ID " + partnerID + ").",
			"The link works once, until " + mailTime(d.Data.Invitation.ExpiresAt) + ". Open it to set your password."}
		n.LinkLabel, n.Link = "Accept the invitation", m.baseURL+routes.Invite(c.Token)
		n.Footer = "If you did not expect this, ignore this mail."
	default:
		return n, fmt.Errorf("notify: no mail for %s", c.EventType)
	}
	return n, nil
}

// mailTime shows a payload's RFC 3339 time as the console does
// (views.TimeText); a value it cannot read is shown as it is.
func mailTime(rfc3339 string) string {
	t, err := time.Parse(time.RFC3339Nano, rfc3339)
	if err != nil {
		return rfc3339
	}
	return views.TimeText(t)
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
	// The subject carries user text (key and program names): text that a
	// client could take for an encoded-word is itself encoded, so the
	// client shows it as written.
	if isPlainHeaderText(n.Subject) {
		msg.Subject(n.Subject)
	} else {
		msg.SetGenHeaderPreformatted(mail.HeaderSubject, encodeHeaderText(n.Subject))
	}
	// RFC 3834: an automatic notice, so auto-responders stay silent.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	// The event's random message ID and this delivery's id, on the base
	// URL's host: unique per recipient, and the same on every retry so a
	// receiver can drop a duplicate.
	msg.SetMessageIDWithValue(c.MessageID + "." + strconv.FormatInt(c.ID, 10) + "@" + m.messageIDDomain)
	msg.SetBodyString(mail.TypeTextPlain, views.MailText(n))
	msg.AddAlternativeString(mail.TypeTextHTML, html.String())
	client, err := mail.NewClient(m.host, m.opts...)
	if err != nil {
		return err
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return errors.New("SMTP: " + m.redact(affectedMessageID.ReplaceAllString(err.Error(), "")))
	}
	return nil
}

// affectedMessageID is the go-mail error's tail naming the message (the
// console names the failure, not a Message-ID).
var affectedMessageID = regexp.MustCompile(`, affected message ID: <[^>]*>`)

// redact replaces KEYDESK_SMTP_URL's user name and password in a failure's
// text (a server may echo them) by "[redacted]": the text is stored and
// shown on the console.
func (m *Mailer) redact(text string) string {
	for _, c := range m.credentials {
		text = strings.ReplaceAll(text, c, "[redacted]")
	}
	return text
}

// leakLine says which key (kind "API key" or "management key") was found
// leaked, by whom and where.
func leakLine(kind, key, program, reportedBy, where string) string {
	line := "The " + kind + " " + key + " of " + program + " was reported leaked"
	switch reportedBy {
	case "github_secret_scanning":
		line += " by GitHub secret scanning"
	case "public_revocation":
		line += " through the public revocation API"
	}
	if where != "" {
		line += ", found at " + where
	}
	return line + "."
}

// leakResponseLine says what keydesk did with the leaked key.
func leakResponseLine(response string) string {
	switch response {
	case "inactivated":
		return "keydesk inactivated it: calls with it now fail. Generate or roll a key for the integration that used it."
	case "already inactive":
		return "It was already inactive."
	}
	return "It still works (Settings » When a key is found leaked: Notify only). Roll or inactivate it now."
}
