package web_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/models/modeltest"
)

// fastest is the least disturbed of a few timings: a busy machine only
// ever adds time, so the minimum is closest to the work itself.
func fastest(ds []time.Duration) time.Duration { return slices.Min(ds) }

// TestSignInTimingDoesNotRevealEmails: an unknown email costs a password
// hash comparison too (the dummy hash): through the whole server it is not
// answered faster than a known email with a wrong password.
func TestSignInTimingDoesNotRevealEmails(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	timed := func(email, password string, want int) time.Duration {
		c := ts.newClient(t)
		c.csrf()
		start := time.Now()
		resp, _ := c.post("/login", url.Values{"email": {email}, "password": {password}})
		d := time.Since(start)
		if resp.StatusCode != want {
			t.Fatalf("sign-in %s: %d, want %d", email, resp.StatusCode, want)
		}
		return d
	}
	// Warm up (first hash, first queries).
	timed(ts.Other.Full.Email, modeltest.Password, http.StatusSeeOther)
	var known, unknown, success []time.Duration
	for i := range 4 { // 4 failures per email stays under the lock of 5
		// Alternate the order so neither kind always follows the other.
		if i%2 == 0 {
			known = append(known, timed(ts.Demo.Full.Email, "wrong password number "+fmt.Sprint(i), http.StatusUnauthorized))
		}
		unknown = append(unknown, timed(fmt.Sprintf("nobody%d@example.test", i), "wrong password number "+fmt.Sprint(i), http.StatusUnauthorized))
		if i%2 == 1 {
			known = append(known, timed(ts.Demo.Full.Email, "wrong password number "+fmt.Sprint(i), http.StatusUnauthorized))
		}
		success = append(success, timed(ts.Demo.Support.Email, modeltest.Password, http.StatusSeeOther))
	}
	mk, mu, ms := fastest(known), fastest(unknown), fastest(success)
	t.Logf("fastest sign-in: known email %v, unknown email %v, success %v", mk, mu, ms)
	// Equal work is proven without a clock by
	// models/accounts.TestAuthenticateComparesOnePasswordWhetherOrNotTheEmailExists;
	// on a shared machine timings only give the floor: an unknown email is
	// not answered without hashing.
	if mu < mk/3 {
		t.Fatalf("unknown email answered in %v, known in %v", mu, mk)
	}
}

// TestSessionFixationIsImpossible: a session planted in the victim's
// browser before sign-in (even a valid one of the attacker's) is not the
// session after it, and re-authentication retires the old id server-side.
func TestSessionFixationIsImpossible(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		u, _ := url.Parse(ts.URL)

		// The attacker signs in with their own account and plants that
		// session cookie in the victim's browser.
		attacker := ts.loggedIn(t, ts.Other.Full.Email)
		planted := cookieValue(attacker, ts, "keydesk_session")
		victim := ts.newClient(t)
		victim.http.Jar.SetCookies(u, attacker.http.Jar.Cookies(u))
		victim.login(ts.Demo.Full.Email)
		after := cookieValue(victim, ts, "keydesk_session")
		if after == "" || after == planted {
			t.Fatal("the planted session survived sign-in")
		}
		// The planted session was retired at the victim's sign-in: the
		// attacker holds nothing, certainly not the victim's session.
		resp, body := attacker.get("/general/api-keys")
		if resp.StatusCode != http.StatusSeeOther || strings.Contains(body, ts.Demo.Full.Email) {
			t.Fatalf("the planted session still works after the victim signed in over it: %d", resp.StatusCode)
		}
		// A made-up cookie value is not adopted either.
		forged := ts.newClient(t)
		forged.http.Jar.SetCookies(u, []*http.Cookie{{Name: "keydesk_session", Value: "attacker-chosen-value", Path: "/"}})
		forged.login(ts.Demo.Support.Email)
		if v := cookieValue(forged, ts, "keydesk_session"); v == "" || v == "attacker-chosen-value" {
			t.Fatal("a forged session cookie was kept at sign-in")
		}

		// Re-authentication: a copy of the cookie taken before it is dead
		// afterwards, so a stolen pre-reauth session cannot reveal keys.
		if resp, _ := generate(t, victim, "Fixation"); resp.StatusCode != http.StatusOK {
			t.Fatal("generate")
		}
		k := keyByName(t, ts, ts.Demo.Program.ID, "Fixation")
		stolen := ts.newClient(t)
		stolen.http.Jar.SetCookies(u, victim.http.Jar.Cookies(u))
		before := cookieValue(victim, ts, "keydesk_session")
		reauth(t, victim, modeltest.Password)
		if cookieValue(victim, ts, "keydesk_session") == before {
			t.Fatal("session id not rotated at re-authentication")
		}
		if resp, _ := stolen.get("/general/api-keys"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("pre-reauth session still works: %d", resp.StatusCode)
		}
		resp, body = stolen.htmx(http.MethodPost, fmt.Sprintf("/general/api-keys/%d/reveal", k.ID), nil)
		if secret := secretOf(t, ts, k); strings.Contains(body, secret) || strings.Contains(resp.Header.Get("HX-Trigger"), secret) {
			t.Fatal("a pre-reauth session revealed the key")
		}
		if resp, _ := victim.get("/general/api-keys"); resp.StatusCode != http.StatusOK {
			t.Fatalf("victim's rotated session: %d", resp.StatusCode)
		}
	})
}

// TestSecretsStaySecret runs a realistic set of actions on both databases
// and then checks that no response carrying a key is cacheable, and that
// no key, password, JWT or session cookie is anywhere in the raw database
// (every column of every table) or in the server's logs.
func TestSecretsStaySecret(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		admin := ts.loggedIn(t, ts.Demo.Full.Email)
		var checked int
		// carries checks one response: if it holds a key it must be no-store.
		var secrets []string
		carries := func(resp *http.Response, body string) {
			t.Helper()
			for _, s := range secrets {
				if strings.Contains(body, s) || strings.Contains(fmt.Sprint(resp.Header), s) {
					checked++
					if resp.Header.Get("Cache-Control") != "no-store" {
						t.Fatalf("%s %s carries a key with Cache-Control %q", resp.Request.Method, resp.Request.URL.Path, resp.Header.Get("Cache-Control"))
					}
				}
			}
		}
		for _, name := range []string{"Shop", "ERP", "Mobile", "Doomed"} {
			resp, body := generate(t, admin, name)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("generate %s: %d", name, resp.StatusCode)
			}
			k := keyByName(t, ts, ts.Demo.Program.ID, name)
			secrets = append(secrets, secretOf(t, ts, k))
			carries(resp, body)
		}
		def, err := ts.Store.Keys.Default(t.Context(), ts.Demo.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secretOf(t, ts, *def))
		reauth(t, admin, "a wrong password for once")
		reauth(t, admin, modeltest.Password)
		keys, _ := ts.Store.Keys.List(t.Context(), ts.Demo.Program.ID)
		for _, k := range append(keys, *def) {
			for _, action := range []string{"reveal", "copy"} {
				resp, body := admin.htmx(http.MethodPost, fmt.Sprintf("/general/api-keys/%d/%s", k.ID, action), nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s %d: %d", action, k.ID, resp.StatusCode)
				}
				carries(resp, body)
			}
		}
		for _, path := range []string{"/general/api-keys", "/general/settings", "/general/audit-trail", "/general/audit-trail/export.csv"} {
			resp, body := admin.get(path)
			carries(resp, body)
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Fatalf("%s shows a key unmasked on load", path)
				}
			}
		}
		doomed := keyByName(t, ts, ts.Demo.Program.ID, "Doomed")
		admin.htmx(http.MethodPost, fmt.Sprintf("/general/api-keys/%d/edit", doomed.ID), url.Values{"name": {"Doomed soon"}})
		admin.htmx(http.MethodPost, fmt.Sprintf("/general/api-keys/%d/inactivate", doomed.ID), nil)
		admin.htmx(http.MethodPost, fmt.Sprintf("/general/api-keys/%d/delete", doomed.ID), nil)
		if _, err := ts.Store.Keys.ByID(t.Context(), ts.Demo.Program.ID, doomed.ID); err == nil {
			t.Fatal("doomed key not deleted")
		}

		// The API: good keys, a typo'd key, a JWT signed with a key.
		last := "x"
		if strings.HasSuffix(secrets[0], last) {
			last = "y" // a key ending in x would make the "typo" the key itself
		}
		typo := secrets[0][:len(secrets[0])-1] + last
		for _, k := range []string{secrets[0], secrets[1], secrets[4], typo} {
			resp, js := apiGet(t, ts, "/v2/loyalty/program", ts.Demo.Program.PartnerID, k)
			if (k == typo) != (resp.StatusCode == http.StatusUnauthorized) {
				t.Fatalf("API with key: %d %v", resp.StatusCode, js)
			}
		}
		shop := keyByName(t, ts, ts.Demo.Program.ID, "Shop")
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": shop.Identifier, "member_id": "m-1", "exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(secrets[0]))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v2/loyalty/ui/member", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("partner-id", ts.Demo.Program.PartnerID)
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				t.Fatal("a JWT signed with an active key was refused")
			}
		}
		session := cookieValue(admin, ts, "keydesk_session")
		admin.post("/logout", nil)
		ts.App.Close() // flush last-used and other background writes
		time.Sleep(50 * time.Millisecond)

		// What must never be stored or logged, and in which forms.
		needles := map[string]string{
			"password": modeltest.Password, "wrong password": "a wrong password for once",
			"typo'd key": typo, "JWT": token, "session cookie": session,
		}
		for i, s := range secrets {
			needles[fmt.Sprintf("key %d", i)] = s
			needles[fmt.Sprintf("key %d body", i)] = s[len("kd_"):]
		}
		cells := scanDatabase(t, ts.Store, func(table, column, value string) {
			for what, n := range needles {
				if strings.Contains(value, n) {
					t.Fatalf("%s found in %s.%s", what, table, column)
				}
			}
		})
		logs := ts.Logs.String()
		for what, n := range needles {
			if strings.Contains(logs, n) {
				t.Fatalf("%s found in the server logs", what)
			}
		}
		if checked == 0 {
			t.Fatal("no response carrying a key was seen: the no-store check checked nothing")
		}
		t.Logf("%d key-carrying responses were no-store; %d database cells and %d bytes of logs hold none of %d secrets", checked, cells, len(logs), len(needles))
	})
}

// scanDatabase calls fn with every non-null cell of every table, as text
// (blobs as their raw bytes), and returns the number of cells.
func scanDatabase(t *testing.T, store *modeltest.Stores, fn func(table, column, value string)) int {
	t.Helper()
	var tables []string
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if store.DB.Dialector.Name() == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	if err := store.DB.Raw(q).Scan(&tables).Error; err != nil || len(tables) < 5 {
		t.Fatalf("list tables: %v (%d)", err, len(tables))
	}
	sqlDB, err := store.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	cells := 0
	for _, table := range tables {
		rows, err := sqlDB.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s: %v", table, err)
			}
			for i, v := range vals {
				if v != nil {
					cells++
					fn(table, cols[i], string(v))
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return cells
}
