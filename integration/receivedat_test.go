package integration

import (
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestReceivedAt(t *testing.T) {
	event := time.Date(2026, 3, 2, 10, 0, 1, 0, time.UTC)
	gwTime := event.Add(-300 * time.Millisecond)
	nsTime := event.Add(-100 * time.Millisecond)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// GPS second 1456000000 is Unix 1771964782 (18 leap seconds).
	gps := 1_456_000_000*time.Second + 5*time.Millisecond
	gpsUTC := time.Unix(1_771_964_782, 5_000_000).UTC()

	tests := []struct {
		name   string
		time   *timestamppb.Timestamp
		rx     []*gw.UplinkRxInfo
		want   time.Time
		source TimeSource
	}{
		{"gps first", timestamppb.New(event), []*gw.UplinkRxInfo{
			{GwTime: timestamppb.New(gwTime), TimeSinceGpsEpoch: durationpb.New(gps)},
		}, gpsUTC, TimeGPS},
		{"gps of a later gateway beats gateway time", timestamppb.New(event), []*gw.UplinkRxInfo{
			{GwTime: timestamppb.New(gwTime)},
			{TimeSinceGpsEpoch: durationpb.New(gps)},
		}, gpsUTC, TimeGPS},
		{"gateway time", timestamppb.New(event), []*gw.UplinkRxInfo{
			{NsTime: timestamppb.New(nsTime)},
			{GwTime: timestamppb.New(gwTime)},
		}, gwTime, TimeGateway},
		{"zero gps ignored", timestamppb.New(event), []*gw.UplinkRxInfo{
			{TimeSinceGpsEpoch: durationpb.New(0), GwTime: timestamppb.New(gwTime)},
		}, gwTime, TimeGateway},
		{"invalid gps ignored", timestamppb.New(event), []*gw.UplinkRxInfo{
			{TimeSinceGpsEpoch: &durationpb.Duration{Seconds: 1, Nanos: -5}},
		}, event, TimeEvent},
		{"event time", timestamppb.New(event), []*gw.UplinkRxInfo{{NsTime: timestamppb.New(nsTime)}}, event, TimeEvent},
		{"event time without rx info", timestamppb.New(event), nil, event, TimeEvent},
		{"ns time without event time", nil, []*gw.UplinkRxInfo{{NsTime: timestamppb.New(nsTime)}}, nsTime, TimeEvent},
		{"now without any time", nil, nil, now, TimeEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &integration.UplinkEvent{Time: tt.time, RxInfo: tt.rx}
			got, src := receivedAt(e, func() time.Time { return now })
			if !got.Equal(tt.want) || src != tt.source {
				t.Errorf("receivedAt = %v (%v), want %v (%v)", got, src, tt.want, tt.source)
			}
		})
	}
}
