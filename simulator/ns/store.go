package ns

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
)

// Tenant is a ChirpStack tenant as the loader gives it.
type Tenant struct {
	ID                  string // empty: a UUID is generated
	Name                string
	Description         string
	CanHaveGateways     bool
	PrivateGatewaysUp   bool
	PrivateGatewaysDown bool
	MaxGatewayCount     uint32
	MaxDeviceCount      uint32
	Tags                map[string]string
}

// Application is a ChirpStack application.
type Application struct {
	ID          string // empty: a UUID is generated
	TenantID    string
	Name        string
	Description string
	Tags        map[string]string
}

// DeviceProfile holds the device-profile fields a FUOTA server reads
// (CHIRPSTACK.md §1.3).
type DeviceProfile struct {
	ID                string // empty: a UUID is generated
	TenantID          string
	Name              string
	Description       string
	Region            common.Region
	MACVersion        common.MacVersion
	RegParamsRevision common.RegParamsRevision
	SupportsOTAA      bool
	SupportsClassB    bool
	SupportsClassC    bool
	// UplinkInterval is the expected uplink interval in seconds, as
	// ChirpStack stores it.
	UplinkInterval            uint32
	ClassBTimeout             uint32
	ClassBPingSlotPeriodicity uint32
	ClassBPingSlotDR          uint32
	ClassBPingSlotFreq        uint32
	ClassCTimeout             uint32
	// AppLayerParams are the TS003/TS004/TS005 flags with which ChirpStack
	// itself would answer those ports (CHIRPSTACK.md §0.5).
	AppLayerParams AppLayerParams
	Tags           map[string]string
}

// AppLayerParams mirrors api.AppLayerParams.
type AppLayerParams struct {
	TS003Version api.Ts003Version
	TS003FPort   uint32
	TS004Version api.Ts004Version
	TS004FPort   uint32
	TS005Version api.Ts005Version
	TS005FPort   uint32
}

// Device is an end device. Its keys are stored as ChirpStack's DeviceKeys
// stores them; see Keys10x and Keys11.
type Device struct {
	DevEUI          lorawan.EUI64
	JoinEUI         lorawan.EUI64
	Name            string
	Description     string
	ApplicationID   string
	DeviceProfileID string
	Tags            map[string]string
	Variables       map[string]string
	IsDisabled      bool
	SkipFCntCheck   bool
	// Keys is nil for a device without keys (GetKeys answers NotFound, as
	// for an ABP device).
	Keys *DeviceKeys
	// ClassEnabled is the class the device runs in, as Get reports it.
	ClassEnabled common.DeviceClass
	// FCntDown is the next application downlink counter (AFCntDown; the
	// single FCntDown of LoRaWAN 1.0.x). NextDownlink assigns it.
	FCntDown uint32
}

// DeviceKeys are the root keys as ChirpStack's DeviceKeys holds them.
type DeviceKeys struct {
	// NwkKey is the LoRaWAN 1.1 NwkKey, and for LoRaWAN 1.0.x the AppKey.
	NwkKey lorawan.AES128Key
	// AppKey is the LoRaWAN 1.1 AppKey; unused (zero) for 1.0.x.
	AppKey lorawan.AES128Key
	// GenAppKey is the TS005 GenAppKey of a 1.0.x device; zero for 1.1.
	GenAppKey lorawan.AES128Key
}

// Keys10x returns the keys of a LoRaWAN 1.0.x device: its AppKey goes in
// NwkKey, as ChirpStack stores it, and GenAppKey beside it.
func Keys10x(appKey, genAppKey lorawan.AES128Key) *DeviceKeys {
	return &DeviceKeys{NwkKey: appKey, GenAppKey: genAppKey}
}

// Keys11 returns the keys of a LoRaWAN 1.1 device.
func Keys11(nwkKey, appKey lorawan.AES128Key) *DeviceKeys {
	return &DeviceKeys{NwkKey: nwkKey, AppKey: appKey}
}

// Gateway is a gateway of a tenant.
type Gateway struct {
	GatewayID   lorawan.EUI64
	TenantID    string
	Name        string
	Description string
	Location    Location
	Tags        map[string]string
	Metadata    map[string]string
	// StatsInterval is the expected interval between gateway stats, in
	// seconds; a gateway not seen for two of them is listed OFFLINE.
	// Zero means ChirpStack's default of 30 s.
	StatsInterval uint32
}

// Location is a gateway position.
type Location struct {
	Latitude, Longitude, Altitude float64
}

type stamps struct {
	created, updated time.Time
}

type tenantRec struct {
	Tenant
	stamps
}

type appRec struct {
	Application
	stamps
}

type profileRec struct {
	DeviceProfile
	stamps
}

type deviceRec struct {
	Device
	stamps
	lastSeen *time.Time
	// rxGateways are the gateways that heard the last uplink: the history
	// from which a group without gateways gets its gateway set.
	rxGateways []lorawan.EUI64
	queue      []*QueueItem
}

type gatewayRec struct {
	Gateway
	stamps
	lastSeen *time.Time
}

// groupRec is a multicast group with every field of api.MulticastGroup.
type groupRec struct {
	stamps
	id             string
	name           string
	appID          string
	region         common.Region
	mcAddr         lorawan.DevAddr
	mcNwkSKey      lorawan.AES128Key
	mcAppSKey      lorawan.AES128Key
	fCnt           uint32
	groupType      api.MulticastGroupType
	dr             uint32
	frequency      uint32
	pingSlotPeriod uint32 // class_b_ping_slot_periodicity
	schedulingType api.MulticastGroupSchedulingType
	devices        []lorawan.EUI64 // in the order they were added
	gateways       []lorawan.EUI64
}

// mcRow is one row of ChirpStack's multicast_group_queue_item: one frame for
// one gateway.
type mcRow struct {
	id        string
	seq       uint64 // creation order; created_at with ties broken
	created   time.Time
	runAfter  time.Time // scheduler_run_after
	groupID   string
	gatewayID lorawan.EUI64
	fCnt      uint32
	fPort     uint8
	data      []byte
	// emitGPS is emit_at_time_since_gps_epoch, in whole milliseconds as
	// ChirpStack stores it; nil means "immediately".
	emitGPS   *time.Duration
	expiresAt *time.Time
}

// AddTenant stores a tenant and returns its id.
func (s *Server) AddTenant(t Tenant) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.newID(t.ID, func(id string) bool { return s.tenants[id] != nil })
	if err != nil {
		return "", fmt.Errorf("add tenant %q: %w", t.Name, err)
	}
	t.ID = id
	t.Tags = maps.Clone(t.Tags)
	s.tenants[id] = &tenantRec{Tenant: t, stamps: s.stampsNow()}
	return id, nil
}

// AddApplication stores an application of an existing tenant and returns
// its id.
func (s *Server) AddApplication(a Application) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenants[a.TenantID] == nil {
		return "", fmt.Errorf("add application %q: tenant: %w", a.Name, notFound(a.TenantID))
	}
	id, err := s.newID(a.ID, func(id string) bool { return s.apps[id] != nil })
	if err != nil {
		return "", fmt.Errorf("add application %q: %w", a.Name, err)
	}
	a.ID = id
	a.Tags = maps.Clone(a.Tags)
	s.apps[id] = &appRec{Application: a, stamps: s.stampsNow()}
	return id, nil
}

// AddDeviceProfile stores a device profile of an existing tenant and returns
// its id.
func (s *Server) AddDeviceProfile(p DeviceProfile) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenants[p.TenantID] == nil {
		return "", fmt.Errorf("add device profile %q: tenant: %w", p.Name, notFound(p.TenantID))
	}
	id, err := s.newID(p.ID, func(id string) bool { return s.profiles[id] != nil })
	if err != nil {
		return "", fmt.Errorf("add device profile %q: %w", p.Name, err)
	}
	p.ID = id
	p.Tags = maps.Clone(p.Tags)
	s.profiles[id] = &profileRec{DeviceProfile: p, stamps: s.stampsNow()}
	return id, nil
}

// AddDevice stores a device of an existing application, with a profile of
// the same tenant.
func (s *Server) AddDevice(d Device) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.apps[d.ApplicationID]
	if app == nil {
		return fmt.Errorf("add device %s: application: %w", d.DevEUI, notFound(d.ApplicationID))
	}
	p := s.profiles[d.DeviceProfileID]
	if p == nil {
		return fmt.Errorf("add device %s: device profile: %w", d.DevEUI, notFound(d.DeviceProfileID))
	}
	if p.TenantID != app.TenantID {
		return fmt.Errorf("add device %s: device profile %s belongs to another tenant than application %s: %w",
			d.DevEUI, p.ID, app.ID, ErrInvalid)
	}
	if s.devices[d.DevEUI] != nil {
		return fmt.Errorf("add device: %w", &apiError{kind: ErrAlreadyExists, msg: fmt.Sprintf("Object already exists (id: %s)", d.DevEUI)})
	}
	d.Tags = maps.Clone(d.Tags)
	d.Variables = maps.Clone(d.Variables)
	if d.Keys != nil {
		k := *d.Keys
		d.Keys = &k
	}
	s.devices[d.DevEUI] = &deviceRec{Device: d, stamps: s.stampsNow()}
	return nil
}

// AddGateway stores a gateway of an existing tenant.
func (s *Server) AddGateway(g Gateway) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenants[g.TenantID] == nil {
		return fmt.Errorf("add gateway %s: tenant: %w", g.GatewayID, notFound(g.TenantID))
	}
	if s.gateways[g.GatewayID] != nil {
		return fmt.Errorf("add gateway: %w", &apiError{kind: ErrAlreadyExists, msg: fmt.Sprintf("Object already exists (id: %s)", g.GatewayID)})
	}
	if g.StatsInterval == 0 {
		g.StatsInterval = 30
	}
	g.Tags = maps.Clone(g.Tags)
	g.Metadata = maps.Clone(g.Metadata)
	s.gateways[g.GatewayID] = &gatewayRec{Gateway: g, stamps: s.stampsNow()}
	return nil
}

// RecordUplink notes that the gateways heard an uplink of the device now: the
// device and the gateways are marked seen, and the gateways become the
// device's reception history, from which ChirpStack picks the gateways of a
// multicast group that has none added.
func (s *Server) RecordUplink(devEUI lorawan.EUI64, gateways ...lorawan.EUI64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[devEUI]
	if d == nil {
		return fmt.Errorf("record uplink: device: %w", notFound(devEUI.String()))
	}
	for _, id := range gateways {
		if s.gateways[id] == nil {
			return fmt.Errorf("record uplink of %s: gateway: %w", devEUI, notFound(id.String()))
		}
	}
	now := s.clk.Now()
	d.lastSeen = &now
	d.rxGateways = slices.Clone(gateways)
	for _, id := range gateways {
		s.gateways[id].lastSeen = &now
	}
	return nil
}

// MarkGatewaySeen notes a sign of life from the gateway (stats), which
// decides its state in GatewayService.List.
func (s *Server) MarkGatewaySeen(id lorawan.EUI64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gateways[id]
	if g == nil {
		return fmt.Errorf("mark gateway seen: %w", notFound(id.String()))
	}
	now := s.clk.Now()
	g.lastSeen = &now
	return nil
}

// newID returns want if it is set (checked to be a UUID and unused), or a
// fresh UUID. The caller holds s.mu.
func (s *Server) newID(want string, taken func(string) bool) (string, error) {
	if want == "" {
		return newUUID(s.rnd), nil
	}
	id, err := parseUUID(want)
	if err != nil {
		return "", err
	}
	if taken(id) {
		return "", &apiError{kind: ErrAlreadyExists, msg: fmt.Sprintf("Object already exists (id: %s)", id)}
	}
	return id, nil
}

func (s *Server) stampsNow() stamps {
	now := s.clk.Now()
	return stamps{created: now, updated: now}
}

// page applies ChirpStack's limit and offset: SQL LIMIT and OFFSET, so a
// limit of 0 returns no rows.
func page[T any](items []T, limit, offset uint32) []T {
	if uint64(offset) >= uint64(len(items)) {
		return nil
	}
	items = items[offset:]
	if uint64(limit) < uint64(len(items)) {
		items = items[:limit]
	}
	return items
}

// matches is ChirpStack's search: name ILIKE '%search%'.
func matches(name, search string) bool {
	return search == "" || strings.Contains(strings.ToLower(name), strings.ToLower(search))
}

// byName orders list results as ChirpStack does (ORDER BY name), with the id
// as tie-breaker so that the order is deterministic.
func byName(nameA, idA, nameB, idB string) int {
	return cmp.Or(cmp.Compare(nameA, nameB), cmp.Compare(idA, idB))
}
