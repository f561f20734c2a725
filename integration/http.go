package integration

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"
)

// DefaultSecretHeader is the request header HTTPHandler checks unless
// configured otherwise. ChirpStack's HTTP integration adds the headers set
// on it to every request.
const DefaultSecretHeader = "Authorization"

// DefaultMaxBodyBytes bounds an event body unless configured otherwise;
// ChirpStack's events are a few kB.
const DefaultMaxBodyBytes = 1 << 20

// HTTPConfig configures an HTTPHandler.
type HTTPConfig struct {
	// Secret is the value the secret header must carry, exactly (with
	// Authorization, e.g. "Bearer s3cret"). It is required.
	Secret string
	// SecretHeader names the header; empty means DefaultSecretHeader.
	SecretHeader string
	// Encoding forces the body encoding; EncodingAuto follows the
	// Content-Type (application/json, application/octet-stream) and, for
	// any other, the body's first byte.
	Encoding Encoding
	// MaxBodyBytes bounds a body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Filter selects what reaches the Handler.
	Filter Filter
	// Logger gets refused requests and malformed events; nil discards.
	Logger *slog.Logger
	// Now is the fallback reception time of an uplink without any time;
	// nil means time.Now.
	Now func() time.Time
}

// HTTPHandler is the endpoint of ChirpStack's HTTP integration: it takes
// POST /…?event=up|txack|ack|log|join|status|location with the event as a
// JSON or protobuf body.
//
// It answers 401 for a missing or wrong secret, 405 for other methods, 413
// for an oversized body, 400 for a missing event type or a malformed body,
// and 200 otherwise, including for event types it ignores: ChirpStack does
// not retry, and an error answer would only fill its log.
type HTTPHandler struct {
	d          *dispatcher
	header     string
	secretHash [sha256.Size]byte
	enc        Encoding
	maxBody    int64
	log        *slog.Logger
}

// NewHTTPHandler makes a handler from cfg.
func NewHTTPHandler(cfg HTTPConfig, h Handler) (*HTTPHandler, error) {
	if h == nil {
		return nil, errors.New("http handler: nil Handler")
	}
	if cfg.Secret == "" {
		return nil, errors.New("http handler: no Secret: refusing to take events from anyone")
	}
	if !cfg.Encoding.valid() {
		return nil, fmt.Errorf("http handler: %v", cfg.Encoding)
	}
	if cfg.SecretHeader == "" {
		cfg.SecretHeader = DefaultSecretHeader
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "http")
	return &HTTPHandler{
		d:          newDispatcher(h, cfg.Filter, log, cfg.Now),
		header:     cfg.SecretHeader,
		secretHash: sha256.Sum256([]byte(cfg.Secret)),
		enc:        cfg.Encoding,
		maxBody:    cfg.MaxBodyBytes,
		log:        log,
	}, nil
}

// authorized compares hashes so that the comparison takes the same time
// whatever the length of the value sent.
func (h *HTTPHandler) authorized(r *http.Request) bool {
	vals := r.Header.Values(h.header)
	if len(vals) != 1 {
		return false
	}
	got := sha256.Sum256([]byte(vals[0]))
	return subtle.ConstantTimeCompare(got[:], h.secretHash[:]) == 1
}

func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		h.d.stats.unauth.Add(1)
		h.log.WarnContext(r.Context(), "refused ChirpStack event: wrong or missing secret",
			"remote", r.RemoteAddr, "header", h.header)
		http.Error(w, "wrong or missing secret", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	typ := r.URL.Query().Get("event")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		h.d.stats.received.Add(1)
		h.d.stats.malformed.Add(1)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.log.WarnContext(r.Context(), "refused ChirpStack event: body too large",
				"remote", r.RemoteAddr, "event", typ, "limit", h.maxBody)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		h.log.WarnContext(r.Context(), "reading ChirpStack event", "remote", r.RemoteAddr, "event", typ, "error", err)
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	if typ == "" {
		h.d.stats.received.Add(1)
		h.d.stats.malformed.Add(1)
		h.log.WarnContext(r.Context(), "dropping ChirpStack event without ?event=", "remote", r.RemoteAddr)
		http.Error(w, "missing event query parameter", http.StatusBadRequest)
		return
	}
	if err := h.d.dispatch(r.Context(), r.RemoteAddr, typ, h.encodingOf(r), body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// encodingOf picks a request's encoding: configured, else by Content-Type,
// else detected from the body.
func (h *HTTPHandler) encodingOf(r *http.Request) Encoding {
	if h.enc != EncodingAuto {
		return h.enc
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		return EncodingJSON
	case "application/octet-stream", "application/protobuf", "application/x-protobuf":
		return EncodingProtobuf
	}
	return EncodingAuto
}

// Stats returns the handler's counters.
func (h *HTTPHandler) Stats() Stats { return h.d.stats.snapshot() }
