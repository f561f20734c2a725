package ns

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// deviceService is the part of api.DeviceService a FUOTA server uses
// (chirpstack api/device.rs, storage/device_queue.rs).
type deviceService struct {
	api.UnimplementedDeviceServiceServer
	s *Server
}

func (d deviceService) Get(_ context.Context, req *api.GetDeviceRequest) (*api.GetDeviceResponse, error) {
	s := d.s
	devEUI, err := parseEUI64(req.GetDevEui())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dev := s.devices[devEUI]
	if dev == nil {
		return nil, s.status(notFound(devEUI.String()))
	}
	resp := &api.GetDeviceResponse{
		Device: &api.Device{
			DevEui:          dev.DevEUI.String(),
			Name:            dev.Name,
			Description:     dev.Description,
			ApplicationId:   dev.ApplicationID,
			DeviceProfileId: dev.DeviceProfileID,
			SkipFcntCheck:   dev.SkipFCntCheck,
			IsDisabled:      dev.IsDisabled,
			Variables:       maps.Clone(dev.Variables),
			Tags:            maps.Clone(dev.Tags),
			JoinEui:         dev.JoinEUI.String(),
		},
		CreatedAt:    timestamppb.New(dev.created),
		UpdatedAt:    timestamppb.New(dev.updated),
		ClassEnabled: dev.ClassEnabled,
	}
	if dev.lastSeen != nil {
		resp.LastSeenAt = timestamppb.New(*dev.lastSeen)
	}
	return resp, nil
}

func (d deviceService) List(_ context.Context, req *api.ListDevicesRequest) (*api.ListDevicesResponse, error) {
	s := d.s
	// ChirpStack lists the devices of one application only.
	appID, err := parseUUID(req.GetApplicationId())
	if err != nil {
		return nil, s.status(err)
	}
	var groupID, profileID string
	if req.GetMulticastGroupId() != "" {
		if groupID, err = parseUUID(req.GetMulticastGroupId()); err != nil {
			return nil, s.status(err)
		}
	}
	if req.GetDeviceProfileId() != "" {
		if profileID, err = parseUUID(req.GetDeviceProfileId()); err != nil {
			return nil, s.status(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var devs []*deviceRec
	for _, dev := range s.devices {
		if dev.ApplicationID != appID || !matches(dev.Name, req.GetSearch()) {
			continue
		}
		if profileID != "" && dev.DeviceProfileID != profileID {
			continue
		}
		if groupID != "" {
			g := s.groups[groupID]
			if g == nil || !slices.Contains(g.devices, dev.DevEUI) {
				continue
			}
		}
		if !hasTags(dev.Tags, req.GetTags()) {
			continue
		}
		devs = append(devs, dev)
	}
	order := func(a, b *deviceRec) int {
		switch req.GetOrderBy() {
		case api.ListDevicesRequest_DEV_EUI:
			return compareEUI(a.DevEUI, b.DevEUI)
		case api.ListDevicesRequest_LAST_SEEN_AT:
			return cmp.Or(compareSeen(a.lastSeen, b.lastSeen), byName(a.Name, a.DevEUI.String(), b.Name, b.DevEUI.String()))
		case api.ListDevicesRequest_DEVICE_PROFILE_NAME:
			return cmp.Or(cmp.Compare(s.profiles[a.DeviceProfileID].Name, s.profiles[b.DeviceProfileID].Name),
				byName(a.Name, a.DevEUI.String(), b.Name, b.DevEUI.String()))
		}
		return byName(a.Name, a.DevEUI.String(), b.Name, b.DevEUI.String())
	}
	slices.SortFunc(devs, func(a, b *deviceRec) int {
		if req.GetOrderByDesc() {
			return order(b, a)
		}
		return order(a, b)
	})
	resp := &api.ListDevicesResponse{TotalCount: uint32(len(devs))}
	for _, dev := range page(devs, req.GetLimit(), req.GetOffset()) {
		item := &api.DeviceListItem{
			DevEui:            dev.DevEUI.String(),
			CreatedAt:         timestamppb.New(dev.created),
			UpdatedAt:         timestamppb.New(dev.updated),
			Name:              dev.Name,
			Description:       dev.Description,
			DeviceProfileId:   dev.DeviceProfileID,
			DeviceProfileName: s.profiles[dev.DeviceProfileID].Name,
			Tags:              maps.Clone(dev.Tags),
		}
		if dev.lastSeen != nil {
			item.LastSeenAt = timestamppb.New(*dev.lastSeen)
		}
		resp.Result = append(resp.Result, item)
	}
	return resp, nil
}

// hasTags is ChirpStack's tag filter: every requested tag present with that
// value.
func hasTags(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// compareSeen orders by last-seen time, never-seen devices last.
func compareSeen(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return a.Compare(*b)
}

func (d deviceService) GetKeys(_ context.Context, req *api.GetDeviceKeysRequest) (*api.GetDeviceKeysResponse, error) {
	s := d.s
	devEUI, err := parseEUI64(req.GetDevEui())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dev := s.devices[devEUI]
	if dev == nil || dev.Keys == nil {
		return nil, s.status(notFound(devEUI.String()))
	}
	return &api.GetDeviceKeysResponse{
		DeviceKeys: &api.DeviceKeys{
			DevEui:    devEUI.String(),
			NwkKey:    dev.Keys.NwkKey.String(),
			AppKey:    dev.Keys.AppKey.String(),
			GenAppKey: dev.Keys.GenAppKey.String(),
		},
		CreatedAt: timestamppb.New(dev.created),
		UpdatedAt: timestamppb.New(dev.updated),
	}, nil
}

func (d deviceService) Enqueue(_ context.Context, req *api.EnqueueDeviceQueueItemRequest) (*api.EnqueueDeviceQueueItemResponse, error) {
	s := d.s
	qi := req.GetQueueItem()
	if qi == nil {
		return nil, s.status(invalidArg("queue_item is missing"))
	}
	devEUI, err := parseEUI64(qi.GetDevEui())
	if err != nil {
		return nil, s.status(err)
	}
	if qi.GetObject() != nil {
		// Not ChirpStack's answer: it would run the profile's codec.
		return nil, s.status(invalidArg("object: payload codecs are not simulated, send data"))
	}
	expiresAt, err := timestamp(qi.GetExpiresAt())
	if err != nil {
		return nil, s.status(err)
	}
	id, err := s.enqueueDevice(devEUI, req.GetFlushQueue(), &QueueItem{
		Confirmed:   qi.GetConfirmed(),
		FPort:       uint8(qi.GetFPort()), // ChirpStack casts with `as u8`: 256 reads as 0, 257 as 1
		Data:        slices.Clone(qi.GetData()),
		IsEncrypted: qi.GetIsEncrypted(),
		FCntDown:    qi.GetFCntDown(),
		ExpiresAt:   expiresAt,
	})
	if err != nil {
		return nil, s.status(err)
	}
	return &api.EnqueueDeviceQueueItemResponse{Id: id}, nil
}

func (d deviceService) FlushQueue(_ context.Context, req *api.FlushDeviceQueueRequest) (*emptypb.Empty, error) {
	s := d.s
	devEUI, err := parseEUI64(req.GetDevEui())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if dev := s.devices[devEUI]; dev != nil {
		dev.queue = nil
	}
	return &emptypb.Empty{}, nil
}

func (d deviceService) GetQueue(_ context.Context, req *api.GetDeviceQueueItemsRequest) (*api.GetDeviceQueueItemsResponse, error) {
	s := d.s
	devEUI, err := parseEUI64(req.GetDevEui())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &api.GetDeviceQueueItemsResponse{}
	dev := s.devices[devEUI]
	if dev == nil {
		return resp, nil // an unknown device has an empty queue
	}
	// ChirpStack ignores count_only and always lists the items.
	resp.TotalCount = uint32(len(dev.queue))
	for _, qi := range dev.queue {
		item := &api.DeviceQueueItem{
			Id:          qi.ID,
			DevEui:      devEUI.String(),
			Confirmed:   qi.Confirmed,
			FPort:       uint32(qi.FPort),
			Data:        slices.Clone(qi.Data),
			IsPending:   qi.IsPending,
			IsEncrypted: qi.IsEncrypted,
		}
		if qi.fCntSet {
			item.FCntDown = qi.FCntDown
		}
		if qi.ExpiresAt != nil {
			item.ExpiresAt = timestamppb.New(*qi.ExpiresAt)
		}
		resp.Result = append(resp.Result, item)
	}
	return resp, nil
}

func (d deviceService) GetNextFCntDown(_ context.Context, req *api.GetDeviceNextFCntDownRequest) (*api.GetDeviceNextFCntDownResponse, error) {
	s := d.s
	devEUI, err := parseEUI64(req.GetDevEui())
	if err != nil {
		return nil, s.status(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dev := s.devices[devEUI]
	if dev == nil {
		return nil, s.status(notFound(devEUI.String()))
	}
	return &api.GetDeviceNextFCntDownResponse{FCntDown: dev.nextFCntDown()}, nil
}
