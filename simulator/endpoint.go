package simulator

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/simulator/device"
	"github.com/lorafuota/lorafuota/simulator/radio"
)

// Receive windows: RX1 opens one second after the end of an uplink on its
// channel and data rate (RX1DROffset 0), RX2 one second later on the
// region's RX2 channel. A window catches a frame that starts within
// rxWindowOpen of its opening.
const (
	rx1Delay     = time.Second
	rxWindowOpen = 100 * time.Millisecond
	// ackDelay is how long a device waits, after a confirmed downlink, for
	// an uplink of its application to carry the ACK before it sends an
	// empty frame for it.
	ackDelay = 2 * time.Second
)

// Device is a simulated end device: a LoRaWAN MAC layer of its own (ABP
// session, frame counters, receive windows, encryption and MIC with
// brocaar/lorawan) over an App. It lives on the clock's loop goroutine.
type Device struct {
	net   *Network
	eui   lorawan.EUI64
	name  string
	class class
	mac11 bool
	addr  lorawan.DevAddr
	keys  sessionKeys
	app   App
	log   *slog.Logger

	uplinkDR int
	freqs    []uint32
	rnd      *rand.Rand

	fCntUp      uint32 // next uplink FCnt
	fCntDown    uint32 // next expected unicast FCntDown
	mcFCnt      map[lorawan.DevAddr]uint32
	ackPending  bool
	ackConfFCnt uint32
	ackTimer    clock.Timer

	sentUp bool
	upEnd  time.Time
	upFreq uint32
	upDR   int

	// OTAA: root keys, the join state and the App's power-on the session
	// belongs to (JoinNVM).
	otaa           bool
	appKey, nwkKey lorawan.AES128Key
	joined         bool
	devNonce       uint16 // of the last JoinRequest
	ownNonce       uint16 // the last DevNonce, for an App without JoinNVM
	boots          int
	joinTimer      clock.Timer
	held           []heldUplink  // application uplinks waiting for the join
	rxDelay        time.Duration // RX1 delay of the last uplink
	nFCntDown      uint32        // next expected FCntDown of MAC-only frames

	battery   uint8                        // DevStatusAns battery, 1–254
	statusAns *lorawan.DevStatusAnsPayload // for the next uplink's FOpts

	pingPeriodicity int
	pingFreq        uint32
	pingDR          int

	stats  DeviceStats
	lastDn radio.Frame
}

// heldUplink is an application uplink held until the device has joined.
type heldUplink struct {
	fport   uint8
	payload []byte
}

// DeviceStats counts a device's frames.
type DeviceStats struct {
	Uplinks            int
	UnicastDownlinks   int
	MulticastDownlinks int
	// Dropped counts frames addressed to the device that failed their MIC
	// or frame counter check.
	Dropped int
	// Joins counts JoinAccepts taken; StatusRequests the DevStatusReq
	// answered.
	Joins          int
	StatusRequests int
}

// DevEUI returns the device's DevEUI.
func (d *Device) DevEUI() lorawan.EUI64 { return d.eui }

// DevAddr returns the device's DevAddr.
func (d *Device) DevAddr() lorawan.DevAddr { return d.addr }

// Name returns the device's name in ChirpStack.
func (d *Device) Name() string { return d.name }

// App returns the device's application layer; a *DeviceApp for devices
// built from a scenario.
func (d *Device) App() App { return d.app }

// Stats returns the MAC layer's counters.
func (d *Device) Stats() DeviceStats { return d.stats }

// LastDownlink returns the last unicast frame the device took, with its
// start, frequency and data rate, and false if there was none.
func (d *Device) LastDownlink() (radio.Frame, bool) { return d.lastDn, !d.lastDn.Start.IsZero() }

// LastUplinkEnd returns when the device's last uplink left the air.
func (d *Device) LastUplinkEnd() time.Time { return d.upEnd }

// Joined reports whether the device has a session: always for ABP, after
// a JoinAccept for OTAA.
func (d *Device) Joined() bool { return d.joined }

// DevNonce returns the DevNonce of the device's last JoinRequest, 0 if it
// sent none.
func (d *Device) DevNonce() uint16 { return d.devNonce }

// logBoot logs what a power-on of the device's application booted: the
// firmware version it runs, or why it is bricked.
func (d *Device) logBoot(r device.BootReport) {
	v, ok := r.Running()
	if !ok {
		d.log.Warn("device bricked", "err", r.Err)
		return
	}
	d.log.Info("device booted", "firmware", v.String(), "boots", len(r.Boot))
}

// uplink is the application's uplink: it goes out at once, unless an OTAA
// device has no session, when it waits for the join. A reset of the App
// (JoinNVM.Boots) loses an OTAA session: the device rejoins.
func (d *Device) uplink(fport uint8, payload []byte) {
	if nv, ok := d.app.(JoinNVM); ok && d.otaa && nv.Boots() != d.boots {
		d.boots = nv.Boots()
		d.log.Info("device reset: rejoining")
		d.joined, d.held = false, nil
		d.join()
	}
	if !d.joined {
		d.held = append(d.held, heldUplink{fport, append([]byte(nil), payload...)})
		return
	}
	d.send(fport, payload, true)
}

// send builds and transmits an uplink: a data frame with the FRMPayload
// encrypted with AppSKey and the MIC of the MAC version; hasPort false sends
// an empty frame (no FPort), as for a bare ACK.
func (d *Device) send(fport uint8, payload []byte, hasPort bool) {
	ch := d.rnd.IntN(len(d.freqs))
	mp := &lorawan.MACPayload{FHDR: lorawan.FHDR{
		DevAddr: d.addr,
		FCtrl:   lorawan.FCtrl{ACK: d.ackPending},
		FCnt:    d.fCntUp,
	}}
	phy := lorawan.PHYPayload{
		MHDR:       lorawan.MHDR{MType: lorawan.UnconfirmedDataUp, Major: lorawan.LoRaWANR1},
		MACPayload: mp,
	}
	if d.statusAns != nil && !(hasPort && fport == 0) {
		mp.FHDR.FOpts = []lorawan.Payload{&lorawan.MACCommand{CID: lorawan.DevStatusAns, Payload: d.statusAns}}
		if d.mac11 {
			if err := phy.EncryptFOpts(d.keys.NwkSEncKey); err != nil {
				d.log.Error("uplink FOpts not encrypted", "err", err)
				return
			}
		}
	}
	if hasPort {
		p := fport
		mp.FPort = &p
		mp.FRMPayload = []lorawan.Payload{&lorawan.DataPayload{Bytes: append([]byte(nil), payload...)}}
		key := d.keys.AppSKey
		if fport == 0 {
			key = d.keys.NwkSEncKey
		}
		if err := phy.EncryptFRMPayload(key); err != nil {
			d.log.Error("uplink not encrypted", "err", err)
			return
		}
	}
	var confFCnt uint32
	if d.ackPending && d.mac11 {
		confFCnt = d.ackConfFCnt
	}
	if err := phy.SetUplinkDataMIC(macVersion(d.mac11), confFCnt, uint8(d.uplinkDR), uint8(ch), d.keys.FNwkSIntKey, d.keys.SNwkSIntKey); err != nil {
		d.log.Error("uplink without MIC", "err", err)
		return
	}
	b, err := phy.MarshalBinary()
	if err != nil {
		d.log.Error("uplink not encoded", "err", err)
		return
	}
	if !d.transmit(b, ch, rx1Delay) {
		return
	}
	if d.ackTimer != nil {
		d.ackTimer.Stop()
	}
	d.ackPending, d.statusAns = false, nil
	fcnt := d.fCntUp
	d.fCntUp++
	d.log.Info("device uplink", "f_cnt", fcnt, "f_port", fport, "len", len(payload), "freq", d.freqs[ch], "dr", d.uplinkDR,
		"ack", mp.FHDR.FCtrl.ACK, "f_opts", len(mp.FHDR.FOpts))
}

// transmit puts a frame on the air on channel ch and opens the receive
// windows rxDelay (RX1) and rxDelay + 1 s (RX2) after its end.
func (d *Device) transmit(b []byte, ch int, rxDelay time.Duration) bool {
	n := d.net
	airtime, err := n.reg.UplinkToA(d.uplinkDR, len(b))
	if err != nil {
		d.log.Error("uplink too long", "err", err, "len", len(b))
		return false
	}
	now := n.clk.Now()
	d.sentUp, d.upEnd, d.upFreq, d.upDR, d.rxDelay = true, now.Add(airtime), d.freqs[ch], d.uplinkDR, rxDelay
	d.stats.Uplinks++
	if err := n.medium.Uplink(d.eui, radio.Frame{Frequency: d.freqs[ch], DR: d.uplinkDR, PowerDBm: UplinkPowerDBm, PHYPayload: b, Airtime: airtime}); err != nil {
		d.log.Error("uplink not sent", "err", err)
		return false
	}
	return true
}

// Listening implements radio.Receiver: the MAC's RX1 and RX2 windows after
// each uplink (5 s and 6 s after a JoinRequest), RX2 continuously for class
// C (except while transmitting), the ping slots of class B, and whatever
// the application keeps open (multicast sessions).
func (d *Device) Listening(freq uint32, dr int, at time.Time) bool {
	rx2 := d.net.reg.RX2()
	isRX2 := freq == rx2.FrequencyHz && dr == rx2.DataRate
	if d.sentUp {
		rx1 := d.upEnd.Add(d.rxDelay)
		if freq == d.upFreq && dr == d.upDR && inWindow(at, rx1) {
			return true
		}
		if isRX2 && inWindow(at, rx1.Add(time.Second)) {
			return true
		}
	}
	if d.class == classC && isRX2 && !(d.sentUp && at.Before(d.upEnd)) {
		return true
	}
	if d.class == classB && d.joined && freq == d.pingFreq && dr == d.pingDR && d.inPingSlot(at) {
		return true
	}
	return d.app.Listening(freq, dr, at)
}

func inWindow(at, open time.Time) bool {
	return !at.Before(open.Add(-rxWindowOpen/5)) && at.Before(open.Add(rxWindowOpen))
}

// Receive implements radio.Receiver: it checks a data frame addressed to
// the device or to one of its multicast groups, decrypts it and hands it to
// the application.
func (d *Device) Receive(f radio.Frame, sig radio.Signal) {
	var phy lorawan.PHYPayload
	if err := phy.UnmarshalBinary(f.PHYPayload); err != nil {
		return
	}
	mt := phy.MHDR.MType
	if mt == lorawan.JoinAccept {
		d.receiveJoinAccept(&phy)
		return
	}
	if mt != lorawan.UnconfirmedDataDown && mt != lorawan.ConfirmedDataDown {
		return
	}
	mp, ok := phy.MACPayload.(*lorawan.MACPayload)
	if !ok {
		return
	}
	now := d.net.clk.Now()
	if d.joined && mp.FHDR.DevAddr == d.addr {
		d.receiveUnicast(&phy, mp, now, f, sig)
		return
	}
	if mt != lorawan.UnconfirmedDataDown {
		return
	}
	if keys, ok := d.app.MulticastSession(mp.FHDR.DevAddr); ok {
		d.receiveMulticast(&phy, mp, keys, now)
	}
}

func (d *Device) receiveUnicast(phy *lorawan.PHYPayload, mp *lorawan.MACPayload, now time.Time, f radio.Frame, sig radio.Signal) {
	// MAC-only frames count on a counter of their own (see macOnlyFrame).
	next := &d.fCntDown
	if mp.FPort == nil {
		next = &d.nFCntDown
	}
	full := fullFCnt(*next, uint16(mp.FHDR.FCnt))
	mp.FHDR.FCnt = full
	if ok, err := phy.ValidateDownlinkDataMIC(macVersion(d.mac11), 0, d.keys.SNwkSIntKey); !ok || err != nil {
		d.stats.Dropped++
		d.log.Warn("device dropped a downlink: MIC", "f_cnt", full, "err", err)
		return
	}
	*next = full + 1
	d.handleMACCommands(phy, mp, sig)
	if mp.FPort == nil {
		d.log.Info("device MAC downlink", "f_cnt", full)
		return
	}
	d.stats.UnicastDownlinks++
	d.lastDn = f
	if phy.MHDR.MType == lorawan.ConfirmedDataDown {
		d.ackPending, d.ackConfFCnt = true, full
		if d.ackTimer != nil {
			d.ackTimer.Stop()
		}
		d.ackTimer = d.net.clk.AfterFunc(ackDelay, func() {
			if d.ackPending {
				d.send(0, nil, false)
			}
		})
	}
	fport := *mp.FPort
	key := d.keys.AppSKey
	if fport == 0 {
		key = d.keys.NwkSEncKey
	}
	payload, ok := decrypt(phy, mp, key)
	if !ok {
		d.stats.Dropped++
		return
	}
	d.log.Info("device downlink", "f_cnt", full, "f_port", fport, "len", len(payload), "confirmed", phy.MHDR.MType == lorawan.ConfirmedDataDown)
	if fport == 0 {
		return // MAC commands: none are modelled
	}
	if err := d.app.HandleDownlink(fport, payload, nil, now); err != nil {
		d.log.Info("device ignored a downlink", "f_port", fport, "reason", err)
	}
}

func (d *Device) receiveMulticast(phy *lorawan.PHYPayload, mp *lorawan.MACPayload, keys MulticastKeys, now time.Time) {
	if d.mcFCnt == nil {
		d.mcFCnt = map[lorawan.DevAddr]uint32{}
	}
	next := max(d.mcFCnt[mp.FHDR.DevAddr], keys.MinFCnt)
	full := fullFCnt(next, uint16(mp.FHDR.FCnt))
	mp.FHDR.FCnt = full
	if ok, err := phy.ValidateDownlinkDataMIC(lorawan.LoRaWAN1_0, 0, keys.McNwkSKey); !ok || err != nil {
		d.stats.Dropped++
		d.log.Warn("device dropped a multicast frame: MIC", "mc_addr", mp.FHDR.DevAddr, "f_cnt", full, "err", err)
		return
	}
	if mp.FPort == nil || *mp.FPort == 0 {
		return
	}
	payload, ok := decrypt(phy, mp, keys.McAppSKey)
	if !ok {
		d.stats.Dropped++
		return
	}
	d.mcFCnt[mp.FHDR.DevAddr] = full + 1
	d.stats.MulticastDownlinks++
	d.log.Info("device multicast downlink", "mc_addr", mp.FHDR.DevAddr, "f_cnt", full, "f_port", *mp.FPort, "len", len(payload))
	if err := d.app.HandleDownlink(*mp.FPort, payload, &MulticastRef{Addr: mp.FHDR.DevAddr, FCnt: full}, now); err != nil {
		d.log.Info("device ignored a multicast frame", "f_port", *mp.FPort, "reason", err)
	}
}

// decrypt decrypts the FRMPayload in place and returns it.
func decrypt(phy *lorawan.PHYPayload, mp *lorawan.MACPayload, key lorawan.AES128Key) ([]byte, bool) {
	if len(mp.FRMPayload) == 0 {
		return nil, true
	}
	if err := phy.DecryptFRMPayload(key); err != nil {
		return nil, false
	}
	dp, ok := mp.FRMPayload[0].(*lorawan.DataPayload)
	if !ok {
		return nil, false
	}
	return dp.Bytes, true
}

func macVersion(mac11 bool) lorawan.MACVersion {
	if mac11 {
		return lorawan.LoRaWAN1_1
	}
	return lorawan.LoRaWAN1_0
}
