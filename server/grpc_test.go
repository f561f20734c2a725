package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/lorafuota/lorafuota/api/lorafuotapb"
	"github.com/lorafuota/lorafuota/server"
)

const token = "0123456789abcdef-test-token"

// serveGRPC serves m's APIs on a loopback port and returns a connection
// that sends no token (add it per call with authed).
func serveGRPC(t *testing.T, m *server.Manager) *grpc.ClientConn {
	t.Helper()
	auth, err := server.NewAuth([]string{"another-token-0123456789", token})
	if err != nil {
		t.Fatal(err)
	}
	stopping := make(chan struct{})
	g := server.NewGRPCServer(m, auth, stopping)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		close(stopping)
		g.GracefulStop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return conn
}

func authed(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func wantCode(t *testing.T, what string, err error, code codes.Code, in string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), in) {
		t.Errorf("%s: %v, want %s with %q", what, err, code, in)
	}
}

// TestAuth refuses calls, unary and streaming, of both services without
// the token or with another.
func TestAuth(t *testing.T) {
	r := newRig(t, scenario(1), 7)
	conn := serveGRPC(t, r.manager("a"))
	c := pb.NewDeploymentServiceClient(conn)
	cs := api.NewFuotaServiceClient(conn)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		code codes.Code
	}{
		{"no token", r.ctx, codes.Unauthenticated},
		{"wrong token", metadata.AppendToOutgoingContext(r.ctx, "authorization", "Bearer nope-0123456789abcdef"), codes.Unauthenticated},
		{"not bearer", metadata.AppendToOutgoingContext(r.ctx, "authorization", "Basic "+token), codes.Unauthenticated},
		{"two headers", metadata.AppendToOutgoingContext(authed(r.ctx), "authorization", "Bearer "+token), codes.Unauthenticated},
		{"token", authed(r.ctx), codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ListDeployments(tc.ctx, &pb.ListDeploymentsRequest{})
			if status.Code(err) != tc.code {
				t.Errorf("ListDeployments: %v, want %s", err, tc.code)
			}
			_, err = cs.ListDeployments(tc.ctx, &api.ListFuotaDeploymentsRequest{})
			if status.Code(err) != tc.code {
				t.Errorf("FuotaService.ListDeployments: %v, want %s", err, tc.code)
			}
			stream, err := c.WatchDeployment(tc.ctx, &pb.WatchDeploymentRequest{Id: "none"})
			if err == nil {
				_, err = stream.Recv()
			}
			want := tc.code
			if want == codes.OK {
				want = codes.NotFound
			}
			if status.Code(err) != want {
				t.Errorf("WatchDeployment: %v, want %s", err, want)
			}
		})
	}
}

// TestGRPCCampaign creates a deployment through the API, watches it to the
// end and reads its log and the inventory.
func TestGRPCCampaign(t *testing.T) {
	r := newRig(t, scenario(3), 7)
	m := r.manager("a")
	c := pb.NewDeploymentServiceClient(serveGRPC(t, m))
	ctx := authed(r.ctx)
	r.hear()

	req := &pb.CreateDeploymentRequest{Name: "over grpc", Image: r.firmware(4096),
		Options: &pb.CampaignOptions{Region: "EU868", Dr: proto.Uint32(5), RetryCount: 4}}
	for _, d := range r.net.Devices() {
		req.Devices = append(req.Devices, &pb.DeviceSpec{DevEui: d.DevEUI().String(), MacVersion: "1.0.x", Class: "C"})
	}
	created, err := c.CreateDeployment(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if created.GetId() == "" || created.GetPlan().GetFrames() == 0 || created.GetPlan().GetDr() != 5 {
		t.Fatalf("created: %v", created)
	}
	id := created.GetId()

	stream, err := c.WatchDeployment(ctx, &pb.WatchDeploymentRequest{Id: id, Devices: true})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		msgs []*pb.DeploymentStatus
		err  error
	}
	watched := make(chan result, 1)
	go func() {
		var res result
		for {
			st, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					res.err = err
				}
				watched <- res
				return
			}
			res.msgs = append(res.msgs, st)
		}
	}()

	// The field runs until the watch ends: the deployment is done once its
	// phase is and the last cleanup requests have gone out.
	var res result
	if !r.runUntil(6*time.Hour, func() bool {
		select {
		case res = <-watched:
			return true
		case <-time.After(time.Millisecond):
			return false
		}
	}) {
		st, err := c.GetDeployment(ctx, &pb.GetDeploymentRequest{Id: id})
		t.Fatalf("the watch did not end: %v %v", st, err)
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.msgs) < 3 {
		t.Fatalf("%d statuses watched, want the start, changes and the end", len(res.msgs))
	}
	first, last := res.msgs[0], res.msgs[len(res.msgs)-1]
	if first.GetPhase() == "done" {
		t.Errorf("first status already done: %v", first)
	}
	if last.GetPhase() != "done" || last.GetUpdated() != 3 || last.GetPending() != 0 || last.GetFragmentsSent() == 0 ||
		len(last.GetDeviceStatuses()) != 3 || last.GetName() != "over grpc" {
		t.Errorf("last status: %v", last)
	}
	for _, p := range last.GetPhases() {
		if p.GetState() != "done" || p.GetDone() != p.GetTotal() {
			t.Errorf("phase bar at the end: %v", p)
		}
	}
	for _, d := range last.GetDeviceStatuses() {
		if d.GetOutcome() != "updated" || d.GetFirmwareVersion() == 0 {
			t.Errorf("device at the end: %v", d)
		}
	}
	for i := 1; i < len(res.msgs); i++ {
		if proto.Equal(res.msgs[i-1], res.msgs[i]) {
			t.Errorf("status %d sent twice unchanged", i)
		}
	}

	logs, err := c.GetLogs(ctx, &pb.GetLogsRequest{Id: id, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	verdicts := 0
	for _, e := range logs.GetEntries() {
		if e.GetKind() == "verdict" {
			verdicts++
		}
	}
	if verdicts != 3 {
		t.Errorf("%d verdicts in the log, want 3", verdicts)
	}
	if n := len(logs.GetEntries()); n > 2 {
		after := logs.GetEntries()[n-3].GetId()
		more, err := c.GetLogs(ctx, &pb.GetLogsRequest{Id: id, After: after})
		if err != nil || len(more.GetEntries()) != 2 {
			t.Errorf("log after the third last entry: %d entries, %v; want 2", len(more.GetEntries()), err)
		}
	}
	inv, err := c.ListInventory(ctx, &pb.ListInventoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.GetEntries()) != 3 {
		t.Errorf("inventory: %v", inv)
	}

	list, err := c.ListDeployments(ctx, &pb.ListDeploymentsRequest{Phases: []string{"done"}})
	if err != nil || len(list.GetDeployments()) != 1 || list.GetDeployments()[0].GetId() != id {
		t.Errorf("done deployments: %v, %v", list, err)
	}
	list, err = c.ListDeployments(ctx, &pb.ListDeploymentsRequest{Phases: []string{"setup"}})
	if err != nil || len(list.GetDeployments()) != 0 {
		t.Errorf("deployments in setup: %v, %v", list, err)
	}
	// A finished watch ends at once with the last status.
	stream, err = c.WatchDeployment(ctx, &pb.WatchDeploymentRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := stream.Recv(); err != nil || st.GetPhase() != "done" {
		t.Errorf("watching a done deployment: %v, %v", st, err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("watching a done deployment: then %v, want the end", err)
	}
}

// TestGRPCInvalid answers requests that cannot work with InvalidArgument
// naming the field, and unknown deployments with NotFound.
func TestGRPCInvalid(t *testing.T) {
	r := newRig(t, scenario(1), 7)
	c := pb.NewDeploymentServiceClient(serveGRPC(t, r.manager("a")))
	ctx := authed(r.ctx)
	dev := r.net.Devices()[0].DevEUI().String()
	img := []byte(strings.Repeat("not much of an image, but images are not checked; ", 100))
	for _, tc := range []struct {
		name  string
		req   *pb.CreateDeploymentRequest
		field string
	}{
		{"bad EUI", &pb.CreateDeploymentRequest{Image: img, Devices: []*pb.DeviceSpec{{DevEui: "zz"}}}, "devices[0].dev_eui"},
		{"bad MAC version", &pb.CreateDeploymentRequest{Image: img, Devices: []*pb.DeviceSpec{{DevEui: dev, MacVersion: "2.0"}}}, "devices[0].mac_version"},
		{"class D device", &pb.CreateDeploymentRequest{Image: img, Devices: []*pb.DeviceSpec{{DevEui: dev, Class: "D"}}}, "devices[0].class"},
		{"class A session", &pb.CreateDeploymentRequest{Image: img, Devices: []*pb.DeviceSpec{{DevEui: dev}}, Options: &pb.CampaignOptions{Class: "A"}}, "options.class"},
		{"group id", &pb.CreateDeploymentRequest{Image: img, Devices: []*pb.DeviceSpec{{DevEui: dev}}, Options: &pb.CampaignOptions{McGroupId: 4}}, "options.mc_group_id"},
		{"block ack delay", &pb.CreateDeploymentRequest{Image: img, Devices: []*pb.DeviceSpec{{DevEui: dev}}, Options: &pb.CampaignOptions{BlockAckDelay: 8}}, "options.block_ack_delay"},
		{"data rate", &pb.CreateDeploymentRequest{Image: img, Devices: []*pb.DeviceSpec{{DevEui: dev}}, Options: &pb.CampaignOptions{Dr: proto.Uint32(7)}}, "dr 7"},
		{"duty-cycle model", &pb.CreateDeploymentRequest{Image: img, Devices: []*pb.DeviceSpec{{DevEui: dev}}, Options: &pb.CampaignOptions{DutyCycleModel: "lbt"}}, "options.duty_cycle_model"},
		{"no image", &pb.CreateDeploymentRequest{Devices: []*pb.DeviceSpec{{DevEui: dev}}}, "image"},
		{"no devices", &pb.CreateDeploymentRequest{Image: img}, "devices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateDeployment(ctx, tc.req)
			wantCode(t, "CreateDeployment", err, codes.InvalidArgument, tc.field)
		})
	}
	_, err := c.Plan(ctx, &pb.PlanRequest{ImageSize: 0})
	wantCode(t, "Plan without a size", err, codes.InvalidArgument, "image_size")
	plan, err := c.Plan(ctx, &pb.PlanRequest{ImageSize: 65536, Devices: 100, Options: &pb.CampaignOptions{ExpectedLoss: 0.2}})
	if err != nil || plan.GetPlan().GetFrames() == 0 || plan.GetPlan().GetRegion() != "EU868" {
		t.Errorf("Plan: %v, %v", plan, err)
	}
	_, err = c.GetDeployment(ctx, &pb.GetDeploymentRequest{Id: "nope"})
	wantCode(t, "GetDeployment", err, codes.NotFound, "nope")
	_, err = c.GetDeployment(ctx, &pb.GetDeploymentRequest{})
	wantCode(t, "GetDeployment without an id", err, codes.InvalidArgument, "id")
	_, err = c.ListDeployments(ctx, &pb.ListDeploymentsRequest{Phases: []string{"running"}})
	wantCode(t, "ListDeployments", err, codes.InvalidArgument, "phases[0]")
	_, err = c.GetLogs(ctx, &pb.GetLogsRequest{Id: "nope"})
	wantCode(t, "GetLogs", err, codes.NotFound, "nope")
	_, err = c.ListInventory(ctx, &pb.ListInventoryRequest{Limit: 5000})
	wantCode(t, "ListInventory", err, codes.InvalidArgument, "limit")

	// A draft: created, watched, cancelled, and the watch ends.
	created, err := c.CreateDeployment(ctx, &pb.CreateDeploymentRequest{Image: img, Devices: []*pb.DeviceSpec{{DevEui: dev}}, Start: proto.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.WatchDeployment(ctx, &pb.WatchDeploymentRequest{Id: created.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := stream.Recv(); err != nil || st.GetPhase() != "new" {
		t.Fatalf("watching a draft: %v, %v", st, err)
	}
	if _, err := c.CancelDeployment(ctx, &pb.CancelDeploymentRequest{Id: created.GetId(), Reason: "changed my mind"}); err != nil {
		t.Fatal(err)
	}
	if st, err := stream.Recv(); err != nil || st.GetPhase() != "canceled" {
		t.Errorf("watch after the cancel: %v, %v", st, err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("watch after the cancel: %v, want the end", err)
	}
	_, err = c.StartDeployment(ctx, &pb.StartDeploymentRequest{Id: created.GetId()})
	wantCode(t, "starting a cancelled draft", err, codes.FailedPrecondition, "cancelled")
}
