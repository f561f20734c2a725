package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// HTTPConfig configures one HTTP integration, as ChirpStack configures one
// per application.
type HTTPConfig struct {
	// URLs are POSTed every event, one after the other, with
	// "event=<type>" added to the query.
	URLs []string
	// Encoding is JSON or Protobuf (Content-Type application/json or
	// application/octet-stream).
	Encoding Encoding
	// Headers are added to every request, e.g. a shared secret.
	Headers map[string]string
	// ApplicationIDs limits the integration to these applications; empty
	// means every application.
	ApplicationIDs []string
	// Timeout bounds one POST; 0 means 5 s.
	Timeout time.Duration
	// QueueSize bounds the events waiting to be sent; 0 means
	// DefaultQueueSize.
	QueueSize int
	// Client sends the requests; nil means a client of its own.
	Client *http.Client
}

type httpTransport struct {
	urls    []*url.URL
	headers http.Header
	ctype   string
	timeout time.Duration
	client  *http.Client
	log     *slog.Logger
}

func newHTTPSink(cfg HTTPConfig, log *slog.Logger) (*sink, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("no URLs")
	}
	t := &httpTransport{
		headers: make(http.Header, len(cfg.Headers)),
		ctype:   cfg.Encoding.ContentType(),
		timeout: cfg.Timeout,
		client:  cfg.Client,
	}
	for _, raw := range cfg.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("URL: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("URL %q: scheme must be http or https", raw)
		}
		t.urls = append(t.urls, u)
	}
	for k, v := range cfg.Headers {
		t.headers.Set(k, v)
	}
	if t.timeout <= 0 {
		t.timeout = 5 * time.Second
	}
	if t.client == nil {
		t.client = &http.Client{}
	}
	name := "http " + cfg.URLs[0]
	if len(cfg.URLs) > 1 {
		name += fmt.Sprintf(" (+%d)", len(cfg.URLs)-1)
	}
	t.log = log.With("sink", name)
	return newSink(name, cfg.Encoding, cfg.QueueSize, cfg.ApplicationIDs, log, t)
}

func (t *httpTransport) start(context.Context, <-chan struct{}) bool { return true }

func (t *httpTransport) stop() {}

// send POSTs it to every URL. As with ChirpStack, a failure is logged and
// the event is not retried.
func (t *httpTransport) send(ctx context.Context, it item, c *counters) {
	for _, u := range t.urls {
		if err := t.post(ctx, u, it); err != nil {
			c.failed.Add(1)
			t.log.Warn("HTTP integration POST failed",
				"event", it.typ, "dev_eui", it.devEUI.String(), "url", u.Redacted(), "error", err)
			continue
		}
		c.sent.Add(1)
	}
}

func (t *httpTransport) post(ctx context.Context, base *url.URL, it item) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	u := *base
	// Appended, not set: ChirpStack adds the parameter to whatever query
	// the URL has.
	q := "event=" + url.QueryEscape(it.typ)
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(it.payload))
	if err != nil {
		return err
	}
	req.Header = t.headers.Clone()
	req.Header.Set("Content-Type", t.ctype)
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Drained so that the connection can be reused; bounded so that a
	// chatty endpoint cannot hold the worker.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
