package simulator

import (
	"cmp"
	"math"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/simulator/radio"
)

// DefaultStatusInterval is how often the network asks a device for its
// status (DevStatusReq) when the scenario does not say: ChirpStack's
// device-status-req frequency of once a day.
const DefaultStatusInterval = 24 * time.Hour

// statusDue reports whether a DevStatusReq should ride on the next class A
// downlink of s: at the first uplink of a session, then every interval.
func (n *Network) statusDue(s *session) bool {
	if n.sc.Network.StatusInterval < 0 {
		return false
	}
	return !n.clk.Now().Before(s.statusAt)
}

// statusAsked records that a DevStatusReq went out.
func (n *Network) statusAsked(s *session) {
	s.statusAt = n.clk.Now().Add(cmp.Or(time.Duration(n.sc.Network.StatusInterval), DefaultStatusInterval))
}

// readMACCommands decrypts (1.1) and decodes an uplink's FOpts, and
// publishes the `status` event of a DevStatusAns among them.
func (n *Network) readMACCommands(s *session, phy *lorawan.PHYPayload, mp *lorawan.MACPayload) {
	if len(mp.FHDR.FOpts) == 0 {
		return
	}
	var err error
	if s.mac11 {
		err = phy.DecryptFOpts(s.keys.NwkSEncKey)
	} else {
		err = phy.DecodeFOptsToMACCommands()
	}
	if err != nil {
		n.log.Warn("ns: uplink FOpts not decoded", "dev_eui", s.eui, "err", err)
		return
	}
	for _, p := range mp.FHDR.FOpts {
		cmd, ok := p.(*lorawan.MACCommand)
		if !ok || cmd.CID != lorawan.DevStatusAns {
			continue
		}
		if ans, ok := cmd.Payload.(*lorawan.DevStatusAnsPayload); ok {
			n.publishStatus(s, ans)
		}
	}
}

// publishStatus publishes the `status` event of a DevStatusAns as
// ChirpStack does: battery 0 means external power, 255 unknown, else the
// level in percent of 254, to two decimals.
func (n *Network) publishStatus(s *session, ans *lorawan.DevStatusAnsPayload) {
	ev := &integration.StatusEvent{
		DeduplicationId: n.uuid(),
		Time:            timestamppb.New(n.clk.Now()),
		DeviceInfo:      proto.Clone(s.info).(*integration.DeviceInfo),
		Margin:          int32(ans.Margin),
	}
	switch ans.Battery {
	case 0:
		ev.ExternalPowerSource = true
	case 255:
		ev.BatteryLevelUnavailable = true
	default:
		ev.BatteryLevel = float32(math.Round(float64(ans.Battery)/254*100*100) / 100)
	}
	n.log.Info("ns device status", "dev_eui", s.eui, "battery", ans.Battery, "margin", ans.Margin)
	if err := n.pub.Publish(s.appID, s.eui, ev); err != nil {
		n.log.Warn("ns: status event not published", "dev_eui", s.eui, "err", err)
	}
}

// handleMACCommands decrypts (1.1) and decodes a downlink's FOpts and
// answers a DevStatusReq in the FOpts of the next uplink: the battery, and
// the SNR of the request as the demodulation margin (−32 to 31 dB).
func (d *Device) handleMACCommands(phy *lorawan.PHYPayload, mp *lorawan.MACPayload, sig radio.Signal) {
	if len(mp.FHDR.FOpts) == 0 {
		return
	}
	var err error
	if d.mac11 {
		err = phy.DecryptFOpts(d.keys.NwkSEncKey)
	} else {
		err = phy.DecodeFOptsToMACCommands()
	}
	if err != nil {
		d.log.Warn("device FOpts not decoded", "err", err)
		return
	}
	for _, p := range mp.FHDR.FOpts {
		if cmd, ok := p.(*lorawan.MACCommand); ok && cmd.CID == lorawan.DevStatusReq {
			margin := int8(max(-32, min(31, math.Round(sig.SNR))))
			d.statusAns = &lorawan.DevStatusAnsPayload{Battery: d.battery, Margin: margin}
			d.stats.StatusRequests++
		}
	}
}
