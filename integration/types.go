package integration

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/brocaar/lorawan"
)

// TimeSource says which clock an Uplink's ReceivedAt comes from.
type TimeSource int

const (
	// TimeEvent is the event's own time: ChirpStack's, after
	// deduplication, late by backhaul and queueing.
	TimeEvent TimeSource = iota
	// TimeGateway is a gateway's clock (rx_info gw_time), usually NTP.
	TimeGateway
	// TimeGPS is a GPS-locked gateway's timestamp (rx_info
	// time_since_gps_epoch), the most accurate.
	TimeGPS
)

func (s TimeSource) String() string {
	switch s {
	case TimeEvent:
		return "event"
	case TimeGateway:
		return "gateway"
	case TimeGPS:
		return "gps"
	}
	return "TimeSource(?)"
}

// Uplink is an application uplink on a FUOTA port of a managed device.
type Uplink struct {
	DevEUI        lorawan.EUI64
	ApplicationID string
	// DeduplicationID identifies the uplink in ChirpStack; the same uplink
	// delivered twice (QoS 1, two integrations) has the same one.
	DeduplicationID string
	FPort           uint8
	Data            []byte
	FCnt            uint32
	DR              uint8
	Confirmed       bool
	// ReceivedAt is when the uplink was received: a gateway's GPS time if
	// one reported it, else a gateway's clock, else the event time
	// (PROTOCOLS.md §3.1). TS003 corrections are computed from it.
	ReceivedAt time.Time
	TimeSource TimeSource
	// EventTime is ChirpStack's time of the event; zero if absent.
	EventTime time.Time
	RxInfo    RxSummary
}

// RxSummary summarises the gateways that heard an uplink.
type RxSummary struct {
	// Gateways heard the uplink, in ChirpStack's order, each once.
	Gateways []lorawan.EUI64
	// BestRSSI (dBm) and BestSNR (dB) are the best over all receptions;
	// zero without receptions.
	BestRSSI int32
	BestSNR  float32
}

// TxAck reports that a gateway transmitted a unicast downlink. ChirpStack
// sends it only for a successful transmission; a gateway's refusal arrives
// as a Log with code LogDownlinkGateway and the item stays queued.
type TxAck struct {
	DevEUI        lorawan.EUI64
	ApplicationID string
	// QueueItemID is the id EnqueueUnicast returned.
	QueueItemID string
	DownlinkID  uint32
	FCntDown    uint32
	GatewayID   lorawan.EUI64
	Time        time.Time
}

// Ack reports whether a device acknowledged a confirmed unicast downlink.
type Ack struct {
	DevEUI        lorawan.EUI64
	ApplicationID string
	QueueItemID   string
	Acknowledged  bool
	FCntDown      uint32
	Time          time.Time
}

// LogCode is ChirpStack's LogCode name, e.g. "DOWNLINK_GATEWAY".
type LogCode string

// The log codes that concern downlinks the engine queued (CHIRPSTACK.md §2.3).
const (
	LogDownlinkPayloadSize LogCode = "DOWNLINK_PAYLOAD_SIZE"
	LogDownlinkGateway     LogCode = "DOWNLINK_GATEWAY"
	LogFCntDown            LogCode = "F_CNT_DOWN"
	LogExpired             LogCode = "EXPIRED"
)

// Log is a ChirpStack log event of a managed device.
type Log struct {
	DevEUI        lorawan.EUI64
	ApplicationID string
	// Level is slog.LevelInfo, slog.LevelWarn or slog.LevelError.
	Level       slog.Level
	Code        LogCode
	Description string
	// Context holds details, e.g. "queue_item_id".
	Context map[string]string
	Time    time.Time
}

// Handler receives the events meant for the FUOTA engine.
type Handler interface {
	HandleUplink(ctx context.Context, u Uplink)
	HandleTxAck(ctx context.Context, a TxAck)
	HandleAck(ctx context.Context, a Ack)
	HandleLog(ctx context.Context, l Log)
}

// The FPorts of the LoRa Alliance application layer packages (TS003 clock
// sync 202, TS004 fragmentation 201, TS005 multicast 200, TS006 firmware
// management 203): the default of Filter.FPorts.
const (
	DefaultFirstFPort = 200
	DefaultLastFPort  = 203
)

// Filter decides which events reach the Handler.
type Filter struct {
	// FPorts are the uplink ports passed on; nil means
	// DefaultFirstFPort–DefaultLastFPort.
	FPorts []uint8
	// Managed reports whether a device takes part in FUOTA; events of other
	// devices are ignored. nil means every device.
	Managed func(lorawan.EUI64) bool
}

// portSet is a compiled Filter.FPorts.
type portSet [256]bool

func (f Filter) ports() *portSet {
	var p portSet
	if f.FPorts == nil {
		for i := DefaultFirstFPort; i <= DefaultLastFPort; i++ {
			p[i] = true
		}
		return &p
	}
	for _, port := range f.FPorts {
		p[port] = true
	}
	return &p
}

// Stats counts what a source did with the events it received.
type Stats struct {
	// Received counts events taken in: MQTT messages, and POST requests
	// that passed the secret check. Each has exactly one outcome below.
	Received uint64
	// Uplinks, TxAcks, Acks and Logs count events handed to the Handler.
	Uplinks, TxAcks, Acks, Logs uint64
	// IgnoredEvents counts event types the engine does not take (join,
	// status, location, unknown ones).
	IgnoredEvents uint64
	// IgnoredFPort counts uplinks on ports that are not FUOTA ports.
	IgnoredFPort uint64
	// IgnoredDevice counts events of devices that are not managed.
	IgnoredDevice uint64
	// Malformed counts events that could not be decoded or lacked
	// required fields; they are logged and dropped.
	Malformed uint64
	// Unauthorized counts HTTP requests refused for their secret.
	Unauthorized uint64
}

// counters are the live Stats.
type counters struct {
	received, uplinks, txAcks, acks, logs                         atomic.Uint64
	ignoredEvents, ignoredFPort, ignoredDevice, malformed, unauth atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received:      c.received.Load(),
		Uplinks:       c.uplinks.Load(),
		TxAcks:        c.txAcks.Load(),
		Acks:          c.acks.Load(),
		Logs:          c.logs.Load(),
		IgnoredEvents: c.ignoredEvents.Load(),
		IgnoredFPort:  c.ignoredFPort.Load(),
		IgnoredDevice: c.ignoredDevice.Load(),
		Malformed:     c.malformed.Load(),
		Unauthorized:  c.unauth.Load(),
	}
}
