package events_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/simulator/events"
)

// TestRoundTrip: every event type, in both encodings, decodes with the
// official types (strictly: no unknown JSON field) to what was encoded.
func TestRoundTrip(t *testing.T) {
	for _, m := range samples() {
		typ, err := events.EventType(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range []events.Encoding{events.JSON, events.Protobuf} {
			t.Run(typ+"/"+enc.String(), func(t *testing.T) {
				b, err := events.Marshal(m, enc)
				if err != nil {
					t.Fatal(err)
				}
				got := m.ProtoReflect().New().Interface()
				if enc == events.JSON {
					err = protojson.Unmarshal(b, got)
				} else {
					err = proto.Unmarshal(b, got)
				}
				if err != nil {
					t.Fatalf("official type does not decode it: %v\n%s", err, b)
				}
				diffMessages(t, got, m)

				dec, err := events.Decode(typ, enc, b)
				if err != nil {
					t.Fatal(err)
				}
				diffMessages(t, dec, m)
			})
		}
	}
}

// TestMarshalJSONForm pins ChirpStack's JSON form: defaults present in
// integration messages and absent in gw ones, unset messages absent,
// chrono's timestamps, pbjson's durations, serde_json's floats.
func TestMarshalJSONForm(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{
		{
			name: "empty up",
			msg:  &integration.UplinkEvent{},
			want: `{"deduplicationId":"","devAddr":"","adr":false,"dr":0,"fCnt":0,"fPort":0,"confirmed":false,"data":"","rxInfo":[],"regionConfigId":""}`,
		},
		{
			name: "up",
			msg: &integration.UplinkEvent{
				DeduplicationId: "d",
				Time:            timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 250_000_000, time.UTC)),
				DeviceInfo:      &integration.DeviceInfo{ApplicationId: "a", DevEui: "0102030405060708"},
				FCnt:            3,
				FPort:           201,
				Data:            []byte{1, 2, 3},
				RxInfo: []*gw.UplinkRxInfo{{
					GatewayId: "g", Rssi: -57, Snr: 7,
					TimeSinceGpsEpoch: durationpb.New(1500 * time.Millisecond),
				}},
			},
			want: `{"deduplicationId":"d","time":"2024-05-01T12:00:00.250+00:00",` +
				`"deviceInfo":{"tenantId":"","tenantName":"","applicationId":"a","applicationName":"",` +
				`"deviceProfileId":"","deviceProfileName":"","deviceName":"","devEui":"0102030405060708",` +
				`"deviceClassEnabled":"CLASS_A","tags":{}},` +
				`"devAddr":"","adr":false,"dr":0,"fCnt":3,"fPort":201,"confirmed":false,"data":"AQID",` +
				`"rxInfo":[{"gatewayId":"g","timeSinceGpsEpoch":"1.500s","rssi":-57,"snr":7.0}],"regionConfigId":""}`,
		},
		{
			name: "log",
			msg: &integration.LogEvent{
				Level: integration.LogLevel_WARNING, Code: integration.LogCode_EXPIRED,
				Description: "Device queue-item discarded because it has expired",
				Context:     map[string]string{"queue_item_id": "q", "a": "<&>"},
			},
			want: `{"level":"WARNING","code":"EXPIRED","description":"Device queue-item discarded because it has expired",` +
				`"context":{"a":"<&>","queue_item_id":"q"}}`,
		},
		{
			name: "txack oneof",
			msg: &integration.TxAckEvent{TxInfo: &gw.DownlinkTxInfo{
				Frequency: 869_525_000,
				Timing:    &gw.Timing{Parameters: &gw.Timing_Immediately{Immediately: &gw.ImmediatelyTimingInfo{}}},
			}},
			want: `{"downlinkId":0,"queueItemId":"","fCntDown":0,"gatewayId":"",` +
				`"txInfo":{"frequency":869525000,"timing":{"immediately":{}}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := events.MarshalJSON(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b, tt.want)
			}
		})
	}
}

func TestMarshalJSONScalars(t *testing.T) {
	status := func(f float32) proto.Message { return &integration.StatusEvent{BatteryLevel: f} }
	statusJSON := func(v string) string {
		return `{"deduplicationId":"","margin":0,"externalPowerSource":false,"batteryLevelUnavailable":false,"batteryLevel":` + v + `}`
	}
	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{
		// serde_json prints f32 with Ryū's f32 layout.
		{"f32 whole", status(100), statusJSON("100.0")},
		{"f32 fraction", status(87.5), statusJSON("87.5")},
		{"f32 shortest", status(0.1), statusJSON("0.1")},
		{"f32 negative", status(-10.25), statusJSON("-10.25")},
		{"f32 small", status(0.000001), statusJSON("0.000001")},
		{"f32 tiny", status(1e-7), statusJSON("1e-7")},
		{"f32 large", status(1e13), statusJSON("1e13")},
		{"f32 large digits", status(1.5e13), statusJSON("1.5e13")},
		{"f32 NaN", status(float32(math.NaN())), statusJSON("null")},
		// f64, through a Value: Ryū's f64 layout.
		{"f64 whole", structpb.NewNumberValue(3), "3.0"},
		{"f64 16 digits", structpb.NewNumberValue(1e15), "1000000000000000.0"},
		{"f64 17 digits", structpb.NewNumberValue(1e16), "1e16"},
		{"f64 fraction", structpb.NewNumberValue(21.5), "21.5"},
		{"f64 small", structpb.NewNumberValue(0.0001), "0.0001"},
		{"f64 smaller", structpb.NewNumberValue(0.00001), "0.00001"},
		{"f64 smallest decimal", structpb.NewNumberValue(0.000001), "1e-6"},
		{"f64 exponent", structpb.NewNumberValue(-1.25e-7), "-1.25e-7"},
		{"f64 zero", structpb.NewNumberValue(0), "0.0"},
		{"f64 negative zero", structpb.NewNumberValue(math.Copysign(0, -1)), "-0.0"},
		{"f64 inf", structpb.NewNumberValue(math.Inf(1)), "null"},
		// Strings as serde_json escapes them.
		{"string", structpb.NewStringValue("a\"b\\c\n\t\x01\x7f<>&é\u2028"), "\"a\\\"b\\\\c\\n\\t\\u0001\x7f<>&é\u2028\""},
		{"invalid utf-8", structpb.NewStringValue("a\xffb"), "\"a\uFFFDb\""},
		{"null", structpb.NewNullValue(), "null"},
		{"list", structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewBoolValue(true), structpb.NewNumberValue(2)}}), "[true,2.0]"},
		// Timestamps as chrono's to_rfc3339.
		{"time whole", timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)), `"2024-05-01T12:00:00+00:00"`},
		{"time millis", timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 120_000_000, time.UTC)), `"2024-05-01T12:00:00.120+00:00"`},
		{"time micros", timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 1000, time.UTC)), `"2024-05-01T12:00:00.000001+00:00"`},
		{"time nanos", timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 775_023_242, time.UTC)), `"2024-05-01T12:00:00.775023242+00:00"`},
		{"time zone", timestamppb.New(time.Date(2024, 5, 1, 14, 0, 0, 0, time.FixedZone("CEST", 7200))), `"2024-05-01T12:00:00+00:00"`},
		// Durations as pbjson-types.
		{"duration zero", durationpb.New(0), `"0s"`},
		{"duration millis", durationpb.New(1500 * time.Millisecond), `"1.500s"`},
		{"duration nanos", durationpb.New(121*time.Second + 3454), `"121.000003454s"`},
		{"duration negative", durationpb.New(-500 * time.Millisecond), `"-0.500s"`},
		{"duration negative seconds", durationpb.New(-90*time.Second - 2456301), `"-90.002456301s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := events.MarshalJSON(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
			if !json.Valid(b) {
				t.Errorf("%s is not JSON", b)
			}
		})
	}
}

func TestMarshalJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
	}{
		{"duration signs", &durationpb.Duration{Seconds: 1, Nanos: -1}},
		{"timestamp nanos", &timestamppb.Timestamp{Nanos: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := events.MarshalJSON(tt.msg); err == nil {
				t.Errorf("got %s, want an error", b)
			}
		})
	}
}

func TestEventType(t *testing.T) {
	want := []string{"up", "join", "ack", "txack", "log", "status", "location"}
	for i, m := range samples() {
		got, err := events.EventType(m)
		if err != nil || got != want[i] {
			t.Errorf("EventType(%T) = %q, %v; want %q", m, got, err, want[i])
		}
	}
	if _, err := events.EventType(&integration.DeviceInfo{}); err == nil {
		t.Error("EventType(DeviceInfo): no error")
	}
	if _, err := events.Decode("down", events.JSON, []byte("{}")); err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("Decode of an unknown type: %v", err)
	}
}
