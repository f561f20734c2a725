package simulator_test

import (
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"

	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/events"
	"github.com/lorafuota/lorafuota/simulator/radio"
)

const testAppKey = "000102030405060708090a0b0c0d0e0f"

// otaaScenario is one class A OTAA device of MAC version mv.
func otaaScenario(mv string) *simulator.Scenario {
	sc := scenario("A", 1, time.Minute)
	sc.DeviceProfiles[0].MACVersion = mv
	sc.Devices[0].Activation = "otaa"
	sc.Devices[0].AppKey = testAppKey
	sc.Devices[0].NwkKey = testAppKey
	return sc
}

// joinEvents returns the `join` events and checks their DevAddr is the
// device's.
func joinEvents(t *testing.T, r *rig, d *simulator.Device) []events.Event {
	t.Helper()
	js := r.take(events.EventJoin)
	for _, e := range js {
		if got := e.Message.(*integration.JoinEvent).DevAddr; got != d.DevAddr().String() {
			t.Errorf("join event dev_addr %s, want %s", got, d.DevAddr())
		}
	}
	return js
}

// TestOTAAJoin: a 1.0.x and a 1.1 device join with a JoinRequest, the
// network publishes `join` and then decodes their uplinks; after a reset
// the device rejoins with a new DevNonce from its NVM, and its uplinks
// decode again.
func TestOTAAJoin(t *testing.T) {
	for _, mv := range []string{"1.0.4", "1.1.0"} {
		t.Run(mv, func(t *testing.T) {
			r := newRig(t, otaaScenario(mv), 7)
			d := r.device(0)
			if d.Joined() {
				t.Fatal("joined before any JoinRequest")
			}
			r.run(30 * time.Second)
			if !d.Joined() || d.DevNonce() == 0 {
				t.Fatalf("joined %v with DevNonce %d", d.Joined(), d.DevNonce())
			}
			if js := joinEvents(t, r, d); len(js) != 1 {
				t.Fatalf("%d join events, want 1", len(js))
			}
			r.run(2 * time.Minute)
			if ups := r.take(events.EventUp); len(ups) == 0 {
				t.Fatal("no up event after the join")
			}

			nonce := d.DevNonce()
			d.App().(simulator.DeviceApp).Reset()
			r.run(3 * time.Minute)
			if d.DevNonce() <= nonce {
				t.Fatalf("DevNonce %d after reset, want more than %d", d.DevNonce(), nonce)
			}
			if js := joinEvents(t, r, d); len(js) != 1 {
				t.Fatalf("%d join events after the reset, want 1", len(js))
			}
			ups := r.take(events.EventUp)
			if len(ups) == 0 {
				t.Fatal("no up event after the rejoin")
			}
			if got := ups[len(ups)-1].Message.(*integration.UplinkEvent).DevAddr; got != d.DevAddr().String() {
				t.Fatalf("up event of %s, want %s", got, d.DevAddr())
			}
			if logs := r.take(events.EventLog); len(logs) != 0 {
				t.Fatalf("log events %v", logs)
			}
		})
	}
}

// TestJoinReplay: a JoinRequest with a DevNonce already used is refused
// with ChirpStack's log event, and no join follows.
func TestJoinReplay(t *testing.T) {
	for _, mv := range []string{"1.0.4", "1.1.0"} {
		t.Run(mv, func(t *testing.T) {
			r := newRig(t, otaaScenario(mv), 7)
			d := r.device(0)
			r.run(30 * time.Second)
			if !d.Joined() {
				t.Fatal("not joined")
			}
			joinEvents(t, r, d)
			addr := d.DevAddr()

			var key lorawan.AES128Key
			must(t, key.UnmarshalText([]byte(testAppKey)))
			phy := lorawan.PHYPayload{
				MHDR:       lorawan.MHDR{MType: lorawan.JoinRequest, Major: lorawan.LoRaWANR1},
				MACPayload: &lorawan.JoinRequestPayload{DevEUI: d.DevEUI(), DevNonce: lorawan.DevNonce(d.DevNonce())},
			}
			must(t, phy.SetUplinkJoinMIC(key))
			b, err := phy.MarshalBinary()
			must(t, err)
			gws := r.net.Gateways().Gateways()
			r.net.HandleUplink(radio.Frame{Start: r.clk.Now(), Frequency: 868_100_000, DR: 5, PHYPayload: b, Airtime: 50 * time.Millisecond},
				[]radio.RxInfo{{GatewayID: gws[0].ID(), Frequency: 868_100_000, DR: 5, SNR: 10}})
			r.run(10 * time.Second)

			logs := r.take(events.EventLog)
			if len(logs) != 1 {
				t.Fatalf("%d log events, want 1", len(logs))
			}
			le := logs[0].Message.(*integration.LogEvent)
			if le.Description != "DevNonce has already been used" || le.Code != integration.LogCode_OTAA || le.Level != integration.LogLevel_ERROR {
				t.Fatalf("log event %v", le)
			}
			if js := r.take(events.EventJoin); len(js) != 0 || d.DevAddr() != addr {
				t.Fatalf("%d join events, DevAddr %s (was %s)", len(js), d.DevAddr(), addr)
			}
		})
	}
}

// TestStatusEvent: the network asks each device for its status after its
// first uplink and then every status_interval; the answer in the next
// uplink's FOpts becomes a `status` event.
func TestStatusEvent(t *testing.T) {
	for _, tc := range []struct {
		mv, activation string
	}{
		{"1.0.4", "abp"}, {"1.1.0", "abp"}, {"1.0.4", "otaa"}, {"1.1.0", "otaa"},
	} {
		t.Run(tc.mv+"/"+tc.activation, func(t *testing.T) {
			sc := otaaScenario(tc.mv)
			sc.Devices[0].Activation = tc.activation
			sc.Network.StatusInterval = simulator.Duration(10 * time.Minute)
			r := newRig(t, sc, 3)
			d := r.device(0)
			r.run(2 * time.Minute)
			st := r.take(events.EventStatus)
			if len(st) != 1 || d.Stats().StatusRequests != 1 {
				t.Fatalf("%d status events, %d requests after the first uplinks, want 1", len(st), d.Stats().StatusRequests)
			}
			ev := st[0].Message.(*integration.StatusEvent)
			if ev.BatteryLevel <= 0 || ev.BatteryLevel > 100 || ev.ExternalPowerSource || ev.BatteryLevelUnavailable {
				t.Fatalf("status event %v", ev)
			}
			if ev.Margin < -32 || ev.Margin > 31 || ev.Margin == 0 {
				t.Fatalf("margin %d", ev.Margin)
			}
			r.run(10 * time.Minute)
			if st := r.take(events.EventStatus); len(st) != 1 {
				t.Fatalf("%d status events in the next interval, want 1", len(st))
			}
		})
	}
}
