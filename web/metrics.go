package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"keydesk/models/metrics"
)

// metricsListener serves Prometheus /metrics on KEYDESK_METRICS_ADDR, a
// listener of its own: the public router never has a /metrics route.
type metricsListener struct {
	addr     string
	registry *prometheus.Registry
	server   *http.Server
	bound    string
	done     chan struct{}
}

// newRegistry gathers the process-wide collectors with this server's own
// figures: the key cache's size, the database pool, the Go runtime.
func (s *Server) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.Shared()...)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if sqlDB, err := s.Stores.SQLDB(); err == nil {
		reg.MustRegister(collectors.NewDBStatsCollector(sqlDB, "keydesk"))
	}
	for _, kind := range []string{"positive", "negative"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "keydesk_key_cache_entries",
			Help:        "Entries in the key verification cache, by kind (positive or negative).",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 {
			p, n := s.api.verifier.CacheSize()
			if kind == "positive" {
				return float64(p)
			}
			return float64(n)
		}))
	}
	for _, c := range s.extraCollectors {
		reg.MustRegister(c)
	}
	return reg
}

// startMetrics opens the metrics listener when an address is configured.
func (s *Server) startMetrics() error {
	m := s.metrics
	if m == nil || m.addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return err
	}
	m.registry = s.newRegistry()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorLog: nil}))
	m.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.bound = ln.Addr().String()
	m.done = make(chan struct{})
	go func() {
		defer close(m.done)
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("metrics listener stopped", "error", err.Error())
		}
	}()
	s.logger.Info("metrics listening", "addr", m.bound)
	return nil
}

// stopMetrics closes the metrics listener.
func (s *Server) stopMetrics() {
	m := s.metrics
	if m == nil || m.server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = m.server.Shutdown(ctx)
	<-m.done
}

// MetricsAddr is the address the metrics listener is bound to ("" when
// there is none): with KEYDESK_METRICS_ADDR=127.0.0.1:0, the port chosen.
func (s *Server) MetricsAddr() string {
	if s.metrics == nil {
		return ""
	}
	return s.metrics.bound
}

// observeRequests times every request into the duration histogram, by
// route template (never the path itself, which may hold an id; a path no
// route knows is "unmatched"), method (a non-standard one is "other") and
// status class: every label takes one of a fixed set of values. It wraps logRequests, so the status is the final one.
func observeRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		metrics.HTTPDuration.WithLabelValues(route, metrics.MethodLabel(c.Request().Method), metrics.StatusClass(c.Response().Status)).Observe(time.Since(start).Seconds())
		return err
	}
}
