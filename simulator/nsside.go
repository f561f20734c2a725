package simulator

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/gateway"
	"github.com/lorafuota/lorafuota/simulator/ns"
	"github.com/lorafuota/lorafuota/simulator/radio"
)

// session is the network server's record of a device's session: what
// ChirpStack keeps to decode its uplinks and reach it. The network side
// never reads the Device; it works from the frames alone.
type session struct {
	eui   lorawan.EUI64
	addr  lorawan.DevAddr
	class class
	mac11 bool
	keys  sessionKeys
	freqs []uint32
	appID string
	info  *integration.DeviceInfo

	heard    bool
	fCntUp   uint32 // next expected
	bestGW   lorawan.EUI64
	awaitAck bool // a confirmed downlink waits for the device's ACK
	confFCnt uint32
	nextTx   time.Time // class B and C: no new downlink before

	// OTAA: root keys, the JoinNonce of the last JoinAccept and every
	// DevNonce seen, which ChirpStack refuses to see again.
	otaa           bool
	active         bool // joined, or ABP
	appKey, nwkKey lorawan.AES128Key
	joinNonce      uint32
	devNonces      map[uint16]bool

	nFCntDown uint32    // next FCntDown of MAC-only frames
	statusAt  time.Time // next DevStatusReq due; zero: at the next uplink

	pingPeriodicity int
	pingFreq        uint32
	pingDR          int
}

// HandleUplink implements radio.UplinkHandler: it decodes the frame, checks
// its MIC and frame counter, decrypts it, records the gateways that heard
// it, publishes the `up` event, and opens the device's RX1 window.
func (n *Network) HandleUplink(f radio.Frame, rx []radio.RxInfo) {
	if len(rx) == 0 {
		return
	}
	var phy lorawan.PHYPayload
	if err := phy.UnmarshalBinary(f.PHYPayload); err != nil {
		n.log.Warn("ns: undecodable uplink", "err", err)
		return
	}
	if phy.MHDR.MType == lorawan.JoinRequest {
		n.handleJoin(f, rx, &phy)
		return
	}
	if mt := phy.MHDR.MType; mt != lorawan.UnconfirmedDataUp && mt != lorawan.ConfirmedDataUp {
		n.log.Warn("ns: uplink of unexpected type", "m_type", mt)
		return
	}
	mp, ok := phy.MACPayload.(*lorawan.MACPayload)
	if !ok {
		return
	}
	s := n.sessions[mp.FHDR.DevAddr]
	if s == nil {
		n.log.Warn("ns: uplink of unknown DevAddr", "dev_addr", mp.FHDR.DevAddr)
		return
	}
	full := fullFCnt(s.fCntUp, uint16(mp.FHDR.FCnt))
	mp.FHDR.FCnt = full
	var confFCnt uint32
	if s.mac11 && mp.FHDR.FCtrl.ACK {
		confFCnt = s.confFCnt
	}
	ch := slices.Index(s.freqs, f.Frequency)
	if ok, err := phy.ValidateUplinkDataMIC(macVersion(s.mac11), confFCnt, uint8(f.DR), uint8(max(ch, 0)), s.keys.FNwkSIntKey, s.keys.SNwkSIntKey); !ok || err != nil {
		n.log.Warn("ns: uplink MIC invalid", "dev_eui", s.eui, "f_cnt", full, "err", err)
		return
	}
	if s.heard && full < s.fCntUp {
		n.log.Warn("ns: uplink frame counter did not increase", "dev_eui", s.eui, "f_cnt", full, "expected", s.fCntUp)
		return
	}
	s.heard, s.fCntUp = true, full+1
	n.readMACCommands(s, &phy, mp)

	gws := make([]lorawan.EUI64, len(rx))
	best := 0
	for i, r := range rx {
		gws[i] = r.GatewayID
		if r.SNR > rx[best].SNR {
			best = i
		}
		_ = n.ns.MarkGatewaySeen(r.GatewayID)
	}
	s.bestGW = rx[best].GatewayID
	if err := n.ns.RecordUplink(s.eui, gws...); err != nil {
		n.log.Warn("ns: recording an uplink", "dev_eui", s.eui, "err", err)
	}
	if s.awaitAck {
		s.awaitAck = false
		if err := n.ns.ConfirmDownlink(s.eui, mp.FHDR.FCtrl.ACK); err != nil {
			n.log.Warn("ns: confirming a downlink", "dev_eui", s.eui, "err", err)
		}
	}

	var fport uint8
	var data []byte
	if mp.FPort != nil {
		fport = *mp.FPort
		key := s.keys.AppSKey
		if fport == 0 {
			key = s.keys.NwkSEncKey
		}
		var ok bool
		if data, ok = decrypt(&phy, mp, key); !ok {
			n.log.Warn("ns: uplink payload not decrypted", "dev_eui", s.eui)
			return
		}
	}
	n.publishUp(s, f, rx, full, mp, fport, data)
	n.log.Info("ns uplink", "dev_eui", s.eui, "f_cnt", full, "f_port", fport, "len", len(data), "gateways", len(rx), "best_gateway", s.bestGW)
	n.classAWindow(s, f)
}

func (n *Network) publishUp(s *session, f radio.Frame, rx []radio.RxInfo, fcnt uint32, mp *lorawan.MACPayload, fport uint8, data []byte) {
	if mp.FPort == nil {
		return // ChirpStack publishes no up event for a frame without FPort
	}
	dr, err := n.reg.DataRate(f.DR)
	if err != nil {
		return
	}
	rxInfo := make([]*gw.UplinkRxInfo, len(rx))
	for i, r := range rx {
		rxInfo[i] = r.Proto()
	}
	ev := &integration.UplinkEvent{
		DeduplicationId: n.uuid(),
		Time:            timestamppb.New(n.clk.Now()),
		DeviceInfo:      proto.Clone(s.info).(*integration.DeviceInfo),
		DevAddr:         s.addr.String(),
		Dr:              uint32(f.DR),
		FCnt:            fcnt,
		FPort:           uint32(fport),
		Data:            data,
		RxInfo:          rxInfo,
		TxInfo: &gw.UplinkTxInfo{
			Frequency: f.Frequency,
			Modulation: &gw.Modulation{Parameters: &gw.Modulation_Lora{Lora: &gw.LoraModulationInfo{
				Bandwidth: uint32(dr.BandwidthHz), SpreadingFactor: uint32(dr.SF), CodeRate: gw.CodeRate_CR_4_5,
			}}},
		},
		RegionConfigId: regionConfigID(n.reg.Name()),
	}
	if err := n.pub.Publish(s.appID, s.eui, ev); err != nil {
		n.log.Warn("ns: up event not published", "dev_eui", s.eui, "err", err)
	}
}

// classAWindow answers an uplink with the head of the device's queue, in
// RX1 through the gateway that heard it best, else in RX2: one queue item
// per uplink, as ChirpStack sends them.
//
// A class B device's queue goes in its ping slots instead (pollClassB); its
// class A windows carry MAC commands only. A DevStatusReq that is due rides
// in the FOpts of the item, or of a MAC-only frame if there is none.
func (n *Network) classAWindow(s *session, f radio.Frame) {
	ask := n.statusDue(s)
	var item *ns.QueueItem
	var more bool
	if s.class != classB {
		item, more = n.ns.NextDownlink(s.eui)
	}
	if item == nil && !ask {
		return
	}
	b, err := n.downlinkFrame(s, item, more, ask)
	if err != nil {
		n.log.Error("ns: downlink not built", "dev_eui", s.eui, "err", err)
		if item != nil {
			_ = n.ns.AckDownlink(s.eui, item.ID, s.bestGW, gw.TxAckStatus_INTERNAL_ERROR)
		}
		return
	}
	g := n.gws.Gateway(s.bestGW)
	rx1 := f.End().Add(rx1Delay)
	rx2 := n.reg.RX2()
	id := n.ids.Uint32()
	st := g.Schedule(gateway.TxRequest{ID: id, Frequency: f.Frequency, DR: f.DR, PowerDBm: n.reg.DownlinkTXPowerDBm(f.Frequency),
		PHYPayload: b, Timing: gateway.AtTime, At: rx1})
	window := "rx1"
	if st != gw.TxAckStatus_OK {
		st = g.Schedule(gateway.TxRequest{ID: id, Frequency: rx2.FrequencyHz, DR: rx2.DataRate, PowerDBm: n.reg.DownlinkTXPowerDBm(rx2.FrequencyHz),
			PHYPayload: b, Timing: gateway.AtTime, At: rx1.Add(time.Second)})
		window = "rx2"
	}
	if st == gw.TxAckStatus_OK && ask {
		n.statusAsked(s)
	}
	if item == nil {
		if st == gw.TxAckStatus_OK {
			s.nFCntDown++
		}
		n.log.Info("ns MAC downlink", "dev_eui", s.eui, "window", window, "dev_status_req", ask, "status", st)
		return
	}
	n.ackDownlink(s, item, st, window)
}

// pollClassC sends the head of every class C device's queue at once, on
// RX2, through the gateway that last heard the device best, at most one
// frame in the air per device.
func (n *Network) pollClassC() {
	now := n.clk.Now()
	rx2 := n.reg.RX2()
	for _, d := range n.devices {
		s := n.sessByEUI[d.eui]
		if s.class != classC || !s.active || !s.heard || now.Before(s.nextTx) {
			continue
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
		st := n.gws.Gateway(s.bestGW).Schedule(gateway.TxRequest{ID: n.ids.Uint32(), Frequency: rx2.FrequencyHz, DR: rx2.DataRate,
			PowerDBm: n.reg.DownlinkTXPowerDBm(rx2.FrequencyHz), PHYPayload: b, Timing: gateway.Immediately})
		if airtime, err := n.reg.DownlinkToA(rx2.DataRate, len(b)); err == nil {
			s.nextTx = now.Add(airtime + time.Second)
		}
		n.ackDownlink(s, item, st, "class-c")
	}
}

func (n *Network) ackDownlink(s *session, item *ns.QueueItem, st gw.TxAckStatus, window string) {
	if st == gw.TxAckStatus_OK && item.Confirmed {
		s.awaitAck, s.confFCnt = true, item.FCntDown
	}
	n.log.Info("ns downlink", "dev_eui", s.eui, "window", window, "gateway", s.bestGW, "f_cnt", item.FCntDown,
		"f_port", item.FPort, "len", len(item.Data), "confirmed", item.Confirmed, "status", st)
	if err := n.ns.AckDownlink(s.eui, item.ID, s.bestGW, st); err != nil {
		n.log.Warn("ns: tx ack", "dev_eui", s.eui, "err", err)
	}
}

// downlinkFrame builds the PHYPayload of a queue item: FRMPayload encrypted
// with AppSKey (unless the client encrypted it), MIC with SNwkSIntKey. ask
// adds a DevStatusReq in FOpts (encrypted with NwkSEncKey for 1.1). A nil
// item makes a MAC-only frame, without FPort, on the session's own counter
// of them: the simulated ChirpStack's queue owns the FCntDown of the items,
// so MAC-only frames count apart, as 1.1's NFCntDown does, for 1.0.x too.
func (n *Network) downlinkFrame(s *session, item *ns.QueueItem, more, ask bool) ([]byte, error) {
	mt := lorawan.UnconfirmedDataDown
	mp := &lorawan.MACPayload{
		FHDR: lorawan.FHDR{DevAddr: s.addr, FCtrl: lorawan.FCtrl{FPending: more}, FCnt: s.nFCntDown},
	}
	if item != nil {
		if item.Confirmed {
			mt = lorawan.ConfirmedDataDown
		}
		fport := item.FPort
		mp.FHDR.FCnt, mp.FPort = item.FCntDown, &fport
		mp.FRMPayload = []lorawan.Payload{&lorawan.DataPayload{Bytes: append([]byte(nil), item.Data...)}}
	}
	phy := lorawan.PHYPayload{MHDR: lorawan.MHDR{MType: mt, Major: lorawan.LoRaWANR1}, MACPayload: mp}
	if item != nil && !item.IsEncrypted {
		if err := phy.EncryptFRMPayload(s.keys.AppSKey); err != nil {
			return nil, fmt.Errorf("encrypting: %w", err)
		}
	}
	if ask {
		mp.FHDR.FOpts = []lorawan.Payload{&lorawan.MACCommand{CID: lorawan.DevStatusReq}}
		if s.mac11 {
			if err := phy.EncryptFOpts(s.keys.NwkSEncKey); err != nil {
				return nil, fmt.Errorf("encrypting FOpts: %w", err)
			}
		}
	}
	if err := phy.SetDownlinkDataMIC(macVersion(s.mac11), 0, s.keys.SNwkSIntKey); err != nil {
		return nil, fmt.Errorf("MIC: %w", err)
	}
	return phy.MarshalBinary()
}

// uuid returns a random (version 4) UUID from the network's id stream.
func (n *Network) uuid() string {
	var b [16]byte
	for i := 0; i < 16; i += 4 {
		v := n.ids.Uint32()
		b[i], b[i+1], b[i+2], b[i+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// regionConfigID is the id of ChirpStack's default configuration of a
// region, as in its shipped region_eu868.toml: "eu868".
func regionConfigID(r region.Name) string { return strings.ToLower(string(r)) }
