package events_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const appID = "7c4a5b3e-1f2d-4c3b-9a8e-0d1e2f3a4b5c"

var (
	devEUI = lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0x00, 0x12, 0x34}
	t0     = time.Date(2026, 3, 2, 10, 0, 0, 250_000_000, time.UTC)
)

func deviceInfo() *integration.DeviceInfo {
	return &integration.DeviceInfo{
		TenantId:           "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
		TenantName:         "acme",
		ApplicationId:      appID,
		ApplicationName:    "meters",
		DeviceProfileId:    "0f4e1b0e-0d3c-4a4e-9b7a-4d0e0c1f2a3b",
		DeviceProfileName:  "meter-1.0.3",
		DeviceName:         "a-meter",
		DevEui:             devEUI.String(),
		DeviceClassEnabled: common.DeviceClass_CLASS_C,
		Tags:               map[string]string{"fw": "1.2", "site": "north"},
	}
}

// uplink is an up event with the fields a FUOTA server reads filled in.
func uplink(fCnt uint32) *integration.UplinkEvent {
	return &integration.UplinkEvent{
		DeduplicationId: "8f3e5a0c-6b2d-4e1f-9c8a-7b6d5e4f3a2b",
		Time:            timestamppb.New(t0),
		DeviceInfo:      deviceInfo(),
		DevAddr:         "01f2e3d4",
		Adr:             true,
		Dr:              5,
		FCnt:            fCnt,
		FPort:           201,
		Data:            []byte{0x01, 0x02, 0xff},
		RxInfo: []*gw.UplinkRxInfo{{
			GatewayId:         "0016c001ff10a235",
			UplinkId:          2813,
			GwTime:            timestamppb.New(t0.Add(-time.Millisecond)),
			TimeSinceGpsEpoch: durationpb.New(1_456_000_000*time.Second + 123_456_789),
			Rssi:              -57,
			Snr:               9.5,
			Channel:           2,
			Context:           []byte{0xaa, 0xbb, 0xcc, 0xdd},
			Metadata:          map[string]string{"region_config_id": "eu868"},
			CrcStatus:         gw.CRCStatus_CRC_OK,
		}},
		TxInfo: &gw.UplinkTxInfo{
			Frequency: 868_100_000,
			Modulation: &gw.Modulation{Parameters: &gw.Modulation_Lora{Lora: &gw.LoraModulationInfo{
				Bandwidth: 125_000, SpreadingFactor: 7, CodeRate: gw.CodeRate_CR_4_5,
			}}},
		},
		RegionConfigId: "eu868",
	}
}

// samples is one event of each type ChirpStack publishes.
func samples() []proto.Message {
	object, err := structpb.NewStruct(map[string]any{"temperature": 21.5, "count": 3.0, "ok": true, "tags": []any{"a", nil}})
	if err != nil {
		panic(err)
	}
	up := uplink(42)
	up.Object = object
	return []proto.Message{
		up,
		&integration.JoinEvent{
			DeduplicationId: "1e0f1d2c-3b4a-5968-7a6b-5c4d3e2f1a0b",
			Time:            timestamppb.New(t0),
			DeviceInfo:      deviceInfo(),
			DevAddr:         "01f2e3d4",
			RegionConfigId:  "eu868",
		},
		&integration.AckEvent{
			DeduplicationId: "2e0f1d2c-3b4a-5968-7a6b-5c4d3e2f1a0b",
			Time:            timestamppb.New(t0),
			DeviceInfo:      deviceInfo(),
			QueueItemId:     "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
			Acknowledged:    true,
			FCntDown:        12,
		},
		&integration.TxAckEvent{
			DownlinkId:  3459876,
			Time:        timestamppb.New(t0),
			DeviceInfo:  deviceInfo(),
			QueueItemId: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
			FCntDown:    12,
			GatewayId:   "0016c001ff10a235",
			TxInfo: &gw.DownlinkTxInfo{
				Frequency: 869_525_000,
				Power:     27,
				Timing: &gw.Timing{Parameters: &gw.Timing_Delay{Delay: &gw.DelayTimingInfo{
					Delay: durationpb.New(time.Second),
				}}},
			},
		},
		&integration.LogEvent{
			Time:        timestamppb.New(t0),
			DeviceInfo:  deviceInfo(),
			Level:       integration.LogLevel_ERROR,
			Code:        integration.LogCode_DOWNLINK_GATEWAY,
			Description: "TOO_LATE",
			Context:     map[string]string{"queue_item_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"},
		},
		&integration.StatusEvent{
			DeduplicationId: "3e0f1d2c-3b4a-5968-7a6b-5c4d3e2f1a0b",
			Time:            timestamppb.New(t0),
			DeviceInfo:      deviceInfo(),
			Margin:          7,
			BatteryLevel:    87.5,
		},
		&integration.LocationEvent{
			DeduplicationId: "4e0f1d2c-3b4a-5968-7a6b-5c4d3e2f1a0b",
			Time:            timestamppb.New(t0),
			DeviceInfo:      deviceInfo(),
			Location:        &common.Location{Latitude: 52.1, Longitude: 4.3, Source: common.LocationSource_GEO_RESOLVER_TDOA},
		},
	}
}

// logBuffer is a slog destination written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func diffMessages(t *testing.T, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("decoded message differs\n got: %v\nwant: %v", got, want)
	}
}
