package usage

// Outcomes of a call made with a key, the values of key_usage.outcome:
// what the caller got. A call is counted once, by its answer: successful
// (2xx), or failed for one reason. Authentication reasons name the key the
// credential points to (the answer is the same 401 for all of them).
//
// Two stored names are kept from before answers were counted (issue 28),
// so that existing rows and their readers keep their meaning as far as it
// goes: "valid" (then every authenticated call within the rate limit,
// whatever its answer; now the 2xx ones) and "forbidden" (then permission
// and address refusals; now permission refusals, addresses having their
// own reason).
const (
	OutcomeSuccess     = "valid"        // answered 2xx
	OutcomeClientError = "client_error" // authenticated and allowed, answered 4xx (404, 409, 422…)
	OutcomeServerError = "server_error" // answered 5xx

	OutcomeWrongPartner  = "invalid"           // 401: the key with another program's partner-id
	OutcomeInactive      = "inactive"          // 401: the key is inactive
	OutcomeExpired       = "expired"           // 401: the key has expired
	OutcomeOldKeyExpired = "old_key_expired"   // 401: a roll's old secret after its overlap ended
	OutcomeNoPermission  = "forbidden"         // 403: outside the key's permissions
	OutcomeWrongAddress  = "forbidden_address" // 403: from an address the key is not allowed from
	OutcomeRateLimited   = "rate_limited"      // 429 RATE_LIMIT_EXCEEDED
	OutcomeQuotaExceeded = "quota_exceeded"    // 429 QUOTA_EXCEEDED
)

// Class groups outcomes for the chart's series and the API's totals.
type Class struct {
	Name     string   // machine name: success, unauthorized, forbidden, limited, client_error, server_error
	Outcomes []string // in display order
}

// Classes are every outcome by class, successful first, each failure
// reason in display order.
var Classes = []Class{
	{"success", []string{OutcomeSuccess}},
	{"unauthorized", []string{OutcomeInactive, OutcomeExpired, OutcomeOldKeyExpired, OutcomeWrongPartner}},
	{"forbidden", []string{OutcomeNoPermission, OutcomeWrongAddress}},
	{"limited", []string{OutcomeRateLimited, OutcomeQuotaExceeded}},
	{"client_error", []string{OutcomeClientError}},
	{"server_error", []string{OutcomeServerError}},
}

// ClassOf is the class of an outcome; an outcome this version does not
// know (written by a newer one) is a client error, never a success.
func ClassOf(outcome string) string {
	for _, c := range Classes {
		for _, o := range c.Outcomes {
			if o == outcome {
				return c.Name
			}
		}
	}
	return "client_error"
}

// Succeeded reports whether an outcome is a successful call.
func Succeeded(outcome string) bool { return ClassOf(outcome) == "success" }

// OutcomeOfStatus is the outcome of a call that passed authentication,
// permissions, addresses and limits, by the status it was answered with.
func OutcomeOfStatus(status int) string {
	switch {
	case status >= 500:
		return OutcomeServerError
	case status >= 400:
		return OutcomeClientError
	default:
		return OutcomeSuccess
	}
}

// Summary is a key's calls over a period: successful, failed, and each
// outcome's count (every known failure reason present, zeros included).
type Summary struct {
	Successful int64
	Failed     int64
	ByOutcome  map[string]int64
}

// Summarize totals counts (any resolution) by outcome.
func Summarize(counts []Count) Summary {
	s := Summary{ByOutcome: map[string]int64{}}
	for _, c := range Classes[1:] {
		for _, o := range c.Outcomes {
			s.ByOutcome[o] = 0
		}
	}
	for _, c := range counts {
		if Succeeded(c.Outcome) {
			s.Successful += c.Count
		} else {
			s.Failed += c.Count
		}
		s.ByOutcome[c.Outcome] += c.Count
	}
	return s
}
