package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"keydesk/handlers/htmx"
	"keydesk/routes"
)

// consoleClient is a signed-in admin's browser, reduced to its cookie jar.
type consoleClient struct {
	base  string
	http  *http.Client
	token string // the signed-in session's CSRF token
}

// csrfField finds the CSRF token in a page's hidden _csrf field.
var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// signIn loads /login (for the sign-in form's CSRF token), posts the
// credentials, checks that the console let the admin in and reads the
// session's CSRF token from the page it leads to.
func signIn(base, email, password string) (*consoleClient, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &consoleClient{base: base, http: &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
	if c.token, err = c.pageCSRF(routes.Login); err != nil {
		return nil, err
	}
	form := url.Values{"email": {email}, "password": {password}, "_csrf": {c.token}}
	resp, err := c.http.PostForm(base+routes.Login, form)
	if err != nil {
		return nil, err
	}
	drain(resp)
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("sign-in to %s answered %s, want 303", base, resp.Status)
	}
	if c.token, err = c.pageCSRF(resp.Header.Get("Location")); err != nil {
		return nil, err
	}
	return c, nil
}

// pageCSRF reads the CSRF token from the page at path.
func (c *consoleClient) pageCSRF(path string) (string, error) {
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("GET %s: %s, no CSRF token on the page", path, resp.Status)
	}
	return string(m[1]), nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (c *consoleClient) csrf() string { return c.token }

// cookieHeader is the Cookie header the browser would send (for vegeta).
func (c *consoleClient) cookieHeader() string {
	u, _ := url.Parse(c.base)
	var parts []string
	for _, ck := range c.http.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// get fetches a path and returns its body.
func (c *consoleClient) get(path string) ([]byte, error) {
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// setActive presses Inactivate or Activate on a key, as htmx does.
func (c *consoleClient) setActive(keyID int64, active bool) error {
	action := "inactivate"
	if active {
		action = "activate"
	}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/general/api-keys/%d/%s", c.base, keyID, action), nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-CSRF-Token", c.csrf())
	req.Header.Set(htmx.HeaderRequest, "true")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s key %d: %s", action, keyID, resp.Status)
	}
	return nil
}
