package htmx

import (
	"net/url"

	"github.com/labstack/echo/v4"
)

// HeaderCurrentURL is the address of the page an htmx request came from.
const HeaderCurrentURL = "HX-Current-URL"

// CurrentPage is the path and query of the page an htmx request came from,
// when that page is on this host; otherwise "".
func CurrentPage(c echo.Context) string {
	u, err := url.Parse(c.Request().Header.Get(HeaderCurrentURL))
	if err != nil || u.Host != c.Request().Host || u.Path == "" {
		return ""
	}
	return u.RequestURI()
}
