// Package views holds keydesk's templ components: the layout, pages and the
// partials (rows, dialogs) that htmx swaps.
package views

import (
	"encoding/json"

	"github.com/a-h/templ"
)

// Shell is what the layout needs about the signed-in admin.
type Shell struct {
	Title       string
	Active      string
	CSRF        string
	AdminEmail  string
	ProgramName string
	PartnerID   string
	Programs    []ProgramChoice
	CanKeys     bool
	CanSettings bool
	CanAudit    bool
	// HasTOTP adds the Code field to the password dialog.
	HasTOTP bool
	// HasPasskey adds Use passkey to the password dialog.
	HasPasskey bool
	// SSOSession: single sign-on signed the admin in, so the dialog asks
	// for a passkey or the authenticator code alone, else a fresh
	// identity-provider sign-in, never the password.
	SSOSession bool
	// OpenDialog is shown in the page's dialog as the page loads: a
	// secret shown once after a full-page form (a webhook signing secret).
	OpenDialog templ.Component
}

// ProgramChoice is one entry of the program switcher.
type ProgramChoice struct {
	Name      string
	PartnerID string
	Current   bool
}

// Navigation entries.
const (
	NavSettings   = "settings"
	NavAPIKeys    = "api-keys"
	NavAuditTrail = "audit-trail"
	NavAdmins     = "admins"
	NavAccount    = "account"
	NavWebhooks   = "webhooks"
	// NavManagementKeys is General » Management keys.
	NavManagementKeys = "management-keys"
	// NavAPIReference is the API reference, reached from API Keys.
	NavAPIReference = "api-reference"
)

// htmxHeaders sends the CSRF token with every htmx request.
func htmxHeaders(csrf string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": csrf})
	return string(b)
}

// htmxConfig: defaultSettleDelay 0 settles a swap in the task that made
// it. htmx wires swapped-in content (hx-post, hx-get) only when it settles;
// with its default 20 ms delay (far longer on a busy machine) a dialog or a
// row was shown, focused and pressable before it was wired: a press in that
// gap was lost, or submitted the form natively, a GET of the page with the
// fields (a password too) in the address. Nothing here animates on
// htmx's settle classes.
const htmxConfig = `{"defaultSettleDelay":0,"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyRestoreAsHxRequest":false,"selfRequestsOnly":true,"defaultSwapStyle":"outerHTML","attributesToSettle":["class","width","height"]}`

func navClass(active bool) string {
	if active {
		return "flex items-center gap-2 whitespace-nowrap rounded-md bg-indigo-50 px-3 py-2 text-sm font-medium text-indigo-700"
	}
	return "flex items-center gap-2 whitespace-nowrap rounded-md px-3 py-2 text-sm font-medium text-slate-600 hover:bg-slate-100 hover:text-slate-900"
}

func ariaCurrent(active bool) string {
	if active {
		return "page"
	}
	return "false"
}
