package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HealthCheck reports whether a dependency works; nil is healthy.
type HealthCheck func(ctx context.Context) error

// healthTimeout bounds one /healthz check.
const healthTimeout = 2 * time.Second

// NewHTTPHandler returns the server's HTTP endpoints: /metrics from reg,
// /healthz running checks by name, and, when hook is not nil, ChirpStack's
// HTTP integration at hookPath.
func NewHTTPHandler(reg *prometheus.Registry, checks map[string]HealthCheck, hookPath string, hook http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		var failed []string
		for name, check := range checks {
			if err := check(ctx); err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", name, err))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, f := range failed {
				fmt.Fprintln(w, f)
			}
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if hook != nil {
		mux.Handle(hookPath, hook)
	}
	return mux
}
