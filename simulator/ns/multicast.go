package ns

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// multicastService is api.MulticastGroupService (chirpstack api/multicast.rs,
// storage/multicast.rs).
type multicastService struct {
	api.UnimplementedMulticastGroupServiceServer
	s *Server
}

// groupFields parses the writable fields of a group as Create and Update do.
// Enum values unknown to the proto read as their default, as prost does.
func groupFields(pb *api.MulticastGroup) (*groupRec, error) {
	g := &groupRec{
		name:           pb.GetName(),
		region:         pb.GetRegion(),
		fCnt:           pb.GetFCnt(),
		groupType:      pb.GetGroupType(),
		dr:             pb.GetDr(),
		frequency:      pb.GetFrequency(),
		pingSlotPeriod: pb.GetClassBPingSlotPeriodicity(),
		schedulingType: pb.GetClassCSchedulingType(),
	}
	if _, ok := common.Region_name[int32(g.region)]; !ok {
		g.region = common.Region_EU868
	}
	if _, ok := api.MulticastGroupType_name[int32(g.groupType)]; !ok {
		g.groupType = api.MulticastGroupType_CLASS_C
	}
	if _, ok := api.MulticastGroupSchedulingType_name[int32(g.schedulingType)]; !ok {
		g.schedulingType = api.MulticastGroupSchedulingType_DELAY
	}
	var err error
	if g.mcAddr, err = parseDevAddr(pb.GetMcAddr()); err != nil {
		return nil, err
	}
	if g.mcNwkSKey, err = parseKey(pb.GetMcNwkSKey()); err != nil {
		return nil, err
	}
	if g.mcAppSKey, err = parseKey(pb.GetMcAppSKey()); err != nil {
		return nil, err
	}
	if g.name == "" {
		return nil, validation("name is not set")
	}
	// Not a ChirpStack check: the scheduler needs the region's tables.
	if _, ok := simRegion(g.region); !ok {
		return nil, invalidArg(fmt.Sprintf("region %v is not simulated", g.region))
	}
	return g, nil
}

func (g *groupRec) proto() *api.MulticastGroup {
	return &api.MulticastGroup{
		Id:                        g.id,
		Name:                      g.name,
		ApplicationId:             g.appID,
		Region:                    g.region,
		McAddr:                    g.mcAddr.String(),
		McNwkSKey:                 g.mcNwkSKey.String(),
		McAppSKey:                 g.mcAppSKey.String(),
		FCnt:                      g.fCnt,
		GroupType:                 g.groupType,
		Dr:                        g.dr,
		Frequency:                 g.frequency,
		ClassBPingSlotPeriodicity: g.pingSlotPeriod,
		ClassCSchedulingType:      g.schedulingType,
	}
}

func (m multicastService) Create(_ context.Context, req *api.CreateMulticastGroupRequest) (*api.CreateMulticastGroupResponse, error) {
	s := m.s
	pb := req.GetMulticastGroup()
	if pb == nil {
		return nil, s.status(invalidArg("multicast_group is missing"))
	}
	appID, err := parseUUID(pb.GetApplicationId())
	if err != nil {
		return nil, s.status(err)
	}
	g, err := groupFields(pb)
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps[appID] == nil {
		return nil, s.status(foreignKey(appID, "multicast_group", "multicast_group_application_id_fkey"))
	}
	g.id = newUUID(s.rnd)
	g.appID = appID
	g.stamps = s.stampsNow()
	s.groups[g.id] = g
	s.log.Info("Multicast-group created", "id", g.id)
	return &api.CreateMulticastGroupResponse{Id: g.id}, nil
}

func (m multicastService) Get(_ context.Context, req *api.GetMulticastGroupRequest) (*api.GetMulticastGroupResponse, error) {
	s := m.s
	id, err := parseUUID(req.GetId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[id]
	if g == nil {
		return nil, s.status(notFound(id))
	}
	return &api.GetMulticastGroupResponse{
		MulticastGroup: g.proto(),
		CreatedAt:      timestamppb.New(g.created),
		UpdatedAt:      timestamppb.New(g.updated),
	}, nil
}

func (m multicastService) Update(_ context.Context, req *api.UpdateMulticastGroupRequest) (*emptypb.Empty, error) {
	s := m.s
	pb := req.GetMulticastGroup()
	if pb == nil {
		return nil, s.status(invalidArg("multicast_group is missing"))
	}
	id, err := parseUUID(pb.GetId())
	if err != nil {
		return nil, s.status(err)
	}
	u, err := groupFields(pb)
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[id]
	if g == nil {
		return nil, s.status(notFound(id))
	}
	// Everything but the id, the application and the members, f_cnt
	// included: a client can rewind the counter.
	g.name, g.region, g.mcAddr = u.name, u.region, u.mcAddr
	g.mcNwkSKey, g.mcAppSKey, g.fCnt = u.mcNwkSKey, u.mcAppSKey, u.fCnt
	g.groupType, g.dr, g.frequency = u.groupType, u.dr, u.frequency
	g.pingSlotPeriod, g.schedulingType = u.pingSlotPeriod, u.schedulingType
	g.updated = s.clk.Now()
	s.log.Info("Multicast-group updated", "id", id)
	return &emptypb.Empty{}, nil
}

func (m multicastService) Delete(_ context.Context, req *api.DeleteMulticastGroupRequest) (*emptypb.Empty, error) {
	s := m.s
	id, err := parseUUID(req.GetId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[id] == nil {
		return nil, s.status(notFound(id))
	}
	delete(s.groups, id)
	// The queue goes with the group (ON DELETE CASCADE).
	s.deleteRows(func(r *mcRow) bool { return r.groupID == id })
	s.log.Info("Multicast-group deleted", "id", id)
	return &emptypb.Empty{}, nil
}

func (m multicastService) List(_ context.Context, req *api.ListMulticastGroupsRequest) (*api.ListMulticastGroupsResponse, error) {
	s := m.s
	var appID string
	if req.GetApplicationId() != "" {
		var err error
		if appID, err = parseUUID(req.GetApplicationId()); err != nil {
			return nil, s.status(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var gs []*groupRec
	for _, g := range s.groups {
		if (appID == "" || g.appID == appID) && matches(g.name, req.GetSearch()) {
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(a, b *groupRec) int { return byName(a.name, a.id, b.name, b.id) })
	resp := &api.ListMulticastGroupsResponse{TotalCount: uint32(len(gs))}
	for _, g := range page(gs, req.GetLimit(), req.GetOffset()) {
		resp.Result = append(resp.Result, &api.MulticastGroupListItem{
			Id:        g.id,
			CreatedAt: timestamppb.New(g.created),
			UpdatedAt: timestamppb.New(g.updated),
			Name:      g.name,
			Region:    g.region,
			GroupType: g.groupType,
		})
	}
	return resp, nil
}

// memberIDs parses a group id and a member EUI, in ChirpStack's order.
func memberIDs(groupID, eui string) (string, lorawan.EUI64, error) {
	id, err := parseUUID(groupID)
	if err != nil {
		return "", lorawan.EUI64{}, err
	}
	e, err := parseEUI64(eui)
	return id, e, err
}

func (m multicastService) AddDevice(_ context.Context, req *api.AddDeviceToMulticastGroupRequest) (*emptypb.Empty, error) {
	s := m.s
	id, devEUI, err := memberIDs(req.GetMulticastGroupId(), req.GetDevEui())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[devEUI]
	if d == nil {
		return nil, s.status(notFound(devEUI.String()))
	}
	g := s.groups[id]
	if g == nil {
		return nil, s.status(notFound(id))
	}
	if d.ApplicationID != g.appID {
		return nil, s.status(notFound(devEUI.String()))
	}
	if slices.Contains(g.devices, devEUI) {
		return nil, s.status(duplicateKey(fmt.Sprintf("multicast-group: %s, device: %s", id, devEUI), "multicast_group_device_pkey"))
	}
	g.devices = append(g.devices, devEUI)
	s.log.Info("Device added to multicast-group", "multicast_group_id", id, "dev_eui", devEUI.String())
	return &emptypb.Empty{}, nil
}

func (m multicastService) RemoveDevice(_ context.Context, req *api.RemoveDeviceFromMulticastGroupRequest) (*emptypb.Empty, error) {
	s := m.s
	id, devEUI, err := memberIDs(req.GetMulticastGroupId(), req.GetDevEui())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groups[id]; g == nil || !removeMember(&g.devices, devEUI) {
		return nil, s.status(notFound(fmt.Sprintf("multicast-group: %s, device: %s", id, devEUI)))
	}
	return &emptypb.Empty{}, nil
}

func (m multicastService) AddGateway(_ context.Context, req *api.AddGatewayToMulticastGroupRequest) (*emptypb.Empty, error) {
	s := m.s
	id, gwID, err := memberIDs(req.GetMulticastGroupId(), req.GetGatewayId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gw := s.gateways[gwID]
	if gw == nil {
		return nil, s.status(notFound(gwID.String()))
	}
	g := s.groups[id]
	if g == nil {
		return nil, s.status(notFound(id))
	}
	if app := s.apps[g.appID]; app == nil || app.TenantID != gw.TenantID {
		return nil, s.status(notFound(gwID.String()))
	}
	if slices.Contains(g.gateways, gwID) {
		return nil, s.status(duplicateKey(fmt.Sprintf("multicast-group: %s, gateway: %s", id, gwID), "multicast_group_gateway_pkey"))
	}
	g.gateways = append(g.gateways, gwID)
	s.log.Info("Gateway added to multicast-group", "multicast_group_id", id, "gateway_id", gwID.String())
	return &emptypb.Empty{}, nil
}

func (m multicastService) RemoveGateway(_ context.Context, req *api.RemoveGatewayFromMulticastGroupRequest) (*emptypb.Empty, error) {
	s := m.s
	id, gwID, err := memberIDs(req.GetMulticastGroupId(), req.GetGatewayId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groups[id]; g == nil || !removeMember(&g.gateways, gwID) {
		return nil, s.status(notFound(fmt.Sprintf("multicast-group: %s, gateway: %s", id, gwID)))
	}
	return &emptypb.Empty{}, nil
}

func (m multicastService) Enqueue(_ context.Context, req *api.EnqueueMulticastGroupQueueItemRequest) (*api.EnqueueMulticastGroupQueueItemResponse, error) {
	s := m.s
	qi := req.GetQueueItem()
	if qi == nil {
		return nil, s.status(invalidArg("queue_item is missing"))
	}
	id, err := parseUUID(qi.GetMulticastGroupId())
	if err != nil {
		return nil, s.status(err)
	}
	expiresAt, err := timestamp(qi.GetExpiresAt())
	if err != nil {
		return nil, s.status(err)
	}
	fCnt, err := s.enqueueMulticast(id, qi.GetFPort(), qi.GetData(), expiresAt)
	if err != nil {
		return nil, s.status(viaAnyhow(err))
	}
	return &api.EnqueueMulticastGroupQueueItemResponse{FCnt: fCnt}, nil
}

func (m multicastService) FlushQueue(_ context.Context, req *api.FlushMulticastGroupQueueRequest) (*emptypb.Empty, error) {
	s := m.s
	id, err := parseUUID(req.GetMulticastGroupId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// An unknown group has an empty queue: ChirpStack deletes nothing and
	// answers OK.
	s.deleteRows(func(r *mcRow) bool { return r.groupID == id })
	s.log.Info("Multicast-group queue flushed", "multicast_group_id", id)
	return &emptypb.Empty{}, nil
}

func (m multicastService) ListQueue(_ context.Context, req *api.ListMulticastGroupQueueRequest) (*api.ListMulticastGroupQueueResponse, error) {
	s := m.s
	id, err := parseUUID(req.GetMulticastGroupId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// One row per gateway; an FCnt is listed once, as long as any of its
	// rows is left.
	resp := &api.ListMulticastGroupQueueResponse{}
	seen := make(map[uint32]bool)
	for _, r := range s.rows {
		if r.groupID != id || seen[r.fCnt] {
			continue
		}
		seen[r.fCnt] = true
		item := &api.MulticastGroupQueueItem{
			MulticastGroupId: r.groupID,
			FCnt:             r.fCnt,
			FPort:            uint32(r.fPort),
			Data:             slices.Clone(r.data),
		}
		if r.expiresAt != nil {
			item.ExpiresAt = timestamppb.New(*r.expiresAt)
		}
		resp.Items = append(resp.Items, item)
	}
	return resp, nil
}

// timestamp converts an optional proto timestamp; ChirpStack reports an
// invalid one as Internal.
func timestamp(ts *timestamppb.Timestamp) (*time.Time, error) {
	if ts == nil {
		return nil, nil
	}
	if err := ts.CheckValid(); err != nil {
		return nil, rawInternal(ErrInvalid, err.Error())
	}
	t := ts.AsTime()
	return &t, nil
}

// removeMember deletes v from a group's member list and reports whether it was
// there.
func removeMember[T comparable](list *[]T, v T) bool {
	i := slices.Index(*list, v)
	if i < 0 {
		return false
	}
	*list = slices.Delete(*list, i, i+1)
	return true
}
