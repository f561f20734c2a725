package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/brocaar/lorawan"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/lorafuota/lorafuota/api/lorafuotapb"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/fuota/store"
)

// MaxMessageSize bounds a gRPC message either way: an image in a request,
// a status with every device in an answer (the CLI's limit too).
const MaxMessageSize = 64 << 20

// Page sizes of the list calls.
const (
	defaultPage = 100
	maxPage     = 1000
)

// NewGRPCServer returns a gRPC server with lorafuota's DeploymentService and
// ChirpStack's FuotaService on m, every call checked by auth. The watch
// streams end when stopping is closed, so that a graceful stop does not
// wait for them.
func NewGRPCServer(m *Manager, auth *Auth, stopping <-chan struct{}, opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(auth.Unary), grpc.ChainStreamInterceptor(auth.Stream),
		grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize),
	}, opts...)
	g := grpc.NewServer(opts...)
	pb.RegisterDeploymentServiceServer(g, &deploymentService{m: m, stopping: stopping})
	registerFuotaService(g, m)
	return g
}

// deploymentService is lorafuota's own API on a Manager.
type deploymentService struct {
	pb.UnimplementedDeploymentServiceServer
	m        *Manager
	stopping <-chan struct{}
}

func (s *deploymentService) Plan(_ context.Context, req *pb.PlanRequest) (*pb.PlanResponse, error) {
	o, err := optionsFromProto(req.GetOptions())
	if err != nil {
		return nil, grpcError(err)
	}
	p, err := s.m.Plan(o, int(req.GetImageSize()), int(req.GetDevices()))
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.PlanResponse{Plan: planToProto(p)}, nil
}

func (s *deploymentService) CreateDeployment(ctx context.Context, req *pb.CreateDeploymentRequest) (*pb.CreateDeploymentResponse, error) {
	r := Request{Name: req.GetName(), Image: req.GetImage(), Draft: req.Start != nil && !req.GetStart()}
	var err error
	if r.Options, err = optionsFromProto(req.GetOptions()); err != nil {
		return nil, grpcError(err)
	}
	for i, d := range req.GetDevices() {
		dr, err := deviceFromProto(fmt.Sprintf("devices[%d]", i), d)
		if err != nil {
			return nil, grpcError(err)
		}
		r.Devices = append(r.Devices, dr)
	}
	if sel := req.GetSelector(); sel != nil && (sel.GetApplicationId() != "" || sel.GetDeviceProfileId() != "" || len(sel.GetTags()) > 0) {
		r.Selector = &Selector{ApplicationID: sel.GetApplicationId(), DeviceProfileID: sel.GetDeviceProfileId(), Tags: sel.GetTags()}
	}
	st, err := s.m.Create(ctx, r)
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.CreateDeploymentResponse{Id: st.ID, Plan: planToProto(st.Plan)}, nil
}

func requireID(id string) error {
	if id == "" {
		return invalid("id", "empty")
	}
	return nil
}

func (s *deploymentService) StartDeployment(ctx context.Context, req *pb.StartDeploymentRequest) (*pb.DeploymentStatus, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	st, err := s.m.Start(ctx, req.GetId())
	if err != nil {
		return nil, grpcError(err)
	}
	return statusToProto(st), nil
}

func (s *deploymentService) GetDeployment(ctx context.Context, req *pb.GetDeploymentRequest) (*pb.DeploymentStatus, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	st, err := s.m.Get(ctx, req.GetId(), req.GetDevices())
	if err != nil {
		return nil, grpcError(err)
	}
	return statusToProto(st), nil
}

// phaseNames are the phases a ListDeploymentsRequest may filter on.
var phaseNames = []string{"draft", string(fuota.PhaseNew), string(fuota.PhaseSetup), string(fuota.PhaseSession),
	string(fuota.PhaseMulticast), string(fuota.PhaseStatus), string(fuota.PhaseDone), string(fuota.PhaseCanceled)}

func (s *deploymentService) ListDeployments(ctx context.Context, req *pb.ListDeploymentsRequest) (*pb.ListDeploymentsResponse, error) {
	for i, p := range req.GetPhases() {
		if !slices.Contains(phaseNames, p) {
			return nil, grpcError(invalid(fmt.Sprintf("phases[%d]", i), "%q: want one of %s", p, strings.Join(phaseNames, ", ")))
		}
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = maxPage
	}
	all, err := s.m.List(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &pb.ListDeploymentsResponse{}
	for _, st := range all {
		phase := string(st.Phase)
		if st.Draft && !st.Done {
			phase = "draft"
		}
		if len(req.GetPhases()) > 0 && !slices.Contains(req.GetPhases(), phase) {
			continue
		}
		if len(resp.Deployments) == limit {
			break
		}
		resp.Deployments = append(resp.Deployments, statusToProto(st))
	}
	return resp, nil
}

func (s *deploymentService) CancelDeployment(ctx context.Context, req *pb.CancelDeploymentRequest) (*pb.DeploymentStatus, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	st, err := s.m.Cancel(ctx, req.GetId(), req.GetReason())
	if err != nil {
		return nil, grpcError(err)
	}
	return statusToProto(st), nil
}

// WatchDeployment sends the status at once and then whenever it changes
// (UpdatedAt alone does not count), until the deployment is done, the
// client goes or the server stops.
func (s *deploymentService) WatchDeployment(req *pb.WatchDeploymentRequest, stream grpc.ServerStreamingServer[pb.DeploymentStatus]) error {
	if err := requireID(req.GetId()); err != nil {
		return grpcError(err)
	}
	ctx := stream.Context()
	var last *pb.DeploymentStatus
	for {
		changed, err := s.m.Changed(req.GetId())
		if err != nil {
			return grpcError(err)
		}
		st, err := s.m.Get(ctx, req.GetId(), req.GetDevices())
		if err != nil {
			return grpcError(err)
		}
		msg := statusToProto(st)
		if last == nil || !sameStatus(last, msg) {
			if err := stream.Send(msg); err != nil {
				return err
			}
			last = msg
		}
		if st.Done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return status.Error(codes.Unavailable, "the server is shutting down; watch again")
		}
	}
}

// sameStatus compares two statuses but for their UpdatedAt.
func sameStatus(a, b *pb.DeploymentStatus) bool {
	a, b = proto.CloneOf(a), proto.CloneOf(b)
	a.UpdatedAt, b.UpdatedAt = nil, nil
	return proto.Equal(a, b)
}

func (s *deploymentService) GetLogs(ctx context.Context, req *pb.GetLogsRequest) (*pb.GetLogsResponse, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	limit, err := pageSize(req.GetLimit())
	if err != nil {
		return nil, grpcError(err)
	}
	entries, err := s.m.Logs(ctx, req.GetId(), req.GetAfter(), limit)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &pb.GetLogsResponse{Entries: make([]*pb.LogEntry, 0, len(entries))}
	for _, e := range entries {
		le := &pb.LogEntry{Id: e.ID, Kind: e.Kind, Message: e.Message, Fields: e.Fields}
		if !e.Time.IsZero() {
			le.Time = timestamppb.New(e.Time)
		}
		if e.DevEUI != nil {
			le.DevEui = e.DevEUI.String()
		}
		resp.Entries = append(resp.Entries, le)
	}
	return resp, nil
}

func (s *deploymentService) ListInventory(ctx context.Context, req *pb.ListInventoryRequest) (*pb.ListInventoryResponse, error) {
	limit, err := pageSize(req.GetLimit())
	if err != nil {
		return nil, grpcError(err)
	}
	entries, next, err := s.m.Inventory(ctx, req.GetCursor(), limit)
	if err != nil {
		return nil, grpcError(err)
	}
	return inventoryToProto(entries, next), nil
}

func inventoryToProto(entries []store.InventoryEntry, next uint64) *pb.ListInventoryResponse {
	resp := &pb.ListInventoryResponse{NextCursor: next, Entries: make([]*pb.InventoryEntry, 0, len(entries))}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, &pb.InventoryEntry{
			DevEui: e.DevEUI.String(), FirmwareVersion: e.FirmwareVersion, HardwareVersion: e.HardwareVersion,
			SeenAt: timestamppb.New(e.SeenAt), Source: e.Source,
		})
	}
	return resp
}

// pageSize checks a limit: 0 is defaultPage.
func pageSize(limit uint32) (int, error) {
	switch {
	case limit == 0:
		return defaultPage, nil
	case limit > maxPage:
		return 0, invalid("limit", "%d: at most %d", limit, maxPage)
	}
	return int(limit), nil
}

// duration reads an optional Duration option.
func duration(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, invalidErr(field, err)
	}
	v := d.AsDuration()
	if v < 0 {
		return 0, invalid(field, "%v: must not be negative", v)
	}
	return v, nil
}

// optionsFromProto checks CampaignOptions; nil is all defaults.
func optionsFromProto(o *pb.CampaignOptions) (Options, error) {
	var out Options
	if o == nil {
		return out, nil
	}
	switch c := strings.ToUpper(o.GetClass()); c {
	case "", "C":
	case "B":
		out.SessionClass = fuota.ClassB
	default:
		return out, invalid("options.class", "%q: want C or B", o.GetClass())
	}
	switch {
	case o.GetMcGroupId() > 3:
		return out, invalid("options.mc_group_id", "%d: must be 0..3", o.GetMcGroupId())
	case o.GetBlockAckDelay() > 7:
		return out, invalid("options.block_ack_delay", "%d: must be 0..7", o.GetBlockAckDelay())
	case o.GetFragmentSize() > 255:
		return out, invalid("options.fragment_size", "%d: must be 0..255", o.GetFragmentSize())
	case o.GetRedundancy() > 1<<14:
		return out, invalid("options.redundancy", "%d: above the 14-bit fragment counter", o.GetRedundancy())
	case o.GetRetryCount() > 100:
		return out, invalid("options.retry_count", "%d: at most 100", o.GetRetryCount())
	case o.GetDr() > 15:
		return out, invalid("options.dr", "%d: must be 0..15", o.GetDr())
	}
	out = Options{
		Region: o.GetRegion(), FrequencyHz: o.GetFrequencyHz(), FragmentSize: int(o.GetFragmentSize()),
		Redundancy: int(o.GetRedundancy()), ExpectedLoss: o.GetExpectedLoss(), Target: o.GetTarget(),
		DutyCycleModel: o.GetDutyCycleModel(), McGroupID: uint8(o.GetMcGroupId()),
		FirmwareVersion: o.GetFirmwareVersion(), RetryCount: int(o.GetRetryCount()),
		BlockAckDelay: uint8(o.GetBlockAckDelay()), Gateways: o.GetGatewayIds(),
		ConfirmByReset: o.GetConfirmByReset(),
	}
	if o.Dr != nil {
		dr := int(o.GetDr())
		out.DR = &dr
	}
	var err error
	for _, d := range []struct {
		field string
		src   *durationpb.Duration
		dst   *time.Duration
	}{
		{"options.ns_margin", o.GetNsMargin(), &out.Margin},
		{"options.retry_timeout", o.GetRetryTimeout(), &out.RetryTimeout},
		{"options.setup_timeout", o.GetSetupTimeout(), &out.SetupTimeout},
		{"options.reboot_delay", o.GetRebootDelay(), &out.RebootDelay},
		{"options.reboot_grace", o.GetRebootGrace(), &out.RebootGrace},
		{"options.status_delay", o.GetStatusDelay(), &out.StatusDelay},
	} {
		if *d.dst, err = duration(d.field, d.src); err != nil {
			return Options{}, err
		}
	}
	return out, nil
}

// deviceFromProto checks a DeviceSpec.
func deviceFromProto(field string, d *pb.DeviceSpec) (DeviceRequest, error) {
	var out DeviceRequest
	if err := out.DevEUI.UnmarshalText([]byte(d.GetDevEui())); err != nil {
		return out, invalid(field+".dev_eui", "%q: want 16 hex digits", d.GetDevEui())
	}
	switch v := d.GetMacVersion(); {
	case v == "":
	case v == "1.0.x" || v == "1.0" || strings.HasPrefix(v, "1.0."):
		out.MACVersion = fuota.MAC10x
	case v == "1.1" || v == "1.1.0" || v == "1.1.x":
		out.MACVersion = fuota.MAC11
	default:
		return out, invalid(field+".mac_version", "%q: want 1.0.x or 1.1", v)
	}
	switch c := strings.ToUpper(d.GetClass()); c {
	case "":
	case "A", "B", "C":
		out.Class = fuota.Class(c)
	default:
		return out, invalid(field+".class", "%q: want A, B or C", d.GetClass())
	}
	var err error
	if out.UplinkInterval, err = duration(field+".uplink_interval", d.GetUplinkInterval()); err != nil {
		return out, err
	}
	return out, nil
}

func planToProto(p *fuota.Plan) *pb.Plan {
	if p == nil {
		return nil
	}
	out := &pb.Plan{
		Region: string(p.Request.Region), Dr: uint32(p.Request.DR), FrequencyHz: p.FrequencyHz,
		FragmentSize: uint32(p.FragmentSize), FrameAirtime: durationpb.New(p.FrameAirtime), Frames: uint32(p.Frames),
		Airtime: durationpb.New(p.Airtime), DutyCycle: p.DutyCycle, LowerBound: durationpb.New(p.LowerBound),
		Binding: p.Binding, Warnings: slices.Clone(p.Warnings),
	}
	for _, b := range p.Blocks {
		out.Blocks = append(out.Blocks, &pb.BlockPlan{
			Offset: uint32(b.Offset), Size: uint32(b.Size), NbFrag: uint32(b.NbFrag), Redundancy: uint32(b.Redundancy),
			Duration: durationpb.New(b.Duration), SessionTimeout: uint32(b.TimeOut),
		})
	}
	return out
}

// stepRank orders the steps of a device, to tell which phases it is past.
var stepRank = map[fuota.Step]int{
	fuota.StepProbe: 0, fuota.StepKeys: 1, fuota.StepMcGroup: 2, fuota.StepFragSetup: 3, fuota.StepReady: 4,
	fuota.StepSession: 5, fuota.StepMulticast: 6, fuota.StepStatus: 7, fuota.StepUpgrade: 8, fuota.StepReboot: 9,
	fuota.StepVersion: 10, fuota.StepDone: 11,
}

// bars are the phases shown as progress bars, and the step a device must
// have reached to be past each.
var bars = []struct {
	phase fuota.Phase
	past  fuota.Step
}{
	{fuota.PhaseSetup, fuota.StepReady},
	{fuota.PhaseSession, fuota.StepMulticast},
	{fuota.PhaseMulticast, ""},
	{fuota.PhaseStatus, ""},
}

// phaseRank orders the phases of a deployment.
var phaseRank = map[fuota.Phase]int{fuota.PhaseNew: 0, fuota.PhaseSetup: 1, fuota.PhaseSession: 2,
	fuota.PhaseMulticast: 3, fuota.PhaseStatus: 4, fuota.PhaseDone: 5}

func statusToProto(st Status) *pb.DeploymentStatus {
	p := st.Progress
	out := &pb.DeploymentStatus{
		Id: st.ID, Name: st.Name, Phase: string(st.Phase),
		CreatedAt: timestamppb.New(st.CreatedAt), Plan: planToProto(st.Plan),
		DevicesTotal: uint32(p.Devices), Updated: uint32(p.Outcomes[fuota.Updated]),
		Received: uint32(p.Outcomes[fuota.Received]), Failed: uint32(p.Outcomes[fuota.Failed]),
		Canceled: uint32(p.Outcomes[fuota.Canceled]), Skipped: uint32(p.Outcomes[fuota.Skipped]), FragmentsSent: uint32(p.FragmentsSent),
		FragmentsPlanned: uint32(p.FragmentsPlanned), Error: st.Err,
	}
	if !st.UpdatedAt.IsZero() {
		out.UpdatedAt = timestamppb.New(st.UpdatedAt)
	}
	verdicts := 0
	for _, n := range p.Outcomes {
		verdicts += n
	}
	out.Pending = uint32(max(p.Devices-verdicts, 0))
	if !p.SessionStart.IsZero() {
		out.SessionStart = timestamppb.New(p.SessionStart)
	}
	reached := map[fuota.Phase]bool{}
	for _, m := range st.Phases {
		reached[m.Phase] = true
	}
	for _, b := range bars {
		pp := &pb.PhaseProgress{Name: string(b.phase)}
		switch b.phase {
		case fuota.PhaseMulticast:
			pp.Done, pp.Total = uint64(p.FragmentsSent), uint64(max(p.FragmentsPlanned, p.FragmentsSent))
		case fuota.PhaseStatus:
			pp.Done, pp.Total = uint64(verdicts), uint64(p.Devices)
		default:
			pp.Done, pp.Total = uint64(verdicts), uint64(p.Devices)
			for step, n := range p.Steps {
				if stepRank[step] >= stepRank[b.past] {
					pp.Done += uint64(n)
				}
			}
		}
		cur, ok := phaseRank[st.Phase]
		switch {
		case st.Done || st.Phase == fuota.PhaseCanceled:
			pp.State = "pending"
			if reached[b.phase] || ok && cur > phaseRank[b.phase] {
				pp.State = "done"
			}
		case cur > phaseRank[b.phase]:
			pp.State = "done"
		case cur == phaseRank[b.phase]:
			pp.State = "running"
		default:
			pp.State = "pending"
		}
		out.Phases = append(out.Phases, pp)
	}
	for _, d := range st.Devices {
		out.DeviceStatuses = append(out.DeviceStatuses, &pb.DeviceStatus{
			DevEui: d.DevEUI.String(), Step: string(d.Step), Outcome: string(d.Outcome), Reason: d.Reason,
			FirmwareVersion: d.FirmwareVersion,
		})
	}
	return out
}

// parseEUIs parses EUI-64s, naming field[i] in errors.
func parseEUIs(field string, ss []string) ([]lorawan.EUI64, error) {
	out := make([]lorawan.EUI64, 0, len(ss))
	for i, s := range ss {
		var eui lorawan.EUI64
		if err := eui.UnmarshalText([]byte(s)); err != nil {
			return nil, invalid(fmt.Sprintf("%s[%d]", field, i), "%q: want 16 hex digits", s)
		}
		out = append(out, eui)
	}
	return out, nil
}
