package fuota

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/region"
)

// The airtime budget. Every downlink the engine causes at the gateways,
// multicast fragments and class C unicasts alike, is entered in one ledger per
// gateway and sub-band before it is handed to the network server, and is
// handed over only when every gateway that may carry it can: the RX2 channel
// where ChirpStack sends class C unicasts is, by default, the multicast
// channel, so a pacer that counted only fragments would overdraw the
// sub-band as soon as status requests follow a multicast that used the
// hour's budget. Class A unicasts go out in the RX windows the device opens
// and are not entered (RX1 is on the uplink's sub-band; the engine does not
// know which).

// airState is the persisted record of the scheduled downlinks.
type airState struct {
	// Ledgers holds each gateway's and sub-band's recent frames, from which
	// the ledgers are rebuilt after a restart.
	Ledgers []bandFrames `json:"ledgers"`
	// BusyUntil is when the last unicast is surely over, gap included: the
	// next downlink may not be handed over before it. (Fragments keep their
	// own spacing, mcState.LastStart.)
	BusyUntil time.Time `json:"busy_until"`
	// Outbox holds the class C unicasts waiting for airtime, in order.
	Outbox []outItem `json:"outbox"`
	// UnicastTimer is the id of the armed timer that sends the outbox's head.
	UnicastTimer string `json:"unicast_timer,omitempty"`
	// Unicasts counts the unicasts entered in the ledgers.
	Unicasts int `json:"unicasts"`
	// HoldUntil keeps the outbox shut after a gateway refused a unicast;
	// Backoff is the hold's length, doubled while refusals keep coming;
	// Refusals counts them.
	HoldUntil time.Time     `json:"hold_until"`
	Backoff   time.Duration `json:"backoff,omitempty"`
	Refusals  int           `json:"refusals,omitempty"`
}

type bandFrames struct {
	Gateway string            `json:"gateway"`
	Band    string            `json:"band"`
	Frames  []dutycycle.Frame `json:"frames"`
}

// outItem is a unicast waiting for airtime: a device's outstanding request
// (Request, sent by enqueue, valid while the device's Seq is unchanged) or a
// frame that expects no answer.
type outItem struct {
	DevEUI  lorawan.EUI64     `json:"dev_eui"`
	Request bool              `json:"request,omitempty"`
	Seq     uint64            `json:"seq,omitempty"`
	FPort   uint8             `json:"fport"`
	Data    applayer.HexBytes `json:"data"`
}

// macOverhead is the LoRaWAN framing around an application payload: MHDR,
// DevAddr, FCtrl, FCnt, FPort and MIC, without FOpts.
const macOverhead = 13

// DefaultSchedulerLatency is ChirpStack's network.scheduler.interval: a
// queued item goes on air at the scheduler's next run, up to this late.
const DefaultSchedulerLatency = time.Second

// ledger is one gateway's ledger for one sub-band.
type ledger struct {
	gateway string
	band    string
	l       *dutycycle.Ledger
}

// gatewayModel is the enforcement style of gateway i.
func (d *Deployment) gatewayModel(i int) dutycycle.Model {
	if i < len(d.st.Cfg.Gateways) && d.st.Cfg.Gateways[i].Model != 0 {
		return d.st.Cfg.Gateways[i].Model
	}
	return d.plan.Request.DutyCycleModel
}

// gatewayIDs are the gateways the ledgers are kept for: the configured ones,
// or one standing for the network server's own choice.
func (d *Deployment) gatewayIDs() []string {
	if len(d.st.Cfg.Gateways) == 0 {
		return []string{""}
	}
	ids := make([]string, len(d.st.Cfg.Gateways))
	for i, g := range d.st.Cfg.Gateways {
		ids[i] = g.ID
	}
	return ids
}

// ledgersFor returns every gateway's ledger for the sub-band of freq, built
// on first use (from the persisted frames after a restart). A gateway whose
// sub-band has no duty-cycle limit has no ledger.
func (d *Deployment) ledgersFor(freq uint32) ([]ledger, error) {
	reg, err := region.Get(d.plan.Request.Region)
	if err != nil {
		return nil, err
	}
	if d.ledgers == nil {
		d.ledgers = map[string]ledger{}
		for _, bf := range d.st.Air.Ledgers {
			i := indexOf(d.gatewayIDs(), bf.Gateway)
			if i < 0 {
				return nil, fmt.Errorf("gateway %q: in the stored ledgers but not configured", bf.Gateway)
			}
			l, err := d.newLedger(reg, i, bf.Band)
			if err != nil {
				return nil, err
			}
			for _, f := range bf.Frames {
				if err := l.l.Add(f.Start, f.Airtime); err != nil {
					return nil, fmt.Errorf("gateway %q ledger: replaying %v: %w", bf.Gateway, f.Start, err)
				}
			}
			d.ledgers[bf.Gateway+"|"+bf.Band] = l
		}
	}
	var out []ledger
	for i, id := range d.gatewayIDs() {
		sb, limit, err := subBandOf(reg, d.gatewayModel(i), freq)
		if err != nil {
			return nil, fmt.Errorf("gateway %q: %w", id, err)
		}
		if limit >= 1 {
			continue
		}
		key := id + "|" + sb.Name
		l, ok := d.ledgers[key]
		if !ok {
			if l, err = d.newLedger(reg, i, sb.Name); err != nil {
				return nil, err
			}
			d.ledgers[key] = l
		}
		out = append(out, l)
	}
	return out, nil
}

func (d *Deployment) newLedger(reg *region.Region, i int, band string) (ledger, error) {
	id := d.gatewayIDs()[i]
	model := d.gatewayModel(i)
	bands, err := reg.SubBands(enforcementOf(model))
	if err != nil {
		return ledger{}, fmt.Errorf("gateway %q: %w", id, err)
	}
	for _, sb := range bands {
		if sb.Name != band {
			continue
		}
		l, err := dutycycle.New(model, sb.DutyCycle.Fraction(), 0)
		if err != nil {
			return ledger{}, fmt.Errorf("gateway %q sub-band %s: %w", id, band, err)
		}
		return ledger{gateway: id, band: band, l: l}, nil
	}
	return ledger{}, fmt.Errorf("gateway %q: no sub-band %q in %s's table", id, band, reg.Name())
}

func indexOf(ids []string, id string) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}

// saveLedgers copies the ledgers' frames into the persisted state.
func (d *Deployment) saveLedgers() {
	if d.ledgers == nil {
		return
	}
	d.st.Air.Ledgers = d.st.Air.Ledgers[:0]
	for _, l := range sortedLedgers(d.ledgers) {
		d.st.Air.Ledgers = append(d.st.Air.Ledgers, bandFrames{Gateway: l.gateway, Band: l.band, Frames: l.l.Frames()})
	}
}

func sortedLedgers(m map[string]ledger) []ledger {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Insertion sort: a handful of entries.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	out := make([]ledger, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// slot returns the first instant at or after t at which a downlink of
// airtime a on freq may be handed to the network server: after the last
// unicast is surely over and within every gateway's duty cycle. The network
// server sends a frame between its hand-over and SchedulerLatency later, so
// the ledgers record it at the latest instant (book) and are asked about the
// earliest: the gateway then never sees two frames closer than the ledger
// did, nor more frames in its window.
func (s *stepper) slot(t time.Time, freq uint32, a time.Duration) (time.Time, error) {
	t = maxTime(t, s.d.st.Air.BusyUntil)
	ls, err := s.d.ledgersFor(freq)
	if err != nil {
		return time.Time{}, err
	}
	return earliestOn(ls, t, a)
}

// book enters a downlink in every ledger of its sub-band, at the latest
// instant it may go on air.
func (s *stepper) book(at time.Time, freq uint32, a time.Duration) error {
	ls, err := s.d.ledgersFor(freq)
	if err != nil {
		return err
	}
	return addOn(ls, at, a)
}

// unicastAirtime is the time on air of a unicast carrying data.
func (d *Deployment) unicastAirtime(data []byte) (time.Duration, error) {
	reg, err := region.Get(d.plan.Request.Region)
	if err != nil {
		return 0, err
	}
	return reg.DownlinkToA(d.st.Cfg.UnicastDR, macOverhead+len(data))
}

// post queues a class C unicast for airtime and sends what can go now.
func (s *stepper) post(it outItem) error {
	s.d.st.Air.Outbox = append(s.d.st.Air.Outbox, it)
	return s.drain()
}

const timerUnicastPrefix = "unicast/"

// drain hands the outbox's unicasts to the network server as their airtime
// comes, and arms a timer for the next. While fragments are being sent,
// unicasts wait: the devices are listening to the session.
func (s *stepper) drain() error {
	air := &s.d.st.Air
	if s.d.st.Phase == PhaseMulticast && !s.d.st.Mc.Finished {
		return nil
	}
	for len(air.Outbox) > 0 {
		it := air.Outbox[0]
		var dev *device
		if it.Request {
			dev = s.d.byEUI[it.DevEUI]
			if dev == nil || dev.Seq != it.Seq || dev.Pending == nil || !dev.Pending.Queued || dev.terminal() {
				air.Outbox = air.Outbox[1:]
				continue // the device moved on
			}
		}
		a, err := s.d.unicastAirtime(it.Data)
		if err != nil {
			return fmt.Errorf("unicast to %s: %w", it.DevEUI, err)
		}
		// After the last fragment too (LastEnd is its latest end).
		from := maxTime(s.now, maxTime(s.d.st.NextUnicast, air.HoldUntil))
		if !s.d.st.Mc.LastEnd.IsZero() {
			from = maxTime(from, s.d.st.Mc.LastEnd.Add(s.d.plan.Request.FrameGap))
		}
		t, err := s.slot(from, s.d.st.Cfg.UnicastFrequencyHz, a)
		if err != nil {
			return fmt.Errorf("unicast to %s: %w", it.DevEUI, err)
		}
		if t.After(s.now) {
			s.armUnicast(t)
			return nil
		}
		if err := s.book(t.Add(s.d.st.Cfg.SchedulerLatency), s.d.st.Cfg.UnicastFrequencyHz, a); err != nil {
			return fmt.Errorf("unicast to %s: %w", it.DevEUI, err)
		}
		air.BusyUntil = t.Add(s.d.st.Cfg.SchedulerLatency + a + s.d.plan.Request.FrameGap)
		air.Unicasts++
		air.Outbox = air.Outbox[1:]
		s.d.st.NextUnicast = t.Add(s.d.st.Cfg.UnicastSpacing)
		if it.Request && it.FPort == fragmentation.DefaultFPort && len(it.Data) > 0 && it.Data[0] == fragmentation.CIDFragSessionSetup {
			// The device erases its staging area before it answers: the
			// next downlink waits for that answer, which a half-duplex
			// gateway would not hear while it sends.
			s.d.st.NextUnicast = s.d.st.NextUnicast.Add(eraseAllowance(s.d.plan.Blocks[dev.Block].Size))
		}
		if it.Request {
			s.enqueue(dev)
		} else {
			s.emit(EnqueueUnicast{DevEUI: it.DevEUI, FPort: it.FPort, Data: it.Data})
		}
	}
	return nil
}

// armUnicast arms the outbox's timer for t, unless one is armed earlier.
func (s *stepper) armUnicast(t time.Time) {
	air := &s.d.st.Air
	if at, ok := unicastTimerAt(air.UnicastTimer); ok && at.After(s.now) && !at.After(t) {
		return
	}
	air.UnicastTimer = timerUnicastPrefix + strconv.FormatInt(t.UnixNano(), 10)
	s.emit(SetTimer{ID: air.UnicastTimer, At: t})
}

func unicastTimerAt(id string) (time.Time, bool) {
	ns, err := strconv.ParseInt(strings.TrimPrefix(id, timerUnicastPrefix), 10, 64)
	if err != nil || !strings.HasPrefix(id, timerUnicastPrefix) {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// unicastTimer handles the outbox's timer; stale ones (re-armed since) are
// ignored, so that the timers never multiply.
func (s *stepper) unicastTimer(id string) error {
	if id != s.d.st.Air.UnicastTimer {
		return nil
	}
	s.d.st.Air.UnicastTimer = ""
	return s.drain()
}

// eraseAllowance is how long a device may take to erase room for a block of
// size bytes before it answers FragSessionSetupReq: a second per 32 KiB,
// above the typical erase of NOR (45 ms per 4 KiB), STM32WL (22 ms per 2 KiB)
// and nRF52 (85 ms per 4 KiB) flash.
func eraseAllowance(size int) time.Duration {
	return time.Duration(size/(32<<10)+1) * time.Second
}

// maxHold bounds the outbox's hold after refusals: a sliding window frees
// itself within the hour.
const maxHold = 10 * time.Minute

// refused takes a gateway's refusal of a unicast to a class C device: the
// band holds more than the ledgers know. The device's queue is flushed, so
// that ChirpStack stops trying the item again at every run (each try another
// refusal), its request goes back to the outbox, and the outbox holds for the
// refused frame's off-time, doubled while refusals keep coming within the
// hold. Refusals of class A and B devices are left to ChirpStack, which sends
// their items in the device's receive windows.
func (s *stepper) refused(ev Refused) {
	dev := s.d.byEUI[ev.DevEUI]
	if dev == nil || dev.terminal() || dev.Cfg.Class != ClassC {
		return
	}
	air := &s.d.st.Air
	air.Refusals++
	p := dev.Pending
	if p == nil || p.Queued {
		return // a frame with no answer, or one already taken back
	}
	s.emit(FlushQueue{DevEUI: dev.Cfg.DevEUI})
	a, err := s.d.unicastAirtime(p.Data)
	if err != nil {
		s.setErr(err)
		return
	}
	base := a
	if ls, err := s.d.ledgersFor(s.d.st.Cfg.UnicastFrequencyHz); err == nil && len(ls) > 0 {
		base = time.Duration(float64(a) / ls[0].l.Limit())
	}
	switch {
	case air.Backoff == 0 || s.now.After(air.HoldUntil.Add(air.Backoff)):
		air.Backoff = base
	default:
		air.Backoff = min(2*air.Backoff, maxHold)
	}
	air.HoldUntil = maxTime(air.HoldUntil, s.now.Add(air.Backoff))
	s.log(dev.Cfg.DevEUI, "gateway refused %s (%s); taken back, unicasts held %v", p.Name, ev.Status, air.Backoff)
	if err := s.transmit(dev); err != nil {
		s.setErr(err)
	}
}
