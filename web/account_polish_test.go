package web_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp/totp"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

const chromeOnMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// sessionCells reads /account's sessions: browser and address per row.
func sessionCells(t *testing.T, c *client) [][2]string {
	t.Helper()
	resp, body := c.get("/account")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/account: %d", resp.StatusCode)
	}
	var rows [][2]string
	parseHTML(t, body).Find("[data-session]").Each(func(_ int, s *goquery.Selection) {
		rows = append(rows, [2]string{strings.TrimSpace(s.Find("[data-session-browser]").Text()), strings.TrimSpace(s.Find("[data-session-address]").Text())})
	})
	return rows
}

// Issue 28 item 10: each session on /account names its browser and the
// address it signed in from, the address as the trusted-proxy setting
// decides it; a session from before the columns existed is "Unknown
// browser"; a re-authentication (which rotates the session id) keeps both.
func TestAccountSessionsShowBrowserAndAddress(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, func(c *config.Options) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
		c := ts.newClient(t)
		resp, body := c.do(http.MethodPost, "/login", url.Values{"_csrf": {c.csrf()}, "email": {ts.Demo.Full.Email}, "password": {modeltest.Password}},
			map[string]string{"User-Agent": chromeOnMac, "X-Forwarded-For": "203.0.113.7"})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
		}
		// A session row as the migration left earlier ones: no browser, no address.
		now := time.Now()
		if err := ts.Store.DB.Exec(`INSERT INTO sessions (id, data, created_at, updated_at, expires_at, admin_id, program_id) VALUES ('OLDSESSION', 'x', ?, ?, ?, ?, ?)`,
			now.Add(-time.Hour), now.Add(-time.Hour), now.Add(time.Hour), ts.Demo.Full.ID, ts.Demo.Program.ID).Error; err != nil {
			t.Fatal(err)
		}
		want := [][2]string{{"Chrome on macOS", "203.0.113.7"}, {"Unknown browser", ""}}
		if got := sessionCells(t, c); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("sessions = %q, want %q", got, want)
		}
		if resp, body := c.htmx(http.MethodPost, "/general/reauth", url.Values{"password": {modeltest.Password}}); resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("HX-Trigger"), "reauthenticated") {
			t.Fatalf("re-auth: %d %s", resp.StatusCode, body)
		}
		if got := sessionCells(t, c); len(got) != 2 || got[0] != want[0] {
			t.Fatalf("after the rotation, sessions = %q, want %q first", got, want[0])
		}

		// Without trusted proxies the header is the client's own claim:
		// the connection's address is shown.
		plain := newTestServer(t, db)
		c = plain.newClient(t)
		c.do(http.MethodPost, "/login", url.Values{"_csrf": {c.csrf()}, "email": {plain.Demo.Full.Email}, "password": {modeltest.Password}},
			map[string]string{"User-Agent": chromeOnMac, "X-Forwarded-For": "203.0.113.7"})
		if got := sessionCells(t, c); len(got) != 1 || got[0] != [2]string{"Chrome on macOS", "127.0.0.1"} {
			t.Fatalf("sessions without trusted proxies = %q", got)
		}
	})
}

// recoveryCodesOf reads the recovery codes a page or fragment shows.
func recoveryCodesOf(t *testing.T, body string) []string {
	t.Helper()
	var codes []string
	parseHTML(t, body).Find("#recovery-codes li").Each(func(_ int, s *goquery.Selection) { codes = append(codes, strings.TrimSpace(s.Text())) })
	return codes
}

// Issue 28 item 10: Regenerate recovery codes asks for the step-up first
// (any admin with an authenticator app, limited ones too), then shows ten
// new codes once; the old ones stop working, the new ones work, and the
// change is audited. With a zero window the next regenerate asks again.
func TestRegenerateRecoveryCodesAfterStepUp(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withReauthWindow(0))
		base := time.Now().Truncate(30 * time.Second)
		ts.Store.SetClock(func() time.Time { return base })
		c := ts.loggedIn(t, ts.Demo.Support.Email)
		secret, old := setUpTOTP(t, ts, c, base)

		resp, body := c.htmx(http.MethodPost, "/account/totp/recovery-codes", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || len(recoveryCodesOf(t, body)) != 0 {
			t.Fatalf("regenerate without the step-up: %d %q %s", resp.StatusCode, resp.Header.Get("HX-Trigger"), body)
		}
		next := base.Add(30 * time.Second)
		ts.Store.SetClock(func() time.Time { return next })
		code, _ := totp.GenerateCode(secret, next)
		if resp, body := c.htmx(http.MethodPost, "/general/reauth", url.Values{"password": {modeltest.Password}, "code": {code}}); !strings.Contains(resp.Header.Get("HX-Trigger"), "reauthenticated") {
			t.Fatalf("limited admin's step-up: %d %s", resp.StatusCode, body)
		}
		resp, body = c.htmx(http.MethodPost, "/account/totp/recovery-codes", nil)
		fresh := recoveryCodesOf(t, body)
		if resp.StatusCode != http.StatusOK || len(fresh) != 10 || !strings.Contains(body, "earlier ones no longer work") {
			t.Fatalf("regenerate after the step-up: %d, %d codes\n%s", resp.StatusCode, len(fresh), body)
		}
		for _, f := range fresh {
			for _, o := range old {
				if f == o {
					t.Fatalf("a new code %s equals an old one", f)
				}
			}
		}
		if _, status := signInWithCode(t, ts, ts.Demo.Support.Email, old[0]); status != http.StatusUnauthorized {
			t.Fatalf("an old recovery code after regenerating: %d", status)
		}
		if _, status := signInWithCode(t, ts, ts.Demo.Support.Email, fresh[0]); status != http.StatusSeeOther {
			t.Fatalf("a new recovery code: %d", status)
		}
		// The one-time grant went with the regenerate.
		if resp, _ := c.htmx(http.MethodPost, "/account/totp/recovery-codes", nil); !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") {
			t.Fatalf("a second regenerate without a new step-up: %q", resp.Header.Get("HX-Trigger"))
		}
		events, err := ts.Store.Audit.List(t.Context(), ts.Demo.Program.ID, audit.Filter{Action: audit.ActionRecoveryCodesRegenerated}, audit.PageRequest{})
		if err != nil || len(events.Events) != 1 || events.Events[0].ActorEmail != ts.Demo.Support.Email {
			t.Fatalf("regenerate events = %+v, %v; want one by %s", events, err, ts.Demo.Support.Email)
		}
		// /account then says how many are left.
		if _, body := c.get("/account"); !strings.Contains(body, "9 recovery codes left.") {
			t.Fatalf("/account does not count the new codes:\n%s", body)
		}

		// With a window (the default), the step-up is asked for too.
		windowed := newTestServer(t, db)
		w := windowed.loggedIn(t, windowed.Demo.Full.Email)
		setUpTOTP(t, windowed, w, time.Now())
		if resp, body := w.htmx(http.MethodPost, "/account/totp/recovery-codes", nil); !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || len(recoveryCodesOf(t, body)) != 0 {
			t.Fatalf("regenerate without the step-up, with a window: %q %s", resp.Header.Get("HX-Trigger"), body)
		}
	})
}

// Issue 28 item 5: a passkey is renamed in a dialog (the form the page's
// #modal takes), validated there; another admin's passkey is a 404.
func TestPasskeyRenameDialog(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Limited.Email)
		mine := storePasskey(t, ts, ts.Demo.Limited.ID, ts.Demo.Limited.Email, "Old name")
		theirs := storePasskey(t, ts, ts.Demo.Full.ID, ts.Demo.Full.Email, "Old name")
		path := func(id int64) string { return "/account/passkeys/" + strconv.FormatInt(id, 10) + "/rename" }
		_, body := c.get("/account")
		if link := parseHTML(t, body).Find(`[data-passkey-row] a[hx-get="` + path(mine) + `"][hx-target="#modal"]`); link.Length() != 1 || strings.TrimSpace(link.Text()) != "Rename" {
			t.Fatalf("no Rename dialog link on /account")
		}
		if parseHTML(t, body).Find(`#passkeys input[type=password]`).Length() != 1 {
			t.Fatalf("the passkey card has %d password fields, want 1", parseHTML(t, body).Find(`#passkeys input[type=password]`).Length())
		}
		resp, body := c.htmx(http.MethodGet, path(mine), nil)
		form := parseHTML(t, body).Find("#passkey-rename-form")
		if v, _ := form.Find("input[name=name]").Attr("value"); resp.StatusCode != http.StatusOK || v != "Old name" {
			t.Fatalf("rename dialog: %d, name %q", resp.StatusCode, v)
		}
		if resp, _ := c.get(path(theirs)); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("another admin's passkey: %d", resp.StatusCode)
		}
		resp, body = c.post(path(mine), url.Values{"name": {"  "}})
		if resp.StatusCode != http.StatusUnprocessableEntity || parseHTML(t, body).Find("#passkey-rename-form [aria-invalid=true]").Length() != 1 {
			t.Fatalf("empty name: %d\n%s", resp.StatusCode, body)
		}
		if resp, _ := c.post(path(mine), url.Values{"name": {"Desk key"}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("rename: %d", resp.StatusCode)
		}
		if resp, _ := c.post(path(theirs), url.Values{"name": {"Mine now"}}); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("renaming another admin's passkey: %d", resp.StatusCode)
		}
		list, err := ts.Store.Accounts.Passkeys(t.Context(), ts.Demo.Limited.ID)
		if err != nil || len(list) != 1 || list[0].Name != "Desk key" {
			t.Fatalf("passkeys = %+v, %v", list, err)
		}
		if got := strings.Join(ts.auditActions(t, ts.Demo.Program.ID), " "); !strings.Contains(got, audit.ActionPasskeyRenamed) {
			t.Fatalf("rename not audited: %s", got)
		}
	})
}

// Remove on a passkey asks first, in a dialog (the form the page's #modal
// takes, a page of its own without script), and says when sign-in will
// then use the password alone; another admin's passkey is a 404 to both
// the question and the removal; Remove passkey removes and audits.
func TestPasskeyRemoveAsksFirst(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Limited.Email)
		limited, full := ts.Demo.Limited, ts.Demo.Full
		laptop, phone, theirs := storePasskey(t, ts, limited.ID, limited.Email, "Work laptop"), storePasskey(t, ts, limited.ID, limited.Email, "Phone"), storePasskey(t, ts, full.ID, full.Email, "Their key")
		path := func(id int64) string { return "/account/passkeys/" + strconv.FormatInt(id, 10) + "/remove" }

		_, body := c.get("/account")
		page := parseHTML(t, body)
		if link := page.Find(`[data-passkey-row] a[hx-get="` + path(phone) + `"][hx-target="#modal"][hx-select="#passkey-remove-form"]`); link.Length() != 1 || strings.TrimSpace(link.Text()) != "Remove" {
			t.Fatalf("no Remove dialog link on /account")
		}
		if n := page.Find(`#passkeys form[action="` + path(phone) + `"]`).Length(); n != 0 {
			t.Fatalf("/account removes a passkey in one click (%d forms)", n)
		}

		// The dialog: the name, what happens, the token, Remove passkey and Cancel.
		confirm := func(resp *http.Response, body string) *goquery.Selection {
			t.Helper()
			form := parseHTML(t, body).Find("#passkey-remove-form")
			if resp.StatusCode != http.StatusOK || form.Length() != 1 {
				t.Fatalf("remove dialog: %d, %d forms\n%s", resp.StatusCode, form.Length(), body)
			}
			if method, _ := form.Attr("method"); method != "post" {
				t.Fatalf("the dialog's form sends %q, want post", method)
			}
			if action, _ := form.Attr("action"); action != path(phone) {
				t.Fatalf("the dialog's form posts to %q, want %s", action, path(phone))
			}
			if title := form.Find("h2#modal-title").Text(); title != "Remove passkey “Phone”?" {
				t.Fatalf("dialog title %q", title)
			}
			if !strings.Contains(form.Text(), "You can no longer sign in or confirm a key reveal with it.") {
				t.Fatalf("the dialog does not say what happens: %q", form.Text())
			}
			if token, _ := form.Find(`input[type=hidden][name=_csrf]`).Attr("value"); token == "" || token != c.csrf() {
				t.Fatalf("the dialog's CSRF token %q, want the session's", token)
			}
			if b := form.Find(`button[type=submit].btn-danger`); strings.TrimSpace(b.Text()) != "Remove passkey" {
				t.Fatalf("submit button %q, want Remove passkey", strings.TrimSpace(b.Text()))
			}
			if cancel := form.Find(`a[data-close-dialog][href="/account"]`); strings.TrimSpace(cancel.Text()) != "Cancel" {
				t.Fatalf("no Cancel back to /account")
			}
			return form
		}
		if form := confirm(c.htmx(http.MethodGet, path(phone), nil)); form.Find("[data-last-passkey]").Length() != 0 {
			t.Fatalf("with another passkey left, the dialog warns about the last one: %q", form.Text())
		}
		resp, body := c.get(path(phone))
		confirm(resp, body)
		if h1 := strings.TrimSpace(parseHTML(t, body).Find("main h1").Text()); h1 != "Remove passkey" {
			t.Fatalf("the page without script is headed %q", h1)
		}

		// Another admin's passkey: 404 to the question and the removal.
		if resp, _ := c.get(path(theirs)); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("asking to remove another admin's passkey: %d", resp.StatusCode)
		}
		if resp, _ := c.htmx(http.MethodGet, path(theirs), nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("asking (htmx) to remove another admin's passkey: %d", resp.StatusCode)
		}
		if resp, _ := c.post(path(theirs), nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("removing another admin's passkey: %d", resp.StatusCode)
		}

		// Remove passkey removes it, audited.
		resp, _ = c.post(path(laptop), nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account?notice=passkey_removed" {
			t.Fatalf("remove: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		list, err := ts.Store.Accounts.Passkeys(t.Context(), ts.Demo.Limited.ID)
		if err != nil || len(list) != 1 || list[0].ID != phone {
			t.Fatalf("passkeys after removing one = %+v, %v", list, err)
		}
		if list, err := ts.Store.Accounts.Passkeys(t.Context(), ts.Demo.Full.ID); err != nil || len(list) != 1 {
			t.Fatalf("the other admin's passkeys = %+v, %v", list, err)
		}
		if got := strings.Join(ts.auditActions(t, ts.Demo.Program.ID), " "); !strings.Contains(got, audit.ActionPasskeyRemoved+":") {
			t.Fatalf("removal not audited: %s", got)
		}

		// The last passkey, no authenticator app: sign-in will use the password only.
		form := confirm(c.htmx(http.MethodGet, path(phone), nil))
		if last := form.Find("[data-last-passkey]").Text(); !strings.Contains(last, "sign-in will then use your password only") || strings.Contains(last, "requires two-factor") {
			t.Fatalf("the last passkey's warning %q", last)
		}
		if err := ts.Store.Accounts.SetRequireTwoFactor(t.Context(), audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}, ts.Demo.Program.ID, true); err != nil {
			t.Fatal(err)
		}
		form = confirm(c.htmx(http.MethodGet, path(phone), nil))
		if last := form.Find("[data-last-passkey]").Text(); !strings.Contains(last, "requires two-factor authentication") {
			t.Fatalf("the last passkey's warning under the two-factor policy %q", last)
		}
		// With an authenticator app, the password is not left alone.
		setUpTOTP(t, ts, c, time.Now())
		if form := confirm(c.htmx(http.MethodGet, path(phone), nil)); form.Find("[data-last-passkey]").Length() != 0 {
			t.Fatalf("with an authenticator app, the dialog warns about the last passkey: %q", form.Text())
		}
		resp, _ = c.post(path(phone), nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("removing the last passkey: %d", resp.StatusCode)
		}
		if list, err := ts.Store.Accounts.Passkeys(t.Context(), ts.Demo.Limited.ID); err != nil || len(list) != 0 {
			t.Fatalf("passkeys after removing the last = %+v, %v", list, err)
		}
	})
}
