package simulator

import (
	"fmt"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/simulator/gateway"
	"github.com/lorafuota/lorafuota/simulator/radio"
)

// OTAA timing (LoRaWAN 1.0.4 §6.2.6, RP002 defaults): the JoinAccept comes
// in RX1 5 s after the JoinRequest or in RX2 6 s after it; a device without
// one tries again after joinRetry and up to as much again.
const (
	joinAcceptDelay1 = 5 * time.Second
	joinRetry        = 20 * time.Second
	// sessionRXDelay is the RxDelay the network gives in JoinAccepts:
	// RX1 one second after each uplink.
	sessionRXDelay = 1
	// heldSpacing separates the uplinks a device held during its join,
	// past the receive windows of the one before.
	heldSpacing = 5 * time.Second
)

// joinNetID is the NetID of the simulated network: 000000, the
// experimental/private type 0 NetID, whose DevAddrs newDevAddr draws.
var joinNetID = lorawan.NetID{0, 0, 0}

// join sends a JoinRequest with the next DevNonce, MIC with the NwkKey
// (1.1) or AppKey (1.0.x), and tries again later if no JoinAccept comes.
func (d *Device) join() {
	if d.joinTimer != nil {
		d.joinTimer.Stop()
	}
	nonce, err := d.nextDevNonce()
	if err != nil {
		d.log.Error("device cannot join", "err", err)
		return
	}
	d.devNonce = nonce
	phy := lorawan.PHYPayload{
		MHDR:       lorawan.MHDR{MType: lorawan.JoinRequest, Major: lorawan.LoRaWANR1},
		MACPayload: &lorawan.JoinRequestPayload{DevEUI: d.eui, DevNonce: lorawan.DevNonce(nonce)},
	}
	key, _, _ := joinKeys(d.mac11, d.nwkKey, d.appKey, d.eui)
	if err := phy.SetUplinkJoinMIC(key); err != nil {
		d.log.Error("join request without MIC", "err", err)
		return
	}
	b, err := phy.MarshalBinary()
	if err != nil {
		d.log.Error("join request not encoded", "err", err)
		return
	}
	d.log.Info("device join request", "dev_nonce", nonce)
	d.transmit(b, d.rnd.IntN(len(d.freqs)), joinAcceptDelay1)
	d.joinTimer = d.net.clk.AfterFunc(joinRetry+time.Duration(d.rnd.Int64N(int64(joinRetry))), d.join)
}

// nextDevNonce takes the DevNonce from the App's persistent memory if it
// has one (JoinNVM), else from the MAC layer's own count.
func (d *Device) nextDevNonce() (uint16, error) {
	if nv, ok := d.app.(JoinNVM); ok {
		return nv.NextDevNonce()
	}
	if d.ownNonce == 0xFFFF {
		return 0, fmt.Errorf("simulator: DevNonce exhausted")
	}
	d.ownNonce++
	return d.ownNonce, nil
}

// receiveJoinAccept decrypts and checks a JoinAccept answering the last
// JoinRequest and starts the session it gives.
func (d *Device) receiveJoinAccept(phy *lorawan.PHYPayload) {
	if !d.otaa || d.joined || d.devNonce == 0 {
		return
	}
	_, micKey, encKey := joinKeys(d.mac11, d.nwkKey, d.appKey, d.eui)
	if err := phy.DecryptJoinAcceptPayload(encKey); err != nil {
		return
	}
	ja, ok := phy.MACPayload.(*lorawan.JoinAcceptPayload)
	if !ok {
		return
	}
	if ok, err := phy.ValidateDownlinkJoinMIC(lorawan.JoinRequestType, lorawan.EUI64{}, lorawan.DevNonce(d.devNonce), micKey); !ok || err != nil {
		d.stats.Dropped++ // another device's, or a forgery
		return
	}
	if d.joinTimer != nil {
		d.joinTimer.Stop()
	}
	d.keys = deriveSession(d.mac11, d.nwkKey, d.appKey, joinFields{
		joinNonce: uint32(ja.JoinNonce), netID: ja.HomeNetID, devNonce: d.devNonce,
	})
	d.addr, d.joined = ja.DevAddr, true
	d.fCntUp, d.fCntDown, d.nFCntDown = 0, 0, 0
	d.ackPending, d.statusAns = false, nil
	d.stats.Joins++
	d.log.Info("device joined", "dev_addr", d.addr, "join_nonce", ja.JoinNonce)
	// The first uplink of the session tells the network a gateway to reach
	// the device by: the held ones, else an empty frame.
	d.net.clk.AfterFunc(time.Second, d.flushHeld)
}

// flushHeld sends the uplinks held during the join, one per heldSpacing,
// or an empty frame if there were none.
func (d *Device) flushHeld() {
	if !d.joined {
		return
	}
	if len(d.held) == 0 {
		d.send(0, nil, false)
		return
	}
	h := d.held[0]
	d.held = d.held[1:]
	d.send(h.fport, h.payload, true)
	if len(d.held) > 0 {
		d.net.clk.AfterFunc(heldSpacing, d.flushHeld)
	}
}

// handleJoin is ChirpStack's join: it checks the JoinRequest's MIC with
// the device's root key, refuses a DevNonce seen before, and answers with a
// JoinAccept (next JoinNonce, NetID, a new DevAddr, RX settings) in RX1,
// else RX2, through the gateway that heard it best. The session starts
// when the gateway takes the JoinAccept; the `join` event goes out then.
func (n *Network) handleJoin(f radio.Frame, rx []radio.RxInfo, phy *lorawan.PHYPayload) {
	jr, ok := phy.MACPayload.(*lorawan.JoinRequestPayload)
	if !ok {
		return
	}
	s := n.sessByEUI[jr.DevEUI]
	if s == nil || !s.otaa {
		n.log.Warn("ns: join request of unknown device", "dev_eui", jr.DevEUI)
		return
	}
	reqKey, micKey, encKey := joinKeys(s.mac11, s.nwkKey, s.appKey, s.eui)
	if ok, err := phy.ValidateUplinkJoinMIC(reqKey); !ok || err != nil {
		n.log.Warn("ns: join request MIC invalid", "dev_eui", s.eui, "err", err)
		return
	}
	nonce := uint16(jr.DevNonce)
	if s.devNonces[nonce] {
		n.log.Warn("ns: join request refused: DevNonce already used", "dev_eui", s.eui, "dev_nonce", nonce)
		n.publishLog(s, integration.LogLevel_ERROR, integration.LogCode_OTAA, "DevNonce has already been used",
			map[string]string{"dev_nonce": fmt.Sprint(nonce)})
		return
	}
	s.devNonces[nonce] = true
	best := rx[0]
	for _, r := range rx {
		_ = n.ns.MarkGatewaySeen(r.GatewayID)
		if r.SNR > best.SNR {
			best = r
		}
	}
	s.joinNonce++
	addr := n.newDevAddr(n.joinAddrs)
	rx2 := n.reg.RX2()
	ja := &lorawan.JoinAcceptPayload{
		JoinNonce:  lorawan.JoinNonce(s.joinNonce),
		HomeNetID:  joinNetID,
		DevAddr:    addr,
		DLSettings: lorawan.DLSettings{OptNeg: s.mac11, RX2DataRate: uint8(rx2.DataRate)},
		RXDelay:    sessionRXDelay,
	}
	acc := lorawan.PHYPayload{MHDR: lorawan.MHDR{MType: lorawan.JoinAccept, Major: lorawan.LoRaWANR1}, MACPayload: ja}
	if err := acc.SetDownlinkJoinMIC(lorawan.JoinRequestType, jr.JoinEUI, jr.DevNonce, micKey); err != nil {
		n.log.Error("ns: join accept without MIC", "dev_eui", s.eui, "err", err)
		return
	}
	if err := acc.EncryptJoinAcceptPayload(encKey); err != nil {
		n.log.Error("ns: join accept not encrypted", "dev_eui", s.eui, "err", err)
		return
	}
	b, err := acc.MarshalBinary()
	if err != nil {
		n.log.Error("ns: join accept not encoded", "dev_eui", s.eui, "err", err)
		return
	}
	g := n.gws.Gateway(best.GatewayID)
	rx1 := f.End().Add(joinAcceptDelay1)
	id := n.ids.Uint32()
	st := g.Schedule(gateway.TxRequest{ID: id, Frequency: f.Frequency, DR: f.DR, PowerDBm: n.reg.DownlinkTXPowerDBm(f.Frequency),
		PHYPayload: b, Timing: gateway.AtTime, At: rx1})
	window := "rx1"
	if st != gw.TxAckStatus_OK {
		st = g.Schedule(gateway.TxRequest{ID: id, Frequency: rx2.FrequencyHz, DR: rx2.DataRate, PowerDBm: n.reg.DownlinkTXPowerDBm(rx2.FrequencyHz),
			PHYPayload: b, Timing: gateway.AtTime, At: rx1.Add(time.Second)})
		window = "rx2"
	}
	n.log.Info("ns join accept", "dev_eui", s.eui, "dev_nonce", nonce, "dev_addr", addr, "window", window, "status", st)
	if st != gw.TxAckStatus_OK {
		return
	}
	if s.active {
		delete(n.sessions, s.addr)
	}
	s.addr, s.active, s.heard, s.bestGW = addr, true, false, best.GatewayID
	s.keys = deriveSession(s.mac11, s.nwkKey, s.appKey, joinFields{joinNonce: s.joinNonce, netID: joinNetID, joinEUI: jr.JoinEUI, devNonce: nonce})
	s.fCntUp, s.nFCntDown, s.awaitAck, s.statusAt, s.nextTx = 0, 0, false, time.Time{}, time.Time{}
	n.sessions[addr] = s
	ev := &integration.JoinEvent{
		DeduplicationId: n.uuid(),
		Time:            timestamppb.New(n.clk.Now()),
		DeviceInfo:      proto.Clone(s.info).(*integration.DeviceInfo),
		DevAddr:         addr.String(),
	}
	if err := n.pub.Publish(s.appID, s.eui, ev); err != nil {
		n.log.Warn("ns: join event not published", "dev_eui", s.eui, "err", err)
	}
}

// publishLog publishes a `log` event of the device.
func (n *Network) publishLog(s *session, level integration.LogLevel, code integration.LogCode, desc string, ctx map[string]string) {
	ev := &integration.LogEvent{
		Time:        timestamppb.New(n.clk.Now()),
		DeviceInfo:  proto.Clone(s.info).(*integration.DeviceInfo),
		Level:       level,
		Code:        code,
		Description: desc,
		Context:     ctx,
	}
	if err := n.pub.Publish(s.appID, s.eui, ev); err != nil {
		n.log.Warn("ns: log event not published", "dev_eui", s.eui, "err", err)
	}
}
