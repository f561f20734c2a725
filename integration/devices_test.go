package integration_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/simulator/ns"
)

// TestListDevices lists more devices than one page holds, by profile and by
// tags.
func TestListDevices(t *testing.T) {
	srv := must(ns.New(ns.Config{APIKeys: []string{apiKey}}, clock.NewVirtual(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))))
	tenant := must(srv.AddTenant(ns.Tenant{Name: "acme", CanHaveGateways: true}))
	app := must(srv.AddApplication(ns.Application{TenantID: tenant, Name: "meters"}))
	other := must(srv.AddApplication(ns.Application{TenantID: tenant, Name: "others"}))
	profile := func(name string) string {
		return must(srv.AddDeviceProfile(ns.DeviceProfile{TenantID: tenant, Name: name, Region: common.Region_EU868,
			MACVersion: common.MacVersion_LORAWAN_1_0_4, SupportsClassC: true}))
	}
	pA, pB := profile("a"), profile("b")
	eui := func(i int) lorawan.EUI64 {
		return lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, byte(i >> 8), byte(i)}
	}
	// 250 devices: even ones on profile a, every third tagged site=north;
	// 5 more in another application.
	for i := range 250 {
		d := ns.Device{DevEUI: eui(i), Name: fmt.Sprintf("m-%03d", i), ApplicationID: app, DeviceProfileID: pB,
			ClassEnabled: common.DeviceClass_CLASS_C}
		if i%2 == 0 {
			d.DeviceProfileID = pA
		}
		if i%3 == 0 {
			d.Tags = map[string]string{"site": "north", "fw": "1"}
		}
		if err := srv.AddDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if err := srv.AddDevice(ns.Device{DevEUI: eui(1000 + i), Name: "o", ApplicationID: other, DeviceProfileID: pA}); err != nil {
			t.Fatal(err)
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.RegisterGRPC(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	c := dial(t, integration.ClientConfig{Address: lis.Addr().String(), APIKey: apiKey})
	ctx := context.Background()

	for _, tc := range []struct {
		name   string
		f      integration.DeviceFilter
		want   int
		member func(i int) bool
	}{
		{"application", integration.DeviceFilter{ApplicationID: app}, 250, func(int) bool { return true }},
		{"profile", integration.DeviceFilter{ApplicationID: app, DeviceProfileID: pA}, 125, func(i int) bool { return i%2 == 0 }},
		{"tags", integration.DeviceFilter{ApplicationID: app, Tags: map[string]string{"site": "north"}}, 84, func(i int) bool { return i%3 == 0 }},
		{"profile and tags", integration.DeviceFilter{ApplicationID: app, DeviceProfileID: pB, Tags: map[string]string{"site": "north"}}, 42,
			func(i int) bool { return i%3 == 0 && i%2 == 1 }},
		{"no match", integration.DeviceFilter{ApplicationID: app, Tags: map[string]string{"site": "south"}}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			devs, err := c.ListDevices(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(devs) != tc.want {
				t.Fatalf("%d devices, want %d", len(devs), tc.want)
			}
			seen := map[lorawan.EUI64]bool{}
			for _, d := range devs {
				i := int(d.DevEUI[6])<<8 | int(d.DevEUI[7])
				if seen[d.DevEUI] || !tc.member(i) || d.ApplicationID != app || i >= 250 {
					t.Errorf("listed %s (%s, profile %s, tags %v): duplicate or not selected", d.DevEUI, d.Name, d.DeviceProfileID, d.Tags)
				}
				seen[d.DevEUI] = true
			}
		})
	}
	if _, err := c.ListDevices(ctx, integration.DeviceFilter{}); err == nil {
		t.Error("ListDevices without an application: no error")
	}

	d, err := c.GetDevice(ctx, eui(3))
	if err != nil {
		t.Fatal(err)
	}
	if d.DevEUI != eui(3) || d.Name != "m-003" || d.ApplicationID != app || d.DeviceProfileID != pB ||
		d.ClassEnabled != "C" || d.Tags["site"] != "north" || !d.LastSeenAt.IsZero() {
		t.Errorf("GetDevice = %+v", d)
	}
	if _, err := c.GetDevice(ctx, eui(999)); status.Code(err) != codes.NotFound {
		t.Errorf("GetDevice of an unknown device: %v, want NotFound", err)
	}
}
