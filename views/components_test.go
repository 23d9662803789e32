package views

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"keydesk/models/accounts"
)

// render renders c, with children when given, and parses the result.
func render(t *testing.T, c templ.Component, children templ.Component) *goquery.Document {
	t.Helper()
	ctx := context.Background()
	if children != nil {
		ctx = templ.WithChildren(ctx, children)
	}
	var b strings.Builder
	if err := c.Render(ctx, &b); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

func TestFormField(t *testing.T) {
	for _, size := range []fieldSize{fieldRoomy, fieldCompact} {
		f := field{ID: "key-name", Label: "Name", Size: size}
		doc := render(t, formField(f), templ.Raw(`<input id="key-name">`))
		// Tests and screen readers find controls by the exact label text.
		if got := doc.Find("label[for=key-name]").Text(); got != "Name" {
			t.Errorf("size %d: label %q, want %q", size, got, "Name")
		}
		if doc.Find("#key-name").Length() != 1 {
			t.Errorf("size %d: the control given as children is missing", size)
		}
		if doc.Find("#key-name-error").Length() != 0 {
			t.Errorf("size %d: an error is shown for a valid value", size)
		}

		f.Error = "Name is required."
		doc = render(t, formField(f), templ.Raw(`<input id="key-name">`))
		if got := doc.Find("#key-name-error").Text(); got != f.Error {
			t.Errorf("size %d: error %q, want %q", size, got, f.Error)
		}
	}
}

func TestFormFieldOptional(t *testing.T) {
	doc := render(t, formField(field{ID: "key-description", Label: "Description", Optional: true}), nil)
	label := doc.Find("label[for=key-description]")
	if got := label.Text(); got != "Description (optional)" {
		t.Fatalf("label %q", got)
	}
	if label.Find("span").Text() != "(optional)" {
		t.Fatalf("the (optional) mark is not set apart from the label")
	}
}

func TestInvalidAttrs(t *testing.T) {
	if a := (field{ID: "audit-from"}).invalidAttrs(); len(a) != 0 {
		t.Fatalf("a valid field got %v", a)
	}
	a := field{ID: "audit-from", Error: "Not a date."}.invalidAttrs()
	if len(a) != 2 || a[0].Key != "aria-invalid" || a[0].Value != "true" || a[1].Key != "aria-describedby" || a[1].Value != "audit-from-error" {
		t.Fatalf("invalid field got %v", a)
	}
}

func TestPageHeader(t *testing.T) {
	doc := render(t, PageHeader("Settings", "Your program's identity for the APIs.", nil), nil)
	if got := doc.Find("h1").Text(); got != "Settings" {
		t.Fatalf("title %q", got)
	}
	if doc.Find("button, a").Length() != 0 || doc.Find("div > div").Length() != 1 {
		t.Fatalf("a header without actions has an actions area")
	}

	doc = render(t, PageHeader("Audit Trail", "", templ.Raw(`<button type="submit">Verify integrity</button>`)), nil)
	if doc.Find("h1 + p").Length() != 0 {
		t.Fatalf("an empty lead is rendered")
	}
	if got := doc.Find("button").Text(); got != "Verify integrity" {
		t.Fatalf("actions %q", got)
	}
}

// TestRequestsText: one request is "1 request", as the key rows say it.
func TestRequestsText(t *testing.T) {
	for n, want := range map[int64]string{0: "0 requests", 1: "1 request", 2: "2 requests", 1000: "1000 requests"} {
		if got := requestsText(n); got != want {
			t.Errorf("requestsText(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestSignInStepsCarryTheLogoAndAWayBack: the two-factor page shows the
// logo and links back to the sign-in page; the invite page shows the logo.
func TestSignInStepsCarryTheLogoAndAWayBack(t *testing.T) {
	doc := render(t, LoginCodePage("token", "", true, false), nil)
	if doc.Find("main svg rect").Length() == 0 {
		t.Error("the two-factor page has no logo")
	}
	if doc.Find(`a[href="/login"]`).Text() != "Back to sign-in" {
		t.Error("the two-factor page has no way back to the sign-in page")
	}
	doc = render(t, InvitePage(InvitePageForm{ProgramName: "Demo Store"}), nil)
	if doc.Find("main svg rect").Length() == 0 {
		t.Error("the invite page has no logo")
	}
}

// TestRemovingYourselfWarns: the Remove page says when the admin to remove
// is the one signed in, and only then.
func TestRemovingYourselfWarns(t *testing.T) {
	s := Shell{AdminEmail: "ana@demo.test", ProgramName: "Demo Store"}
	doc := render(t, AdminRemovePage(s, accounts.TeamMember{AdminID: 1, Email: "ana@demo.test"}, ""), nil)
	if got := doc.Find("[data-removing-self]").Text(); !strings.Contains(got, "This is you: you will be signed out.") || !strings.Contains(got, "Demo Store") {
		t.Error("removing yourself does not warn that it is you")
	}
	doc = render(t, AdminRemovePage(s, accounts.TeamMember{AdminID: 2, Email: "bo@demo.test"}, ""), nil)
	if doc.Find("[data-removing-self]").Length() != 0 {
		t.Error("removing someone else warns that it is you")
	}
}

// TestRecoveryCodesCopyDownloadPrint: the shown-once recovery codes come
// with Copy and Download (both the codes, one a line) and Print.
func TestRecoveryCodesCopyDownloadPrint(t *testing.T) {
	codes := []string{"aaaa-bbbb", "cccc-dddd"}
	doc := render(t, AccountPage(Shell{}, AccountView{Email: "ana@demo.test", RecoveryCodes: codes}), nil)
	actions := doc.Find("[data-recovery-actions]")
	copied, _ := actions.Find("button[data-copy-text]").Attr("data-copy-text")
	if !strings.Contains(copied, "aaaa-bbbb\ncccc-dddd\n") {
		t.Errorf("Copy gives %q", copied)
	}
	href, _ := actions.Find("a[download]").Attr("href")
	text, err := url.PathUnescape(strings.TrimPrefix(href, "data:text/plain;charset=utf-8,"))
	if err != nil || text != copied {
		t.Errorf("Download gives %q (%v), want what Copy gives", text, err)
	}
	if actions.Find("button[data-print]").Length() != 1 {
		t.Error("no Print")
	}
}
