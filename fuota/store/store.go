package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/brocaar/lorawan"
	"github.com/redis/go-redis/v9"
)

// Memory is the Config.Addr that selects the embedded in-process Redis.
const Memory = "memory"

// Defaults applied by Open to zero Config fields.
const (
	DefaultPrefix         = "lorafuota:"
	DefaultLogCap         = 10000
	DefaultIdempotencyTTL = 72 * time.Hour
)

var (
	// ErrNotFound is returned when a record, log or allocation does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a compare-and-set finds another version than
	// the one expected; the returned error is a *ConflictError.
	ErrConflict = errors.New("version conflict")
	// ErrExhausted is returned when a SessionCnt counter or a McAddr pool has no
	// value left.
	ErrExhausted = errors.New("exhausted")
)

// ConflictError describes a failed compare-and-set. It matches ErrConflict
// with errors.Is.
type ConflictError struct {
	DeploymentID string
	// DevEUI is set when the conflict is on a device record, nil when it is on
	// the deployment record.
	DevEUI   *lorawan.EUI64
	Expected int64
	// Actual is the stored version; 0 means the record does not exist.
	Actual int64
}

func (e *ConflictError) Error() string {
	what := fmt.Sprintf("deployment %q", e.DeploymentID)
	if e.DevEUI != nil {
		what += fmt.Sprintf(" device %s", e.DevEUI)
	}
	return fmt.Sprintf("%s: %v: expected version %d, stored %d", what, ErrConflict, e.Expected, e.Actual)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Config selects the Redis server and the layout of the keys.
type Config struct {
	// Addr is host:port of a Redis server, several comma-separated addresses
	// for a Cluster (or Sentinels with MasterName), or Memory for the embedded
	// server whose state is lost on exit.
	Addr       string
	MasterName string // Sentinel master; empty without Sentinel
	Username   string
	Password   string
	DB         int
	TLS        *tls.Config // nil: plain TCP
	// Prefix starts every key (DefaultPrefix when empty); it may not contain
	// '{' or '}', which would break the per-deployment hash tags.
	Prefix string
	// LogCap is the approximate number of entries kept in each deployment's
	// log (DefaultLogCap when zero).
	LogCap int64
	// IdempotencyTTL is how long Apply remembers an idempotency key
	// (DefaultIdempotencyTTL when zero).
	IdempotencyTTL time.Duration
}

// Store is the Redis persistence of lorafuota. It is safe for concurrent use.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	logCap  int64
	idemTTL time.Duration
	mem     *miniredis.Miniredis // non-nil when Addr is Memory
}

// Open connects to the Redis server of cfg, or starts the embedded one, and
// checks that it answers.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{
		prefix:  cfg.Prefix,
		logCap:  cfg.LogCap,
		idemTTL: cfg.IdempotencyTTL,
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if strings.ContainsAny(s.prefix, "{}") {
		return nil, fmt.Errorf("store: prefix %q: must not contain '{' or '}'", s.prefix)
	}
	if s.logCap == 0 {
		s.logCap = DefaultLogCap
	}
	if s.logCap < 0 {
		return nil, fmt.Errorf("store: log cap %d: must not be negative", s.logCap)
	}
	if s.idemTTL == 0 {
		s.idemTTL = DefaultIdempotencyTTL
	}
	if s.idemTTL < time.Millisecond {
		return nil, fmt.Errorf("store: idempotency TTL %v: must be at least 1ms", s.idemTTL)
	}

	opts := &redis.UniversalOptions{
		MasterName: cfg.MasterName,
		Username:   cfg.Username,
		Password:   cfg.Password,
		DB:         cfg.DB,
		TLSConfig:  cfg.TLS,
	}
	switch strings.TrimSpace(cfg.Addr) {
	case "":
		return nil, errors.New("store: no Redis address (use \"memory\" for the embedded server)")
	case Memory:
		s.mem = miniredis.NewMiniRedis()
		// miniredis only expires keys on FastForward unless told to follow
		// the clock; leases and idempotency keys need real expiry.
		s.mem.ClockTTL(true)
		if err := s.mem.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("store: start embedded Redis: %w", err)
		}
		opts.Addrs = []string{s.mem.Addr()}
		opts.MasterName = ""
	default:
		for a := range strings.SplitSeq(cfg.Addr, ",") {
			if a = strings.TrimSpace(a); a != "" {
				opts.Addrs = append(opts.Addrs, a)
			}
		}
	}
	s.client = redis.NewUniversalClient(opts)
	if err := s.client.Ping(ctx).Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: connect to Redis at %s: %w", strings.Join(opts.Addrs, ","), err)
	}
	return s, nil
}

// Close closes the connections and stops the embedded server, if any.
func (s *Store) Close() error {
	err := s.client.Close()
	if s.mem != nil {
		s.mem.Close()
	}
	return err
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Embedded reports whether the store runs on the in-process server, whose
// state is lost on exit.
func (s *Store) Embedded() bool { return s.mem != nil }

// deploymentKey returns the key of kind within deployment id's hash slot.
func (s *Store) deploymentKey(id, kind string) string {
	return s.prefix + "{" + id + "}:" + kind
}

// checkID refuses deployment ids that would break the hash tag or the key
// layout.
func checkID(id string) error {
	if id == "" {
		return errors.New("empty deployment id")
	}
	if len(id) > 128 {
		return fmt.Errorf("deployment id %.16q...: longer than 128 bytes", id)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '_', r == '.':
		default:
			return fmt.Errorf("deployment id %q: character %q not allowed (use letters, digits, '-', '_', '.')", id, r)
		}
	}
	return nil
}
