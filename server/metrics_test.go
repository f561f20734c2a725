package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/server"
)

// metric returns the value of the sample of name with exactly labels (as
// Prometheus writes them, e.g. `outcome="updated"`), or -1.
func metric(t *testing.T, text, name, labels string) float64 {
	t.Helper()
	sample := name
	if labels != "" {
		sample += "{" + labels + "}"
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", sample, err)
	}
	return v
}

// TestMetrics runs a campaign and reads /metrics and /healthz.
func TestMetrics(t *testing.T) {
	r := newRig(t, scenario(2), 7)
	m := r.manager("a")
	h := server.NewHTTPHandler(server.NewRegistry(m, map[string]server.EventSource{"http": r.hook("a")}),
		map[string]server.HealthCheck{"redis": r.store.Ping}, "/integration", r.hook("a"))
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}

	if _, err := m.Create(r.ctx, server.Request{Image: r.firmware(4096), Devices: r.devices(1), Draft: true}); err != nil {
		t.Fatal(err)
	}
	code, text := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"lorafuota_deployments", `phase="draft"`, 1},
		{"lorafuota_deployments", `phase="multicast"`, 0},
		{"lorafuota_devices_pending", "", 0},
		{"lorafuota_device_verdicts_total", `outcome="updated"`, 0},
		{"lorafuota_fragments_sent_total", "", 0},
		{"lorafuota_enqueue_errors_total", "", 0},
		{"lorafuota_runner_errors_total", "", 0},
		{"lorafuota_store_errors_total", "", 0},
		{"lorafuota_integration_events_received_total", `source="http"`, 0},
		{"lorafuota_integration_events_dropped_total", `reason="ignored_device",source="http"`, 0},
	} {
		if got := metric(t, text, c.name, c.labels); got != c.want {
			t.Errorf("before the campaign: %s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if !strings.Contains(text, "go_goroutines") || !strings.Contains(text, "# HELP lorafuota_deployments ") {
		t.Error("/metrics lacks the Go collector or the help texts")
	}

	r.hear()
	st, err := m.Create(r.ctx, server.Request{Image: r.firmware(4096), Devices: r.devices(2)})
	if err != nil {
		t.Fatal(err)
	}
	r.net.RunFor(r.ctx, 30*time.Second)
	_, text = get("/metrics")
	if got := metric(t, text, "lorafuota_devices_pending", ""); got != 2 {
		t.Errorf("during the campaign: lorafuota_devices_pending = %v, want 2", got)
	}
	if got := metric(t, text, "lorafuota_deployments", `phase="setup"`); got != 1 {
		t.Errorf("during the campaign: deployments in setup = %v, want 1", got)
	}
	r.finish(m, st.ID, 6*time.Hour)
	_, text = get("/metrics")
	sent := metric(t, text, "lorafuota_fragments_sent_total", "")
	if sent != float64(st.Plan.Frames) {
		t.Errorf("after the campaign: fragments sent %v, want the plan's %d", sent, st.Plan.Frames)
	}
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"lorafuota_deployments", `phase="done"`, 1},
		{"lorafuota_deployments", `phase="draft"`, 1},
		{"lorafuota_devices_pending", "", 0},
		{"lorafuota_device_verdicts_total", `outcome="updated"`, 2},
		{"lorafuota_device_verdicts_total", `outcome="failed"`, 0},
	} {
		if got := metric(t, text, c.name, c.labels); got != c.want {
			t.Errorf("after the campaign: %s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The field's third device is in no deployment, the gateway's stats are
	// no device's: the integration counted what it dropped.
	if got := metric(t, text, "lorafuota_integration_events_received_total", `source="http"`); got <= 0 {
		t.Errorf("events received %v", got)
	}
	if got := metric(t, text, "lorafuota_integration_events_dropped_total", `reason="ignored_device",source="http"`); got <= 0 {
		t.Errorf("events of devices in no deployment running: %v dropped, want some", got)
	}

	if code, body := get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	bad := server.NewHTTPHandler(server.NewRegistry(m, nil), map[string]server.HealthCheck{
		"redis": func(context.Context) error { return errors.New("connection refused") },
	}, "", nil)
	rec := httptest.NewRecorder()
	bad.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "redis: connection refused") {
		t.Errorf("/healthz with Redis down: %d %q", rec.Code, rec.Body)
	}
	// The integration endpoint wants its secret.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/integration?event=up", strings.NewReader("{}")))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("integration without the secret: %d", rec.Code)
	}
}
