package integration

import (
	"context"
	"testing"
	"time"
)

// nopHandler takes everything and does nothing.
type nopHandler struct{}

func (nopHandler) HandleUplink(context.Context, Uplink) {}
func (nopHandler) HandleTxAck(context.Context, TxAck)   {}
func (nopHandler) HandleAck(context.Context, Ack)       {}
func (nopHandler) HandleLog(context.Context, Log)       {}

// FuzzDispatch feeds arbitrary payloads of every event type through the
// path MQTT messages and HTTP bodies take: it must never panic, and every
// payload is counted exactly once.
func FuzzDispatch(f *testing.F) {
	f.Add([]byte(`{"deviceInfo":{"devEui":"70b3d57ed0001234"},"fPort":201,"data":"AQI=","rxInfo":[{"gatewayId":"0016c001ff10a235","timeSinceGpsEpoch":"1456000000.123s"}]}`), "up")
	f.Add([]byte{0x1a, 0x12, 0x4a, 0x10, '7', '0', 'b', '3', 'd', '5', '7', 'e', 'd', '0', '0', '0', '1', '2', '3', '4', 0x40, 0xc9, 0x01}, "up")
	f.Add([]byte(`{"deviceInfo":{"devEui":"70b3d57ed0001234"},"queueItemId":"x","gatewayId":"0016c001ff10a235"}`), "txack")
	f.Add([]byte(`{"deviceInfo":{"devEui":"70b3d57ed0001234"},"acknowledged":true}`), "ack")
	f.Add([]byte(`{"deviceInfo":{"devEui":"70b3d57ed0001234"},"level":"ERROR","code":"DOWNLINK_GATEWAY","context":{"a":"b"}}`), "log")
	f.Add([]byte("{}"), "join")
	f.Fuzz(func(t *testing.T, b []byte, typ string) {
		d := newDispatcher(nopHandler{}, Filter{}, nil, func() time.Time { return time.Unix(0, 0) })
		for _, enc := range []Encoding{EncodingAuto, EncodingJSON, EncodingProtobuf} {
			_ = d.dispatch(context.Background(), "fuzz", typ, enc, b)
		}
		st := d.stats.snapshot()
		if handled := st.Uplinks + st.TxAcks + st.Acks + st.Logs + st.IgnoredEvents + st.IgnoredFPort + st.IgnoredDevice + st.Malformed; st.Received != 3 || handled != 3 {
			t.Fatalf("stats %+v: want 3 received and 3 outcomes", st)
		}
	})
}
