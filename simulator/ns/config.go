package ns

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// ChirpStack's defaults (chirpstack config.rs, CHIRPSTACK.md §3.3).
const (
	DefaultSchedulerInterval     = time.Second
	DefaultSchedulerBatchSize    = 100
	DefaultSchedulerLockDuration = 2 * time.Second
	DefaultClassCMargin          = 5 * time.Second
	DefaultClassBMargin          = 5 * time.Second
)

// Config configures a Server. The zero value of every field means
// ChirpStack's default, except APIKeys: without a key every call is refused.
type Config struct {
	// APIKeys are the bearer tokens the API accepts
	// ("authorization: Bearer <key>"). They are compared as opaque strings;
	// a real ChirpStack token (a JWT) works if it is listed here.
	APIKeys []string

	// SchedulerInterval is how often StartScheduler runs Tick
	// (network.scheduler.interval). Class B rows are due two intervals
	// before their ping slot.
	SchedulerInterval time.Duration
	// SchedulerBatchSize caps the multicast rows one Tick picks
	// (network.scheduler.batch_size).
	SchedulerBatchSize int
	// SchedulerLockDuration is how long a picked row is hidden from the
	// scheduler while its tx ack is awaited; a row whose ack never comes is
	// picked again after it (network.scheduler.scheduler_lock_duration).
	SchedulerLockDuration time.Duration
	// ClassCMargin is network.scheduler.multicast_class_c_margin: the gap
	// between two class C frames of a group, per gateway in DELAY mode.
	ClassCMargin time.Duration
	// ClassBMargin is network.scheduler.multicast_class_b_margin: a class B
	// frame enqueued on an empty queue goes in the first ping slot after
	// now + ClassBMargin.
	ClassBMargin time.Duration

	// Quirks switches ChirpStack's silent behaviours off one by one.
	Quirks Quirks
}

// Quirks switches off, one by one, the behaviours of ChirpStack that fail
// silently or confusingly (CHIRPSTACK.md §0.4, §2.3, §3). The zero value
// reproduces all of them, as ChirpStack does; each field set replaces one by
// a loud alternative, so a FUOTA server can be tested against ChirpStack as it
// is and against what it should have done.
type Quirks struct {
	// RefuseOversize: Enqueue refuses, with InvalidArgument, a multicast
	// payload longer than N of the group's DR (RP002, latest revision).
	// ChirpStack accepts it, consumes an FCnt and deletes the rows at
	// schedule time with only a warning in its log.
	RefuseOversize bool
	// RefuseNoGateways: Enqueue fails with FailedPrecondition, consuming no
	// FCnt, when the group has no gateway (none added and none heard any
	// of its devices). ChirpStack returns OK and an FCnt and queues nothing.
	RefuseNoGateways bool
	// ReportMulticastTxAck: every multicast tx ack, OK or not, is reported
	// to the EventSink as an EventMulticastTxAck. ChirpStack deletes the row
	// on any ack and tells no integration.
	ReportMulticastTxAck bool
	// ReportMulticastExpiry: an expired multicast row is reported to the
	// EventSink as an EventLog with code EXPIRED. ChirpStack deletes it with
	// a warning in its own log only.
	ReportMulticastExpiry bool
	// ProperErrorCodes: errors the caller caused are answered with the code
	// that says so (InvalidArgument, NotFound, AlreadyExists) where
	// ChirpStack answers Internal: anything from the multicast Enqueue path
	// (unknown group, FPort 0), malformed hex EUIs, DevAddrs and keys, a
	// device or gateway added twice to a group, an unknown application or
	// device referred to on create or enqueue.
	ProperErrorCodes bool
}

// withDefaults returns c with every zero duration and size replaced by
// ChirpStack's default.
func (c Config) withDefaults() Config {
	if c.SchedulerInterval == 0 {
		c.SchedulerInterval = DefaultSchedulerInterval
	}
	if c.SchedulerBatchSize == 0 {
		c.SchedulerBatchSize = DefaultSchedulerBatchSize
	}
	if c.SchedulerLockDuration == 0 {
		c.SchedulerLockDuration = DefaultSchedulerLockDuration
	}
	if c.ClassCMargin == 0 {
		c.ClassCMargin = DefaultClassCMargin
	}
	if c.ClassBMargin == 0 {
		c.ClassBMargin = DefaultClassBMargin
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"SchedulerInterval":     c.SchedulerInterval,
		"SchedulerLockDuration": c.SchedulerLockDuration,
		"ClassCMargin":          c.ClassCMargin,
		"ClassBMargin":          c.ClassBMargin,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", name, d))
		}
	}
	if c.SchedulerBatchSize < 0 {
		errs = append(errs, fmt.Errorf("SchedulerBatchSize %d is negative", c.SchedulerBatchSize))
	}
	for i, k := range c.APIKeys {
		if k == "" {
			errs = append(errs, fmt.Errorf("APIKeys[%d] is empty", i))
		}
	}
	return errors.Join(errs...)
}

// An Option sets a dependency of a Server other than its configuration.
type Option func(*Server)

// WithRand sets the source of every id (UUIDs, downlink ids). Pass a seeded
// generator, e.g. a stream of simulator/rng, so a run replays; without this
// option a fixed seed is used.
func WithRand(r *rand.Rand) Option { return func(s *Server) { s.rnd = r } }

// WithTransmitter sets where the multicast scheduler sends frames. Without
// one, picked rows never get a tx ack and are picked again after the lock
// duration, as ChirpStack does when a gateway does not answer.
func WithTransmitter(t Transmitter) Option { return func(s *Server) { s.tx = t } }

// WithEventSink sets who receives the integration events the server raises.
func WithEventSink(e EventSink) Option { return func(s *Server) { s.events = e } }

// WithLogger sets the logger for what ChirpStack would log (drops, queue
// changes). Without one nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }
