package integration_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	ci "github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/integration"
)

const (
	appID  = "7c4a5b3e-1f2d-4c3b-9a8e-0d1e2f3a4b5c"
	itemID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
)

var (
	managed   = lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0x00, 0x12, 0x34}
	unmanaged = lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0x00, 0x99, 0x99}
	gwA       = lorawan.EUI64{0x00, 0x16, 0xc0, 0x01, 0xff, 0x10, 0xa2, 0x35}
	gwB       = lorawan.EUI64{0x00, 0x16, 0xc0, 0x01, 0xff, 0x10, 0xa2, 0x36}
	evTime    = time.Date(2026, 3, 2, 10, 0, 0, 250_000_000, time.UTC)
	// gpsTime is what gpsSince means as UTC (18 leap seconds since 1980).
	gpsSince = 1_456_000_000*time.Second + 123_456_789
	gpsTime  = time.Unix(315964800+1_456_000_000-18, 123_456_789).UTC()
)

func isManaged(d lorawan.EUI64) bool { return d != unmanaged }

func devInfo(dev lorawan.EUI64) *ci.DeviceInfo {
	return &ci.DeviceInfo{
		TenantId: "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", ApplicationId: appID,
		DeviceName: "meter", DevEui: dev.String(), Tags: map[string]string{"fw": "1.2"},
	}
}

// upEvent is an up event heard by two gateways, the second GPS-locked.
func upEvent(dev lorawan.EUI64, fPort, fCnt uint32) *ci.UplinkEvent {
	return &ci.UplinkEvent{
		DeduplicationId: "8f3e5a0c-6b2d-4e1f-9c8a-7b6d5e4f3a2b",
		Time:            timestamppb.New(evTime),
		DeviceInfo:      devInfo(dev),
		DevAddr:         "01f2e3d4",
		Dr:              5,
		FCnt:            fCnt,
		FPort:           fPort,
		Data:            []byte{0x01, 0x02, 0xff},
		RxInfo: []*gw.UplinkRxInfo{
			{GatewayId: gwA.String(), GwTime: timestamppb.New(evTime.Add(-time.Second)), Rssi: -97, Snr: -3.5},
			{GatewayId: gwB.String(), TimeSinceGpsEpoch: durationpb.New(gpsSince), Rssi: -57, Snr: 9.5},
			{GatewayId: gwA.String(), Rssi: -120, Snr: -20},
		},
		TxInfo: &gw.UplinkTxInfo{Frequency: 868_100_000},
	}
}

func wantUplink(dev lorawan.EUI64, fPort uint8, fCnt uint32) integration.Uplink {
	return integration.Uplink{
		DevEUI: dev, ApplicationID: appID, DeduplicationID: "8f3e5a0c-6b2d-4e1f-9c8a-7b6d5e4f3a2b",
		FPort: fPort, Data: []byte{0x01, 0x02, 0xff}, FCnt: fCnt, DR: 5,
		ReceivedAt: gpsTime, TimeSource: integration.TimeGPS, EventTime: evTime,
		RxInfo: integration.RxSummary{Gateways: []lorawan.EUI64{gwA, gwB}, BestRSSI: -57, BestSNR: 9.5},
	}
}

func txAckEvent(dev lorawan.EUI64) *ci.TxAckEvent {
	return &ci.TxAckEvent{DownlinkId: 3459876, Time: timestamppb.New(evTime), DeviceInfo: devInfo(dev),
		QueueItemId: itemID, FCntDown: 12, GatewayId: gwA.String(), TxInfo: &gw.DownlinkTxInfo{Frequency: 869_525_000}}
}

func ackEvent(dev lorawan.EUI64) *ci.AckEvent {
	return &ci.AckEvent{Time: timestamppb.New(evTime), DeviceInfo: devInfo(dev), QueueItemId: itemID, Acknowledged: true, FCntDown: 12}
}

func logEvent(dev lorawan.EUI64) *ci.LogEvent {
	return &ci.LogEvent{Time: timestamppb.New(evTime), DeviceInfo: devInfo(dev), Level: ci.LogLevel_ERROR,
		Code: ci.LogCode_DOWNLINK_GATEWAY, Description: "TOO_LATE", Context: map[string]string{"queue_item_id": itemID}}
}

func joinEvent(dev lorawan.EUI64) *ci.JoinEvent {
	return &ci.JoinEvent{Time: timestamppb.New(evTime), DeviceInfo: devInfo(dev), DevAddr: "01f2e3d4"}
}

// sent is one event of a scenario and what the Handler should get of it.
type sent struct {
	msg  proto.Message
	want any // nil: ignored
}

// scenario is a mix of events for the engine and events to ignore.
func scenario() []sent {
	return []sent{
		{upEvent(managed, 201, 7), wantUplink(managed, 201, 7)},
		{upEvent(managed, 10, 8), nil},    // not a FUOTA port
		{upEvent(managed, 0, 9), nil},     // MAC commands only
		{upEvent(unmanaged, 202, 3), nil}, // not our device
		{joinEvent(managed), nil},         // not for the engine
		{txAckEvent(unmanaged), nil},      // not our device
		{upEvent(managed, 203, 10), wantUplink(managed, 203, 10)},
		{txAckEvent(managed), integration.TxAck{DevEUI: managed, ApplicationID: appID, QueueItemID: itemID, DownlinkID: 3459876, FCntDown: 12, GatewayID: gwA, Time: evTime}},
		{ackEvent(managed), integration.Ack{DevEUI: managed, ApplicationID: appID, QueueItemID: itemID, Acknowledged: true, FCntDown: 12, Time: evTime}},
		{logEvent(managed), integration.Log{DevEUI: managed, ApplicationID: appID, Level: slog.LevelError, Code: integration.LogDownlinkGateway,
			Description: "TOO_LATE", Context: map[string]string{"queue_item_id": itemID}, Time: evTime}},
	}
}

// scenarioStats is what scenario leaves in Stats.
var scenarioStats = integration.Stats{
	Received: 10, Uplinks: 2, TxAcks: 1, Acks: 1, Logs: 1,
	IgnoredEvents: 1, IgnoredFPort: 2, IgnoredDevice: 2,
}

// recorder is a Handler that records what it gets, in order.
type recorder struct {
	mu   sync.Mutex
	got  []any
	more chan struct{} // signalled on every event
}

func newRecorder() *recorder { return &recorder{more: make(chan struct{}, 1)} }

func (r *recorder) add(v any) {
	r.mu.Lock()
	r.got = append(r.got, v)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

func (r *recorder) HandleUplink(_ context.Context, u integration.Uplink) { r.add(u) }
func (r *recorder) HandleTxAck(_ context.Context, a integration.TxAck)   { r.add(a) }
func (r *recorder) HandleAck(_ context.Context, a integration.Ack)       { r.add(a) }
func (r *recorder) HandleLog(_ context.Context, l integration.Log)       { r.add(l) }

func (r *recorder) events() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.got...)
}

// waitFor waits until n events arrived, or fails the test after 10 s.
func (r *recorder) waitFor(t *testing.T, n int) []any {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := r.events(); len(got) >= n {
			return got
		}
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("got %d events, want %d: %v", len(r.events()), n, r.events())
		}
	}
}
