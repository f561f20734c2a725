package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/region"
)

// fuotaService is ChirpStack's api.FuotaService on a Manager, so that a
// client written for ChirpStack's built-in FUOTA works against lorafuota
// (CHIRPSTACK.md §1.6). A deployment is a draft until StartDeployment; its
// settings, devices and gateways change only before. lorafuota plans and
// paces the multicast itself, so of ChirpStack's settings it refuses those
// it cannot honour (class B, GPS_TIME scheduling, a fixed session timeout,
// another fragmentation matrix, device tags set on completion) naming the
// field, and takes the rest as they are:
//
//   - multicast_dr, multicast_frequency (0: the region's RX2),
//     fragmentation_fragment_size (unless calculated),
//     fragmentation_redundancy_percentage (of the largest block's fragments;
//     0 sizes the parity from the expected loss), fragmentation_block_ack_delay,
//     fragmentation_descriptor and unicast_max_retry_count (0: the engine's
//     default) go into the plan and the engine;
//   - the region is the device profile's, read from ChirpStack;
//   - fragmentation_session_index is ignored, as ChirpStack does (the engine
//     numbers the blocks from 0); request_fragmentation_session_status is
//     kept but lorafuota always asks for the status after the last fragment.
//
// ListJobs maps the engine's phases onto ChirpStack's jobs.
type fuotaService struct {
	api.UnimplementedFuotaServiceServer
	m *Manager
}

func registerFuotaService(g *grpc.Server, m *Manager) {
	api.RegisterFuotaServiceServer(g, &fuotaService{m: m})
}

// csDraft is what a FuotaDeployment sets of a deployment.
type csDraft struct {
	name, app, profile string
	options            Options
	image              []byte
	raw                []byte
}

// fromChirpStack checks a FuotaDeployment.
func (s *fuotaService) fromChirpStack(ctx context.Context, d *api.FuotaDeployment) (csDraft, error) {
	const f = "deployment."
	var out csDraft
	if d == nil {
		return out, invalid("deployment", "missing")
	}
	switch {
	case d.GetApplicationId() == "":
		return out, invalid(f+"application_id", "empty")
	case d.GetMulticastGroupType() != api.MulticastGroupType_CLASS_C && d.GetMulticastGroupType() != api.MulticastGroupType_CLASS_B:
		return out, invalid(f+"multicast_group_type", "%v: unknown", d.GetMulticastGroupType())
	case d.GetMulticastClassCSchedulingType() == api.MulticastGroupSchedulingType_GPS_TIME:
		return out, invalid(f+"multicast_class_c_scheduling_type", "GPS_TIME: lorafuota paces the fragments itself and queues them in DELAY mode")
	case d.GetMulticastClassCSchedulingType() != api.MulticastGroupSchedulingType_DELAY:
		return out, invalid(f+"multicast_class_c_scheduling_type", "%v: unknown", d.GetMulticastClassCSchedulingType())
	case d.GetMulticastClassBPingSlotPeriodicity() > 7:
		return out, invalid(f+"multicast_class_b_ping_slot_periodicity", "%d: must be 0..7", d.GetMulticastClassBPingSlotPeriodicity())
	case d.GetMulticastDr() > 15:
		return out, invalid(f+"multicast_dr", "%d: must be 0..15", d.GetMulticastDr())
	case !d.GetCalculateMulticastTimeout() && d.GetMulticastTimeout() != 0:
		return out, invalid(f+"multicast_timeout", "%d: lorafuota sizes the session from its own pacing; set calculate_multicast_timeout", d.GetMulticastTimeout())
	case !d.GetCalculateFragmentationFragmentSize() && d.GetFragmentationFragmentSize() > 255:
		return out, invalid(f+"fragmentation_fragment_size", "%d: must be 0..255", d.GetFragmentationFragmentSize())
	case d.GetFragmentationRedundancyPercentage() > 100:
		return out, invalid(f+"fragmentation_redundancy_percentage", "%d: must be 0..100", d.GetFragmentationRedundancyPercentage())
	case d.GetFragmentationMatrix() != 0:
		return out, invalid(f+"fragmentation_matrix", "%d: only 0, the LoRa Alliance parity matrix, is supported", d.GetFragmentationMatrix())
	case d.GetFragmentationBlockAckDelay() > 7:
		return out, invalid(f+"fragmentation_block_ack_delay", "%d: must be 0..7", d.GetFragmentationBlockAckDelay())
	case len(d.GetFragmentationDescriptor()) != 0 && len(d.GetFragmentationDescriptor()) != 4:
		return out, invalid(f+"fragmentation_descriptor", "%d bytes: want 4", len(d.GetFragmentationDescriptor()))
	case len(d.GetOnCompleteSetDeviceTags()) > 0:
		return out, invalid(f+"on_complete_set_device_tags", "not supported: lorafuota records the firmware in its inventory instead")
	case d.GetUnicastMaxRetryCount() > 100:
		return out, invalid(f+"unicast_max_retry_count", "%d: at most 100", d.GetUnicastMaxRetryCount())
	}
	dr := int(d.GetMulticastDr())
	out = csDraft{
		name: d.GetName(), app: d.GetApplicationId(), profile: d.GetDeviceProfileId(), image: d.GetPayload(),
		options: Options{
			DR: &dr, FrequencyHz: d.GetMulticastFrequency(), RetryCount: int(d.GetUnicastMaxRetryCount()),
			RedundancyPercent: int(d.GetFragmentationRedundancyPercentage()),
			BlockAckDelay:     uint8(d.GetFragmentationBlockAckDelay()),
		},
	}
	if d.GetMulticastGroupType() == api.MulticastGroupType_CLASS_B {
		p := uint8(d.GetMulticastClassBPingSlotPeriodicity())
		out.options.SessionClass, out.options.PingSlotPeriodicity = fuota.ClassB, &p
	}
	if !d.GetCalculateFragmentationFragmentSize() {
		out.options.FragmentSize = int(d.GetFragmentationFragmentSize())
	}
	copy(out.options.Descriptor[:], d.GetFragmentationDescriptor())
	if out.profile != "" && s.m.cfg.Directory != nil {
		p, err := s.m.cfg.Directory.GetDeviceProfile(ctx, out.profile)
		if err != nil {
			return out, invalidErr(f+"device_profile_id", err)
		}
		name, err := regionOfChirpStack(p.Region)
		if err != nil {
			return out, invalidErr(f+"device_profile_id", err)
		}
		out.options.Region = string(name)
	}
	keep := proto.CloneOf(d)
	keep.Id, keep.Payload = "", nil
	var err error
	if out.raw, err = protojson.Marshal(keep); err != nil {
		return out, fmt.Errorf("keeping the deployment: %w", err)
	}
	return out, nil
}

// regionOfChirpStack maps ChirpStack's region name to lorafuota's.
func regionOfChirpStack(cs string) (region.Name, error) {
	switch cs {
	case "AS923":
		return region.AS923_1, nil
	case "AS923_2", "AS923_3", "AS923_4":
		return region.Name("AS923-" + cs[len(cs)-1:]), nil
	}
	return region.ParseName(cs)
}

func (s *fuotaService) CreateDeployment(ctx context.Context, req *api.CreateFuotaDeploymentRequest) (*api.CreateFuotaDeploymentResponse, error) {
	d, err := s.fromChirpStack(ctx, req.GetDeployment())
	if err != nil {
		return nil, grpcError(err)
	}
	st, err := s.m.Create(ctx, Request{
		Name: d.name, Image: d.image, Options: d.options, ApplicationID: d.app, DeviceProfileID: d.profile,
		Draft: true, ChirpStack: d.raw,
	})
	if err != nil {
		return nil, grpcError(err)
	}
	return &api.CreateFuotaDeploymentResponse{Id: st.ID}, nil
}

func (s *fuotaService) GetDeployment(ctx context.Context, req *api.GetFuotaDeploymentRequest) (*api.GetFuotaDeploymentResponse, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	st, err := s.m.Get(ctx, req.GetId(), false)
	if err != nil {
		return nil, grpcError(err)
	}
	img, err := s.m.Image(ctx, req.GetId())
	if err != nil {
		return nil, grpcError(err)
	}
	d, err := toChirpStack(st, s.m.cfg.Defaults)
	if err != nil {
		return nil, grpcError(err)
	}
	d.Payload = img
	return &api.GetFuotaDeploymentResponse{
		Deployment: d, CreatedAt: timestamppb.New(st.CreatedAt), UpdatedAt: timestamppb.New(st.UpdatedAt),
		StartedAt: stamp(st.StartedAt), CompletedAt: stamp(st.CompletedAt),
	}, nil
}

// stamp is nil for the zero time.
func stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// toChirpStack returns a deployment as ChirpStack's FuotaDeployment: the one
// its client sent, else one made from the options and the plan.
func toChirpStack(st Status, def Defaults) (*api.FuotaDeployment, error) {
	d := &api.FuotaDeployment{}
	if len(st.ChirpStack) > 0 {
		if err := protojson.Unmarshal(st.ChirpStack, d); err != nil {
			return nil, fmt.Errorf("deployment %s: stored ChirpStack deployment: %w", st.ID, err)
		}
	} else {
		o := st.Options
		d = &api.FuotaDeployment{
			ApplicationId: st.ApplicationID, DeviceProfileId: st.DeviceProfileID,
			MulticastGroupType:            groupTypeOf(o.SessionClass),
			MulticastClassCSchedulingType: api.MulticastGroupSchedulingType_DELAY,
			CalculateMulticastTimeout:     true, CalculateFragmentationFragmentSize: o.FragmentSize == 0,
			FragmentationFragmentSize:         uint32(o.FragmentSize),
			UnicastMaxRetryCount:              uint32(cmp.Or(o.RetryCount, def.Retry.Count)),
			FragmentationBlockAckDelay:        uint32(cmp.Or(o.BlockAckDelay, def.BlockAckDelay)),
			FragmentationDescriptor:           o.Descriptor[:],
			RequestFragmentationSessionStatus: api.RequestFragmentationSessionStatus_AFTER_SESSION_TIMEOUT,
		}
		if p := st.Plan; p != nil {
			d.MulticastDr, d.MulticastFrequency = uint32(p.Request.DR), p.FrequencyHz
			d.FragmentationFragmentSize = uint32(p.FragmentSize)
			if len(p.Blocks) > 0 {
				d.MulticastTimeout = uint32(p.Blocks[0].TimeOut)
			}
		}
	}
	d.Id, d.Name = st.ID, st.Name
	return d, nil
}

func (s *fuotaService) UpdateDeployment(ctx context.Context, req *api.UpdateFuotaDeploymentRequest) (*emptypb.Empty, error) {
	dep := req.GetDeployment()
	if err := requireID(dep.GetId()); err != nil {
		return nil, grpcError(invalid("deployment.id", "empty"))
	}
	d, err := s.fromChirpStack(ctx, dep)
	if err != nil {
		return nil, grpcError(err)
	}
	_, err = s.m.UpdateDraft(ctx, dep.GetId(), func(dr *Draft) error {
		gws := dr.Options.Gateways
		dr.Name, dr.ApplicationID, dr.DeviceProfileID, dr.ChirpStack = d.name, d.app, d.profile, d.raw
		dr.Options = d.options
		dr.Options.Gateways = gws
		if len(d.image) > 0 {
			dr.Image = d.image
		}
		return nil
	})
	if err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *fuotaService) DeleteDeployment(ctx context.Context, req *api.DeleteFuotaDeploymentRequest) (*emptypb.Empty, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	if err := s.m.Delete(ctx, req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *fuotaService) StartDeployment(ctx context.Context, req *api.StartFuotaDeploymentRequest) (*emptypb.Empty, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	if _, err := s.m.Start(ctx, req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *fuotaService) ListDeployments(ctx context.Context, req *api.ListFuotaDeploymentsRequest) (*api.ListFuotaDeploymentsResponse, error) {
	all, err := s.m.List(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	var sel []Status
	for _, st := range all {
		if app := req.GetApplicationId(); app == "" || st.ApplicationID == app {
			sel = append(sel, st)
		}
	}
	resp := &api.ListFuotaDeploymentsResponse{TotalCount: uint32(len(sel))}
	for _, st := range page(sel, req.GetLimit(), req.GetOffset()) {
		resp.Result = append(resp.Result, &api.FuotaDeploymentListItem{
			Id: st.ID, Name: st.Name, CreatedAt: timestamppb.New(st.CreatedAt), UpdatedAt: timestamppb.New(st.UpdatedAt),
			StartedAt: stamp(st.StartedAt), CompletedAt: stamp(st.CompletedAt),
		})
	}
	return resp, nil
}

// page is ChirpStack's pagination: limit 0 lists nothing (the total only).
func page[T any](all []T, limit, offset uint32) []T {
	if int(offset) >= len(all) {
		return nil
	}
	all = all[offset:]
	return all[:min(int(limit), len(all))]
}

func (s *fuotaService) AddDevices(ctx context.Context, req *api.AddDevicesToFuotaDeploymentRequest) (*emptypb.Empty, error) {
	euis, err := parseEUIs("dev_euis", req.GetDevEuis())
	if err != nil {
		return nil, grpcError(err)
	}
	_, err = s.m.UpdateDraft(ctx, req.GetFuotaDeploymentId(), func(d *Draft) error {
		have := map[lorawan.EUI64]bool{}
		for _, dev := range d.Devices {
			have[dev.DevEUI] = true
		}
		for i, eui := range euis {
			if err := s.checkDevice(ctx, fmt.Sprintf("dev_euis[%d]", i), eui, d); err != nil {
				return err
			}
			if !have[eui] {
				d.Devices = append(d.Devices, DeviceRequest{DevEUI: eui})
				have[eui] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// checkDevice checks, when ChirpStack can be asked, that a device exists
// and is in the deployment's application and device profile.
func (s *fuotaService) checkDevice(ctx context.Context, field string, eui lorawan.EUI64, d *Draft) error {
	dir := s.m.cfg.Directory
	if dir == nil {
		return nil
	}
	dev, err := dir.GetDevice(ctx, eui)
	switch {
	case err != nil:
		return invalidErr(field+" "+eui.String(), err)
	case d.ApplicationID != "" && dev.ApplicationID != d.ApplicationID:
		return invalid(field, "%s is in application %s, the deployment's is %s", eui, dev.ApplicationID, d.ApplicationID)
	case d.DeviceProfileID != "" && dev.DeviceProfileID != d.DeviceProfileID:
		return invalid(field, "%s has device profile %s, the deployment's is %s", eui, dev.DeviceProfileID, d.DeviceProfileID)
	}
	return nil
}

func (s *fuotaService) RemoveDevices(ctx context.Context, req *api.RemoveDevicesFromFuotaDeploymentRequest) (*emptypb.Empty, error) {
	euis, err := parseEUIs("dev_euis", req.GetDevEuis())
	if err != nil {
		return nil, grpcError(err)
	}
	_, err = s.m.UpdateDraft(ctx, req.GetFuotaDeploymentId(), func(d *Draft) error {
		d.Devices = slices.DeleteFunc(d.Devices, func(dev DeviceRequest) bool { return slices.Contains(euis, dev.DevEUI) })
		return nil
	})
	if err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *fuotaService) ListDevices(ctx context.Context, req *api.ListFuotaDeploymentDevicesRequest) (*api.ListFuotaDeploymentDevicesResponse, error) {
	if err := requireID(req.GetFuotaDeploymentId()); err != nil {
		return nil, grpcError(invalid("fuota_deployment_id", "empty"))
	}
	st, err := s.m.Get(ctx, req.GetFuotaDeploymentId(), true)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &api.ListFuotaDeploymentDevicesResponse{TotalCount: uint32(len(st.Devices))}
	for _, d := range page(st.Devices, req.GetLimit(), req.GetOffset()) {
		it := &api.FuotaDeploymentDeviceListItem{
			FuotaDeploymentId: st.ID, DevEui: d.DevEUI.String(), CreatedAt: timestamppb.New(st.CreatedAt),
		}
		if d.Outcome != "" {
			it.CompletedAt = stamp(cmpTime(d.CompletedAt, st.CompletedAt, st.UpdatedAt))
			if d.Outcome != fuota.Updated {
				it.ErrorMsg = fmt.Sprintf("%s at %s: %s", d.Outcome, d.Step, d.Reason)
			}
		}
		resp.Result = append(resp.Result, it)
	}
	return resp, nil
}

// cmpTime returns the first time that is not zero.
func cmpTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func (s *fuotaService) AddGateways(ctx context.Context, req *api.AddGatewaysToFuotaDeploymentRequest) (*emptypb.Empty, error) {
	ids, err := parseGateways("gateway_ids", req.GetGatewayIds())
	if err != nil {
		return nil, grpcError(err)
	}
	_, err = s.m.UpdateDraft(ctx, req.GetFuotaDeploymentId(), func(d *Draft) error {
		for _, id := range ids {
			if !slices.Contains(d.Options.Gateways, id) {
				d.Options.Gateways = append(d.Options.Gateways, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *fuotaService) RemoveGateways(ctx context.Context, req *api.RemoveGatewaysFromFuotaDeploymentRequest) (*emptypb.Empty, error) {
	ids, err := parseGateways("gateway_ids", req.GetGatewayIds())
	if err != nil {
		return nil, grpcError(err)
	}
	_, err = s.m.UpdateDraft(ctx, req.GetFuotaDeploymentId(), func(d *Draft) error {
		d.Options.Gateways = slices.DeleteFunc(d.Options.Gateways, func(g string) bool { return slices.Contains(ids, g) })
		return nil
	})
	if err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *fuotaService) ListGateways(ctx context.Context, req *api.ListFuotaDeploymentGatewaysRequest) (*api.ListFuotaDeploymentGatewaysResponse, error) {
	if err := requireID(req.GetFuotaDeploymentId()); err != nil {
		return nil, grpcError(invalid("fuota_deployment_id", "empty"))
	}
	st, err := s.m.Get(ctx, req.GetFuotaDeploymentId(), false)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &api.ListFuotaDeploymentGatewaysResponse{TotalCount: uint32(len(st.Gateways))}
	for _, g := range page(st.Gateways, req.GetLimit(), req.GetOffset()) {
		resp.Result = append(resp.Result, &api.FuotaDeploymentGatewayListItem{
			FuotaDeploymentId: st.ID, GatewayId: g, CreatedAt: timestamppb.New(st.CreatedAt),
		})
	}
	return resp, nil
}

// jobs are ChirpStack's FUOTA jobs in order, with the engine phase that
// does each; the group's jobs take no time in lorafuota (the group is made
// when the multicast begins).
var jobs = []struct {
	name    string
	phase   fuota.Phase
	instant bool
	unicast bool
}{
	{"MC_GROUP_SETUP", fuota.PhaseSetup, false, true},
	{"FRAG_SESSION_SETUP", fuota.PhaseSetup, false, true},
	{"MC_SESSION", fuota.PhaseSession, false, true},
	{"CREATE_MC_GROUP", fuota.PhaseMulticast, true, false},
	{"ADD_DEVS_TO_MC_GROUP", fuota.PhaseMulticast, true, false},
	{"ADD_GWS_TO_MC_GROUP", fuota.PhaseMulticast, true, false},
	{"ENQUEUE", fuota.PhaseMulticast, false, false},
	{"FRAG_STATUS", fuota.PhaseStatus, false, true},
	{"DELETE_MC_GROUP", fuota.PhaseDone, true, false},
	{"COMPLETE", fuota.PhaseDone, true, false},
}

func (s *fuotaService) ListJobs(ctx context.Context, req *api.ListFuotaDeploymentJobsRequest) (*api.ListFuotaDeploymentJobsResponse, error) {
	if err := requireID(req.GetFuotaDeploymentId()); err != nil {
		return nil, grpcError(invalid("fuota_deployment_id", "empty"))
	}
	st, err := s.m.Get(ctx, req.GetFuotaDeploymentId(), false)
	if err != nil {
		return nil, grpcError(err)
	}
	return &api.ListFuotaDeploymentJobsResponse{Jobs: jobsOf(st, s.m.cfg.Defaults)}, nil
}

// jobsOf lists the jobs a deployment has reached.
func jobsOf(st Status, def Defaults) []*api.FuotaDeploymentJob {
	marks := st.Phases
	// at is when the deployment entered phase; ended when it entered the
	// next phase it reached.
	at := func(p fuota.Phase) (time.Time, bool) {
		for _, m := range marks {
			if m.Phase == p {
				return m.At, true
			}
		}
		return time.Time{}, false
	}
	ended := func(p fuota.Phase) time.Time {
		start, _ := at(p)
		var next time.Time
		for _, m := range marks {
			if m.Phase != p && m.At.After(start) || m.Phase != p && m.At.Equal(start) && phaseRank[m.Phase] > phaseRank[p] {
				if next.IsZero() || m.At.Before(next) {
					next = m.At
				}
			}
		}
		return next
	}
	retries := uint32(cmp.Or(st.Options.RetryCount, def.Retry.Count))
	failed := st.Progress.Outcomes[fuota.Failed]
	var out []*api.FuotaDeploymentJob
	endAt, finished := at(fuota.PhaseDone)
	if c, ok := at(fuota.PhaseCanceled); ok {
		endAt, finished = c, true
	}
	_, multicast := at(fuota.PhaseMulticast)
	for _, j := range jobs {
		start, ok := at(j.phase)
		if j.name == "COMPLETE" || j.name == "DELETE_MC_GROUP" {
			if !finished || j.name == "DELETE_MC_GROUP" && !multicast {
				continue
			}
			start, ok = endAt, true
		}
		if !ok {
			continue
		}
		job := &api.FuotaDeploymentJob{Job: j.name, CreatedAt: timestamppb.New(start), AttemptCount: 1}
		if j.unicast {
			job.MaxRetryCount = retries
		}
		switch end := ended(j.phase); {
		case j.instant:
			job.CompletedAt = timestamppb.New(start)
		case !end.IsZero():
			job.CompletedAt = timestamppb.New(end)
		case finished:
			job.CompletedAt = timestamppb.New(endAt)
		default:
			job.ErrorMsg = st.Err // the job running now
		}
		if j.name == "COMPLETE" {
			if st.Phase == fuota.PhaseCanceled {
				job.ErrorMsg = "cancelled"
			}
			if failed > 0 {
				job.WarningMsg = strconv.Itoa(failed) + " device(s) failed"
			}
		}
		out = append(out, job)
	}
	return out
}

// groupTypeOf is ChirpStack's group type of a session class.
func groupTypeOf(c fuota.Class) api.MulticastGroupType {
	if c == fuota.ClassB {
		return api.MulticastGroupType_CLASS_B
	}
	return api.MulticastGroupType_CLASS_C
}
