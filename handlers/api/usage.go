package api

import (
	"github.com/labstack/echo/v4"

	"keydesk/models/apiauth"
	"keydesk/models/metrics"
)

// UsageCounter counts a verification against a key in memory (the usage
// recorder); it never touches the database.
type UsageCounter interface {
	Count(keyID, programID int64, outcome, ip, userAgent string)
}

// count records one verification outcome: in the metrics always, and
// against the key when one can be attributed.
func (a *API) count(c echo.Context, keyID, programID int64, outcome string) {
	metrics.Verification(outcome)
	if keyID != 0 && a.usage != nil {
		a.usage.Count(keyID, programID, outcome, c.RealIP(), c.Request().UserAgent())
	}
}

// countFailure counts a refused credential by its outcome.
func (a *API) countFailure(c echo.Context, err error) {
	f := apiauth.FailureOf(err)
	a.count(c, f.KeyID, f.ProgramID, f.Outcome)
}
