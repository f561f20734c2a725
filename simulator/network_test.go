package simulator_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/events"
	"github.com/lorafuota/lorafuota/simulator/ns"
)

func TestParseScenarioErrors(t *testing.T) {
	const base = `
[[tenants]]
name = "t"
[[applications]]
name = "a"
[[device_profiles]]
name = "p"
supports_class_c = true
[[gateways]]
id = "0016c001f0000001"
`
	for _, tc := range []struct {
		name, toml string
		want       []string // substrings of the error; none means valid
	}{
		{"valid", base + "[[devices]]\ndev_eui_base = \"0102030405060708\"\nclass = \"C\"\n", nil},
		{"bad class", base + "[[devices]]\ndev_eui_base = \"0102030405060708\"\n[[devices]]\ndev_eui_base = \"0102030405060709\"\nclass = \"D\"\n",
			[]string{`devices[1].class: "D" is not A, B or C`}},
		{"unknown key", "colour = 1\n" + base, []string{"unknown keys: colour"}},
		{"bad region", "region = \"XX999\"\n" + base, []string{"region:"}},
		{"bad eui and profile", base + "[[devices]]\ndev_eui_base = \"zz\"\ndevice_profile = \"q\"\n",
			[]string{"devices[0].dev_eui_base", `devices[0].device_profile: "q" is not defined`}},
		{"overlapping euis", base + "[[devices]]\ncount = 3\ndev_eui_base = \"0102030405060708\"\n[[devices]]\ndev_eui_base = \"010203040506070a\"\n",
			[]string{"devices[1].dev_eui_base: DevEUI 010203040506070a is also one of devices[0]"}},
		{"bad loss", base + "[[devices]]\ndev_eui_base = \"0102030405060708\"\n[devices.loss]\nmodel = \"bernoulli\"\np = 2\n",
			[]string{"devices[0].loss: p 2 is not a probability"}},
		{"bad key and stack", base + "[[devices]]\ndev_eui_base = \"0102030405060708\"\napp_key = \"00\"\nstack = \"nope\"\n",
			[]string{"devices[0].app_key", "devices[0].stack"}},
		{"class b unsupported", base + "[[devices]]\ndev_eui_base = \"0102030405060708\"\nclass = \"B\"\n",
			[]string{`devices[0].class: B, but device profile "p" does not support class B`}},
		{"mac version mismatch", base + "[[devices]]\ndev_eui_base = \"0102030405060708\"\nmac_version = \"1.1\"\n",
			[]string{`devices[0].mac_version: "1.1", but device profile "p" is LoRaWAN 1.0.4`}},
		{"unknown gateway", base + "[[devices]]\ndev_eui_base = \"0102030405060708\"\ngateways = [\"0016c001f0000009\"]\n",
			[]string{"devices[0].gateways[0]: no gateway 0016c001f0000009"}},
		{"bad gateway model", strings.Replace(base, `id = "0016c001f0000001"`, "id = \"0016c001f0000001\"\nmodel = \"x\"", 1),
			[]string{`gateways[0].model: "x" is not concentratord or basic-station`}},
		{"bad duration", base + "[[devices]]\ndev_eui_base = \"0102030405060708\"\nuplink_interval = \"often\"\n",
			[]string{"uplink_interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := simulator.ParseScenario([]byte(tc.toml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDefaultScenario(t *testing.T) {
	r := newRig(t, simulator.DefaultScenario(), 1)
	if got := len(r.net.Devices()); got != 10 {
		t.Fatalf("%d devices, want 10", got)
	}
	apps, err := api.NewApplicationServiceClient(r.cc).List(r.authed(), &api.ListApplicationsRequest{Limit: 10,
		TenantId: mustTenant(t, r)})
	must(t, err)
	if len(apps.Result) != 1 {
		t.Fatalf("%d applications, want 1", len(apps.Result))
	}
	devs, err := api.NewDeviceServiceClient(r.cc).List(r.authed(), &api.ListDevicesRequest{Limit: 100, ApplicationId: apps.Result[0].Id})
	must(t, err)
	if len(devs.Result) != 10 {
		t.Fatalf("API lists %d devices, want 10", len(devs.Result))
	}
	keys, err := api.NewDeviceServiceClient(r.cc).GetKeys(r.authed(), &api.GetDeviceKeysRequest{DevEui: devs.Result[0].DevEui})
	must(t, err)
	if keys.DeviceKeys.NwkKey == "" || keys.DeviceKeys.GenAppKey == "" {
		t.Fatalf("keys %+v: want a 1.0.x AppKey and GenAppKey", keys.DeviceKeys)
	}
	// Every device sends an empty frame within 10 s of power-on, so the
	// network can reach it.
	r.run(11 * time.Second)
	for _, d := range r.net.Devices() {
		if d.Stats().Uplinks != 1 {
			t.Errorf("%s: %d uplinks, want 1", d.Name(), d.Stats().Uplinks)
		}
	}
	gws, err := api.NewGatewayServiceClient(r.cc).List(r.authed(), &api.ListGatewaysRequest{Limit: 10, TenantId: mustTenant(t, r)})
	must(t, err)
	if len(gws.Result) != 1 || gws.Result[0].State != api.GatewayState_ONLINE {
		t.Fatalf("gateways %v, want one online", gws.Result)
	}
}

func mustTenant(t *testing.T, r *rig) string {
	t.Helper()
	ts, err := api.NewTenantServiceClient(r.cc).List(r.authed(), &api.ListTenantsRequest{Limit: 10})
	must(t, err)
	if len(ts.Result) == 0 {
		t.Fatal("no tenant")
	}
	return ts.Result[0].Id
}

// scenario is one group of devices of class cls on one gateway.
func scenario(cls string, count int, interval time.Duration) *simulator.Scenario {
	sc := simulator.DefaultScenario()
	sc.DeviceProfiles[0].SupportsClassB = true
	sc.Devices[0].Class = cls
	sc.Devices[0].Count = count
	sc.Devices[0].UplinkInterval = simulator.Duration(interval)
	return sc
}

// TestUplinkEvent: a device's answer reaches the integration as an `up`
// event with its decrypted payload, rx_info and tx_info.
func TestUplinkEvent(t *testing.T) {
	for _, mac := range []string{"1.0.4", "1.1.0"} {
		t.Run(mac, func(t *testing.T) {
			sc := scenario("C", 2, time.Hour)
			sc.DeviceProfiles[0].MACVersion = mac
			r := newRig(t, sc, 3)
			r.run(11 * time.Second)
			d := r.device(1)
			r.enqueue(d.DevEUI(), multicast.DefaultFPort, false, &applayer.PackageVersionReq{})
			r.run(5 * time.Second)
			ups := r.take(events.EventUp)
			if len(ups) != 1 {
				t.Fatalf("%d up events, want 1", len(ups))
			}
			up := ups[0].Message.(*integration.UplinkEvent)
			if up.DeviceInfo.DevEui != d.DevEUI().String() || up.DevAddr != d.DevAddr().String() || up.FPort != multicast.DefaultFPort {
				t.Fatalf("up event %v", up)
			}
			cmds, err := multicast.Package().Decode(up.Data, applayer.Uplink, 2)
			must(t, err)
			ans, ok := cmds[0].(*applayer.PackageVersionAns)
			if len(cmds) != 1 || !ok || ans.PackageIdentifier != multicast.PackageID {
				t.Fatalf("up data %x decodes to %v, want PackageVersionAns", up.Data, cmds)
			}
			if len(up.RxInfo) != 1 || up.RxInfo[0].GatewayId != "0016c001f0000001" || up.RxInfo[0].Rssi == 0 {
				t.Fatalf("rx_info %v", up.RxInfo)
			}
			if up.TxInfo.GetModulation().GetLora().GetSpreadingFactor() != 7 || up.Dr != 5 || up.FCnt != 1 {
				t.Fatalf("tx_info %v dr %d f_cnt %d", up.TxInfo, up.Dr, up.FCnt)
			}
			if n := len(r.take(events.EventTxAck)); n != 1 {
				t.Fatalf("%d txack events, want 1", n)
			}
		})
	}
}

// TestUnicastDelivery: a class A device gets its queued item only in RX1
// after its next uplink; a class B device in its next ping slot, without an
// uplink; a class C device at once, on RX2.
func TestUnicastDelivery(t *testing.T) {
	for _, tc := range []struct {
		class    string
		within   time.Duration // from enqueue to delivery, at most
		notUntil time.Duration // nothing delivered before
		window   string
	}{
		{"A", 6 * time.Minute, time.Minute, "rx1"},
		{"B", 4 * time.Second, 0, "ping"},
		{"C", 4 * time.Second, 0, "rx2"},
	} {
		t.Run(tc.class, func(t *testing.T) {
			r := newRig(t, scenario(tc.class, 1, 5*time.Minute), 5)
			r.run(11 * time.Second) // the power-on frame
			d := r.device(0)
			r.enqueue(d.DevEUI(), multicast.DefaultFPort, true, &applayer.PackageVersionReq{})
			enq := r.clk.Now()
			if tc.notUntil > 0 {
				r.run(tc.notUntil)
				if n := d.Stats().UnicastDownlinks; n != 0 {
					t.Fatalf("%d downlinks without an uplink", n)
				}
			}
			var upEnd time.Time // of the last uplink before the delivery
			for r.clk.Now().Sub(enq) < tc.within && d.Stats().UnicastDownlinks == 0 {
				upEnd = d.LastUplinkEnd()
				r.run(100 * time.Millisecond)
			}
			f, ok := d.LastDownlink()
			if !ok {
				t.Fatalf("nothing delivered within %v", tc.within)
			}
			switch tc.window {
			case "rx1":
				if want := upEnd.Add(time.Second); !f.Start.Equal(want) || f.DR != 5 || f.Frequency == 869_525_000 {
					t.Fatalf("downlink at %v on %d Hz DR%d, want RX1 at %v on the uplink's channel, DR5", f.Start, f.Frequency, f.DR, want)
				}
			case "ping":
				slot, err := ns.PingSlotAfter(f.Start.Add(-time.Millisecond), d.DevAddr(), 0)
				if err != nil || !f.Start.Equal(slot) || f.Frequency != 869_525_000 || f.DR != 3 {
					t.Fatalf("downlink at %v on %d Hz DR%d, want the ping slot at %v on 869525000 Hz DR3 (%v)", f.Start, f.Frequency, f.DR, slot, err)
				}
				if f.Start.Equal(upEnd.Add(time.Second)) {
					t.Fatalf("downlink at %v in RX1", f.Start)
				}
			default:
				if f.Frequency != 869_525_000 || f.DR != 0 {
					t.Fatalf("downlink on %d Hz DR%d, want RX2", f.Frequency, f.DR)
				}
			}
			// The device answers and acknowledges the confirmed item.
			r.run(10 * time.Second)
			acks := r.take(events.EventAck)
			if len(acks) != 1 || !acks[0].Message.(*integration.AckEvent).Acknowledged {
				t.Fatalf("ack events %v, want one acknowledged", acks)
			}
		})
	}
}

// TestMulticast: a multicast group set up through the API reaches, through
// the gateway and the radio, the devices whose TS005 session listens on its
// frequency and data rate, and no other.
func TestMulticast(t *testing.T) {
	genAppKey := lorawan.AES128Key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	mcKey := lorawan.AES128Key{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	mcAddr := lorawan.DevAddr{0xfc, 0, 0, 1}
	const freq, dr = 869_525_000, 3

	sc := scenario("C", 3, time.Hour)
	sc.Devices[0].GenAppKey = fmt.Sprintf("%x", genAppKey[:])
	r := newRig(t, sc, 9)
	r.run(11 * time.Second)
	members := r.net.Devices()[:2]
	kek := multicast.McKEKey(multicast.McRootKeyFromGenAppKey(genAppKey))
	for _, d := range members {
		r.enqueue(d.DevEUI(), multicast.DefaultFPort, false, &multicast.McGroupSetupReq{
			McAddr: mcAddr, McKeyEncrypted: multicast.EncryptMcKey(kek, mcKey), MaxMcFCnt: 1<<32 - 1,
		})
	}
	r.run(5 * time.Second)
	start := clocksync.GPSSeconds(r.clk.Now()) + 30
	for _, d := range members {
		r.enqueue(d.DevEUI(), multicast.DefaultFPort, false, &multicast.McClassCSessionReq{
			SessionTime: uint32(start), TimeOut: 8, DLFrequency: freq, DR: dr,
		})
	}
	r.run(5 * time.Second)
	for _, d := range members {
		g, ok := d.App().(simulator.DeviceApp).McGroup(0)
		if !ok || g.Session == nil {
			t.Fatalf("%s: group %+v (%v), want a class C session", d.Name(), g, ok)
		}
	}

	mc := api.NewMulticastGroupServiceClient(r.cc)
	appID := r.take(events.EventUp)[0].Message.(*integration.UplinkEvent).DeviceInfo.ApplicationId
	created, err := mc.Create(r.authed(), &api.CreateMulticastGroupRequest{MulticastGroup: &api.MulticastGroup{
		Name: "fuota", ApplicationId: appID, McAddr: mcAddr.String(),
		McNwkSKey: multicast.McNwkSKey(mcKey, mcAddr).String(), McAppSKey: multicast.McAppSKey(mcKey, mcAddr).String(),
		GroupType: api.MulticastGroupType_CLASS_C, Dr: dr, Frequency: freq,
	}})
	must(t, err)
	for _, d := range members {
		_, err := mc.AddDevice(r.authed(), &api.AddDeviceToMulticastGroupRequest{MulticastGroupId: created.Id, DevEui: d.DevEUI().String()})
		must(t, err)
	}
	r.run(31 * time.Second) // into the session
	for range 2 {
		_, err = mc.Enqueue(r.authed(), &api.EnqueueMulticastGroupQueueItemRequest{QueueItem: &api.MulticastGroupQueueItem{
			MulticastGroupId: created.Id, FPort: 201, Data: []byte{0x08, 0, 0, 1, 2, 3, 4},
		}})
		must(t, err)
	}
	r.run(20 * time.Second)
	for i, d := range r.net.Devices() {
		want := 0
		if i < len(members) {
			want = 2
		}
		if got := d.Stats().MulticastDownlinks; got != want {
			t.Errorf("%s: %d multicast frames, want %d", d.Name(), got, want)
		}
	}
}

// TestDeterminism: a run is a function of the scenario and the seed.
func TestDeterminism(t *testing.T) {
	run := func(seed uint64) string {
		sc := scenario("A", 3, time.Minute)
		sc.Devices[0].Loss = &simulator.LossSpec{Model: "gilbert-elliott", PGoodToBad: 0.2, PBadToGood: 0.5, LossBad: 1}
		return record(t, sc, seed, 10*time.Minute)
	}
	a, b, c := run(1), run(1), run(2)
	if a == "" || strings.Count(a, "\n") < 10 {
		t.Fatalf("too few events:\n%s", a)
	}
	if a != b {
		t.Fatal("two runs of seed 1 differ")
	}
	if a == c {
		t.Fatal("seeds 1 and 2 give the same run")
	}
}

// record runs sc for d and returns its integration events in ChirpStack's
// JSON, one a line.
func record(t *testing.T, sc *simulator.Scenario, seed uint64, d time.Duration) string {
	t.Helper()
	clk := clock.NewVirtual(epoch)
	n, err := simulator.New(sc, clk, simulator.Options{Seed: seed})
	must(t, err)
	var buf bytes.Buffer
	n.Publisher().Subscribe(func(e events.Event) {
		b, err := events.MarshalJSON(e.Message)
		must(t, err)
		buf.Write(b)
		buf.WriteByte('\n')
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.RunFor(ctx, d)
	must(t, n.Close(context.Background()))
	return buf.String()
}

// TestExamples: the sample scenarios parse, build and run; default.toml is
// DefaultScenario written out.
func TestExamples(t *testing.T) {
	for _, tc := range []struct {
		file    string
		devices int
	}{
		{"default.toml", 10},
		{"mixed.toml", 25},
	} {
		t.Run(tc.file, func(t *testing.T) {
			sc, err := simulator.LoadScenario("../examples/" + tc.file)
			must(t, err)
			r := newRig(t, sc, 1)
			if got := len(r.net.Devices()); got != tc.devices {
				t.Fatalf("%d devices, want %d", got, tc.devices)
			}
			r.run(15 * time.Minute)
			if len(r.take(events.EventUp)) == 0 {
				t.Fatal("no up event in 15 min")
			}
		})
	}
	sc, err := simulator.LoadScenario("../examples/default.toml")
	must(t, err)
	if record(t, sc, 1, 20*time.Minute) != record(t, simulator.DefaultScenario(), 1, 20*time.Minute) {
		t.Error("examples/default.toml and DefaultScenario run differently")
	}
}
