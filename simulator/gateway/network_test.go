package gateway_test

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/gateway"
	"github.com/lorafuota/lorafuota/simulator/ns"
	"github.com/lorafuota/lorafuota/simulator/radio"
	"github.com/lorafuota/lorafuota/simulator/rng"
)

const apiKey = "test-api-key"

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// acks records the tx acks the network server gets, in order.
type acks struct {
	mu   sync.Mutex
	next ns.Transmitter
	got  []ack
}

type ack struct {
	fCnt   uint32
	status gw.TxAckStatus
}

func (a *acks) Transmit(ctx context.Context, d ns.Downlink) gw.TxAckStatus {
	st := a.next.Transmit(ctx, d)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, ack{fCnt: d.FCnt, status: st})
	return st
}

// sink records integration events.
type sink struct {
	mu  sync.Mutex
	evs []ns.Event
}

func (s *sink) HandleEvent(e ns.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, e)
}

func (s *sink) events() []ns.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ns.Event(nil), s.evs...)
}

// chirpstack is a simulated ChirpStack with one gateway behind a Network,
// served over bufconn.
type chirpstack struct {
	srv    *ns.Server
	clk    *clock.Virtual
	medium *radio.Medium
	gw     *gateway.Gateway
	acks   *acks
	sink   *sink
	mg     api.MulticastGroupServiceClient
	appID  string
}

func newChirpStack(t *testing.T, cfg ns.Config, gcfg gateway.Config) *chirpstack {
	t.Helper()
	clk := clock.NewVirtual(t0)
	m, err := radio.New(radio.Config{Region: region.EU868, Source: rng.New(1)}, clk)
	if err != nil {
		t.Fatal(err)
	}
	gcfg.ID, gcfg.Region = gwID, region.EU868
	g, err := gateway.New(gcfg, clk, m)
	if err != nil {
		t.Fatal(err)
	}
	network, err := gateway.NewNetwork(g)
	if err != nil {
		t.Fatal(err)
	}
	c := &chirpstack{clk: clk, medium: m, gw: g, acks: &acks{next: network}, sink: &sink{}}
	cfg.APIKeys = []string{apiKey}
	c.srv, err = ns.New(cfg, clk,
		ns.WithRand(rand.New(rand.NewPCG(1, 2))),
		ns.WithTransmitter(c.acks),
		ns.WithEventSink(c.sink))
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := c.srv.AddTenant(ns.Tenant{Name: "acme", CanHaveGateways: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.appID, err = c.srv.AddApplication(ns.Application{TenantID: tenant, Name: "meters"}); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.AddGateway(ns.Gateway{GatewayID: gwID, TenantID: tenant, Name: "gw-1"}); err != nil {
		t.Fatal(err)
	}

	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- c.srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(apiKey)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	c.mg = api.NewMulticastGroupServiceClient(conn)
	return c
}

// group creates a class C multicast group on gw-1.
func (c *chirpstack) group(t *testing.T, dr uint32, freq uint32, sched api.MulticastGroupSchedulingType) string {
	t.Helper()
	ctx := context.Background()
	resp, err := c.mg.Create(ctx, &api.CreateMulticastGroupRequest{MulticastGroup: &api.MulticastGroup{
		Name: "fuota", ApplicationId: c.appID, Region: common.Region_EU868,
		McAddr: "01020304", McNwkSKey: "000102030405060708090a0b0c0d0e0f", McAppSKey: "101112131415161718191a1b1c1d1e1f",
		GroupType: api.MulticastGroupType_CLASS_C, Dr: dr, Frequency: freq, ClassCSchedulingType: sched,
	}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := c.mg.AddGateway(ctx, &api.AddGatewayToMulticastGroupRequest{MulticastGroupId: resp.Id, GatewayId: gwID.String()}); err != nil {
		t.Fatalf("AddGateway: %v", err)
	}
	return resp.Id
}

func TestNSTransmitterDutyCycle(t *testing.T) {
	tests := []struct {
		name     string
		sched    api.MulticastGroupSchedulingType
		gcfg     gateway.Config
		items    int
		run      time.Duration
		sent     int // frames on air
		rejected map[gw.TxAckStatus]int
		firstBad int // FCnt of the first frame refused; −1: none
		lateGPS  int
	}{
		{
			// 5 s spacing at DR0 is 2.793472/5 = 55.9 % occupancy: 128
			// frames fill the 360 s of band P, the 129th (FCnt 128) and
			// every later one within the hour are refused and deleted.
			name: "Concentratord, DELAY", sched: api.MulticastGroupSchedulingType_DELAY,
			gcfg:  gateway.Config{Model: gateway.Concentratord, EnforceDC: true},
			items: 140, run: 140*5*time.Second + 10*time.Second,
			sent: 128, rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_DUTY_CYCLE_OVERFLOW: 12}, firstBad: 128,
		},
		{
			// GPS_TIME spaces frames 2 × margin (27.9 %); each row is
			// picked at its emit time and sent 42.5 ms later.
			name: "Concentratord, GPS_TIME", sched: api.MulticastGroupSchedulingType_GPS_TIME,
			gcfg:  gateway.Config{Model: gateway.Concentratord, EnforceDC: true},
			items: 135, run: 135*10*time.Second + 10*time.Second,
			sent: 128, rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_DUTY_CYCLE_OVERFLOW: 7}, firstBad: 128,
			lateGPS: 128,
		},
		{
			// A gateway that takes GPS times literally refuses every row
			// ChirpStack picks at its emit time.
			name: "Concentratord, GPS_TIME, strict", sched: api.MulticastGroupSchedulingType_GPS_TIME,
			gcfg:  gateway.Config{Model: gateway.Concentratord, EnforceDC: true, StrictGPSTiming: true},
			items: 10, run: 10*10*time.Second + 10*time.Second,
			sent: 0, rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_TOO_LATE: 10}, firstBad: 0,
		},
		{
			name: "Concentratord without ENFORCE_DC", sched: api.MulticastGroupSchedulingType_DELAY,
			gcfg:  gateway.Config{Model: gateway.Concentratord},
			items: 140, run: 140*5*time.Second + 10*time.Second,
			sent: 140, rejected: map[gw.TxAckStatus]int{}, firstBad: -1,
		},
		{
			// Basic Station drops a blocked frame without a word; ChirpStack
			// keeps the row and picks it again after its 2 s lock, so the
			// band's off time (27.93 s at DR0) paces the frames.
			name: "Basic Station, DELAY", sched: api.MulticastGroupSchedulingType_DELAY,
			gcfg:  gateway.Config{Model: gateway.BasicStation, EnforceDC: true},
			items: 20, run: 20 * 30 * time.Second,
			sent: 20, firstBad: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChirpStack(t, ns.Config{}, tt.gcfg)
			id := c.group(t, 0, freqP, tt.sched)
			data := make([]byte, 51) // N of DR0: PHYPayload 64 bytes
			for i := range tt.items {
				data[0] = byte(i)
				if _, err := c.mg.Enqueue(context.Background(), &api.EnqueueMulticastGroupQueueItemRequest{
					QueueItem: &api.MulticastGroupQueueItem{MulticastGroupId: id, FPort: 201, Data: data},
				}); err != nil {
					t.Fatal(err)
				}
			}
			stop := c.srv.StartScheduler(context.Background())
			c.clk.RunFor(tt.run)
			stop()

			q, err := c.mg.ListQueue(context.Background(), &api.ListMulticastGroupQueueRequest{MulticastGroupId: id})
			if err != nil {
				t.Fatal(err)
			}
			if len(q.Items) != 0 {
				t.Errorf("%d rows left in the queue", len(q.Items))
			}
			if evs := c.sink.events(); len(evs) != 0 {
				t.Errorf("events %v; ChirpStack reports nothing for multicast", evs)
			}
			st := c.gw.Stats()
			if st.Sent != tt.sent || st.LateGPS != tt.lateGPS {
				t.Errorf("%d frames sent, %d late GPS; want %d, %d", st.Sent, st.LateGPS, tt.sent, tt.lateGPS)
			}
			firstBad := -1
			sent := map[uint32]bool{}
			for _, a := range c.acks.got {
				switch a.status {
				case gw.TxAckStatus_OK:
					if sent[a.fCnt] {
						t.Errorf("FCnt %d acked twice", a.fCnt)
					}
					sent[a.fCnt] = true
				case gateway.NoAck:
				default:
					if firstBad < 0 {
						firstBad = int(a.fCnt)
					}
				}
			}
			if firstBad != tt.firstBad {
				t.Errorf("first refused FCnt %d, want %d", firstBad, tt.firstBad)
			}
			band := "P"
			if tt.gcfg.Model == gateway.BasicStation {
				// Rows picked while the band is blocked or a frame is on
				// air are dropped after the class C push-backs.
				band = "DECI"
				dc, busy := st.Rejected[gw.TxAckStatus_DUTY_CYCLE_OVERFLOW], st.Rejected[gw.TxAckStatus_COLLISION_PACKET]
				if dc == 0 || dc+busy != st.Unacked || len(st.Rejected) > 2 {
					t.Errorf("stats %+v: want silent duty-cycle drops", st)
				}
				for i := range uint32(tt.items) {
					if !sent[i] {
						t.Errorf("FCnt %d never sent", i)
					}
				}
			} else if want := tt.rejected; len(st.Rejected) != len(want) || st.Rejected[gw.TxAckStatus_DUTY_CYCLE_OVERFLOW] != want[gw.TxAckStatus_DUTY_CYCLE_OVERFLOW] ||
				st.Rejected[gw.TxAckStatus_TOO_LATE] != want[gw.TxAckStatus_TOO_LATE] {
				t.Errorf("rejected %v, want %v", st.Rejected, want)
			}
			rep := c.gw.DutyCycle(c.clk.Now())
			if tt.sent > 0 && (len(rep) != 1 || rep[0].SubBand != band || rep[0].Airtime != time.Duration(tt.sent)*toaDR0Full) {
				t.Errorf("duty-cycle report %+v", rep)
			}
		})
	}
}

// TestNSTransmitterSpacing checks the pacing Basic Station imposes through
// ChirpStack's retries: frame starts at least the off time apart.
func TestNSTransmitterSpacing(t *testing.T) {
	c := newChirpStack(t, ns.Config{}, gateway.Config{Model: gateway.BasicStation, EnforceDC: true})
	clk := c.clk
	rec := &recorder{}
	dev := lorawan.EUI64{1}
	if err := c.medium.AddDevice(dev, nil, rec); err != nil {
		t.Fatal(err)
	}
	if err := c.medium.SetLink(dev, gwID, radio.Link{PathLossDB: 100}); err != nil {
		t.Fatal(err)
	}
	id := c.group(t, 0, freqP, api.MulticastGroupSchedulingType_DELAY)
	for range 5 {
		if _, err := c.mg.Enqueue(context.Background(), &api.EnqueueMulticastGroupQueueItemRequest{
			QueueItem: &api.MulticastGroupQueueItem{MulticastGroupId: id, FPort: 201, Data: make([]byte, 51)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	stop := c.srv.StartScheduler(context.Background())
	clk.RunFor(5 * time.Minute)
	stop()
	if len(rec.frames) != 5 {
		t.Fatalf("%d frames on air, want 5", len(rec.frames))
	}
	// 27.93472 s, and at most ChirpStack's 2 s lock plus one scheduler
	// interval more.
	minSpacing := region.DutyCycle10pct.MinSpacing(toaDR0Full)
	for i := 1; i < len(rec.frames); i++ {
		d := rec.frames[i].Start.Sub(rec.frames[i-1].Start)
		if d < minSpacing || d > minSpacing+3*time.Second {
			t.Errorf("frames %d and %d start %v apart, want %v to %v", i-1, i, d, minSpacing, minSpacing+3*time.Second)
		}
	}
	if rep := c.gw.DutyCycle(clk.Now()); rep[0].SubBand != "DECI" || rep[0].Frames != 5 {
		t.Errorf("report %+v", rep)
	}
}

func TestNetwork(t *testing.T) {
	clk := clock.NewVirtual(t0)
	g1, err := gateway.New(gateway.Config{ID: gwID, Region: region.EU868}, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := gateway.New(gateway.Config{ID: lorawan.EUI64{0xa2}, Region: region.EU868, Model: dutycycle.OffTime}, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := gateway.NewNetwork(g2, g1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Add(g1); err == nil {
		t.Error("gateway added twice")
	}
	if gs := n.Gateways(); len(gs) != 2 || gs[0] != g1 || gs[1] != g2 {
		t.Errorf("Gateways() = %v", gs)
	}
	ctx := context.Background()
	emit := 5 * time.Second
	d := ns.Downlink{GatewayID: gwID, Region: region.EU868, Frequency: freqP, DR: 5, PowerDBm: 27,
		EmitAt: t0.Add(time.Second), PHYPayload: make([]byte, 30), ID: 7}
	if got := gateway.RequestOf(d); got.Timing != gateway.Immediately || got.ID != 7 || got.PowerDBm != 27 {
		t.Errorf("RequestOf(immediate) = %+v", got)
	}
	d.TimeSinceGPSEpoch = &emit
	if got := gateway.RequestOf(d); got.Timing != gateway.AtGPSTime || !got.At.Equal(d.EmitAt) {
		t.Errorf("RequestOf(GPS) = %+v", got)
	}
	if st := n.Transmit(ctx, d); st != gw.TxAckStatus_OK {
		t.Errorf("Transmit = %v", st)
	}
	d.GatewayID = lorawan.EUI64{0xee}
	if st := n.Transmit(ctx, d); st != gateway.NoAck {
		t.Errorf("Transmit to an unknown gateway = %v, want NoAck", st)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	d.GatewayID = gwID
	if st := n.Transmit(cancelled, d); st != gateway.NoAck {
		t.Errorf("Transmit with a cancelled context = %v, want NoAck", st)
	}
	if gateway.NoAck != ns.NoAck {
		t.Error("NoAck differs from ns.NoAck")
	}
}
