// Package metrics holds keydesk's Prometheus collectors. It imports nothing
// of keydesk, so any package may count into it. The collectors are
// process-wide (the usual client_golang pattern); the server registers them,
// with its own per-instance gauges, in a registry served only on
// KEYDESK_METRICS_ADDR. No label ever holds a key, an identifier or an
// email: labels are fixed enums (outcome, route template, status class).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Verification outcomes, the values of the outcome label (and of the
// usage store's outcome column).
const (
	OutcomeValid       = "valid"
	OutcomeInvalid     = "invalid"
	OutcomeInactive    = "inactive"
	OutcomeExpired     = "expired"
	OutcomeForbidden   = "forbidden"
	OutcomeRateLimited = "rate_limited"
	// OutcomeQuotaExceeded: refused past the key's quota for the period.
	OutcomeQuotaExceeded = "quota_exceeded"
)

// Sign-in factors, the values of keydesk_signin_failures_total's factor
// label.
const (
	FactorPassword = "password"
	FactorCode     = "code" // an authenticator app's code or a recovery code
	FactorPasskey  = "passkey"
)

// Outcomes lists every verification outcome, in display order.
var Outcomes = []string{OutcomeValid, OutcomeInvalid, OutcomeInactive, OutcomeExpired, OutcomeForbidden, OutcomeRateLimited, OutcomeQuotaExceeded}

var (
	// KeyVerifications counts API authentications by outcome.
	KeyVerifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keydesk_key_verifications_total",
		Help: "API key and UI token verifications by outcome.",
	}, []string{"outcome"})

	// HTTPDuration is the request duration by route template, method and
	// status class (2xx, 3xx, 4xx, 5xx).
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "keydesk_http_request_duration_seconds",
		Help:    "HTTP request duration by route template, method and status class.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "method", "status"})

	// CacheLookups counts verifier cache lookups by result (hit, miss).
	CacheLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keydesk_key_cache_lookups_total",
		Help: "Key verification cache lookups by result (hit or miss).",
	}, []string{"result"})

	// RevocationNotifications counts revocation notices received from
	// PostgreSQL (LISTEN/NOTIFY).
	RevocationNotifications = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keydesk_revocation_notifications_total",
		Help: "Key revocation notices received over PostgreSQL LISTEN/NOTIFY.",
	})

	// RevocationListenerUp is 1 while the revocation listener is listening.
	RevocationListenerUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "keydesk_revocation_listener_up",
		Help: "1 while the PostgreSQL revocation listener is listening (the key cache is trusted), else 0.",
	})

	// KeyReveals counts secrets shown or copied in the console, by action.
	KeyReveals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keydesk_key_reveals_total",
		Help: "API key secrets revealed or copied in the console, by action (reveal, copy).",
	}, []string{"action"})

	// AuditAppends counts audit events appended, by action.
	AuditAppends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keydesk_audit_appends_total",
		Help: "Audit events appended (inside their action's transaction), by action.",
	}, []string{"action"})

	// SignInFailures counts refused console sign-ins by the factor that
	// was refused (FactorPassword, FactorCode, FactorPasskey).
	SignInFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keydesk_signin_failures_total",
		Help: "Console sign-ins refused (wrong or throttled), by factor: password, code (authenticator or recovery code) or passkey.",
	}, []string{"factor"})

	// RateLimitBackend is 1 for the limiter in use: shared (Redis) or
	// local (per instance).
	RateLimitBackend = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "keydesk_rate_limit_backend",
		Help: "1 for the per-key rate limit backend in use: shared (Redis) or local (per instance).",
	}, []string{"backend"})

	// RateLimitFallbacks counts decisions the local limiter took because
	// Redis failed.
	RateLimitFallbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keydesk_rate_limit_redis_fallbacks_total",
		Help: "Rate limit decisions taken by the per-instance limiter because Redis failed.",
	})

	// UsageFlushes counts usage flushes by result (ok, error).
	UsageFlushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keydesk_usage_flushes_total",
		Help: "Batched per-key usage flushes to the database, by result (ok or error).",
	}, []string{"result"})
)

// Shared are the process-wide collectors, registered by each server's
// registry.
func Shared() []prometheus.Collector {
	return []prometheus.Collector{KeyVerifications, HTTPDuration, CacheLookups, RevocationNotifications,
		RevocationListenerUp, KeyReveals, AuditAppends, SignInFailures, RateLimitBackend, RateLimitFallbacks, UsageFlushes}
}

// verificationCounters are KeyVerifications' children, resolved once so
// that counting on the request path does not hash label values.
var verificationCounters = func() map[string]prometheus.Counter {
	m := make(map[string]prometheus.Counter, len(Outcomes))
	for _, o := range Outcomes {
		m[o] = KeyVerifications.WithLabelValues(o)
	}
	return m
}()

// Cache lookups by result, resolved once (see CacheLookups).
var (
	CacheHits   = CacheLookups.WithLabelValues("hit")
	CacheMisses = CacheLookups.WithLabelValues("miss")
)

// Verification counts one verification outcome.
func Verification(outcome string) {
	if c, ok := verificationCounters[outcome]; ok {
		c.Inc()
		return
	}
	KeyVerifications.WithLabelValues(outcome).Inc()
}

// standardMethods are the request methods of RFC 9110 (and PATCH, RFC
// 5789), the values the method label may take besides "other".
var standardMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true,
}

// MethodLabel is the method label of a request: a standard method as it
// is, any other as "other". A method is whatever token a client sends, so
// labelling it as sent would let anyone add series without end.
func MethodLabel(method string) string {
	if standardMethods[method] {
		return method
	}
	return "other"
}

// StatusClass is "2xx" … "5xx" for a status code.
func StatusClass(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	case status >= 200:
		return "2xx"
	}
	return "1xx"
}
