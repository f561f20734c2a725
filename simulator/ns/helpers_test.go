package ns_test

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/simulator/ns"
)

const apiKey = "test-api-key"

// t0 is the virtual start time: a whole second, so scheduler ticks fall on
// whole seconds.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// bearer sends "authorization: Bearer <token>" with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// recorder is a Transmitter that records what it is given and answers with
// status (OK by default).
type recorder struct {
	clk    clock.Clock
	mu     sync.Mutex
	status gw.TxAckStatus
	sent   []sent
}

type sent struct {
	at time.Time
	dl ns.Downlink
}

func (r *recorder) Transmit(_ context.Context, d ns.Downlink) gw.TxAckStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, sent{at: r.clk.Now(), dl: d})
	if r.status == 0 {
		return gw.TxAckStatus_OK
	}
	return r.status
}

func (r *recorder) frames() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.sent...)
}

// sink records events.
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

// syncBuffer is a log destination written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// env is a simulated ChirpStack with a loaded fleet and clients connected to
// it over bufconn.
type env struct {
	t    *testing.T
	srv  *ns.Server
	clk  *clock.Virtual
	tx   *recorder
	sink *sink
	log  *syncBuffer
	conn *grpc.ClientConn

	mg  api.MulticastGroupServiceClient
	dev api.DeviceServiceClient
	dp  api.DeviceProfileServiceClient
	gws api.GatewayServiceClient
	app api.ApplicationServiceClient
	ten api.TenantServiceClient

	tenant, otherTenant string
	appID, otherAppID   string
	profile10, prof11   string
	dev10, dev11, devX  lorawan.EUI64 // devX belongs to the other application
	gw1, gw2, gw3, gwX  lorawan.EUI64 // gwX belongs to the other tenant
	appKey, genAppKey   lorawan.AES128Key
	nwkKey11, appKey11  lorawan.AES128Key
}

func eui(b ...byte) lorawan.EUI64 {
	var e lorawan.EUI64
	copy(e[8-len(b):], b)
	return e
}

func key(b byte) lorawan.AES128Key {
	var k lorawan.AES128Key
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// newEnv starts a server with cfg (APIKeys defaulted to apiKey) and loads
// two tenants, two applications, two profiles, three devices and four
// gateways.
func newEnv(t *testing.T, cfg ns.Config) *env {
	t.Helper()
	if cfg.APIKeys == nil {
		cfg.APIKeys = []string{apiKey}
	}
	e := &env{t: t, clk: clock.NewVirtual(t0), sink: &sink{}, log: &syncBuffer{}}
	e.tx = &recorder{clk: e.clk}
	srv, err := ns.New(cfg, e.clk,
		ns.WithRand(rand.New(rand.NewPCG(1, 2))),
		ns.WithTransmitter(e.tx),
		ns.WithEventSink(e.sink),
		ns.WithLogger(slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.load()

	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
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
	e.setClients(conn)
	return e
}

func (e *env) setClients(conn *grpc.ClientConn) {
	e.conn = conn
	e.mg = api.NewMulticastGroupServiceClient(conn)
	e.dev = api.NewDeviceServiceClient(conn)
	e.dp = api.NewDeviceProfileServiceClient(conn)
	e.gws = api.NewGatewayServiceClient(conn)
	e.app = api.NewApplicationServiceClient(conn)
	e.ten = api.NewTenantServiceClient(conn)
}

func (e *env) load() {
	t, s := e.t, e.srv
	t.Helper()
	must := func(id string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	e.tenant = must(s.AddTenant(ns.Tenant{Name: "acme", CanHaveGateways: true}))
	e.otherTenant = must(s.AddTenant(ns.Tenant{Name: "other"}))
	e.appID = must(s.AddApplication(ns.Application{TenantID: e.tenant, Name: "meters"}))
	e.otherAppID = must(s.AddApplication(ns.Application{TenantID: e.tenant, Name: "lights"}))
	e.profile10 = must(s.AddDeviceProfile(ns.DeviceProfile{
		TenantID: e.tenant, Name: "meter-1.0.3", Region: common.Region_EU868,
		MACVersion: common.MacVersion_LORAWAN_1_0_3, RegParamsRevision: common.RegParamsRevision_RP002_1_0_3,
		SupportsOTAA: true, SupportsClassC: true, UplinkInterval: 3600,
		AppLayerParams: ns.AppLayerParams{TS003Version: api.Ts003Version_TS003_V100, TS003FPort: 202},
	}))
	e.prof11 = must(s.AddDeviceProfile(ns.DeviceProfile{
		TenantID: e.tenant, Name: "meter-1.1", Region: common.Region_EU868,
		MACVersion: common.MacVersion_LORAWAN_1_1_0, SupportsClassB: true, ClassBPingSlotPeriodicity: 4,
	}))
	e.appKey, e.genAppKey = key(0x10), key(0x20)
	e.nwkKey11, e.appKey11 = key(0x30), key(0x40)
	e.dev10, e.dev11, e.devX = eui(1), eui(2), eui(3)
	for _, d := range []ns.Device{
		{DevEUI: e.dev10, Name: "a-meter", ApplicationID: e.appID, DeviceProfileID: e.profile10,
			Keys: ns.Keys10x(e.appKey, e.genAppKey), Tags: map[string]string{"fw": "1.2"}},
		{DevEUI: e.dev11, Name: "b-meter", ApplicationID: e.appID, DeviceProfileID: e.prof11,
			Keys: ns.Keys11(e.nwkKey11, e.appKey11), ClassEnabled: common.DeviceClass_CLASS_B, FCntDown: 7},
		{DevEUI: e.devX, Name: "lamp", ApplicationID: e.otherAppID, DeviceProfileID: e.profile10},
	} {
		if err := s.AddDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	e.gw1, e.gw2, e.gw3, e.gwX = eui(0xa1), eui(0xa2), eui(0xa3), eui(0xff)
	for _, g := range []ns.Gateway{
		{GatewayID: e.gw1, TenantID: e.tenant, Name: "gw-1", Location: ns.Location{Latitude: 52.1, Longitude: 4.3}},
		{GatewayID: e.gw2, TenantID: e.tenant, Name: "gw-2"},
		{GatewayID: e.gw3, TenantID: e.tenant, Name: "gw-3"},
		{GatewayID: e.gwX, TenantID: e.otherTenant, Name: "foreign"},
	} {
		if err := s.AddGateway(g); err != nil {
			t.Fatal(err)
		}
	}
}

// group is a multicast group of the fixture's application: EU868 DR5 class
// C DELAY unless changed by mod.
func (e *env) group(mod func(*api.MulticastGroup)) *api.MulticastGroup {
	g := &api.MulticastGroup{
		Name:          "fuota-1",
		ApplicationId: e.appID,
		Region:        common.Region_EU868,
		McAddr:        "01020304",
		McNwkSKey:     "000102030405060708090a0b0c0d0e0f",
		McAppSKey:     "101112131415161718191a1b1c1d1e1f",
		GroupType:     api.MulticastGroupType_CLASS_C,
		Dr:            5,
		Frequency:     869525000,
	}
	if mod != nil {
		mod(g)
	}
	return g
}

func (e *env) createGroup(mod func(*api.MulticastGroup), gateways ...lorawan.EUI64) string {
	e.t.Helper()
	ctx := context.Background()
	resp, err := e.mg.Create(ctx, &api.CreateMulticastGroupRequest{MulticastGroup: e.group(mod)})
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	for _, g := range gateways {
		if _, err := e.mg.AddGateway(ctx, &api.AddGatewayToMulticastGroupRequest{MulticastGroupId: resp.Id, GatewayId: g.String()}); err != nil {
			e.t.Fatalf("AddGateway %s: %v", g, err)
		}
	}
	return resp.Id
}

func (e *env) enqueue(groupID string, data []byte, expires *time.Time) (uint32, error) {
	item := &api.MulticastGroupQueueItem{MulticastGroupId: groupID, FPort: 201, Data: data}
	if expires != nil {
		item.ExpiresAt = timestampOf(*expires)
	}
	resp, err := e.mg.Enqueue(context.Background(), &api.EnqueueMulticastGroupQueueItemRequest{QueueItem: item})
	return resp.GetFCnt(), err
}

func (e *env) listQueue(groupID string) []*api.MulticastGroupQueueItem {
	e.t.Helper()
	resp, err := e.mg.ListQueue(context.Background(), &api.ListMulticastGroupQueueRequest{MulticastGroupId: groupID})
	if err != nil {
		e.t.Fatalf("ListQueue: %v", err)
	}
	return resp.Items
}

// runScheduler runs the multicast scheduler on the virtual clock for d.
func (e *env) runScheduler(d time.Duration) {
	stop := e.srv.StartScheduler(context.Background())
	e.clk.RunFor(d)
	stop()
}

// wantCode checks an error's gRPC code and, if msg is set, that its message
// contains msg.
func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), code)
	}
	if msg != "" && !strings.Contains(st.Message(), msg) {
		t.Fatalf("message = %q, want it to contain %q", st.Message(), msg)
	}
}

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
