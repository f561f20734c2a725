package events_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/simulator/events"
)

type request struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// endpoint is an HTTP integration endpoint recording what it receives and
// answering status (200 when 0).
func endpoint(t *testing.T, status int) (*httptest.Server, <-chan request) {
	t.Helper()
	reqs := make(chan request, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		reqs <- request{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header, body: b}
		if status != 0 {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

// TestHTTP: an up event reaches the endpoint as ChirpStack POSTs it, and the
// body decodes with the official type.
func TestHTTP(t *testing.T) {
	tests := []struct {
		enc         events.Encoding
		contentType string
		decode      func([]byte, proto.Message) error
	}{
		{events.JSON, "application/json", protojson.Unmarshal},
		{events.Protobuf, "application/octet-stream", proto.Unmarshal},
	}
	for _, tt := range tests {
		t.Run(tt.enc.String(), func(t *testing.T) {
			srv, reqs := endpoint(t, 0)
			p := newPublisher(t, events.Config{HTTP: []events.HTTPConfig{{
				URLs:     []string{srv.URL + "/events", srv.URL + "/other?token=abc"},
				Encoding: tt.enc,
				Headers:  map[string]string{"X-Shared-Secret": "s3cret"},
			}}})
			want := uplink(42)
			if err := p.Publish(appID, devEUI, want); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, wantURL := range []struct{ path, query string }{{"/events", "event=up"}, {"/other", "token=abc&event=up"}} {
				r := <-reqs
				if r.method != http.MethodPost || r.path != wantURL.path || r.query != wantURL.query {
					t.Errorf("got %s %s?%s, want POST %s?%s", r.method, r.path, r.query, wantURL.path, wantURL.query)
				}
				if got := r.header.Get("Content-Type"); got != tt.contentType {
					t.Errorf("Content-Type %q, want %q", got, tt.contentType)
				}
				if got := r.header.Get("X-Shared-Secret"); got != "s3cret" {
					t.Errorf("X-Shared-Secret %q", got)
				}
				var got integration.UplinkEvent
				if err := tt.decode(r.body, &got); err != nil {
					t.Fatalf("decode body: %v\n%s", err, r.body)
				}
				diffMessages(t, &got, want)
			}
			if st := p.Stats()[0]; st.Queued != 1 || st.Sent != 2 || st.Failed != 0 || st.Dropped != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestHTTPApplications: an integration gets the events of its applications
// only, each with its event type.
func TestHTTPApplications(t *testing.T) {
	srv, reqs := endpoint(t, 0)
	p := newPublisher(t, events.Config{HTTP: []events.HTTPConfig{{URLs: []string{srv.URL}, ApplicationIDs: []string{appID}}}})
	for _, m := range samples() {
		for _, app := range []string{"other-app", appID} {
			if err := p.Publish(app, devEUI, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Close has waited for the responses, so every request is recorded.
	var got []string
	for len(reqs) > 0 {
		got = append(got, (<-reqs).query)
	}
	want := "event=up event=join event=ack event=txack event=log event=status event=location"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// TestHTTPFailures: an endpoint answering 500 costs the event, counted and
// logged, without retry.
func TestHTTPFailures(t *testing.T) {
	srv, reqs := endpoint(t, http.StatusInternalServerError)
	var logs logBuffer
	p := newPublisher(t, events.Config{Logger: logs.logger(), HTTP: []events.HTTPConfig{{URLs: []string{srv.URL}}}})
	for i := range 3 {
		if err := p.Publish(appID, devEUI, uplink(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(reqs); n != 3 {
		t.Errorf("%d requests, want 3 (no retries)", n)
	}
	if st := p.Stats()[0]; st.Sent != 0 || st.Failed != 3 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "500 Internal Server Error") {
		t.Errorf("failure not logged:\n%s", logs.String())
	}
}

// TestHTTPStuckEndpoint: an endpoint that does not answer never blocks
// Publish: the queue fills and further events are dropped, counted and
// logged. Close gives up at its deadline.
func TestHTTPStuckEndpoint(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets srv.Close return

	var logs logBuffer
	const queue, n = 2, 50
	p := newPublisher(t, events.Config{Logger: logs.logger(), HTTP: []events.HTTPConfig{{
		URLs: []string{srv.URL}, QueueSize: queue, Timeout: time.Minute,
	}}})
	start := time.Now()
	for i := range n {
		if err := p.Publish(appID, devEUI, uplink(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("publishing %d events took %v", n, d)
	}
	st := p.Stats()[0]
	// The worker holds at most one event in flight besides the queue.
	if st.Queued+st.Dropped != n || st.Queued < queue || st.Queued > queue+1 {
		t.Errorf("stats %+v: want %d or %d queued, the rest dropped", st, queue, queue+1)
	}
	if !strings.Contains(logs.String(), "queue full") {
		t.Errorf("drop not logged:\n%s", logs.String())
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	err := p.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	// The event in flight failed (its request was cancelled), the rest
	// were dropped.
	if st := p.Stats()[0]; st.Sent != 0 || st.Failed+st.Dropped != n || st.Failed > 1 {
		t.Errorf("after Close: stats %+v", st)
	}
	if !strings.Contains(logs.String(), "dropped_total=") {
		t.Errorf("drop count not logged:\n%s", logs.String())
	}
}
