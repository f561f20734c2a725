package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ClientConfig says how to reach ChirpStack's gRPC API.
type ClientConfig struct {
	// Address is host:port of the API (ChirpStack's default is :8080), or
	// any gRPC target ("dns:///chirpstack:8080").
	Address string
	// APIKey is sent as "authorization: Bearer <APIKey>" with every call.
	APIKey string
	// TLS turns transport security on; CAFile (PEM) replaces the system
	// roots and InsecureSkipVerify turns verification off (for tests).
	TLS                bool
	CAFile             string
	InsecureSkipVerify bool
	// Logger gets warnings about ChirpStack's configuration (see
	// DeviceProfile.AppLayerConflict); nil discards them.
	Logger *slog.Logger
	// DialOptions are added to the client's, e.g. a dialer for an
	// in-process server.
	DialOptions []grpc.DialOption
}

// bearer adds the API key to every call. It only demands transport
// security when TLS is on, so that a plaintext ChirpStack (the default, and
// behind a TLS-terminating proxy) can be used.
type bearer struct {
	header string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// Client is a client of ChirpStack's API. The service clients are the
// official stubs', for whatever the helpers do not cover.
type Client struct {
	conn *grpc.ClientConn
	log  *slog.Logger

	MulticastGroups api.MulticastGroupServiceClient
	Devices         api.DeviceServiceClient
	DeviceProfiles  api.DeviceProfileServiceClient
	Gateways        api.GatewayServiceClient
	Applications    api.ApplicationServiceClient
	Tenants         api.TenantServiceClient
}

// Dial connects to ChirpStack and waits until the connection is up or ctx
// ends; a wrong address thus fails here, with the reason. The API key is
// not checked until the first call.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.Address == "" {
		return nil, errors.New("chirpstack: no API address")
	}
	if cfg.APIKey == "" {
		return nil, errors.New("chirpstack: no API key")
	}
	tc := insecure.NewCredentials()
	if cfg.TLS {
		conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("chirpstack: CA file: %w", err)
			}
			conf.RootCAs = x509.NewCertPool()
			if !conf.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("chirpstack: CA file %s: no PEM certificate in it", cfg.CAFile)
			}
		}
		tc = credentials.NewTLS(conf)
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(tc),
		grpc.WithPerRPCCredentials(bearer{header: "Bearer " + cfg.APIKey, secure: cfg.TLS}),
	}, cfg.DialOptions...)
	conn, err := grpc.NewClient(cfg.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("chirpstack: dial %s: %w", cfg.Address, err)
	}
	if err := waitReady(ctx, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("chirpstack: dial %s: %w", cfg.Address, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return newClient(conn, log), nil
}

func newClient(conn *grpc.ClientConn, log *slog.Logger) *Client {
	return &Client{
		conn:            conn,
		log:             log,
		MulticastGroups: api.NewMulticastGroupServiceClient(conn),
		Devices:         api.NewDeviceServiceClient(conn),
		DeviceProfiles:  api.NewDeviceProfileServiceClient(conn),
		Gateways:        api.NewGatewayServiceClient(conn),
		Applications:    api.NewApplicationServiceClient(conn),
		Tenants:         api.NewTenantServiceClient(conn),
	}
}

// waitReady connects conn and waits for it to be ready, keeping the last
// connection error for the caller.
func waitReady(ctx context.Context, conn *grpc.ClientConn) error {
	conn.Connect()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if s == connectivity.Shutdown {
			return errors.New("connection shut down")
		}
		if !conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("%w (connection %v)", ctx.Err(), s)
		}
	}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// DeviceKeys are a device's root keys as ChirpStack holds them
// (CHIRPSTACK.md §1.2).
type DeviceKeys struct {
	// NwkKey is the LoRaWAN 1.1 NwkKey; for a LoRaWAN 1.0.x device it is
	// the 1.0.x AppKey.
	NwkKey lorawan.AES128Key
	// AppKey is the LoRaWAN 1.1 AppKey; zero for 1.0.x devices.
	AppKey lorawan.AES128Key
	// GenAppKey is the TS005 GenAppKey of a 1.0.x device; zero if unset.
	GenAppKey lorawan.AES128Key
}

// parseKey parses a hex AES-128 key; empty is the zero key, as ChirpStack
// reports an unset one.
func parseKey(field, s string) (lorawan.AES128Key, error) {
	var k lorawan.AES128Key
	if s == "" {
		return k, nil
	}
	if err := k.UnmarshalText([]byte(s)); err != nil {
		return k, fmt.Errorf("%s: %w", field, err)
	}
	return k, nil
}

// GetDeviceKeys returns a device's root keys.
func (c *Client) GetDeviceKeys(ctx context.Context, devEUI lorawan.EUI64) (DeviceKeys, error) {
	resp, err := c.Devices.GetKeys(ctx, &api.GetDeviceKeysRequest{DevEui: devEUI.String()})
	if err != nil {
		return DeviceKeys{}, fmt.Errorf("chirpstack: get keys of device %s: %w", devEUI, err)
	}
	dk := resp.GetDeviceKeys()
	var k DeviceKeys
	var errs [3]error
	k.NwkKey, errs[0] = parseKey("nwk_key", dk.GetNwkKey())
	k.AppKey, errs[1] = parseKey("app_key", dk.GetAppKey())
	k.GenAppKey, errs[2] = parseKey("gen_app_key", dk.GetGenAppKey())
	if err := errors.Join(errs[:]...); err != nil {
		return DeviceKeys{}, fmt.Errorf("chirpstack: keys of device %s: %w", devEUI, err)
	}
	return k, nil
}

// EnqueueUnicast queues an application downlink for a device and returns
// the queue item id that its TxAck, Ack and Log events will carry.
func (c *Client) EnqueueUnicast(ctx context.Context, devEUI lorawan.EUI64, fPort uint8, data []byte, confirmed bool) (string, error) {
	if fPort == 0 {
		return "", fmt.Errorf("chirpstack: enqueue to device %s: FPort 0 is reserved for MAC commands", devEUI)
	}
	resp, err := c.Devices.Enqueue(ctx, &api.EnqueueDeviceQueueItemRequest{QueueItem: &api.DeviceQueueItem{
		DevEui:    devEUI.String(),
		Confirmed: confirmed,
		FPort:     uint32(fPort),
		Data:      data,
	}})
	if err != nil {
		return "", fmt.Errorf("chirpstack: enqueue %d bytes to device %s on FPort %d: %w", len(data), devEUI, fPort, err)
	}
	return resp.GetId(), nil
}

// FlushQueue removes every item queued for a device.
func (c *Client) FlushQueue(ctx context.Context, devEUI lorawan.EUI64) error {
	if _, err := c.Devices.FlushQueue(ctx, &api.FlushDeviceQueueRequest{DevEui: devEUI.String()}); err != nil {
		return fmt.Errorf("chirpstack: flush the queue of device %s: %w", devEUI, err)
	}
	return nil
}

// MulticastGroup is what CreateMulticastGroup needs to set up a group.
type MulticastGroup struct {
	Name          string
	ApplicationID string
	// Region is ChirpStack's region name: "EU868", "US915", ….
	Region    string
	McAddr    lorawan.DevAddr
	McNwkSKey lorawan.AES128Key
	McAppSKey lorawan.AES128Key
	// ClassB makes a class B group; otherwise class C.
	ClassB    bool
	DR        uint8
	Frequency uint32 // Hz
	// PingSlotPeriodicity (0–7) is used by class B groups.
	PingSlotPeriodicity uint8
	// GPSTime schedules class C frames at GPS instants on all gateways at
	// once; otherwise ChirpStack's DELAY mode (one margin per gateway).
	GPSTime bool
}

// CreateMulticastGroup creates a group and returns its id.
func (c *Client) CreateMulticastGroup(ctx context.Context, g MulticastGroup) (string, error) {
	region, ok := chirpStackRegion(g.Region)
	if !ok {
		return "", fmt.Errorf("chirpstack: create multicast group %q: unknown region %q", g.Name, g.Region)
	}
	if g.PingSlotPeriodicity > 7 {
		return "", fmt.Errorf("chirpstack: create multicast group %q: ping slot periodicity %d > 7", g.Name, g.PingSlotPeriodicity)
	}
	mg := &api.MulticastGroup{
		Name:                      g.Name,
		ApplicationId:             g.ApplicationID,
		Region:                    common.Region(region),
		McAddr:                    g.McAddr.String(),
		McNwkSKey:                 g.McNwkSKey.String(),
		McAppSKey:                 g.McAppSKey.String(),
		GroupType:                 api.MulticastGroupType_CLASS_C,
		Dr:                        uint32(g.DR),
		Frequency:                 g.Frequency,
		ClassBPingSlotPeriodicity: uint32(g.PingSlotPeriodicity),
		ClassCSchedulingType:      api.MulticastGroupSchedulingType_DELAY,
	}
	if g.ClassB {
		mg.GroupType = api.MulticastGroupType_CLASS_B
	}
	if g.GPSTime {
		mg.ClassCSchedulingType = api.MulticastGroupSchedulingType_GPS_TIME
	}
	resp, err := c.MulticastGroups.Create(ctx, &api.CreateMulticastGroupRequest{MulticastGroup: mg})
	if err != nil {
		return "", fmt.Errorf("chirpstack: create multicast group %q (McAddr %s) in application %s: %w", g.Name, g.McAddr, g.ApplicationID, err)
	}
	return resp.GetId(), nil
}

// AddDevice adds a device to a multicast group.
func (c *Client) AddDevice(ctx context.Context, groupID string, devEUI lorawan.EUI64) error {
	_, err := c.MulticastGroups.AddDevice(ctx, &api.AddDeviceToMulticastGroupRequest{MulticastGroupId: groupID, DevEui: devEUI.String()})
	if err != nil {
		return fmt.Errorf("chirpstack: add device %s to multicast group %s: %w", devEUI, groupID, err)
	}
	return nil
}

// AddGateway adds a gateway to a multicast group; a group with gateways is
// sent through them only, instead of ChirpStack's own choice.
func (c *Client) AddGateway(ctx context.Context, groupID string, gatewayID lorawan.EUI64) error {
	_, err := c.MulticastGroups.AddGateway(ctx, &api.AddGatewayToMulticastGroupRequest{MulticastGroupId: groupID, GatewayId: gatewayID.String()})
	if err != nil {
		return fmt.Errorf("chirpstack: add gateway %s to multicast group %s: %w", gatewayID, groupID, err)
	}
	return nil
}

// EnqueueMulticast queues a frame for a group and returns the FCnt
// ChirpStack gave it. expiresAt, unless zero, is when ChirpStack drops the
// frame if not yet sent (set it to the session end, CHIRPSTACK.md §3.4).
func (c *Client) EnqueueMulticast(ctx context.Context, groupID string, fPort uint8, data []byte, expiresAt time.Time) (uint32, error) {
	if fPort == 0 {
		return 0, fmt.Errorf("chirpstack: enqueue to multicast group %s: FPort 0 is reserved for MAC commands", groupID)
	}
	item := &api.MulticastGroupQueueItem{MulticastGroupId: groupID, FPort: uint32(fPort), Data: data}
	if !expiresAt.IsZero() {
		item.ExpiresAt = timestamppb.New(expiresAt)
	}
	resp, err := c.MulticastGroups.Enqueue(ctx, &api.EnqueueMulticastGroupQueueItemRequest{QueueItem: item})
	if err != nil {
		return 0, fmt.Errorf("chirpstack: enqueue %d bytes to multicast group %s on FPort %d: %w", len(data), groupID, fPort, err)
	}
	return resp.GetFCnt(), nil
}

// MulticastQueue returns the FCnts still queued for a group, in queue
// order: the only sign ChirpStack gives of multicast progress.
func (c *Client) MulticastQueue(ctx context.Context, groupID string) ([]uint32, error) {
	resp, err := c.MulticastGroups.ListQueue(ctx, &api.ListMulticastGroupQueueRequest{MulticastGroupId: groupID})
	if err != nil {
		return nil, fmt.Errorf("chirpstack: list queue of multicast group %s: %w", groupID, err)
	}
	fcnts := make([]uint32, 0, len(resp.GetItems()))
	for _, it := range resp.GetItems() {
		fcnts = append(fcnts, it.GetFCnt())
	}
	return fcnts, nil
}

// DeleteMulticastGroup deletes a group, and with it any frames still queued.
func (c *Client) DeleteMulticastGroup(ctx context.Context, groupID string) error {
	if _, err := c.MulticastGroups.Delete(ctx, &api.DeleteMulticastGroupRequest{Id: groupID}); err != nil {
		return fmt.Errorf("chirpstack: delete multicast group %s: %w", groupID, err)
	}
	return nil
}

// DeviceProfile holds the device-profile settings that matter for FUOTA.
type DeviceProfile struct {
	ID                string
	Name              string
	Region            string // "EU868", …
	MACVersion        string // "LORAWAN_1_0_3", …
	RegParamsRevision string // "RP002_1_0_3", …
	SupportsClassB    bool
	SupportsClassC    bool
	// ClassBPingSlotPeriodicity is the devices' class B periodicity (0–7).
	ClassBPingSlotPeriodicity uint32
	// UplinkInterval is how often devices are expected to send.
	UplinkInterval time.Duration
	// AppLayerPorts are the FPorts on which ChirpStack itself handles
	// TS003/TS004/TS005 (app_layer_params), zero or more of them.
	AppLayerPorts []uint8
}

// AppLayerConflict returns an error if ChirpStack's own application-layer
// handling is on for this profile (CHIRPSTACK.md §0.5): ChirpStack would
// then answer clock sync and swallow fragmentation and multicast answers
// alongside lorafuota.
func (p DeviceProfile) AppLayerConflict() error {
	if len(p.AppLayerPorts) == 0 {
		return nil
	}
	return fmt.Errorf("device profile %s (%q) has ChirpStack's application layer handling on (FPorts %v); set app_layer_params to NOT_IMPLEMENTED for devices lorafuota manages", p.ID, p.Name, p.AppLayerPorts)
}

// GetDeviceProfile returns a device profile's FUOTA settings, and logs a
// warning if ChirpStack's app-layer handling is on for it.
func (c *Client) GetDeviceProfile(ctx context.Context, id string) (DeviceProfile, error) {
	resp, err := c.DeviceProfiles.Get(ctx, &api.GetDeviceProfileRequest{Id: id})
	if err != nil {
		return DeviceProfile{}, fmt.Errorf("chirpstack: get device profile %s: %w", id, err)
	}
	dp := resp.GetDeviceProfile()
	p := DeviceProfile{
		ID:                        dp.GetId(),
		Name:                      dp.GetName(),
		Region:                    dp.GetRegion().String(),
		MACVersion:                dp.GetMacVersion().String(),
		RegParamsRevision:         dp.GetRegParamsRevision().String(),
		SupportsClassB:            dp.GetSupportsClassB(),
		SupportsClassC:            dp.GetSupportsClassC(),
		ClassBPingSlotPeriodicity: dp.GetClassBPingSlotPeriodicity(),
		UplinkInterval:            time.Duration(dp.GetUplinkInterval()) * time.Second,
	}
	alp := dp.GetAppLayerParams()
	for _, on := range []struct {
		enabled bool
		port    uint32
	}{
		{alp.GetTs003Version() != api.Ts003Version_TS003_NOT_IMPLEMENTED, alp.GetTs003FPort()},
		{alp.GetTs004Version() != api.Ts004Version_TS004_NOT_IMPLEMENTED, alp.GetTs004FPort()},
		{alp.GetTs005Version() != api.Ts005Version_TS005_NOT_IMPLEMENTED, alp.GetTs005FPort()},
	} {
		// ChirpStack matches the uplink's FPort against the configured
		// port, so a version with port 0 never fires.
		if on.enabled && on.port > 0 && on.port <= 255 {
			p.AppLayerPorts = append(p.AppLayerPorts, uint8(on.port))
		}
	}
	if err := p.AppLayerConflict(); err != nil {
		c.log.WarnContext(ctx, "ChirpStack app-layer handling is on", "error", err)
	}
	return p, nil
}

// GetDeviceProfileOf returns the FUOTA settings of a device's profile.
func (c *Client) GetDeviceProfileOf(ctx context.Context, devEUI lorawan.EUI64) (DeviceProfile, error) {
	resp, err := c.Devices.Get(ctx, &api.GetDeviceRequest{DevEui: devEUI.String()})
	if err != nil {
		return DeviceProfile{}, fmt.Errorf("chirpstack: get device %s: %w", devEUI, err)
	}
	p, err := c.GetDeviceProfile(ctx, resp.GetDevice().GetDeviceProfileId())
	if err != nil {
		return DeviceProfile{}, fmt.Errorf("profile of device %s: %w", devEUI, err)
	}
	return p, nil
}

// chirpStackRegion reads a region as ChirpStack names it ("EU868", "AS923",
// "AS923_2") or as the LoRa Alliance does ("AS923-1", "AS923-2").
func chirpStackRegion(name string) (int32, bool) {
	if r, ok := common.Region_value[name]; ok {
		return r, true
	}
	name = strings.ReplaceAll(name, "-", "_")
	if name == "AS923_1" {
		name = "AS923"
	}
	r, ok := common.Region_value[name]
	return r, ok
}
