package integration_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/simulator/events"
)

const secret = "Bearer s3cret"

func newHTTPHandler(t *testing.T, cfg integration.HTTPConfig, h integration.Handler) *integration.HTTPHandler {
	t.Helper()
	cfg.Secret = secret
	cfg.Filter.Managed = isManaged
	hh, err := integration.NewHTTPHandler(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	return hh
}

// post sends body to h as ChirpStack would, with the secret in header.
func post(h http.Handler, event, contentType string, header, value string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/events?event="+event, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if header != "" {
		r.Header.Set(header, value)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func marshal(t *testing.T, m proto.Message, enc events.Encoding) []byte {
	t.Helper()
	b, err := events.Marshal(m, enc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHTTPHandlerScenario(t *testing.T) {
	tests := []struct {
		name        string
		enc         events.Encoding
		contentType string // empty: the encoding's
		cfg         integration.HTTPConfig
	}{
		{"json", events.JSON, "", integration.HTTPConfig{}},
		{"protobuf", events.Protobuf, "", integration.HTTPConfig{}},
		{"json, no content type", events.JSON, "text/plain", integration.HTTPConfig{}},
		{"protobuf, no content type", events.Protobuf, "text/plain", integration.HTTPConfig{}},
		{"protobuf forced", events.Protobuf, "application/json", integration.HTTPConfig{Encoding: integration.EncodingProtobuf}},
		{"json with charset", events.JSON, "application/json; charset=utf-8", integration.HTTPConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			h := newHTTPHandler(t, tt.cfg, rec)
			ct := tt.contentType
			if ct == "" {
				ct = tt.enc.ContentType()
			}
			var want []any
			for _, s := range scenario() {
				typ, err := events.EventType(s.msg)
				if err != nil {
					t.Fatal(err)
				}
				if w := post(h, typ, ct, "Authorization", secret, marshal(t, s.msg, tt.enc)); w.Code != http.StatusOK {
					t.Fatalf("%s: %d %s", typ, w.Code, w.Body)
				}
				if s.want != nil {
					want = append(want, s.want)
				}
			}
			if got := rec.events(); !reflect.DeepEqual(got, want) {
				t.Errorf("handler got\n%+v\nwant\n%+v", got, want)
			}
			if st := h.Stats(); st != scenarioStats {
				t.Errorf("Stats = %+v, want %+v", st, scenarioStats)
			}
		})
	}
}

func TestHTTPHandlerRefusals(t *testing.T) {
	up := upEvent(managed, 201, 1)
	tests := []struct {
		name          string
		method        string
		event         string
		header, value string
		body          []byte
		contentType   string
		code          int
		want          integration.Stats
	}{
		{"ok", "", "up", "Authorization", secret, marshal(t, up, events.JSON), "application/json", 200,
			integration.Stats{Received: 1, Uplinks: 1}},
		{"missing secret", "", "up", "", "", marshal(t, up, events.JSON), "application/json", 401,
			integration.Stats{Unauthorized: 1}},
		{"wrong secret", "", "up", "Authorization", "Bearer s3cres", marshal(t, up, events.JSON), "application/json", 401,
			integration.Stats{Unauthorized: 1}},
		{"secret in another header", "", "up", "X-Secret", secret, marshal(t, up, events.JSON), "application/json", 401,
			integration.Stats{Unauthorized: 1}},
		{"GET", http.MethodGet, "up", "Authorization", secret, nil, "", 405, integration.Stats{}},
		{"unknown event", "", "integration", "Authorization", secret, []byte("whatever"), "application/json", 200,
			integration.Stats{Received: 1, IgnoredEvents: 1}},
		{"status event", "", "status", "Authorization", secret, []byte("{}"), "application/json", 200,
			integration.Stats{Received: 1, IgnoredEvents: 1}},
		{"no event", "", "", "Authorization", secret, marshal(t, up, events.JSON), "application/json", 400,
			integration.Stats{Received: 1, Malformed: 1}},
		{"malformed json", "", "up", "Authorization", secret, []byte(`{"fPort":`), "application/json", 400,
			integration.Stats{Received: 1, Malformed: 1}},
		{"json sent as protobuf", "", "up", "Authorization", secret, marshal(t, up, events.JSON), "application/octet-stream", 400,
			integration.Stats{Received: 1, Malformed: 1}},
		{"malformed protobuf", "", "ack", "Authorization", secret, []byte{0x0a, 0x05, 0x01}, "application/octet-stream", 400,
			integration.Stats{Received: 1, Malformed: 1}},
		{"too large", "", "up", "Authorization", secret, bytes.Repeat([]byte{' '}, 2<<20), "application/json", 413,
			integration.Stats{Received: 1, Malformed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			h := newHTTPHandler(t, integration.HTTPConfig{}, rec)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/?event="+tt.event, bytes.NewReader(tt.body))
			r.Header.Set("Content-Type", tt.contentType)
			if tt.header != "" {
				r.Header.Set(tt.header, tt.value)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.code {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tt.code)
			}
			if st := h.Stats(); st != tt.want {
				t.Errorf("Stats = %+v, want %+v", st, tt.want)
			}
		})
	}
}

func TestHTTPHandlerSecretHeader(t *testing.T) {
	rec := newRecorder()
	h := newHTTPHandler(t, integration.HTTPConfig{SecretHeader: "X-Lorafuota-Secret"}, rec)
	body := marshal(t, upEvent(managed, 200, 1), events.Protobuf)
	if w := post(h, "up", "application/octet-stream", "Authorization", secret, body); w.Code != http.StatusUnauthorized {
		t.Errorf("Authorization header: %d, want 401", w.Code)
	}
	if w := post(h, "up", "application/octet-stream", "X-Lorafuota-Secret", secret, body); w.Code != http.StatusOK {
		t.Errorf("X-Lorafuota-Secret header: %d, want 200", w.Code)
	}
	if _, err := integration.NewHTTPHandler(integration.HTTPConfig{}, rec); err == nil {
		t.Error("NewHTTPHandler without a secret succeeded")
	}
}

// TestHTTPFromPublisher runs the simulated ChirpStack's HTTP integration
// against the handler over a real connection.
func TestHTTPFromPublisher(t *testing.T) {
	for _, enc := range []events.Encoding{events.JSON, events.Protobuf} {
		t.Run(enc.String(), func(t *testing.T) {
			rec := newRecorder()
			srv := httptest.NewServer(newHTTPHandler(t, integration.HTTPConfig{}, rec))
			defer srv.Close()
			p, err := events.New(context.Background(), events.Config{HTTP: []events.HTTPConfig{{
				URLs: []string{srv.URL + "/chirpstack"}, Encoding: enc, Headers: map[string]string{"Authorization": secret},
			}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Publish(appID, managed, upEvent(managed, 202, 5)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			got := rec.waitFor(t, 1)
			if want := []any{wantUplink(managed, 202, 5)}; !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}
