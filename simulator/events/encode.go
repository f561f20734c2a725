package events

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The event types, as ChirpStack names them in MQTT topics and in the HTTP
// integration's "event" query parameter.
const (
	EventUp       = "up"
	EventJoin     = "join"
	EventAck      = "ack"
	EventTxAck    = "txack"
	EventLog      = "log"
	EventStatus   = "status"
	EventLocation = "location"
)

// EventType returns the event type of an integration event message.
func EventType(m proto.Message) (string, error) {
	switch m.(type) {
	case *integration.UplinkEvent:
		return EventUp, nil
	case *integration.JoinEvent:
		return EventJoin, nil
	case *integration.AckEvent:
		return EventAck, nil
	case *integration.TxAckEvent:
		return EventTxAck, nil
	case *integration.LogEvent:
		return EventLog, nil
	case *integration.StatusEvent:
		return EventStatus, nil
	case *integration.LocationEvent:
		return EventLocation, nil
	}
	return "", fmt.Errorf("%T is not an integration event", m)
}

// newEvent returns an empty message of an event type.
func newEvent(typ string) (proto.Message, error) {
	switch typ {
	case EventUp:
		return &integration.UplinkEvent{}, nil
	case EventJoin:
		return &integration.JoinEvent{}, nil
	case EventAck:
		return &integration.AckEvent{}, nil
	case EventTxAck:
		return &integration.TxAckEvent{}, nil
	case EventLog:
		return &integration.LogEvent{}, nil
	case EventStatus:
		return &integration.StatusEvent{}, nil
	case EventLocation:
		return &integration.LocationEvent{}, nil
	}
	return nil, fmt.Errorf("unknown event type %q", typ)
}

// Encoding is how events are serialised on the wire.
type Encoding int

const (
	// JSON is ChirpStack's JSON form (see MarshalJSON), its default.
	JSON Encoding = iota
	// Protobuf is the binary protobuf encoding.
	Protobuf
)

func (e Encoding) String() string {
	switch e {
	case JSON:
		return "json"
	case Protobuf:
		return "protobuf"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// ContentType is the HTTP Content-Type ChirpStack sends with the encoding.
func (e Encoding) ContentType() string {
	if e == Protobuf {
		return "application/octet-stream"
	}
	return "application/json"
}

func (e Encoding) valid() bool { return e == JSON || e == Protobuf }

// Marshal encodes m with enc.
func Marshal(m proto.Message, enc Encoding) ([]byte, error) {
	switch enc {
	case JSON:
		return MarshalJSON(m)
	case Protobuf:
		// Deterministic, so that a seeded run publishes the same bytes.
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("marshal: unknown encoding %v", enc)
}

// Decode decodes an event of type typ (EventUp, …) as a subscriber of
// ChirpStack's integrations would: unknown JSON fields are ignored.
func Decode(typ string, enc Encoding, b []byte) (proto.Message, error) {
	m, err := newEvent(typ)
	if err != nil {
		return nil, err
	}
	switch enc {
	case JSON:
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
	case Protobuf:
		err = proto.Unmarshal(b, m)
	default:
		return nil, fmt.Errorf("decode: unknown encoding %v", enc)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s event (%v): %w", typ, enc, err)
	}
	return m, nil
}

// MarshalJSON encodes m as ChirpStack's integrations do (pbjson with
// emit_fields for package integration): see the package documentation.
func MarshalJSON(m proto.Message) ([]byte, error) {
	b, err := appendMessage(nil, m.ProtoReflect())
	if err != nil {
		return nil, fmt.Errorf("marshal %s to JSON: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return b, nil
}

// emitsDefaults tells whether pbjson was built with emit_fields for the
// package of md: ChirpStack does so for integration only.
func emitsDefaults(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "integration"
}

func appendMessage(b []byte, m protoreflect.Message) ([]byte, error) {
	md := m.Descriptor()
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return appendTimestamp(b, m)
	case "google.protobuf.Duration":
		return appendDuration(b, m)
	case "google.protobuf.Struct":
		return appendStruct(b, m)
	case "google.protobuf.Value":
		return appendValue(b, m)
	case "google.protobuf.ListValue":
		return appendListValue(b, m)
	}
	emit := emitsDefaults(md)
	b = append(b, '{')
	n := 0
	field := func(fd protoreflect.FieldDescriptor) error {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendString(b, fd.JSONName())
		b = append(b, ':')
		var err error
		b, err = appendField(b, fd, m.Get(fd))
		return err
	}
	// pbjson writes the plain fields in declaration order, then the oneofs;
	// a proto3 optional field counts as plain.
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			continue
		}
		if !m.Has(fd) && (fd.HasPresence() || !emit) {
			continue
		}
		if err := field(fd); err != nil {
			return nil, err
		}
	}
	oneofs := md.Oneofs()
	for i := range oneofs.Len() {
		od := oneofs.Get(i)
		if od.IsSynthetic() {
			continue
		}
		if fd := m.WhichOneof(od); fd != nil {
			if err := field(fd); err != nil {
				return nil, err
			}
		}
	}
	return append(b, '}'), nil
}

func appendField(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch {
	case fd.IsList():
		l := v.List()
		b = append(b, '[')
		for i := range l.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendSingular(b, fd, l.Get(i)); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case fd.IsMap():
		mp := v.Map()
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		slices.SortFunc(keys, func(a, b protoreflect.MapKey) int {
			return strings.Compare(a.String(), b.String())
		})
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k.String())
			b = append(b, ':')
			var err error
			if b, err = appendSingular(b, fd.MapValue(), mp.Get(k)); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return appendSingular(b, fd, v)
}

func appendSingular(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendInt(b, v.Int(), 10), '"'), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendUint(b, v.Uint(), 10), '"'), nil
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), nil
	case protoreflect.StringKind:
		return appendString(b, v.String()), nil
	case protoreflect.BytesKind:
		b = append(b, '"')
		return append(base64.StdEncoding.AppendEncode(b, v.Bytes()), '"'), nil
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name())), nil
		}
		// pbjson refuses to serialise an unknown variant; the number at
		// least decodes.
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message())
	}
	return nil, fmt.Errorf("field %s: unsupported kind %v", fd.FullName(), fd.Kind())
}

// appendTimestamp writes a Timestamp as chrono's DateTime<Utc>::to_rfc3339
// does (pbjson-types): fraction digits in groups of three, offset "+00:00".
func appendTimestamp(b []byte, m protoreflect.Message) ([]byte, error) {
	fields := m.Descriptor().Fields()
	secs := m.Get(fields.ByName("seconds")).Int()
	nanos := m.Get(fields.ByName("nanos")).Int()
	if nanos < 0 || nanos >= 1e9 {
		return nil, fmt.Errorf("timestamp: nanos %d out of range", nanos)
	}
	t := time.Unix(secs, nanos).UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("timestamp: year %d out of range", y)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	b = appendFraction(b, nanos)
	return append(b, `+00:00"`...), nil
}

// appendDuration writes a Duration as pbjson-types does: seconds, then the
// nanoseconds in groups of three digits, then "s".
func appendDuration(b []byte, m protoreflect.Message) ([]byte, error) {
	fields := m.Descriptor().Fields()
	secs := m.Get(fields.ByName("seconds")).Int()
	nanos := m.Get(fields.ByName("nanos")).Int()
	if secs != 0 && nanos != 0 && (secs < 0) != (nanos < 0) {
		return nil, errors.New("duration has inconsistent signs")
	}
	if nanos <= -1e9 || nanos >= 1e9 {
		return nil, fmt.Errorf("duration: nanos %d out of range", nanos)
	}
	b = append(b, '"')
	if secs == 0 && nanos < 0 {
		b = append(b, '-')
	}
	b = strconv.AppendInt(b, secs, 10)
	b = appendFraction(b, max(nanos, -nanos))
	return append(b, `s"`...), nil
}

// appendFraction writes ".ddd", ".dddddd" or ".ddddddddd", the fewest that
// hold nanos exactly, or nothing for 0.
func appendFraction(b []byte, nanos int64) []byte {
	if nanos == 0 {
		return b
	}
	digits := 9
	switch {
	case nanos%1e6 == 0:
		nanos, digits = nanos/1e6, 3
	case nanos%1e3 == 0:
		nanos, digits = nanos/1e3, 6
	}
	s := strconv.FormatInt(nanos, 10)
	b = append(b, '.')
	for range digits - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

func appendStruct(b []byte, m protoreflect.Message) ([]byte, error) {
	fd := m.Descriptor().Fields().ByName("fields")
	return appendField(b, fd, m.Get(fd))
}

func appendListValue(b []byte, m protoreflect.Message) ([]byte, error) {
	fd := m.Descriptor().Fields().ByName("values")
	return appendField(b, fd, m.Get(fd))
}

// appendValue writes a google.protobuf.Value as the JSON value it stands
// for; a Value without kind is null, as in pbjson-types.
func appendValue(b []byte, m protoreflect.Message) ([]byte, error) {
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("kind"))
	if fd == nil || fd.Name() == "null_value" {
		return append(b, "null"...), nil
	}
	return appendSingular(b, fd, m.Get(fd))
}

// appendFloat writes f as serde_json does, with Ryū's shortest digits laid
// out as its pretty printer lays them out: "7.0", "0.25", "1e-7", "1.5e20".
// serde_json writes non-finite floats as null. Go's shortest digits are
// Ryū's: both give the shortest string that reads back as f, the closest
// one when there are several.
func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	if math.Signbit(f) {
		b = append(b, '-')
		f = -f
	}
	if f == 0 {
		return append(b, "0.0"...)
	}
	s := strconv.FormatFloat(f, 'e', -1, bits) // d.ddde±xx
	mant, exp, _ := strings.Cut(s, "e")
	digits := strings.Replace(mant, ".", "", 1)
	e, _ := strconv.Atoi(exp)
	length := len(digits)
	kk := e + 1            // 10^(kk-1) <= f < 10^kk
	k := kk - length       // f = digits × 10^k
	maxKK, minKK := 16, -5 // Ryū's d2s limits; f2s has its own
	if bits == 32 {
		maxKK, minKK = 13, -6
	}
	switch {
	case k >= 0 && kk <= maxKK:
		b = append(b, digits...)
		b = append(b, strings.Repeat("0", k)...)
		return append(b, ".0"...)
	case kk > 0 && kk <= maxKK:
		b = append(b, digits[:kk]...)
		b = append(b, '.')
		return append(b, digits[kk:]...)
	case kk > minKK && kk <= 0:
		b = append(b, "0."...)
		b = append(b, strings.Repeat("0", -kk)...)
		return append(b, digits...)
	}
	b = append(b, digits[0])
	if length > 1 {
		b = append(b, '.')
		b = append(b, digits[1:]...)
	}
	b = append(b, 'e')
	return strconv.AppendInt(b, int64(kk-1), 10)
}

// appendString writes s as a JSON string escaped as serde_json escapes it:
// only '"', '\\' and control characters, the latter as \b \t \n \f \r or
// \u00XX. Invalid UTF-8, which a Rust String cannot hold, becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\b':
				b = append(b, `\b`...)
			case c == '\t':
				b = append(b, `\t`...)
			case c == '\n':
				b = append(b, `\n`...)
			case c == '\f':
				b = append(b, `\f`...)
			case c == '\r':
				b = append(b, `\r`...)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
