package simulator

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clock"
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

	stats  DeviceStats
	lastDn radio.Frame
}

// DeviceStats counts a device's frames.
type DeviceStats struct {
	Uplinks            int
	UnicastDownlinks   int
	MulticastDownlinks int
	// Dropped counts frames addressed to the device that failed their MIC
	// or frame counter check.
	Dropped int
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

// uplink is the application's uplink: it goes out at once.
func (d *Device) uplink(fport uint8, payload []byte) { d.send(fport, payload, true) }

// send builds and transmits an uplink: a data frame with the FRMPayload
// encrypted with AppSKey and the MIC of the MAC version; hasPort false sends
// an empty frame (no FPort), as for a bare ACK.
func (d *Device) send(fport uint8, payload []byte, hasPort bool) {
	n := d.net
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
	airtime, err := n.reg.UplinkToA(d.uplinkDR, len(b))
	if err != nil {
		d.log.Error("uplink too long", "err", err, "len", len(b))
		return
	}
	if d.ackTimer != nil {
		d.ackTimer.Stop()
	}
	d.ackPending = false
	fcnt := d.fCntUp
	d.fCntUp++
	now := n.clk.Now()
	d.sentUp, d.upEnd, d.upFreq, d.upDR = true, now.Add(airtime), d.freqs[ch], d.uplinkDR
	d.stats.Uplinks++
	d.log.Info("device uplink", "f_cnt", fcnt, "f_port", fport, "len", len(payload), "freq", d.freqs[ch], "dr", d.uplinkDR,
		"ack", mp.FHDR.FCtrl.ACK)
	if err := n.medium.Uplink(d.eui, radio.Frame{Frequency: d.freqs[ch], DR: d.uplinkDR, PowerDBm: UplinkPowerDBm, PHYPayload: b, Airtime: airtime}); err != nil {
		d.log.Error("uplink not sent", "err", err)
	}
}

// Listening implements radio.Receiver: the MAC's RX1 and RX2 windows after
// each uplink, RX2 continuously for class C (except while transmitting),
// and whatever the application keeps open (multicast sessions).
func (d *Device) Listening(freq uint32, dr int, at time.Time) bool {
	rx2 := d.net.reg.RX2()
	isRX2 := freq == rx2.FrequencyHz && dr == rx2.DataRate
	if d.sentUp {
		rx1 := d.upEnd.Add(rx1Delay)
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
	return d.app.Listening(freq, dr, at)
}

func inWindow(at, open time.Time) bool {
	return !at.Before(open.Add(-rxWindowOpen/5)) && at.Before(open.Add(rxWindowOpen))
}

// Receive implements radio.Receiver: it checks a data frame addressed to
// the device or to one of its multicast groups, decrypts it and hands it to
// the application.
func (d *Device) Receive(f radio.Frame, _ radio.Signal) {
	var phy lorawan.PHYPayload
	if err := phy.UnmarshalBinary(f.PHYPayload); err != nil {
		return
	}
	mt := phy.MHDR.MType
	if mt != lorawan.UnconfirmedDataDown && mt != lorawan.ConfirmedDataDown {
		return
	}
	mp, ok := phy.MACPayload.(*lorawan.MACPayload)
	if !ok {
		return
	}
	now := d.net.clk.Now()
	if mp.FHDR.DevAddr == d.addr {
		d.receiveUnicast(&phy, mp, now, f)
		return
	}
	if mt != lorawan.UnconfirmedDataDown {
		return
	}
	if keys, ok := d.app.MulticastSession(mp.FHDR.DevAddr); ok {
		d.receiveMulticast(&phy, mp, keys, now)
	}
}

func (d *Device) receiveUnicast(phy *lorawan.PHYPayload, mp *lorawan.MACPayload, now time.Time, f radio.Frame) {
	full := fullFCnt(d.fCntDown, uint16(mp.FHDR.FCnt))
	mp.FHDR.FCnt = full
	if ok, err := phy.ValidateDownlinkDataMIC(macVersion(d.mac11), 0, d.keys.SNwkSIntKey); !ok || err != nil {
		d.stats.Dropped++
		d.log.Warn("device dropped a downlink: MIC", "f_cnt", full, "err", err)
		return
	}
	d.fCntDown = full + 1
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
	if mp.FPort == nil {
		d.log.Info("device downlink", "f_cnt", full, "empty", true)
		return
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
