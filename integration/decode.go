package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/clocksync"
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

// Encoding is how an event payload is serialised.
type Encoding int

const (
	// EncodingAuto takes a payload whose first byte is '{' as JSON and
	// anything else as protobuf (over HTTP, the Content-Type decides
	// first). No event message's protobuf form starts with '{': that would
	// be field 15 as a group.
	EncodingAuto Encoding = iota
	// EncodingJSON is ChirpStack's JSON (its MQTT json = true, the default).
	EncodingJSON
	// EncodingProtobuf is the binary protobuf encoding.
	EncodingProtobuf
)

func (e Encoding) String() string {
	switch e {
	case EncodingAuto:
		return "auto"
	case EncodingJSON:
		return "json"
	case EncodingProtobuf:
		return "protobuf"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// ParseEncoding parses "auto", "json" or "protobuf" (as in a configuration
// file; case-insensitive, empty meaning auto).
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return EncodingAuto, nil
	case "json":
		return EncodingJSON, nil
	case "protobuf", "proto":
		return EncodingProtobuf, nil
	}
	return 0, fmt.Errorf("unknown event encoding %q (want auto, json or protobuf)", s)
}

func (e Encoding) valid() bool { return e >= EncodingAuto && e <= EncodingProtobuf }

// resolve picks the encoding of payload b.
func (e Encoding) resolve(b []byte) Encoding {
	if e != EncodingAuto {
		return e
	}
	if len(b) > 0 && b[0] == '{' {
		return EncodingJSON
	}
	return EncodingProtobuf
}

// errMalformed marks an event that cannot be used.
var errMalformed = errors.New("malformed event")

// decodeEvent decodes the payload of a known event type; it returns a nil
// message and no error for a type the engine does not take.
func decodeEvent(typ string, enc Encoding, b []byte) (proto.Message, error) {
	var m proto.Message
	switch typ {
	case EventUp:
		m = &integration.UplinkEvent{}
	case EventTxAck:
		m = &integration.TxAckEvent{}
	case EventAck:
		m = &integration.AckEvent{}
	case EventLog:
		m = &integration.LogEvent{}
	default:
		return nil, nil
	}
	var err error
	switch enc.resolve(b) {
	case EncodingJSON:
		// Newer ChirpStack versions add fields; they must not break us.
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
	default:
		err = proto.Unmarshal(b, m)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decode %s event (%v): %v", errMalformed, typ, enc.resolve(b), err)
	}
	return m, nil
}

// deviceOf returns the DevEUI and application of an event's device_info.
func deviceOf(info *integration.DeviceInfo) (lorawan.EUI64, string, error) {
	var eui lorawan.EUI64
	if info == nil {
		return eui, "", fmt.Errorf("%w: no device_info", errMalformed)
	}
	if err := eui.UnmarshalText([]byte(info.GetDevEui())); err != nil {
		return eui, "", fmt.Errorf("%w: device_info.dev_eui %q: %v", errMalformed, info.GetDevEui(), err)
	}
	return eui, info.GetApplicationId(), nil
}

func parseGatewayID(s string) (lorawan.EUI64, error) {
	var id lorawan.EUI64
	if s == "" {
		return id, nil
	}
	if err := id.UnmarshalText([]byte(s)); err != nil {
		return id, fmt.Errorf("%w: gateway_id %q: %v", errMalformed, s, err)
	}
	return id, nil
}

// timeOf is t as a time.Time, zero if absent or invalid.
func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil || t.CheckValid() != nil {
		return time.Time{}
	}
	return t.AsTime()
}

// uplinkOf maps an up event; now is the fallback reception time when the
// event carries no time at all.
func uplinkOf(e *integration.UplinkEvent, now func() time.Time) (Uplink, error) {
	dev, app, err := deviceOf(e.GetDeviceInfo())
	if err != nil {
		return Uplink{}, err
	}
	if e.GetFPort() > 255 {
		return Uplink{}, fmt.Errorf("%w: f_port %d out of range", errMalformed, e.GetFPort())
	}
	if e.GetDr() > 15 {
		return Uplink{}, fmt.Errorf("%w: dr %d out of range", errMalformed, e.GetDr())
	}
	u := Uplink{
		DevEUI:          dev,
		ApplicationID:   app,
		DeduplicationID: e.GetDeduplicationId(),
		FPort:           uint8(e.GetFPort()),
		Data:            e.GetData(),
		FCnt:            e.GetFCnt(),
		DR:              uint8(e.GetDr()),
		Confirmed:       e.GetConfirmed(),
		EventTime:       timeOf(e.GetTime()),
	}
	if u.RxInfo, err = rxSummary(e); err != nil {
		return Uplink{}, err
	}
	u.ReceivedAt, u.TimeSource = receivedAt(e, now)
	return u, nil
}

func rxSummary(e *integration.UplinkEvent) (RxSummary, error) {
	var s RxSummary
	for i, rx := range e.GetRxInfo() {
		id, err := parseGatewayID(rx.GetGatewayId())
		if err != nil {
			return RxSummary{}, fmt.Errorf("rx_info[%d]: %w", i, err)
		}
		if i == 0 || rx.GetRssi() > s.BestRSSI {
			s.BestRSSI = rx.GetRssi()
		}
		if i == 0 || rx.GetSnr() > s.BestSNR {
			s.BestSNR = rx.GetSnr()
		}
		seen := false
		for _, g := range s.Gateways {
			seen = seen || g == id
		}
		if !seen {
			s.Gateways = append(s.Gateways, id)
		}
	}
	return s, nil
}

// receivedAt picks the reception time in the order of PROTOCOLS.md §3.1:
// the first GPS timestamp of any gateway, else the first gateway time, else
// the event time (else a gateway's ns_time, else now).
func receivedAt(e *integration.UplinkEvent, now func() time.Time) (time.Time, TimeSource) {
	var server time.Time
	if server = timeOf(e.GetTime()); server.IsZero() {
		for _, rx := range e.GetRxInfo() {
			if server = timeOf(rx.GetNsTime()); !server.IsZero() {
				break
			}
		}
		if server.IsZero() {
			server = now()
		}
	}
	for _, rx := range e.GetRxInfo() {
		if d := rx.GetTimeSinceGpsEpoch(); d != nil && d.CheckValid() == nil && d.AsDuration() > 0 {
			gps := d.AsDuration()
			return clocksync.ReceiveTime(&gps, nil, server), TimeGPS
		}
	}
	for _, rx := range e.GetRxInfo() {
		if t := timeOf(rx.GetGwTime()); !t.IsZero() {
			return clocksync.ReceiveTime(nil, &t, server), TimeGateway
		}
	}
	return server, TimeEvent
}

func txAckOf(e *integration.TxAckEvent) (TxAck, error) {
	dev, app, err := deviceOf(e.GetDeviceInfo())
	if err != nil {
		return TxAck{}, err
	}
	gw, err := parseGatewayID(e.GetGatewayId())
	if err != nil {
		return TxAck{}, err
	}
	return TxAck{
		DevEUI:        dev,
		ApplicationID: app,
		QueueItemID:   e.GetQueueItemId(),
		DownlinkID:    e.GetDownlinkId(),
		FCntDown:      e.GetFCntDown(),
		GatewayID:     gw,
		Time:          timeOf(e.GetTime()),
	}, nil
}

func ackOf(e *integration.AckEvent) (Ack, error) {
	dev, app, err := deviceOf(e.GetDeviceInfo())
	if err != nil {
		return Ack{}, err
	}
	return Ack{
		DevEUI:        dev,
		ApplicationID: app,
		QueueItemID:   e.GetQueueItemId(),
		Acknowledged:  e.GetAcknowledged(),
		FCntDown:      e.GetFCntDown(),
		Time:          timeOf(e.GetTime()),
	}, nil
}

func logOf(e *integration.LogEvent) (Log, error) {
	dev, app, err := deviceOf(e.GetDeviceInfo())
	if err != nil {
		return Log{}, err
	}
	level := slog.LevelInfo
	switch e.GetLevel() {
	case integration.LogLevel_WARNING:
		level = slog.LevelWarn
	case integration.LogLevel_ERROR:
		level = slog.LevelError
	}
	return Log{
		DevEUI:        dev,
		ApplicationID: app,
		Level:         level,
		Code:          LogCode(e.GetCode().String()),
		Description:   e.GetDescription(),
		Context:       e.GetContext(),
		Time:          timeOf(e.GetTime()),
	}, nil
}

// dispatcher decodes events, filters them and hands them to a Handler. MQTT
// and HTTP share it.
type dispatcher struct {
	h       Handler
	ports   *portSet
	managed func(lorawan.EUI64) bool
	log     *slog.Logger
	now     func() time.Time
	stats   counters
}

func newDispatcher(h Handler, f Filter, log *slog.Logger, now func() time.Time) *dispatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &dispatcher{h: h, ports: f.ports(), managed: f.Managed, log: log, now: now}
}

func (d *dispatcher) isManaged(dev lorawan.EUI64) bool {
	if d.managed == nil || d.managed(dev) {
		return true
	}
	d.stats.ignoredDevice.Add(1)
	return false
}

// dispatch handles the payload b of one event of type typ that arrived from
// source (a topic, a remote address). It returns an error wrapping
// errMalformed for an event it dropped as malformed, having logged and
// counted it; ignored events are not errors.
func (d *dispatcher) dispatch(ctx context.Context, source, typ string, enc Encoding, b []byte) error {
	d.stats.received.Add(1)
	err := d.deliver(ctx, typ, enc, b)
	if err != nil {
		d.stats.malformed.Add(1)
		d.log.WarnContext(ctx, "dropping malformed ChirpStack event",
			"source", source, "event", typ, "bytes", len(b), "error", err)
	}
	return err
}

func (d *dispatcher) deliver(ctx context.Context, typ string, enc Encoding, b []byte) error {
	m, err := decodeEvent(typ, enc, b)
	if err != nil {
		return err
	}
	switch e := m.(type) {
	case *integration.UplinkEvent:
		u, err := uplinkOf(e, d.now)
		if err != nil {
			return fmt.Errorf("up event: %w", err)
		}
		if !d.ports[u.FPort] {
			d.stats.ignoredFPort.Add(1)
			return nil
		}
		if d.isManaged(u.DevEUI) {
			d.stats.uplinks.Add(1)
			d.h.HandleUplink(ctx, u)
		}
	case *integration.TxAckEvent:
		a, err := txAckOf(e)
		if err != nil {
			return fmt.Errorf("txack event: %w", err)
		}
		if d.isManaged(a.DevEUI) {
			d.stats.txAcks.Add(1)
			d.h.HandleTxAck(ctx, a)
		}
	case *integration.AckEvent:
		a, err := ackOf(e)
		if err != nil {
			return fmt.Errorf("ack event: %w", err)
		}
		if d.isManaged(a.DevEUI) {
			d.stats.acks.Add(1)
			d.h.HandleAck(ctx, a)
		}
	case *integration.LogEvent:
		l, err := logOf(e)
		if err != nil {
			return fmt.Errorf("log event: %w", err)
		}
		if d.isManaged(l.DevEUI) {
			d.stats.logs.Add(1)
			d.h.HandleLog(ctx, l)
		}
	default:
		d.stats.ignoredEvents.Add(1)
	}
	return nil
}
