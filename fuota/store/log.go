package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/redis/go-redis/v9"
)

// LogEntry is one entry of a deployment's append-only log.
type LogEntry struct {
	// ID is the stream id, set by the store; pass it to Log as after to read
	// the entries that follow.
	ID string
	// Time is given by the caller (the engine's clock, virtual in the
	// simulator); the zero time is stored as absent.
	Time    time.Time
	DevEUI  *lorawan.EUI64 // nil for deployment-wide entries
	Kind    string
	Message string
	Fields  map[string]string
}

// Stream field names; Fields are stored under "f:" + name.
const (
	logTime    = "t"
	logDevEUI  = "dev"
	logKind    = "kind"
	logMessage = "msg"
	logField   = "f:"
)

// encode returns the entry as stream field/value pairs, Fields sorted so
// equal entries encode equally.
func (e LogEntry) encode() []string {
	f := []string{logKind, e.Kind, logMessage, e.Message}
	if !e.Time.IsZero() {
		f = append(f, logTime, e.Time.UTC().Format(time.RFC3339Nano))
	}
	if e.DevEUI != nil {
		f = append(f, logDevEUI, e.DevEUI.String())
	}
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		f = append(f, logField+k, e.Fields[k])
	}
	return f
}

func decodeLogEntry(m redis.XMessage) (LogEntry, error) {
	e := LogEntry{ID: m.ID}
	for k, v := range m.Values {
		s, ok := v.(string)
		if !ok {
			return LogEntry{}, fmt.Errorf("entry %s field %q: value of type %T", m.ID, k, v)
		}
		switch {
		case k == logKind:
			e.Kind = s
		case k == logMessage:
			e.Message = s
		case k == logTime:
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return LogEntry{}, fmt.Errorf("entry %s time: %w", m.ID, err)
			}
			e.Time = t
		case k == logDevEUI:
			var eui lorawan.EUI64
			if err := eui.UnmarshalText([]byte(s)); err != nil {
				return LogEntry{}, fmt.Errorf("entry %s DevEUI: %w", m.ID, err)
			}
			e.DevEUI = &eui
		case strings.HasPrefix(k, logField):
			if e.Fields == nil {
				e.Fields = make(map[string]string)
			}
			e.Fields[strings.TrimPrefix(k, logField)] = s
		}
	}
	return e, nil
}

// AppendLog adds entries to deployment id's log, trimmed to about the
// configured cap, and returns their ids. Use Apply to append together with
// record writes.
func (s *Store) AppendLog(ctx context.Context, id string, entries ...LogEntry) ([]string, error) {
	res, err := s.Apply(ctx, id, Tx{Log: entries})
	return res.LogIDs, err
}

// Log returns up to limit entries of deployment id's log, oldest first,
// starting after the entry with id after (from the start when empty). The
// oldest entries are trimmed once the log exceeds its cap.
func (s *Store) Log(ctx context.Context, id, after string, limit int64) ([]LogEntry, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("store: log: %w", err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("store: log of deployment %q: limit %d: must be positive", id, limit)
	}
	start := "-"
	if after != "" {
		start = "(" + after // exclusive range, Redis ≥ 6.2
	}
	msgs, err := s.client.XRangeN(ctx, s.deploymentKey(id, "log"), start, "+", limit).Result()
	if err != nil {
		return nil, fmt.Errorf("store: log of deployment %q after %q: %w", id, after, err)
	}
	out := make([]LogEntry, 0, len(msgs))
	for _, m := range msgs {
		e, err := decodeLogEntry(m)
		if err != nil {
			return nil, fmt.Errorf("store: log of deployment %q: %w", id, err)
		}
		out = append(out, e)
	}
	return out, nil
}
