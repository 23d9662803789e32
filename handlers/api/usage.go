package api

import (
	"github.com/labstack/echo/v4"

	"keydesk/models/apiauth"
	"keydesk/models/metrics"
	"keydesk/models/usage"
)

// UsageCounter counts a call against a key in memory (the usage
// recorder); it never touches the database.
type UsageCounter interface {
	Count(keyID, programID int64, outcome, ip, userAgent string)
}

// ctxCounted marks a request already counted against its key: each call
// is counted once, by the first refusal or else by its answer.
const ctxCounted = "keydesk.api.counted"

// refused counts a refused call: in the metrics by its verification
// outcome (metrics.Outcome*), and against the key, when one can be
// attributed, by its usage outcome (usage.Outcome*).
func (a *API) refused(c echo.Context, keyID, programID int64, verification, outcome string) {
	metrics.Verification(verification)
	a.countOnce(c, keyID, programID, outcome)
}

// countOnce counts the call against the key unless it was counted already.
func (a *API) countOnce(c echo.Context, keyID, programID int64, outcome string) {
	if keyID == 0 || a.usage == nil || c.Get(ctxCounted) != nil {
		return
	}
	c.Set(ctxCounted, true)
	a.usage.Count(keyID, programID, outcome, c.RealIP(), c.Request().UserAgent())
}

// countFailure counts a refused credential by its outcome: the old secret
// of a roll after its overlap is told apart from an expired key.
func (a *API) countFailure(c echo.Context, err error) {
	f := apiauth.FailureOf(err)
	outcome := f.Outcome // invalid, inactive and expired are usage outcomes too
	if f.OldSecret {
		outcome = usage.OutcomeOldKeyExpired
	}
	a.refused(c, f.KeyID, f.ProgramID, f.Outcome, outcome)
}

// countAnswer counts an allowed call against its key by the status it is
// answered with (successful, client error, server error), when the status
// is written: after the handler, or after the server's error handler turns
// the handler's error into the answer. A call refused on the way (a
// quota, say) and counted as such is not counted again.
func (a *API) countAnswer(c echo.Context, key *apiauth.VerifiedKey, next echo.HandlerFunc) error {
	metrics.Verification(metrics.OutcomeValid)
	res := c.Response()
	res.Before(func() { a.countOnce(c, key.KeyID, key.ProgramID, usage.OutcomeOfStatus(res.Status)) })
	err := next(c)
	if err == nil && !res.Committed {
		// Nothing written: net/http answers 200 with an empty body.
		a.countOnce(c, key.KeyID, key.ProgramID, usage.OutcomeSuccess)
	}
	return err
}
