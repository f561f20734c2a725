package ns_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/simulator/ns"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, ns.Config{APIKeys: []string{apiKey, "second-key"}})
	// A connection without per-call credentials, so each case sets its own.
	raw := rawTenants(t, e)
	tests := []struct {
		name   string
		header []string // key, value pairs
		code   codes.Code
		msg    string
	}{
		{"missing", nil, codes.Unauthenticated, "no authorization provided"},
		{"not bearer", []string{"authorization", "Basic " + apiKey}, codes.Unauthenticated, "must be in format 'Bearer <TOKEN>"},
		{"wrong token", []string{"authorization", "Bearer nope"}, codes.Unauthenticated, "InvalidToken"},
		{"wrong jwt", []string{"authorization", "Bearer aaa.bbb.ccc"}, codes.Unauthenticated, "InvalidSignature"},
		{"right token", []string{"authorization", "Bearer " + apiKey}, codes.OK, ""},
		{"second key", []string{"authorization", "Bearer second-key"}, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := metadata.NewOutgoingContext(context.Background(), metadata.Pairs(tt.header...))
			_, err := raw.List(ctx, &api.ListTenantsRequest{Limit: 10})
			wantCode(t, err, tt.code, tt.msg)
			// The check covers unimplemented calls too.
			_, err = raw.Delete(ctx, &api.DeleteTenantRequest{Id: e.tenant})
			if tt.code == codes.OK {
				wantCode(t, err, codes.Unimplemented, "")
			} else {
				wantCode(t, err, tt.code, tt.msg)
			}
		})
	}
}

// rawTenants returns a TenantService client on a connection that adds no
// credentials of its own.
func rawTenants(t *testing.T, e *env) api.TenantServiceClient {
	t.Helper()
	lis := listen(t, e.srv)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return api.NewTenantServiceClient(conn)
}

// listen serves srv on a loopback TCP port until the test ends.
func listen(t *testing.T, srv *ns.Server) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis
}

func TestUnimplemented(t *testing.T) {
	e := newEnv(t, ns.Config{})
	ctx := context.Background()
	calls := map[string]func() error{
		"DeviceService.Create": func() error {
			_, err := e.dev.Create(ctx, &api.CreateDeviceRequest{})
			return err
		},
		"DeviceService.Activate": func() error {
			_, err := e.dev.Activate(ctx, &api.ActivateDeviceRequest{})
			return err
		},
		"DeviceProfileService.Delete": func() error {
			_, err := e.dp.Delete(ctx, &api.DeleteDeviceProfileRequest{})
			return err
		},
		"GatewayService.GetMetrics": func() error {
			_, err := e.gws.GetMetrics(ctx, &api.GetGatewayMetricsRequest{})
			return err
		},
		"ApplicationService.CreateHttpIntegration": func() error {
			_, err := e.app.CreateHttpIntegration(ctx, &api.CreateHttpIntegrationRequest{})
			return err
		},
		"DeviceProfileService.ListAdrAlgorithms": func() error {
			_, err := e.dp.ListAdrAlgorithms(ctx, &emptypb.Empty{})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantCode(t, call(), codes.Unimplemented, "") })
	}
}

func TestMulticastGroupLifecycle(t *testing.T) {
	e := newEnv(t, ns.Config{})
	ctx := context.Background()
	want := e.group(func(g *api.MulticastGroup) {
		g.GroupType = api.MulticastGroupType_CLASS_B
		g.ClassBPingSlotPeriodicity = 3
		g.ClassCSchedulingType = api.MulticastGroupSchedulingType_GPS_TIME
		g.FCnt = 10
	})
	created, err := e.mg.Create(ctx, &api.CreateMulticastGroupRequest{MulticastGroup: want})
	if err != nil {
		t.Fatal(err)
	}
	want.Id = created.Id
	got, err := e.mg.Get(ctx, &api.GetMulticastGroupRequest{Id: created.Id})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.MulticastGroup, want) {
		t.Errorf("Get = %v\nwant %v", got.MulticastGroup, want)
	}
	if !got.CreatedAt.AsTime().Equal(t0) {
		t.Errorf("created_at = %v, want %v", got.CreatedAt.AsTime(), t0)
	}

	// Update changes everything but id and application, f_cnt included;
	// keys come back in ChirpStack's lower-case hex.
	e.clk.RunFor(time.Minute)
	upd := proto.Clone(want).(*api.MulticastGroup)
	upd.Name, upd.Dr, upd.FCnt, upd.McAddr = "renamed", 3, 42, "AABBCCDD"
	upd.ApplicationId = e.otherAppID
	if _, err := e.mg.Update(ctx, &api.UpdateMulticastGroupRequest{MulticastGroup: upd}); err != nil {
		t.Fatal(err)
	}
	got, err = e.mg.Get(ctx, &api.GetMulticastGroupRequest{Id: created.Id})
	if err != nil {
		t.Fatal(err)
	}
	upd.McAddr, upd.ApplicationId = "aabbccdd", e.appID
	if !proto.Equal(got.MulticastGroup, upd) {
		t.Errorf("after Update, Get = %v\nwant %v", got.MulticastGroup, upd)
	}
	if !got.UpdatedAt.AsTime().Equal(t0.Add(time.Minute)) {
		t.Errorf("updated_at = %v", got.UpdatedAt.AsTime())
	}

	// List: ordered by name, search, application filter, limit/offset.
	for _, name := range []string{"c-group", "a-group"} {
		e.createGroup(func(g *api.MulticastGroup) { g.Name = name })
	}
	lists := []struct {
		req   *api.ListMulticastGroupsRequest
		total uint32
		names []string
	}{
		{&api.ListMulticastGroupsRequest{Limit: 10}, 3, []string{"a-group", "c-group", "renamed"}},
		{&api.ListMulticastGroupsRequest{Limit: 1, Offset: 1}, 3, []string{"c-group"}},
		{&api.ListMulticastGroupsRequest{Limit: 0}, 3, nil}, // SQL LIMIT 0
		{&api.ListMulticastGroupsRequest{Limit: 10, Search: "GROUP"}, 2, []string{"a-group", "c-group"}},
		{&api.ListMulticastGroupsRequest{Limit: 10, ApplicationId: e.otherAppID}, 0, nil},
	}
	for _, l := range lists {
		resp, err := e.mg.List(ctx, l.req)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range resp.Result {
			names = append(names, r.Name)
		}
		if resp.TotalCount != l.total || !slices.Equal(names, l.names) {
			t.Errorf("List(%v) = %d %v, want %d %v", l.req, resp.TotalCount, names, l.total, l.names)
		}
	}

	if _, err := e.mg.Delete(ctx, &api.DeleteMulticastGroupRequest{Id: created.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.mg.Get(ctx, &api.GetMulticastGroupRequest{Id: created.Id})
	wantCode(t, err, codes.NotFound, "Object does not exist (id: "+created.Id+")")
	_, err = e.mg.Delete(ctx, &api.DeleteMulticastGroupRequest{Id: created.Id})
	wantCode(t, err, codes.NotFound, "")
}

func TestMulticastGroupValidation(t *testing.T) {
	tests := []struct {
		name   string
		proper bool // Quirks.ProperErrorCodes
		req    func(e *env) *api.CreateMulticastGroupRequest
		code   codes.Code
		msg    string
	}{
		{"missing group", false, func(*env) *api.CreateMulticastGroupRequest { return &api.CreateMulticastGroupRequest{} },
			codes.InvalidArgument, "multicast_group is missing"},
		{"bad application uuid", false, func(e *env) *api.CreateMulticastGroupRequest {
			return &api.CreateMulticastGroupRequest{MulticastGroup: e.group(func(g *api.MulticastGroup) { g.ApplicationId = "xyz" })}
		}, codes.InvalidArgument, "invalid length"},
		{"no name", false, func(e *env) *api.CreateMulticastGroupRequest {
			return &api.CreateMulticastGroupRequest{MulticastGroup: e.group(func(g *api.MulticastGroup) { g.Name = "" })}
		}, codes.InvalidArgument, "Validation error: name is not set"},
		{"bad mc_addr", false, func(e *env) *api.CreateMulticastGroupRequest {
			return &api.CreateMulticastGroupRequest{MulticastGroup: e.group(func(g *api.MulticastGroup) { g.McAddr = "0102030g" })}
		}, codes.Internal, "Invalid character 'g' at position 7"},
		{"bad mc_addr, proper codes", true, func(e *env) *api.CreateMulticastGroupRequest {
			return &api.CreateMulticastGroupRequest{MulticastGroup: e.group(func(g *api.MulticastGroup) { g.McAddr = "010203" })}
		}, codes.InvalidArgument, "Invalid string length"},
		{"short key", false, func(e *env) *api.CreateMulticastGroupRequest {
			return &api.CreateMulticastGroupRequest{MulticastGroup: e.group(func(g *api.MulticastGroup) { g.McAppSKey = "abc" })}
		}, codes.Internal, "Odd number of digits"},
		{"unknown application", false, func(e *env) *api.CreateMulticastGroupRequest {
			return &api.CreateMulticastGroupRequest{MulticastGroup: e.group(func(g *api.MulticastGroup) {
				g.ApplicationId = "00000000-0000-0000-0000-000000000001"
			})}
		}, codes.Internal, "violates foreign key constraint"},
		{"unknown application, proper codes", true, func(e *env) *api.CreateMulticastGroupRequest {
			return &api.CreateMulticastGroupRequest{MulticastGroup: e.group(func(g *api.MulticastGroup) {
				g.ApplicationId = "00000000-0000-0000-0000-000000000001"
			})}
		}, codes.NotFound, "Object does not exist (id: 00000000-0000-0000-0000-000000000001)"},
		{"region without tables", false, func(e *env) *api.CreateMulticastGroupRequest {
			return &api.CreateMulticastGroupRequest{MulticastGroup: e.group(func(g *api.MulticastGroup) { g.Region = common.Region_CN470 })}
		}, codes.InvalidArgument, "not simulated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ns.Config{Quirks: ns.Quirks{ProperErrorCodes: tt.proper}})
			_, err := e.mg.Create(context.Background(), tt.req(e))
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestMulticastMembership(t *testing.T) {
	e := newEnv(t, ns.Config{})
	ctx := context.Background()
	id := e.createGroup(nil)
	addDev := func(dev string) error {
		_, err := e.mg.AddDevice(ctx, &api.AddDeviceToMulticastGroupRequest{MulticastGroupId: id, DevEui: dev})
		return err
	}
	addGW := func(gw string) error {
		_, err := e.mg.AddGateway(ctx, &api.AddGatewayToMulticastGroupRequest{MulticastGroupId: id, GatewayId: gw})
		return err
	}
	for _, d := range []string{e.dev10.String(), e.dev11.String()} {
		if err := addDev(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{e.gw1.String(), e.gw2.String()} {
		if err := addGW(g); err != nil {
			t.Fatal(err)
		}
	}

	errs := []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		{"device of another application", addDev(e.devX.String()), codes.NotFound, e.devX.String()},
		{"unknown device", addDev("0102030405060708"), codes.NotFound, "0102030405060708"},
		{"device twice", addDev(e.dev10.String()), codes.Internal, "duplicate key value"},
		{"malformed dev_eui", addDev("01"), codes.Internal, "Invalid string length"},
		{"gateway of another tenant", addGW(e.gwX.String()), codes.NotFound, e.gwX.String()},
		{"gateway twice", addGW(e.gw1.String()), codes.Internal, "duplicate key value"},
		{"remove non-member", func() error {
			_, err := e.mg.RemoveDevice(ctx, &api.RemoveDeviceFromMulticastGroupRequest{MulticastGroupId: id, DevEui: e.devX.String()})
			return err
		}(), codes.NotFound, "multicast-group: " + id},
		{"unknown group", func() error {
			_, err := e.mg.AddGateway(ctx, &api.AddGatewayToMulticastGroupRequest{
				MulticastGroupId: "00000000-0000-0000-0000-00000000000a", GatewayId: e.gw1.String()})
			return err
		}(), codes.NotFound, "00000000-0000-0000-0000-00000000000a"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.code, tt.msg) })
	}

	// The members show in the device and gateway lists filtered by group.
	devs, err := e.dev.List(ctx, &api.ListDevicesRequest{ApplicationId: e.appID, MulticastGroupId: id, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if devs.TotalCount != 2 {
		t.Errorf("devices in group = %d, want 2", devs.TotalCount)
	}
	if _, err := e.mg.RemoveDevice(ctx, &api.RemoveDeviceFromMulticastGroupRequest{MulticastGroupId: id, DevEui: e.dev11.String()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mg.RemoveGateway(ctx, &api.RemoveGatewayFromMulticastGroupRequest{MulticastGroupId: id, GatewayId: e.gw1.String()}); err != nil {
		t.Fatal(err)
	}
	devs, _ = e.dev.List(ctx, &api.ListDevicesRequest{ApplicationId: e.appID, MulticastGroupId: id, Limit: 10})
	gws, err := e.gws.List(ctx, &api.ListGatewaysRequest{MulticastGroupId: id, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if devs.TotalCount != 1 || devs.Result[0].DevEui != e.dev10.String() {
		t.Errorf("devices after remove = %v", devs.Result)
	}
	if gws.TotalCount != 1 || gws.Result[0].GatewayId != e.gw2.String() {
		t.Errorf("gateways after remove = %v", gws.Result)
	}
}

func TestMulticastQueue(t *testing.T) {
	e := newEnv(t, ns.Config{})
	ctx := context.Background()
	id := e.createGroup(func(g *api.MulticastGroup) { g.FCnt = 5 }, e.gw1, e.gw2)
	for i, want := range []uint32{5, 6, 7} {
		got, err := e.enqueue(id, []byte{byte(i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Enqueue %d: f_cnt = %d, want %d", i, got, want)
		}
	}
	// Six rows (two gateways), three frames.
	items := e.listQueue(id)
	var fCnts []uint32
	for _, it := range items {
		fCnts = append(fCnts, it.FCnt)
	}
	if !slices.Equal(fCnts, []uint32{5, 6, 7}) {
		t.Errorf("ListQueue f_cnts = %v, want [5 6 7]", fCnts)
	}
	g, _ := e.mg.Get(ctx, &api.GetMulticastGroupRequest{Id: id})
	if g.MulticastGroup.FCnt != 8 {
		t.Errorf("group f_cnt = %d, want 8", g.MulticastGroup.FCnt)
	}

	// A frame stays listed until the rows of all its gateways are gone:
	// the first tick sends FCnt 5 through gw1 only (DELAY gives gw2 its
	// turn one margin later).
	e.runScheduler(time.Second)
	if n := len(e.tx.frames()); n != 1 {
		t.Fatalf("frames sent = %d, want 1", n)
	}
	if items := e.listQueue(id); len(items) != 3 || items[0].FCnt != 5 {
		t.Errorf("after one row sent, ListQueue = %v, want FCnt 5 still listed", items)
	}
	e.runScheduler(5 * time.Second)
	if items := e.listQueue(id); len(items) != 2 || items[0].FCnt != 6 {
		t.Errorf("after both rows of FCnt 5, ListQueue = %v", items)
	}

	if _, err := e.mg.FlushQueue(ctx, &api.FlushMulticastGroupQueueRequest{MulticastGroupId: id}); err != nil {
		t.Fatal(err)
	}
	if items := e.listQueue(id); len(items) != 0 {
		t.Errorf("after FlushQueue, ListQueue = %v", items)
	}
	// An unknown group has an empty queue, as in ChirpStack.
	unknown := "00000000-0000-0000-0000-0000000000ff"
	if items := e.listQueue(unknown); len(items) != 0 {
		t.Errorf("ListQueue of unknown group = %v", items)
	}

	// Deleting the group deletes its queue.
	if _, err := e.enqueue(id, []byte{9}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mg.Delete(ctx, &api.DeleteMulticastGroupRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	if items := e.listQueue(id); len(items) != 0 {
		t.Errorf("after Delete, ListQueue = %v", items)
	}
}

func TestMulticastEnqueueErrors(t *testing.T) {
	unknown := "00000000-0000-0000-0000-0000000000ff"
	tests := []struct {
		name   string
		proper bool
		group  bool // enqueue to the fixture's group, else to unknown
		fPort  uint32
		nilReq bool
		code   codes.Code
		msg    string
	}{
		{"missing item", false, true, 1, true, codes.InvalidArgument, "queue_item is missing"},
		{"unknown group", false, false, 1, false, codes.Internal, "Object does not exist (id: " + unknown + ")"},
		{"unknown group, proper codes", true, false, 1, false, codes.NotFound, "Object does not exist"},
		{"FPort 0", false, true, 0, false, codes.Internal, "Validation error: FPort must be between 1 - 255"},
		{"FPort 0, proper codes", true, true, 0, false, codes.InvalidArgument, "FPort must be between 1 - 255"},
		{"FPort 256", true, true, 256, false, codes.InvalidArgument, "FPort must be between 1 - 255"},
		{"FPort 255", false, true, 255, false, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ns.Config{Quirks: ns.Quirks{ProperErrorCodes: tt.proper}})
			id := unknown
			if tt.group {
				id = e.createGroup(nil, e.gw1)
			}
			req := &api.EnqueueMulticastGroupQueueItemRequest{
				QueueItem: &api.MulticastGroupQueueItem{MulticastGroupId: id, FPort: tt.fPort, Data: []byte{1}},
			}
			if tt.nilReq {
				req.QueueItem = nil
			}
			_, err := e.mg.Enqueue(context.Background(), req)
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestDeviceKeys(t *testing.T) {
	e := newEnv(t, ns.Config{})
	zero := "00000000000000000000000000000000"
	tests := []struct {
		name string
		dev  string
		want *api.DeviceKeys
		code codes.Code
	}{
		{"LoRaWAN 1.0.x: AppKey in nwk_key, gen_app_key", e.dev10.String(), &api.DeviceKeys{
			DevEui: e.dev10.String(), NwkKey: e.appKey.String(), AppKey: zero, GenAppKey: e.genAppKey.String()}, codes.OK},
		{"LoRaWAN 1.1: nwk_key and app_key", e.dev11.String(), &api.DeviceKeys{
			DevEui: e.dev11.String(), NwkKey: e.nwkKey11.String(), AppKey: e.appKey11.String(), GenAppKey: zero}, codes.OK},
		{"no keys", e.devX.String(), nil, codes.NotFound},
		{"unknown device", "0000000000000099", nil, codes.NotFound},
		{"upper-case hex", "0000000000000001", &api.DeviceKeys{
			DevEui: e.dev10.String(), NwkKey: e.appKey.String(), AppKey: zero, GenAppKey: e.genAppKey.String()}, codes.OK},
		{"malformed", "zz", nil, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.dev.GetKeys(context.Background(), &api.GetDeviceKeysRequest{DevEui: tt.dev})
			wantCode(t, err, tt.code, "")
			if tt.want != nil && !proto.Equal(resp.DeviceKeys, tt.want) {
				t.Errorf("GetKeys = %v, want %v", resp.DeviceKeys, tt.want)
			}
		})
	}
}

func TestDeviceGetAndList(t *testing.T) {
	e := newEnv(t, ns.Config{})
	ctx := context.Background()
	if err := e.srv.RecordUplink(e.dev11, e.gw1); err != nil {
		t.Fatal(err)
	}
	d, err := e.dev.Get(ctx, &api.GetDeviceRequest{DevEui: e.dev11.String()})
	if err != nil {
		t.Fatal(err)
	}
	if d.Device.DeviceProfileId != e.prof11 || d.ClassEnabled != common.DeviceClass_CLASS_B || d.LastSeenAt == nil {
		t.Errorf("Get = %v", d)
	}
	lists := []struct {
		req   *api.ListDevicesRequest
		total uint32
		devs  []string
	}{
		{&api.ListDevicesRequest{ApplicationId: e.appID, Limit: 10}, 2, []string{e.dev10.String(), e.dev11.String()}},
		{&api.ListDevicesRequest{ApplicationId: e.appID, Limit: 10, OrderByDesc: true}, 2, []string{e.dev11.String(), e.dev10.String()}},
		{&api.ListDevicesRequest{ApplicationId: e.appID, Limit: 1, Offset: 1}, 2, []string{e.dev11.String()}},
		{&api.ListDevicesRequest{ApplicationId: e.appID, Limit: 10, Tags: map[string]string{"fw": "1.2"}}, 1, []string{e.dev10.String()}},
		{&api.ListDevicesRequest{ApplicationId: e.appID, Limit: 10, DeviceProfileId: e.prof11}, 1, []string{e.dev11.String()}},
		{&api.ListDevicesRequest{ApplicationId: e.otherAppID, Limit: 10}, 1, []string{e.devX.String()}},
	}
	for _, l := range lists {
		resp, err := e.dev.List(ctx, l.req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range resp.Result {
			got = append(got, r.DevEui)
		}
		if resp.TotalCount != l.total || !slices.Equal(got, l.devs) {
			t.Errorf("List(%v) = %d %v, want %d %v", l.req, resp.TotalCount, got, l.total, l.devs)
		}
	}
	_, err = e.dev.List(ctx, &api.ListDevicesRequest{Limit: 10})
	wantCode(t, err, codes.InvalidArgument, "invalid length") // application_id is required
}

func TestDeviceQueue(t *testing.T) {
	e := newEnv(t, ns.Config{})
	ctx := context.Background()
	enq := func(fPort uint32, confirmed, flush bool) (string, error) {
		resp, err := e.dev.Enqueue(ctx, &api.EnqueueDeviceQueueItemRequest{
			QueueItem:  &api.DeviceQueueItem{DevEui: e.dev11.String(), FPort: fPort, Data: []byte{byte(fPort)}, Confirmed: confirmed},
			FlushQueue: flush,
		})
		return resp.GetId(), err
	}
	queue := func() *api.GetDeviceQueueItemsResponse {
		t.Helper()
		q, err := e.dev.GetQueue(ctx, &api.GetDeviceQueueItemsRequest{DevEui: e.dev11.String()})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	nextFCnt := func() uint32 {
		t.Helper()
		r, err := e.dev.GetNextFCntDown(ctx, &api.GetDeviceNextFCntDownRequest{DevEui: e.dev11.String()})
		if err != nil {
			t.Fatal(err)
		}
		return r.FCntDown
	}

	id1, err := enq(200, false, false)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := enq(201, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if q := queue(); q.TotalCount != 2 || q.Result[0].Id != id1 || q.Result[1].Id != id2 || q.Result[1].FPort != 201 {
		t.Fatalf("GetQueue = %v", q)
	}
	if got := nextFCnt(); got != 7 {
		t.Errorf("GetNextFCntDown = %d, want 7", got)
	}

	// The radio side takes the head: it is pending and gets FCntDown 7.
	item, more := e.srv.NextDownlink(e.dev11)
	if item == nil || item.ID != id1 || item.FCntDown != 7 || !more {
		t.Fatalf("NextDownlink = %+v, %v", item, more)
	}
	if again, _ := e.srv.NextDownlink(e.dev11); again != nil {
		t.Errorf("NextDownlink with a pending head = %+v, want nil", again)
	}
	if q := queue(); !q.Result[0].IsPending || q.Result[0].FCntDown != 7 {
		t.Errorf("head after NextDownlink = %v", q.Result[0])
	}
	if got := nextFCnt(); got != 8 {
		t.Errorf("GetNextFCntDown with FCntDown 7 queued = %d, want 8", got)
	}
	// A gateway error puts it back; OK deletes it.
	if err := e.srv.AckDownlink(e.dev11, id1, e.gw1, gw.TxAckStatus_DUTY_CYCLE_OVERFLOW); err != nil {
		t.Fatal(err)
	}
	if q := queue(); q.TotalCount != 2 || q.Result[0].IsPending {
		t.Errorf("after tx error, queue = %v", q)
	}
	item, _ = e.srv.NextDownlink(e.dev11)
	if err := e.srv.AckDownlink(e.dev11, item.ID, e.gw1, gw.TxAckStatus_OK); err != nil {
		t.Fatal(err)
	}
	// The confirmed item waits for the device's answer.
	item, more = e.srv.NextDownlink(e.dev11)
	if item == nil || item.ID != id2 || item.FCntDown != 8 || more {
		t.Fatalf("second NextDownlink = %+v, %v", item, more)
	}
	if err := e.srv.AckDownlink(e.dev11, id2, e.gw1, gw.TxAckStatus_OK); err != nil {
		t.Fatal(err)
	}
	if q := queue(); q.TotalCount != 1 || !q.Result[0].IsPending {
		t.Errorf("confirmed item after tx = %v", q)
	}
	if err := e.srv.ConfirmDownlink(e.dev11, true); err != nil {
		t.Fatal(err)
	}
	if q := queue(); q.TotalCount != 0 {
		t.Errorf("queue after ack = %v", q)
	}
	if got := nextFCnt(); got != 9 {
		t.Errorf("GetNextFCntDown after two frames = %d, want 9", got)
	}
	var kinds []ns.EventKind
	for _, ev := range e.sink.events() {
		kinds = append(kinds, ev.Kind)
	}
	if want := []ns.EventKind{ns.EventLog, ns.EventTxAck, ns.EventTxAck, ns.EventAck}; !slices.Equal(kinds, want) {
		t.Errorf("events = %v, want %v", kinds, want)
	}

	// flush_queue on Enqueue, FlushQueue, validation.
	enq(1, false, false)
	enq(2, false, false)
	if _, err := enq(3, false, true); err != nil {
		t.Fatal(err)
	}
	if q := queue(); q.TotalCount != 1 || q.Result[0].FPort != 3 {
		t.Errorf("after flush_queue, queue = %v", q)
	}
	if _, err := e.dev.FlushQueue(ctx, &api.FlushDeviceQueueRequest{DevEui: e.dev11.String()}); err != nil {
		t.Fatal(err)
	}
	if q := queue(); q.TotalCount != 0 {
		t.Errorf("after FlushQueue, queue = %v", q)
	}
	_, err = enq(0, false, false)
	wantCode(t, err, codes.InvalidArgument, "Validation error: FPort must be between 1 - 255")
	_, err = enq(256, false, false) // ChirpStack's `as u8`
	wantCode(t, err, codes.InvalidArgument, "FPort must be between 1 - 255")
	_, err = e.dev.Enqueue(ctx, &api.EnqueueDeviceQueueItemRequest{QueueItem: &api.DeviceQueueItem{DevEui: "00000000000000ee", FPort: 1}})
	wantCode(t, err, codes.Internal, "foreign key")
	_, err = e.dev.GetNextFCntDown(ctx, &api.GetDeviceNextFCntDownRequest{DevEui: "00000000000000ee"})
	wantCode(t, err, codes.NotFound, "00000000000000ee")
}

func TestDeviceQueueExpiry(t *testing.T) {
	e := newEnv(t, ns.Config{})
	exp := t0.Add(time.Second)
	_, err := e.dev.Enqueue(context.Background(), &api.EnqueueDeviceQueueItemRequest{
		QueueItem: &api.DeviceQueueItem{DevEui: e.dev10.String(), FPort: 5, ExpiresAt: timestampOf(exp)},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.RunFor(2 * time.Second)
	if item, _ := e.srv.NextDownlink(e.dev10); item != nil {
		t.Errorf("NextDownlink returned an expired item: %+v", item)
	}
	evs := e.sink.events()
	if len(evs) != 1 || evs[0].Kind != ns.EventLog || evs[0].Code.String() != "EXPIRED" {
		t.Errorf("events = %+v, want one EXPIRED log", evs)
	}
}

func TestDeviceProfiles(t *testing.T) {
	e := newEnv(t, ns.Config{})
	ctx := context.Background()
	p, err := e.dp.Get(ctx, &api.GetDeviceProfileRequest{Id: e.profile10})
	if err != nil {
		t.Fatal(err)
	}
	dp := p.DeviceProfile
	if !dp.SupportsClassC || dp.SupportsClassB || dp.MacVersion != common.MacVersion_LORAWAN_1_0_3 ||
		dp.UplinkInterval != 3600 || dp.AppLayerParams.GetTs003Version() != api.Ts003Version_TS003_V100 ||
		dp.AppLayerParams.GetTs003FPort() != 202 || dp.AppLayerParams.GetTs004Version() != api.Ts004Version_TS004_NOT_IMPLEMENTED {
		t.Errorf("Get = %v", dp)
	}
	list, err := e.dp.List(ctx, &api.ListDeviceProfilesRequest{TenantId: e.tenant, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if list.TotalCount != 2 || list.Result[1].Name != "meter-1.1" || !list.Result[1].SupportsClassB {
		t.Errorf("List = %v", list)
	}
	_, err = e.dp.Get(ctx, &api.GetDeviceProfileRequest{Id: e.tenant})
	wantCode(t, err, codes.NotFound, e.tenant)
}

func TestDirectory(t *testing.T) {
	e := newEnv(t, ns.Config{})
	ctx := context.Background()
	if err := e.srv.MarkGatewaySeen(e.gw1); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.MarkGatewaySeen(e.gw2); err != nil {
		t.Fatal(err)
	}
	e.clk.RunFor(45 * time.Second)
	if err := e.srv.MarkGatewaySeen(e.gw2); err != nil {
		t.Fatal(err)
	}
	e.clk.RunFor(30 * time.Second) // gw1 last seen 75 s ago, gw2 30 s ago

	tn, err := e.ten.Get(ctx, &api.GetTenantRequest{Id: e.tenant})
	if err != nil || tn.Tenant.Name != "acme" || !tn.Tenant.CanHaveGateways {
		t.Errorf("tenant Get = %v, %v", tn, err)
	}
	ts, err := e.ten.List(ctx, &api.ListTenantsRequest{Limit: 1, Offset: 1})
	if err != nil || ts.TotalCount != 2 || len(ts.Result) != 1 || ts.Result[0].Name != "other" {
		t.Errorf("tenant List = %v, %v", ts, err)
	}
	a, err := e.app.Get(ctx, &api.GetApplicationRequest{Id: e.appID})
	if err != nil || a.Application.Name != "meters" || a.Application.TenantId != e.tenant {
		t.Errorf("application Get = %v, %v", a, err)
	}
	as, err := e.app.List(ctx, &api.ListApplicationsRequest{TenantId: e.tenant, Limit: 10})
	if err != nil || as.TotalCount != 2 || as.Result[0].Name != "lights" {
		t.Errorf("application List = %v, %v", as, err)
	}
	_, err = e.app.List(ctx, &api.ListApplicationsRequest{Limit: 10})
	wantCode(t, err, codes.InvalidArgument, "") // tenant_id is required

	g, err := e.gws.Get(ctx, &api.GetGatewayRequest{GatewayId: e.gw1.String()})
	if err != nil || g.Gateway.Name != "gw-1" || g.Gateway.Location.GetLatitude() != 52.1 || g.LastSeenAt == nil {
		t.Errorf("gateway Get = %v, %v", g, err)
	}
	gl, err := e.gws.List(ctx, &api.ListGatewaysRequest{TenantId: e.tenant, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var states []api.GatewayState
	for _, r := range gl.Result {
		states = append(states, r.State)
	}
	want := []api.GatewayState{api.GatewayState_OFFLINE, api.GatewayState_ONLINE, api.GatewayState_NEVER_SEEN}
	if gl.TotalCount != 3 || !slices.Equal(states, want) {
		t.Errorf("gateway List states = %v (%d), want %v", states, gl.TotalCount, want)
	}
	gl, _ = e.gws.List(ctx, &api.ListGatewaysRequest{Limit: 2, Offset: 2, OrderBy: api.ListGatewaysRequest_GATEWAY_ID})
	if gl.TotalCount != 4 || len(gl.Result) != 2 || gl.Result[1].GatewayId != e.gwX.String() {
		t.Errorf("gateway List page = %v", gl)
	}
	_, err = e.gws.Get(ctx, &api.GetGatewayRequest{GatewayId: "0000000000000bad"})
	wantCode(t, err, codes.NotFound, "0000000000000bad")
}

// TestLoopbackTCP drives the server through a real TCP listener.
func TestLoopbackTCP(t *testing.T) {
	e := newEnv(t, ns.Config{})
	lis := listen(t, e.srv)
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(apiKey)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e.setClients(conn)
	id := e.createGroup(nil, e.gw1, e.gw2)
	for want := range uint32(3) {
		got, err := e.enqueue(id, []byte("fragment"), nil)
		if err != nil || got != want {
			t.Fatalf("Enqueue = %d, %v; want %d", got, err, want)
		}
	}
	if items := e.listQueue(id); len(items) != 3 {
		t.Errorf("ListQueue over TCP = %d items, want 3", len(items))
	}
	keys, err := e.dev.GetKeys(context.Background(), &api.GetDeviceKeysRequest{DevEui: e.dev10.String()})
	if err != nil || keys.DeviceKeys.GenAppKey != e.genAppKey.String() {
		t.Errorf("GetKeys over TCP = %v, %v", keys, err)
	}
}

// TestDeterministicIDs checks that the same seed gives the same ids.
func TestDeterministicIDs(t *testing.T) {
	ids := func() []string {
		s, err := ns.New(ns.Config{APIKeys: []string{"k"}}, clock.NewVirtual(t0), ns.WithRand(rand.New(rand.NewPCG(7, 7))))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, name := range []string{"a", "b"} {
			id, err := s.AddTenant(ns.Tenant{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	a, b := ids(), ids()
	if !slices.Equal(a, b) || a[0] == a[1] {
		t.Errorf("ids %v and %v", a, b)
	}
	if len(a[0]) != 36 || a[0][14] != '4' {
		t.Errorf("id %q is not a version-4 UUID", a[0])
	}
}

func TestNewValidation(t *testing.T) {
	clk := clock.NewVirtual(t0)
	if _, err := ns.New(ns.Config{}, nil); err == nil {
		t.Error("New with nil clock succeeded")
	}
	if _, err := ns.New(ns.Config{ClassCMargin: -time.Second}, clk); err == nil {
		t.Error("New with negative margin succeeded")
	}
	if _, err := ns.New(ns.Config{APIKeys: []string{""}}, clk); err == nil {
		t.Error("New with an empty API key succeeded")
	}
	s, err := ns.New(ns.Config{}, clk)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if c.ClassCMargin != 5*time.Second || c.ClassBMargin != 5*time.Second || c.SchedulerInterval != time.Second ||
		c.SchedulerLockDuration != 2*time.Second || c.SchedulerBatchSize != 100 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestLoader(t *testing.T) {
	s, err := ns.New(ns.Config{APIKeys: []string{"k"}}, clock.NewVirtual(t0))
	if err != nil {
		t.Fatal(err)
	}
	const fixed = "0B9E6A7C-1F2D-4E3A-8B5C-6D7E8F901A2B"
	tenant, err := s.AddTenant(ns.Tenant{ID: fixed, Name: "t"})
	if err != nil || tenant != "0b9e6a7c-1f2d-4e3a-8b5c-6d7e8f901a2b" {
		t.Fatalf("AddTenant with an id = %q, %v", tenant, err)
	}
	other, _ := s.AddTenant(ns.Tenant{Name: "u"})
	app, _ := s.AddApplication(ns.Application{TenantID: tenant, Name: "a"})
	prof, _ := s.AddDeviceProfile(ns.DeviceProfile{TenantID: tenant, Name: "p"})
	foreign, _ := s.AddDeviceProfile(ns.DeviceProfile{TenantID: other, Name: "q"})
	_, errTenant := s.AddTenant(ns.Tenant{ID: fixed})
	_, errBadID := s.AddTenant(ns.Tenant{ID: "nope"})
	_, errApp := s.AddApplication(ns.Application{TenantID: "0b9e6a7c-0000-4e3a-8b5c-6d7e8f901a2b"})
	_, errProf := s.AddDeviceProfile(ns.DeviceProfile{TenantID: "x"})
	errDev := s.AddDevice(ns.Device{DevEUI: eui(1), ApplicationID: app, DeviceProfileID: prof})
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"device", errDev, nil},
		{"tenant id taken", errTenant, ns.ErrAlreadyExists},
		{"malformed id", errBadID, ns.ErrInvalid},
		{"application of unknown tenant", errApp, ns.ErrNotFound},
		{"profile of unknown tenant", errProf, ns.ErrNotFound},
		{"device twice", s.AddDevice(ns.Device{DevEUI: eui(1), ApplicationID: app, DeviceProfileID: prof}), ns.ErrAlreadyExists},
		{"profile of another tenant", s.AddDevice(ns.Device{DevEUI: eui(2), ApplicationID: app, DeviceProfileID: foreign}), ns.ErrInvalid},
		{"device of unknown profile", s.AddDevice(ns.Device{DevEUI: eui(3), ApplicationID: app}), ns.ErrNotFound},
		{"gateway", s.AddGateway(ns.Gateway{GatewayID: eui(9), TenantID: tenant}), nil},
		{"gateway twice", s.AddGateway(ns.Gateway{GatewayID: eui(9), TenantID: tenant}), ns.ErrAlreadyExists},
		{"gateway of unknown tenant", s.AddGateway(ns.Gateway{GatewayID: eui(8)}), ns.ErrNotFound},
		{"uplink", s.RecordUplink(eui(1), eui(9)), nil},
		{"uplink via unknown gateway", s.RecordUplink(eui(1), eui(8)), ns.ErrNotFound},
		{"uplink of unknown device", s.RecordUplink(eui(7)), ns.ErrNotFound},
		{"unknown gateway seen", s.MarkGatewaySeen(eui(8)), ns.ErrNotFound},
		{"ack of nothing", s.AckDownlink(eui(1), "x", eui(9), 1), ns.ErrNotFound},
		{"confirm of nothing", s.ConfirmDownlink(eui(1), true), ns.ErrNotFound},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) || (tt.want == nil) != (tt.err == nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}
