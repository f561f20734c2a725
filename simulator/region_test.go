package simulator_test

import (
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/simulator/events"
)

// TestClassCSessionBand: the devices check a class C session's frequency
// and data rate against their region's band, not EU868's: a US915 device
// takes a session on US915's RX2 (923.3 MHz, DR8) and refuses one on an
// EU868 frequency.
func TestClassCSessionBand(t *testing.T) {
	for _, tc := range []struct {
		name    string
		freq    uint32
		dr      uint8
		freqErr bool
		drErr   bool
	}{
		{"US915 RX2", 923_300_000, 8, false, false},
		{"EU868 frequency", 869_525_000, 8, true, false},
		{"no such data rate", 923_300_000, 14, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := scenario("C", 1, time.Hour)
			sc.Region = "US915"
			sc.Devices[0].UplinkFrequencies = []uint32{902_300_000}
			sc.Devices[0].UplinkDR = new(int) // DR0, SF10/125 kHz
			r := newRig(t, sc, 3)
			r.run(11 * time.Second) // the power-on frame
			d := r.device(0)
			r.enqueue(d.DevEUI(), multicast.DefaultFPort, false, &multicast.McGroupSetupReq{
				McAddr: lorawan.DevAddr{0xfc, 0, 0, 1}, MaxMcFCnt: 1<<32 - 1,
			})
			r.run(5 * time.Second)
			r.take(events.EventUp)
			start := clocksync.GPSSeconds(r.clk.Now()) + 60
			r.enqueue(d.DevEUI(), multicast.DefaultFPort, false, &multicast.McClassCSessionReq{
				SessionTime: uint32(start), TimeOut: 5, DLFrequency: tc.freq, DR: tc.dr,
			})
			r.run(5 * time.Second)
			ups := r.take(events.EventUp)
			if len(ups) != 1 {
				t.Fatalf("%d up events, want the McClassCSessionAns", len(ups))
			}
			cmds, err := multicast.Package().Decode(ups[0].Message.(*integration.UplinkEvent).Data, applayer.Uplink, 1)
			must(t, err)
			ans, ok := cmds[0].(*multicast.McClassCSessionAns)
			if len(cmds) != 1 || !ok {
				t.Fatalf("answer %v, want one McClassCSessionAns", cmds)
			}
			if ans.FreqError != tc.freqErr || ans.DRError != tc.drErr || ans.McGroupUndefined || ans.StartMissed {
				t.Errorf("answer %+v, want freq error %t, DR error %t", ans.SessionAns, tc.freqErr, tc.drErr)
			}
		})
	}
}
