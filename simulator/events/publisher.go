package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/brocaar/lorawan"
	"google.golang.org/protobuf/proto"
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("events: publisher closed")

// DefaultQueueSize is the queue length of a network sink when its config
// leaves it 0.
const DefaultQueueSize = 1024

// Config says where a Publisher delivers events.
type Config struct {
	// MQTT, if set, publishes every event to a broker.
	MQTT *MQTTConfig
	// HTTP are HTTP integrations, each POSTing the events of its
	// applications to its URLs.
	HTTP []HTTPConfig
	// Logger gets delivery failures and drops; nil discards them.
	Logger *slog.Logger
}

// Event is an integration event as subscribers get it.
type Event struct {
	Type          string // EventUp, EventTxAck, …
	ApplicationID string
	DevEUI        lorawan.EUI64
	// Message is the *integration.UplinkEvent, *integration.TxAckEvent, …
	// that was published. Subscribers share it and must not modify it.
	Message proto.Message
}

// Subscriber receives events in process. It is called synchronously from
// Publish, on the publishing goroutine, and may call Publish or Close.
type Subscriber func(Event)

// SinkStats counts what a network sink did. Events are counted once per
// sink; Sent and Failed once per delivery attempt (an HTTP sink with two
// URLs makes two attempts per event).
type SinkStats struct {
	Name    string // "mqtt tcp://…", "http http://…"
	Queued  uint64 // events accepted into the queue
	Dropped uint64 // events dropped: queue full, or shut down before sending
	// Sent counts attempts that succeeded: a 2xx answer; an MQTT publish
	// completed at its QoS (for QoS 0: written to the connection, or
	// discarded by paho while it reconnects).
	Sent   uint64
	Failed uint64 // attempts that failed (transport error, non-2xx, timeout)
}

// Publisher fans integration events out to subscribers and network sinks.
// Its methods are safe for concurrent use; events published concurrently
// reach subscribers and sinks in an unspecified interleaving.
type Publisher struct {
	log    *slog.Logger
	cancel context.CancelFunc

	// mu guards closed and the sinks' queues: Publish sends under the read
	// lock, Close closes the queues under the write lock.
	mu     sync.RWMutex
	closed bool
	sinks  []*sink

	subMu  sync.Mutex
	subs   []*subscription // copied on write: Publish iterates a snapshot
	nextID uint64
}

type subscription struct {
	id uint64
	fn Subscriber
}

// New makes a Publisher and starts a worker per network sink. The workers
// live until Close, or until ctx is done, after which they drop what they
// are given. Connecting to the MQTT broker happens in the background, with
// retries: events published meanwhile wait in the queue.
func New(ctx context.Context, cfg Config) (*Publisher, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{log: log}
	if cfg.MQTT != nil {
		s, err := newMQTTSink(*cfg.MQTT, log)
		if err != nil {
			return nil, err
		}
		p.sinks = append(p.sinks, s)
	}
	for i, hc := range cfg.HTTP {
		s, err := newHTTPSink(hc, log)
		if err != nil {
			return nil, fmt.Errorf("HTTP integration %d: %w", i, err)
		}
		p.sinks = append(p.sinks, s)
	}
	ctx, p.cancel = context.WithCancel(ctx)
	for _, s := range p.sinks {
		go s.run(ctx)
	}
	return p, nil
}

// Subscribe adds fn to the in-process subscribers; the returned function
// removes it.
func (p *Publisher) Subscribe(fn Subscriber) (unsubscribe func()) {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	p.nextID++
	id := p.nextID
	p.subs = append(slices.Clip(p.subs), &subscription{id: id, fn: fn})
	return func() {
		p.subMu.Lock()
		defer p.subMu.Unlock()
		p.subs = slices.DeleteFunc(slices.Clone(p.subs), func(s *subscription) bool { return s.id == id })
	}
}

// Publish delivers msg, an integration event of the device devEUI of the
// application applicationID: it queues it for every network sink that
// takes the application, then calls the subscribers in order. It never
// waits on the network. It fails if msg is not an event or cannot be
// encoded, and after Close; a full queue is not an error (see Stats).
func (p *Publisher) Publish(applicationID string, devEUI lorawan.EUI64, msg proto.Message) error {
	typ, err := EventType(msg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := p.enqueue(typ, applicationID, devEUI, msg); err != nil {
		return err
	}
	p.subMu.Lock()
	subs := p.subs
	p.subMu.Unlock()
	ev := Event{Type: typ, ApplicationID: applicationID, DevEUI: devEUI, Message: msg}
	for _, s := range subs {
		s.fn(ev)
	}
	return nil
}

// enqueue encodes msg once per encoding the sinks need, all before queueing
// it anywhere, and queues it.
func (p *Publisher) enqueue(typ, applicationID string, devEUI lorawan.EUI64, msg proto.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	var payloads [2][]byte // by Encoding
	for _, s := range p.sinks {
		if !s.takes(applicationID) || payloads[s.enc] != nil {
			continue
		}
		b, err := Marshal(msg, s.enc)
		if err != nil {
			return fmt.Errorf("publish %s event of %s: %w", typ, devEUI, err)
		}
		payloads[s.enc] = b
	}
	for _, s := range p.sinks {
		if s.takes(applicationID) {
			s.offer(item{typ: typ, applicationID: applicationID, devEUI: devEUI, payload: payloads[s.enc]})
		}
	}
	return nil
}

// Stats returns the counters of the network sinks, in configuration order
// (MQTT first).
func (p *Publisher) Stats() []SinkStats {
	st := make([]SinkStats, len(p.sinks))
	for i, s := range p.sinks {
		st[i] = s.stats()
	}
	return st
}

// Close stops accepting events, lets the network sinks send what they have
// queued and waits for them until ctx is done. Then it abandons what is
// left, aborting requests in flight, and returns ctx's error. Subscribers
// have had every event already: they are called synchronously.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, s := range p.sinks {
		close(s.closing)
		close(s.queue)
	}
	p.mu.Unlock()

	defer p.cancel()
	for _, s := range p.sinks {
		select {
		case <-s.done:
		case <-ctx.Done():
			p.cancel()
			var left int
			for _, s := range p.sinks {
				<-s.done
				left += int(s.abandoned.Load())
			}
			return fmt.Errorf("close event publisher: %d events not sent: %w", left, ctx.Err())
		}
	}
	return nil
}

// item is one encoded event in a sink's queue.
type item struct {
	typ           string
	applicationID string
	devEUI        lorawan.EUI64
	payload       []byte
}

// transport sends queued events: MQTT or HTTP.
type transport interface {
	// start prepares the transport (connects) and reports whether it can
	// send. It gives up when ctx is done, or when closing is closed and
	// an attempt fails.
	start(ctx context.Context, closing <-chan struct{}) bool
	// send delivers one event and counts its attempts in s.
	send(ctx context.Context, it item, c *counters)
	// stop releases the transport.
	stop()
}

type counters struct {
	queued, dropped, sent, failed atomic.Uint64
}

// sink is a network destination: a bounded queue and the worker draining it.
type sink struct {
	name string
	enc  Encoding
	apps map[string]bool // nil: every application
	log  *slog.Logger
	t    transport

	queue chan item
	// closing is closed by Close, so that a transport still trying to
	// connect gives up instead of holding the flush.
	closing chan struct{}
	done    chan struct{}
	c       counters
	// abandoned counts events dropped at shutdown, for Close's error.
	abandoned atomic.Uint64
	// unreported counts drops not yet logged: the first drop of a run is
	// logged at once, the total when the queue drains again.
	unreported atomic.Uint64
}

func newSink(name string, enc Encoding, queueSize int, apps []string, log *slog.Logger, t transport) (*sink, error) {
	if !enc.valid() {
		return nil, fmt.Errorf("%s: unknown encoding %v", name, enc)
	}
	if queueSize < 0 {
		return nil, fmt.Errorf("%s: negative queue size %d", name, queueSize)
	}
	if queueSize == 0 {
		queueSize = DefaultQueueSize
	}
	s := &sink{
		name:    name,
		enc:     enc,
		log:     log.With("sink", name),
		t:       t,
		queue:   make(chan item, queueSize),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if len(apps) > 0 {
		s.apps = make(map[string]bool, len(apps))
		for _, a := range apps {
			s.apps[a] = true
		}
	}
	return s, nil
}

func (s *sink) takes(applicationID string) bool { return s.apps == nil || s.apps[applicationID] }

// offer queues it, or drops it if the queue is full. The caller holds the
// publisher's read lock, so the queue is open.
func (s *sink) offer(it item) {
	select {
	case s.queue <- it:
		s.c.queued.Add(1)
	default:
		s.c.dropped.Add(1)
		if s.unreported.Add(1) == 1 {
			s.log.Warn("integration event queue full, dropping events",
				"event", it.typ, "dev_eui", it.devEUI.String(), "queue_size", cap(s.queue))
		}
	}
}

// reportDrops logs the drops since the last report.
func (s *sink) reportDrops() {
	if n := s.unreported.Swap(0); n > 0 {
		s.log.Warn("integration events dropped while the queue was full",
			"dropped", n, "dropped_total", s.c.dropped.Load())
	}
}

// run is the sink's worker. It ends when the queue is closed and drained.
func (s *sink) run(ctx context.Context) {
	defer close(s.done)
	// Events published while the transport connects wait in the queue.
	ok := s.t.start(ctx, s.closing)
	for it := range s.queue {
		if !ok || ctx.Err() != nil {
			s.c.dropped.Add(1)
			s.abandoned.Add(1)
			continue
		}
		s.reportDrops()
		s.t.send(ctx, it, &s.c)
	}
	s.reportDrops()
	if ok {
		s.t.stop()
	}
}

func (s *sink) stats() SinkStats {
	return SinkStats{
		Name:    s.name,
		Queued:  s.c.queued.Load(),
		Dropped: s.c.dropped.Load(),
		Sent:    s.c.sent.Load(),
		Failed:  s.c.failed.Load(),
	}
}
