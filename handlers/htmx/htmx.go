// Package htmx reads the headers htmx sends and writes the ones it obeys, so
// their names live in one place (https://htmx.org/reference/#headers).
package htmx

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"
)

// Request and response headers of htmx.
const (
	HeaderRequest  = "HX-Request"
	HeaderBoosted  = "HX-Boosted"
	HeaderRedirect = "HX-Redirect"
	HeaderRetarget = "HX-Retarget"
	HeaderReswap   = "HX-Reswap"
	HeaderTrigger  = "HX-Trigger"
)

// Swap styles for Reswap.
const (
	SwapOuterHTML = "outerHTML"
	SwapNone      = "none"
)

// IsRequest reports whether htmx sent the request (boosted or not).
func IsRequest(c echo.Context) bool {
	return c.Request().Header.Get(HeaderRequest) == "true"
}

// IsFragment is the one place that decides "fragment or full page": an
// htmx request that is not boosted gets the fragment.
func IsFragment(c echo.Context) bool {
	return IsRequest(c) && c.Request().Header.Get(HeaderBoosted) != "true"
}

// Redirect makes htmx load url as a full page.
func Redirect(c echo.Context, url string) {
	c.Response().Header().Set(HeaderRedirect, url)
}

// Retarget swaps the response into the element matching selector instead
// of the request's target.
func Retarget(c echo.Context, selector string) {
	c.Response().Header().Set(HeaderRetarget, selector)
}

// Reswap overrides how the response is swapped (SwapOuterHTML, SwapNone…).
func Reswap(c echo.Context, swap string) {
	c.Response().Header().Set(HeaderReswap, swap)
}

// Trigger sets the HX-Trigger header to the given client events; app.js
// listens for them (toast, close-modal, reauth-required, copy-secret…).
func Trigger(c echo.Context, events map[string]any) {
	b, err := json.Marshal(events)
	if err != nil {
		return
	}
	c.Response().Header().Set(HeaderTrigger, asciiJSON(string(b)))
}

// asciiJSON escapes every non-ASCII character as \uXXXX: header values
// travel as Latin-1, and htmx would show “curly quotes” as mojibake.
func asciiJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&b, "\\u%04x\\u%04x", 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}
