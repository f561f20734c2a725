package simulator

import (
	"cmp"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/gw"

	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/gateway"
	"github.com/lorafuota/lorafuota/simulator/ns"
)

// classBLead is how far ahead of a ping slot the network hands its frame
// to the gateway, well past the gateway's minimum lead.
const classBLead = time.Second

// pingSlotChannel is the unicast ping-slot channel: EU868's default
// (RP002: 869.525 MHz, DR3); elsewhere the RX2 channel.
func pingSlotChannel(r *region.Region) (uint32, int) {
	rx2 := r.RX2()
	if r.Name() == region.EU868 {
		return rx2.FrequencyHz, 3
	}
	return rx2.FrequencyHz, rx2.DataRate
}

// inPingSlot reports whether at falls in a receive window opened at one of
// the device's ping slots. The device is taken to be locked on the beacon
// all along: beacons are not modelled.
func (d *Device) inPingSlot(at time.Time) bool {
	slot, err := ns.PingSlotAfter(at.Add(-rxWindowOpen), d.addr, d.pingPeriodicity)
	return err == nil && inWindow(at, slot)
}

// pollClassB sends the head of each class B device's queue in its next
// ping slot (ns.PingSlotAfter, the profile's periodicity), through the
// gateway that last heard the device best, when that slot comes before the
// next poll: one frame per device in the air at a time.
func (n *Network) pollClassB() {
	now := n.clk.Now()
	interval := cmp.Or(time.Duration(n.sc.Network.SchedulerInterval), ns.DefaultSchedulerInterval)
	for _, d := range n.devices {
		s := n.sessByEUI[d.eui]
		if s.class != classB || !s.active || !s.heard || now.Before(s.nextTx) {
			continue
		}
		slot, err := ns.PingSlotAfter(now.Add(classBLead), s.addr, s.pingPeriodicity)
		if err != nil {
			n.log.Error("ns: ping slot", "dev_eui", s.eui, "err", err)
			continue
		}
		if slot.Sub(now) > interval+classBLead {
			continue // a later poll takes it
		}
		item, more := n.ns.NextDownlink(s.eui)
		if item == nil {
			continue
		}
		b, err := n.downlinkFrame(s, item, more, false)
		if err != nil {
			n.log.Error("ns: downlink not built", "dev_eui", s.eui, "err", err)
			_ = n.ns.AckDownlink(s.eui, item.ID, s.bestGW, gw.TxAckStatus_INTERNAL_ERROR)
			continue
		}
		st := n.gws.Gateway(s.bestGW).Schedule(gateway.TxRequest{ID: n.ids.Uint32(), Frequency: s.pingFreq, DR: s.pingDR,
			PowerDBm: n.reg.DownlinkTXPowerDBm(s.pingFreq), PHYPayload: b, Timing: gateway.AtTime, At: slot})
		if airtime, err := n.reg.DownlinkToA(s.pingDR, len(b)); err == nil {
			s.nextTx = slot.Add(airtime)
		}
		n.ackDownlink(s, item, st, "ping-slot")
	}
}
