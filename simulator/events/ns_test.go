package events_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/simulator/events"
	"github.com/lorafuota/lorafuota/simulator/ns"
)

func TestFromNS(t *testing.T) {
	gwID := lorawan.EUI64{0x00, 0x16, 0xc0, 0x01, 0xff, 0x10, 0xa2, 0x35}
	tests := []struct {
		name string
		ev   ns.Event
		want proto.Message
	}{
		{
			name: "txack",
			ev:   ns.Event{Kind: ns.EventTxAck, Time: t0, DevEUI: devEUI, QueueItemID: "q1", FCnt: 12, GatewayID: gwID, Status: gw.TxAckStatus_OK},
			want: &integration.TxAckEvent{
				Time: timestamppb.New(t0), DeviceInfo: deviceInfo(), QueueItemId: "q1", FCntDown: 12, GatewayId: "0016c001ff10a235",
			},
		},
		{
			name: "ack",
			ev:   ns.Event{Kind: ns.EventAck, Time: t0, DevEUI: devEUI, QueueItemID: "q2", FCnt: 13, Acknowledged: true},
			want: &integration.AckEvent{
				Time: timestamppb.New(t0), DeviceInfo: deviceInfo(), QueueItemId: "q2", FCntDown: 13, Acknowledged: true,
			},
		},
		{
			name: "log",
			ev: ns.Event{
				Kind: ns.EventLog, Time: t0, DevEUI: devEUI, QueueItemID: "q3", GatewayID: gwID,
				Level: integration.LogLevel_ERROR, Code: integration.LogCode_DOWNLINK_GATEWAY, Description: "TOO_LATE",
				Context: map[string]string{"queue_item_id": "q3"},
			},
			want: &integration.LogEvent{
				Time: timestamppb.New(t0), DeviceInfo: deviceInfo(),
				Level: integration.LogLevel_ERROR, Code: integration.LogCode_DOWNLINK_GATEWAY, Description: "TOO_LATE",
				Context: map[string]string{"queue_item_id": "q3"},
			},
		},
		{
			name: "multicast txack",
			ev:   ns.Event{Kind: ns.EventMulticastTxAck, Time: t0, MulticastGroupID: "g", QueueItemID: "r", GatewayID: gwID},
		},
		{
			name: "multicast expiry",
			ev: ns.Event{
				Kind: ns.EventLog, Time: t0, MulticastGroupID: "g", QueueItemID: "r",
				Level: integration.LogLevel_WARNING, Code: integration.LogCode_EXPIRED,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := deviceInfo()
			got, err := events.FromNS(tt.ev, info)
			if tt.want == nil {
				if !errors.Is(err, events.ErrNoCounterpart) {
					t.Errorf("got %v, %v; want ErrNoCounterpart", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			diffMessages(t, got, tt.want)
			// The event has its own DeviceInfo.
			info.DeviceName = "changed"
			diffMessages(t, got, tt.want)
		})
	}
}

// TestNSSink: a simulated network server's device-queue events reach the
// publisher's subscribers as ChirpStack's integration events, during the
// server call that raised them.
func TestNSSink(t *testing.T) {
	p := newPublisher(t, events.Config{})
	var got []events.Event
	p.Subscribe(func(e events.Event) { got = append(got, e) })

	clk := clock.NewVirtual(t0)
	lookup := func(dev lorawan.EUI64) (*integration.DeviceInfo, bool) {
		if dev != devEUI {
			return nil, false
		}
		return deviceInfo(), true
	}
	srv, err := ns.New(ns.Config{APIKeys: []string{"k"}}, clk, ns.WithEventSink(events.NewNSSink(p, lookup)))
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := srv.AddTenant(ns.Tenant{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := srv.AddApplication(ns.Application{ID: appID, TenantID: tenant, Name: "meters"})
	if err != nil {
		t.Fatal(err)
	}
	prof, err := srv.AddDeviceProfile(ns.DeviceProfile{TenantID: tenant, Name: "meter", Region: common.Region_EU868})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddDevice(ns.Device{DevEUI: devEUI, Name: "a-meter", ApplicationID: app, DeviceProfileID: prof}); err != nil {
		t.Fatal(err)
	}

	lis := bufconn.Listen(1 << 16)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		<-served
	})
	authCtx := withBearer(t.Context(), "k")
	devices := api.NewDeviceServiceClient(conn)
	var ids []string
	for _, confirmed := range []bool{false, true} {
		resp, err := devices.Enqueue(authCtx, &api.EnqueueDeviceQueueItemRequest{QueueItem: &api.DeviceQueueItem{
			DevEui: devEUI.String(), FPort: 201, Data: []byte{1}, Confirmed: confirmed,
		}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.Id)
	}

	gwID := lorawan.EUI64{0xa1}
	item, _ := srv.NextDownlink(devEUI)
	if err := srv.AckDownlink(devEUI, item.ID, gwID, gw.TxAckStatus_TOO_LATE); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("after a tx error: %d events, want 1 (synchronous)", len(got))
	}
	item, _ = srv.NextDownlink(devEUI)
	if err := srv.AckDownlink(devEUI, item.ID, gwID, gw.TxAckStatus_OK); err != nil {
		t.Fatal(err)
	}
	clk.RunFor(time.Second)
	item, _ = srv.NextDownlink(devEUI)
	if err := srv.AckDownlink(devEUI, item.ID, gwID, gw.TxAckStatus_OK); err != nil {
		t.Fatal(err)
	}
	if err := srv.ConfirmDownlink(devEUI, false); err != nil {
		t.Fatal(err)
	}

	wantTypes := []string{events.EventLog, events.EventTxAck, events.EventTxAck, events.EventAck}
	if len(got) != len(wantTypes) {
		t.Fatalf("got %d events, want %d", len(got), len(wantTypes))
	}
	for i, e := range got {
		if e.Type != wantTypes[i] || e.ApplicationID != appID || e.DevEUI != devEUI {
			t.Errorf("event %d: %s %s %s, want %s %s %s", i, e.Type, e.ApplicationID, e.DevEUI, wantTypes[i], appID, devEUI)
		}
	}
	diffMessages(t, got[0].Message, &integration.LogEvent{
		Time: timestamppb.New(t0), DeviceInfo: deviceInfo(),
		Level: integration.LogLevel_ERROR, Code: integration.LogCode_DOWNLINK_GATEWAY, Description: "TOO_LATE",
		Context: map[string]string{"queue_item_id": ids[0]},
	})
	diffMessages(t, got[3].Message, &integration.AckEvent{
		Time: timestamppb.New(t0.Add(time.Second)), DeviceInfo: deviceInfo(), QueueItemId: ids[1], FCntDown: 1,
	})
}

// withBearer adds the API key ChirpStack's API wants.
func withBearer(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}
