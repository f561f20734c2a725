package integration_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/simulator/ns"
)

const apiKey = "test-api-key"

// fleet is what newNS loads into the simulated ChirpStack.
type fleet struct {
	addr              string
	appID             string
	profile10, prof11 string
	dev10, dev11      lorawan.EUI64
	gw1               lorawan.EUI64
	appKey, genAppKey lorawan.AES128Key
	nwkKey11          lorawan.AES128Key
}

func key(b byte) lorawan.AES128Key {
	var k lorawan.AES128Key
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// must returns v, or panics: for the fixture's setup, which cannot fail
// unless the test itself is wrong.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// newNS serves a simulated ChirpStack on a loopback port, with TLS if cert
// is set, loaded with a 1.0.3 class C profile that has ChirpStack's TS003
// handling on, a 1.1 class B profile, a device of each and a gateway.
func newNS(t *testing.T, cert *tls.Certificate) fleet {
	t.Helper()
	srv := must(ns.New(ns.Config{APIKeys: []string{apiKey}}, clock.NewVirtual(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))))
	var f fleet
	tenant := must(srv.AddTenant(ns.Tenant{Name: "acme", CanHaveGateways: true}))
	f.appID = must(srv.AddApplication(ns.Application{TenantID: tenant, Name: "meters"}))
	f.profile10 = must(srv.AddDeviceProfile(ns.DeviceProfile{
		TenantID: tenant, Name: "meter-1.0.3", Region: common.Region_EU868,
		MACVersion: common.MacVersion_LORAWAN_1_0_3, RegParamsRevision: common.RegParamsRevision_RP002_1_0_3,
		SupportsOTAA: true, SupportsClassC: true, UplinkInterval: 3600,
		AppLayerParams: ns.AppLayerParams{TS003Version: api.Ts003Version_TS003_V100, TS003FPort: 202},
	}))
	f.prof11 = must(srv.AddDeviceProfile(ns.DeviceProfile{
		TenantID: tenant, Name: "meter-1.1", Region: common.Region_EU868,
		MACVersion: common.MacVersion_LORAWAN_1_1_0, SupportsClassB: true, ClassBPingSlotPeriodicity: 4,
	}))
	f.appKey, f.genAppKey, f.nwkKey11 = key(0x10), key(0x20), key(0x30)
	f.dev10 = lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0, 1}
	f.dev11 = lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0, 2}
	for _, d := range []ns.Device{
		{DevEUI: f.dev10, Name: "a", ApplicationID: f.appID, DeviceProfileID: f.profile10, Keys: ns.Keys10x(f.appKey, f.genAppKey)},
		{DevEUI: f.dev11, Name: "b", ApplicationID: f.appID, DeviceProfileID: f.prof11, Keys: ns.Keys11(f.nwkKey11, key(0x40))},
	} {
		if err := srv.AddDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	f.gw1 = lorawan.EUI64{0, 0x16, 0xc0, 0x01, 0xff, 0x10, 0xa2, 0x35}
	if err := srv.AddGateway(ns.Gateway{GatewayID: f.gw1, TenantID: tenant, Name: "gw-1"}); err != nil {
		t.Fatal(err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	opts := srv.ServerOptions()
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(cert)))
	}
	g := grpc.NewServer(opts...)
	srv.RegisterGRPC(g)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	t.Cleanup(func() {
		g.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return f
}

func dial(t *testing.T, cfg integration.ClientConfig) *integration.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := integration.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientAuth(t *testing.T) {
	f := newNS(t, nil)
	tests := []struct {
		key  string
		code codes.Code
	}{
		{apiKey, codes.OK},
		{"wrong-key", codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := dial(t, integration.ClientConfig{Address: f.addr, APIKey: tt.key})
			_, err := c.GetDeviceKeys(context.Background(), f.dev10)
			if got := status.Code(err); got != tt.code {
				t.Fatalf("GetDeviceKeys: code %v (%v), want %v", got, err, tt.code)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	// A port nobody listens on: take one and close it.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	tests := []struct {
		name string
		cfg  integration.ClientConfig
	}{
		{"no address", integration.ClientConfig{APIKey: apiKey}},
		{"no key", integration.ClientConfig{Address: closed}},
		{"nobody listening", integration.ClientConfig{Address: closed, APIKey: apiKey}},
		{"missing CA file", integration.ClientConfig{Address: closed, APIKey: apiKey, TLS: true, CAFile: filepath.Join(t.TempDir(), "none.pem")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			c, err := integration.Dial(ctx, tt.cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			t.Log(err)
		})
	}
}

// selfSigned returns a certificate for 127.0.0.1 and its PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	priv := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chirpstack-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestClientTLS(t *testing.T) {
	cert, pemBytes := selfSigned(t)
	f := newNS(t, &cert)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  integration.ClientConfig
		ok   bool
	}{
		{"CA file", integration.ClientConfig{TLS: true, CAFile: caFile}, true},
		{"skip verify", integration.ClientConfig{TLS: true, InsecureSkipVerify: true}, true},
		{"unknown CA", integration.ClientConfig{TLS: true}, false},
		{"plaintext to TLS", integration.ClientConfig{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Address, tt.cfg.APIKey = f.addr, apiKey
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			c, err := integration.Dial(ctx, tt.cfg)
			if !tt.ok {
				if err == nil {
					c.Close()
					t.Fatal("Dial succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			if _, err := c.GetDeviceKeys(ctx, f.dev10); err != nil {
				t.Fatalf("GetDeviceKeys: %v", err)
			}
		})
	}
}

func TestGetDeviceKeys(t *testing.T) {
	f := newNS(t, nil)
	c := dial(t, integration.ClientConfig{Address: f.addr, APIKey: apiKey})
	tests := []struct {
		name string
		dev  lorawan.EUI64
		want integration.DeviceKeys
		code codes.Code
	}{
		// 1.0.x: the AppKey is in nwk_key, app_key is empty.
		{"1.0.3", f.dev10, integration.DeviceKeys{NwkKey: f.appKey, GenAppKey: f.genAppKey}, codes.OK},
		{"1.1", f.dev11, integration.DeviceKeys{NwkKey: f.nwkKey11, AppKey: key(0x40)}, codes.OK},
		{"unknown", lorawan.EUI64{9}, integration.DeviceKeys{}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.GetDeviceKeys(context.Background(), tt.dev)
			if status.Code(err) != tt.code {
				t.Fatalf("GetDeviceKeys: %v, want code %v", err, tt.code)
			}
			if got != tt.want {
				t.Errorf("GetDeviceKeys = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEnqueueUnicast(t *testing.T) {
	f := newNS(t, nil)
	c := dial(t, integration.ClientConfig{Address: f.addr, APIKey: apiKey})
	ctx := context.Background()
	tests := []struct {
		name      string
		dev       lorawan.EUI64
		fPort     uint8
		confirmed bool
		wantErr   bool
	}{
		{"unconfirmed", f.dev10, 202, false, false},
		{"confirmed", f.dev11, 200, true, false},
		{"fport 0", f.dev10, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := c.EnqueueUnicast(ctx, tt.dev, tt.fPort, []byte{0x01, 0x02}, tt.confirmed)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("EnqueueUnicast succeeded with id %q", id)
				}
				return
			}
			if err != nil || id == "" {
				t.Fatalf("EnqueueUnicast = %q, %v", id, err)
			}
			q, err := c.Devices.GetQueue(ctx, &api.GetDeviceQueueItemsRequest{DevEui: tt.dev.String()})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(q.GetResult(), func(it *api.DeviceQueueItem) bool {
				return it.GetId() == id && it.GetFPort() == uint32(tt.fPort) && it.GetConfirmed() == tt.confirmed
			}) {
				t.Errorf("item %s not in queue %v", id, q.GetResult())
			}
		})
	}
}

func TestMulticastGroupLifeCycle(t *testing.T) {
	f := newNS(t, nil)
	c := dial(t, integration.ClientConfig{Address: f.addr, APIKey: apiKey})
	ctx := context.Background()
	g := integration.MulticastGroup{
		Name: "fuota-1", ApplicationID: f.appID, Region: "EU868",
		McAddr: lorawan.DevAddr{1, 2, 3, 4}, McNwkSKey: key(0x50), McAppSKey: key(0x60),
		DR: 5, Frequency: 869525000, GPSTime: true,
	}
	id, err := c.CreateMulticastGroup(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.MulticastGroups.Get(ctx, &api.GetMulticastGroupRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if mg := got.GetMulticastGroup(); mg.GetMcAddr() != "01020304" || mg.GetClassCSchedulingType() != api.MulticastGroupSchedulingType_GPS_TIME ||
		mg.GetGroupType() != api.MulticastGroupType_CLASS_C || mg.GetMcAppSKey() != key(0x60).String() {
		t.Errorf("group as created: %v", mg)
	}
	if err := c.AddDevice(ctx, id, f.dev10); err != nil {
		t.Fatal(err)
	}
	if err := c.AddGateway(ctx, id, f.gw1); err != nil {
		t.Fatal(err)
	}
	for want := range uint32(3) {
		fcnt, err := c.EnqueueMulticast(ctx, id, 201, []byte{0x08, byte(want)}, time.Now().Add(time.Hour))
		if err != nil || fcnt != want {
			t.Fatalf("EnqueueMulticast = %d, %v; want %d", fcnt, err, want)
		}
	}
	q, err := c.MulticastQueue(ctx, id)
	if err != nil || !slices.Equal(q, []uint32{0, 1, 2}) {
		t.Fatalf("MulticastQueue = %v, %v", q, err)
	}
	if err := c.DeleteMulticastGroup(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MulticastGroups.Get(ctx, &api.GetMulticastGroupRequest{Id: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("Get after delete: %v, want NotFound", err)
	}
	if q, err := c.MulticastQueue(ctx, id); err != nil || len(q) != 0 {
		t.Fatalf("MulticastQueue after delete = %v, %v; want empty", q, err)
	}

	// Refused before any call, and errors carrying the group's name.
	for _, bad := range []integration.MulticastGroup{
		{Name: "bad-region", ApplicationID: f.appID, Region: "EU867"},
		{Name: "bad-periodicity", ApplicationID: f.appID, Region: "EU868", ClassB: true, PingSlotPeriodicity: 8},
	} {
		if _, err := c.CreateMulticastGroup(ctx, bad); err == nil {
			t.Errorf("CreateMulticastGroup(%s) succeeded", bad.Name)
		}
	}
	if err := c.AddDevice(ctx, "c3f3d1a3-8d2a-4a68-9e1b-1a2b3c4d5e6f", f.dev10); status.Code(err) != codes.NotFound {
		t.Errorf("AddDevice to unknown group: %v", err)
	}
}

func TestDeviceProfile(t *testing.T) {
	f := newNS(t, nil)
	c := dial(t, integration.ClientConfig{Address: f.addr, APIKey: apiKey})
	tests := []struct {
		name                 string
		dev                  lorawan.EUI64
		classB, classC       bool
		ports                []uint8
		mac                  string
		uplinkInterval       time.Duration
		wantConflict         bool
		wantPeriodicity      uint32
		wantProfile          string
		wantRegion, wantName string
	}{
		{"1.0.3 class C with TS003", f.dev10, false, true, []uint8{202}, "LORAWAN_1_0_3", time.Hour, true, 0, f.profile10, "EU868", "meter-1.0.3"},
		{"1.1 class B", f.dev11, true, false, nil, "LORAWAN_1_1_0", 0, false, 4, f.prof11, "EU868", "meter-1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.GetDeviceProfileOf(context.Background(), tt.dev)
			if err != nil {
				t.Fatal(err)
			}
			if p.ID != tt.wantProfile || p.Name != tt.wantName || p.Region != tt.wantRegion || p.MACVersion != tt.mac ||
				p.SupportsClassB != tt.classB || p.SupportsClassC != tt.classC || !slices.Equal(p.AppLayerPorts, tt.ports) ||
				p.UplinkInterval != tt.uplinkInterval || p.ClassBPingSlotPeriodicity != tt.wantPeriodicity {
				t.Errorf("profile = %+v", p)
			}
			if err := p.AppLayerConflict(); (err != nil) != tt.wantConflict {
				t.Errorf("AppLayerConflict = %v, want conflict %v", err, tt.wantConflict)
			}
		})
	}
	if _, err := c.GetDeviceProfileOf(context.Background(), lorawan.EUI64{9}); status.Code(err) != codes.NotFound {
		t.Errorf("profile of unknown device: %v", err)
	}
}
