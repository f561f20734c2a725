package ns

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file serves the read side of the objects a FUOTA server looks up:
// device profiles, gateways, applications and tenants. They are created by
// the loader (AddTenant and the others), not through the API.

type deviceProfileService struct {
	api.UnimplementedDeviceProfileServiceServer
	s *Server
}

func (p *profileRec) proto() *api.DeviceProfile {
	a := p.AppLayerParams
	return &api.DeviceProfile{
		Id:                        p.ID,
		TenantId:                  p.TenantID,
		Name:                      p.Name,
		Description:               p.Description,
		Region:                    p.Region,
		MacVersion:                p.MACVersion,
		RegParamsRevision:         p.RegParamsRevision,
		UplinkInterval:            p.UplinkInterval,
		SupportsOtaa:              p.SupportsOTAA,
		SupportsClassB:            p.SupportsClassB,
		SupportsClassC:            p.SupportsClassC,
		ClassBTimeout:             p.ClassBTimeout,
		ClassBPingSlotPeriodicity: p.ClassBPingSlotPeriodicity,
		ClassBPingSlotDr:          p.ClassBPingSlotDR,
		ClassBPingSlotFreq:        p.ClassBPingSlotFreq,
		ClassCTimeout:             p.ClassCTimeout,
		Tags:                      maps.Clone(p.Tags),
		AppLayerParams: &api.AppLayerParams{
			Ts003Version: a.TS003Version,
			Ts003FPort:   a.TS003FPort,
			Ts004Version: a.TS004Version,
			Ts004FPort:   a.TS004FPort,
			Ts005Version: a.TS005Version,
			Ts005FPort:   a.TS005FPort,
		},
	}
}

func (d deviceProfileService) Get(_ context.Context, req *api.GetDeviceProfileRequest) (*api.GetDeviceProfileResponse, error) {
	s := d.s
	id, err := parseUUID(req.GetId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.profiles[id]
	if p == nil {
		return nil, s.status(notFound(id))
	}
	return &api.GetDeviceProfileResponse{
		DeviceProfile: p.proto(),
		CreatedAt:     timestamppb.New(p.created),
		UpdatedAt:     timestamppb.New(p.updated),
	}, nil
}

func (d deviceProfileService) List(_ context.Context, req *api.ListDeviceProfilesRequest) (*api.ListDeviceProfilesResponse, error) {
	s := d.s
	var tenantID string
	if req.GetTenantId() != "" {
		var err error
		if tenantID, err = parseUUID(req.GetTenantId()); err != nil {
			return nil, s.status(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ps []*profileRec
	for _, p := range s.profiles {
		if (tenantID == "" || p.TenantID == tenantID) && matches(p.Name, req.GetSearch()) {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b *profileRec) int { return byName(a.Name, a.ID, b.Name, b.ID) })
	resp := &api.ListDeviceProfilesResponse{TotalCount: uint32(len(ps))}
	for _, p := range page(ps, req.GetLimit(), req.GetOffset()) {
		resp.Result = append(resp.Result, &api.DeviceProfileListItem{
			Id:                p.ID,
			CreatedAt:         timestamppb.New(p.created),
			UpdatedAt:         timestamppb.New(p.updated),
			Name:              p.Name,
			Region:            p.Region,
			MacVersion:        p.MACVersion,
			RegParamsRevision: p.RegParamsRevision,
			SupportsOtaa:      p.SupportsOTAA,
			SupportsClassB:    p.SupportsClassB,
			SupportsClassC:    p.SupportsClassC,
		})
	}
	return resp, nil
}

type gatewayService struct {
	api.UnimplementedGatewayServiceServer
	s *Server
}

func (g *gatewayRec) location() *common.Location {
	return &common.Location{Latitude: g.Location.Latitude, Longitude: g.Location.Longitude, Altitude: g.Location.Altitude}
}

// state is ONLINE while the gateway was seen within two stats intervals.
func (g *gatewayRec) state(now time.Time) api.GatewayState {
	switch {
	case g.lastSeen == nil:
		return api.GatewayState_NEVER_SEEN
	case now.Sub(*g.lastSeen) <= 2*time.Duration(g.StatsInterval)*time.Second:
		return api.GatewayState_ONLINE
	}
	return api.GatewayState_OFFLINE
}

func (gs gatewayService) Get(_ context.Context, req *api.GetGatewayRequest) (*api.GetGatewayResponse, error) {
	s := gs.s
	id, err := parseEUI64(req.GetGatewayId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gateways[id]
	if g == nil {
		return nil, s.status(notFound(id.String()))
	}
	resp := &api.GetGatewayResponse{
		Gateway: &api.Gateway{
			GatewayId:     id.String(),
			Name:          g.Name,
			Description:   g.Description,
			Location:      g.location(),
			TenantId:      g.TenantID,
			Tags:          maps.Clone(g.Tags),
			Metadata:      maps.Clone(g.Metadata),
			StatsInterval: g.StatsInterval,
		},
		CreatedAt: timestamppb.New(g.created),
		UpdatedAt: timestamppb.New(g.updated),
	}
	if g.lastSeen != nil {
		resp.LastSeenAt = timestamppb.New(*g.lastSeen)
	}
	return resp, nil
}

func (gs gatewayService) List(_ context.Context, req *api.ListGatewaysRequest) (*api.ListGatewaysResponse, error) {
	s := gs.s
	var tenantID, groupID string
	var err error
	if req.GetTenantId() != "" {
		if tenantID, err = parseUUID(req.GetTenantId()); err != nil {
			return nil, s.status(err)
		}
	}
	if req.GetMulticastGroupId() != "" {
		if groupID, err = parseUUID(req.GetMulticastGroupId()); err != nil {
			return nil, s.status(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*gatewayRec
	for _, g := range s.gateways {
		if tenantID != "" && g.TenantID != tenantID || !matches(g.Name, req.GetSearch()) {
			continue
		}
		if groupID != "" {
			mg := s.groups[groupID]
			if mg == nil || !slices.Contains(mg.gateways, g.GatewayID) {
				continue
			}
		}
		list = append(list, g)
	}
	order := func(a, b *gatewayRec) int {
		switch req.GetOrderBy() {
		case api.ListGatewaysRequest_GATEWAY_ID:
			return compareEUI(a.GatewayID, b.GatewayID)
		case api.ListGatewaysRequest_LAST_SEEN_AT:
			if c := compareSeen(a.lastSeen, b.lastSeen); c != 0 {
				return c
			}
		}
		return byName(a.Name, a.GatewayID.String(), b.Name, b.GatewayID.String())
	}
	slices.SortFunc(list, func(a, b *gatewayRec) int {
		if req.GetOrderByDesc() {
			return order(b, a)
		}
		return order(a, b)
	})
	now := s.clk.Now()
	resp := &api.ListGatewaysResponse{TotalCount: uint32(len(list))}
	for _, g := range page(list, req.GetLimit(), req.GetOffset()) {
		item := &api.GatewayListItem{
			TenantId:    g.TenantID,
			GatewayId:   g.GatewayID.String(),
			Name:        g.Name,
			Description: g.Description,
			Location:    g.location(),
			Properties:  map[string]string{},
			CreatedAt:   timestamppb.New(g.created),
			UpdatedAt:   timestamppb.New(g.updated),
			State:       g.state(now),
		}
		if g.lastSeen != nil {
			item.LastSeenAt = timestamppb.New(*g.lastSeen)
		}
		resp.Result = append(resp.Result, item)
	}
	return resp, nil
}

type applicationService struct {
	api.UnimplementedApplicationServiceServer
	s *Server
}

func (as applicationService) Get(_ context.Context, req *api.GetApplicationRequest) (*api.GetApplicationResponse, error) {
	s := as.s
	id, err := parseUUID(req.GetId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id]
	if a == nil {
		return nil, s.status(notFound(id))
	}
	return &api.GetApplicationResponse{
		Application: &api.Application{
			Id:          a.ID,
			Name:        a.Name,
			Description: a.Description,
			TenantId:    a.TenantID,
			Tags:        maps.Clone(a.Tags),
		},
		CreatedAt: timestamppb.New(a.created),
		UpdatedAt: timestamppb.New(a.updated),
	}, nil
}

func (as applicationService) List(_ context.Context, req *api.ListApplicationsRequest) (*api.ListApplicationsResponse, error) {
	s := as.s
	// ChirpStack lists the applications of one tenant only.
	tenantID, err := parseUUID(req.GetTenantId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*appRec
	for _, a := range s.apps {
		if a.TenantID == tenantID && matches(a.Name, req.GetSearch()) {
			list = append(list, a)
		}
	}
	slices.SortFunc(list, func(a, b *appRec) int { return byName(a.Name, a.ID, b.Name, b.ID) })
	resp := &api.ListApplicationsResponse{TotalCount: uint32(len(list))}
	for _, a := range page(list, req.GetLimit(), req.GetOffset()) {
		resp.Result = append(resp.Result, &api.ApplicationListItem{
			Id:          a.ID,
			CreatedAt:   timestamppb.New(a.created),
			UpdatedAt:   timestamppb.New(a.updated),
			Name:        a.Name,
			Description: a.Description,
		})
	}
	return resp, nil
}

type tenantService struct {
	api.UnimplementedTenantServiceServer
	s *Server
}

func (ts tenantService) Get(_ context.Context, req *api.GetTenantRequest) (*api.GetTenantResponse, error) {
	s := ts.s
	id, err := parseUUID(req.GetId())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[id]
	if t == nil {
		return nil, s.status(notFound(id))
	}
	return &api.GetTenantResponse{
		Tenant: &api.Tenant{
			Id:                  t.ID,
			Name:                t.Name,
			Description:         t.Description,
			CanHaveGateways:     t.CanHaveGateways,
			MaxGatewayCount:     t.MaxGatewayCount,
			MaxDeviceCount:      t.MaxDeviceCount,
			PrivateGatewaysUp:   t.PrivateGatewaysUp,
			PrivateGatewaysDown: t.PrivateGatewaysDown,
			Tags:                maps.Clone(t.Tags),
		},
		CreatedAt: timestamppb.New(t.created),
		UpdatedAt: timestamppb.New(t.updated),
	}, nil
}

func (ts tenantService) List(_ context.Context, req *api.ListTenantsRequest) (*api.ListTenantsResponse, error) {
	s := ts.s
	if req.GetUserId() != "" {
		if _, err := parseUUID(req.GetUserId()); err != nil {
			return nil, s.status(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// There are no users here: an API key sees every tenant, as an admin
	// key does, and a user_id filter is ignored.
	var list []*tenantRec
	for _, t := range s.tenants {
		if matches(t.Name, req.GetSearch()) {
			list = append(list, t)
		}
	}
	slices.SortFunc(list, func(a, b *tenantRec) int { return byName(a.Name, a.ID, b.Name, b.ID) })
	resp := &api.ListTenantsResponse{TotalCount: uint32(len(list))}
	for _, t := range page(list, req.GetLimit(), req.GetOffset()) {
		resp.Result = append(resp.Result, &api.TenantListItem{
			Id:                  t.ID,
			CreatedAt:           timestamppb.New(t.created),
			UpdatedAt:           timestamppb.New(t.updated),
			Name:                t.Name,
			CanHaveGateways:     t.CanHaveGateways,
			PrivateGatewaysUp:   t.PrivateGatewaysUp,
			PrivateGatewaysDown: t.PrivateGatewaysDown,
			MaxGatewayCount:     t.MaxGatewayCount,
			MaxDeviceCount:      t.MaxDeviceCount,
		})
	}
	return resp, nil
}
