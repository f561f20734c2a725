package gateway

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/ns"
	"github.com/lorafuota/lorafuota/simulator/radio"
)

// The gateway software a Config.Model stands for.
const (
	Concentratord = dutycycle.SlidingWindow
	BasicStation  = dutycycle.OffTime
)

// NoAck is what Schedule returns when the gateway sends no tx ack at all, as
// Basic Station for a frame it drops. It is ns.NoAck.
const NoAck = ns.NoAck

// Defaults of Config, from Concentratord 4.7.1 (libconcentratord jitqueue.rs)
// and Basic Station 2.0.6 (s2conf.h, s2e.c).
const (
	DefaultQueueCapacity = 32
	// DefaultMinLead and DefaultTxGap are tx_start_delay + tx_jit_delay +
	// tx_margin_delay: the least lead time of a timed frame and the least
	// gap between two frames.
	DefaultMinLead = 42500 * time.Microsecond
	DefaultTxGap   = 42500 * time.Microsecond
	// DefaultImmediateDelay is where an "immediately" frame goes: 2 ×
	// tx_jit_delay from now.
	DefaultImmediateDelay          = 80 * time.Millisecond
	DefaultMaxAdvanceConcentratord = 512 * time.Second // (3+1)·128 s
	DefaultMaxAdvanceBasicStation  = 600 * time.Second // TX_MAX_AHEAD
	DefaultGPSLateTolerance        = 2 * time.Second
	DefaultClassCBackoff           = 100 * time.Millisecond // CLASS_C_BACKOFF_BY
	DefaultClassCBackoffMax        = 10                     // CLASS_C_BACKOFF_MAX
)

// Timing says when a frame is to be sent, as gw.Timing does.
type Timing uint8

const (
	// Immediately is ChirpStack's "immediately" (class C DELAY mode): as
	// soon as the transmitter is free. Basic Station treats it as class C.
	Immediately Timing = iota + 1
	// AtTime is a timestamped frame (gw.DelayTimingInfo): at TxRequest.At.
	AtTime
	// AtGPSTime is a GPS-epoch frame (class C GPS_TIME, class B): at
	// TxRequest.At; see "Late GPS times" in the package documentation.
	AtGPSTime
)

func (t Timing) String() string {
	switch t {
	case Immediately:
		return "immediately"
	case AtTime:
		return "at-time"
	case AtGPSTime:
		return "at-gps-time"
	}
	return fmt.Sprintf("Timing(%d)", uint8(t))
}

// TxRequest is one downlink for the gateway, as in gw.DownlinkFrameItem
// with its tx info.
type TxRequest struct {
	ID         uint32 // the network server's downlink id
	Frequency  uint32 // Hz
	DR         int
	PowerDBm   int // EIRP
	PHYPayload []byte
	Timing     Timing
	At         time.Time // for AtTime and AtGPSTime
}

// Config configures a Gateway. Zero durations and sizes mean the defaults.
type Config struct {
	ID     lorawan.EUI64
	Region region.Name
	// Model is Concentratord (the zero value) or BasicStation.
	Model dutycycle.Model
	// EnforceDC refuses frames the duty cycle does not allow; without it
	// frames are only recorded. Concentratord enforces only with the
	// ENFORCE_DC model flag; Basic Station production builds always do.
	EnforceDC bool
	// Position is where the gateway stands on the medium, if anywhere.
	Position *radio.Position

	// Window is the sliding window of Concentratord and of the reports
	// (dutycycle.DefaultWindow).
	Window time.Duration
	// QueueCapacity caps the frames waiting to go on air (QUEUE_FULL).
	QueueCapacity int
	// MinLead is the least time from now to a timed frame (TOO_LATE).
	MinLead time.Duration
	// TxGap is the least gap between two frames (COLLISION_PACKET).
	TxGap time.Duration
	// ImmediateDelay is the least time from now to an "immediately" frame.
	ImmediateDelay time.Duration
	// MaxAdvance is the furthest ahead a frame may be scheduled
	// (TOO_EARLY): 512 s for Concentratord, 600 s for Basic Station.
	MaxAdvance time.Duration
	// GPSLateTolerance is how late a GPS time may be and still be sent, as
	// soon as possible, unless StrictGPSTiming.
	GPSLateTolerance time.Duration
	StrictGPSTiming  bool
	// ClassCBackoff and ClassCBackoffMax are Basic Station's push-back of
	// a class C frame it cannot send yet; a negative ClassCBackoffMax
	// means no push-back.
	ClassCBackoff    time.Duration
	ClassCBackoffMax int
}

func (c Config) withDefaults() Config {
	if c.Model == 0 {
		c.Model = Concentratord
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Window, dutycycle.DefaultWindow)
	def(&c.MinLead, DefaultMinLead)
	def(&c.TxGap, DefaultTxGap)
	def(&c.ImmediateDelay, DefaultImmediateDelay)
	def(&c.GPSLateTolerance, DefaultGPSLateTolerance)
	def(&c.ClassCBackoff, DefaultClassCBackoff)
	if c.Model == BasicStation {
		def(&c.MaxAdvance, DefaultMaxAdvanceBasicStation)
	} else {
		def(&c.MaxAdvance, DefaultMaxAdvanceConcentratord)
	}
	if c.QueueCapacity == 0 {
		c.QueueCapacity = DefaultQueueCapacity
	}
	switch {
	case c.ClassCBackoffMax == 0:
		c.ClassCBackoffMax = DefaultClassCBackoffMax
	case c.ClassCBackoffMax < 0:
		c.ClassCBackoffMax = 0
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Model != Concentratord && c.Model != BasicStation {
		errs = append(errs, fmt.Errorf("model %v: want %v (Concentratord) or %v (Basic Station)", c.Model, Concentratord, BasicStation))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Window", c.Window}, {"MinLead", c.MinLead}, {"TxGap", c.TxGap},
		{"ImmediateDelay", c.ImmediateDelay}, {"MaxAdvance", c.MaxAdvance},
		{"GPSLateTolerance", c.GPSLateTolerance}, {"ClassCBackoff", c.ClassCBackoff},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if c.QueueCapacity < 0 {
		errs = append(errs, fmt.Errorf("QueueCapacity %d is negative", c.QueueCapacity))
	}
	return errors.Join(errs...)
}

// Stats counts a gateway's frames.
type Stats struct {
	Accepted int           // frames queued (tx ack OK)
	Sent     int           // frames that went on air
	Airtime  time.Duration // airtime of the frames sent
	// Rejected counts refused frames by the status of the reason. Under
	// Basic Station the network server heard NoAck instead; Unacked counts
	// those.
	Rejected map[gw.TxAckStatus]int
	Unacked  int
	// Backoffs counts Basic Station's 100 ms push-backs of class C frames.
	Backoffs int
	// LateGPS counts frames accepted with a GPS time already (nearly)
	// past and sent MinLead from the time they were scheduled.
	LateGPS int
	// MediumErrors counts frames the medium could not deliver to some
	// receiver (a data rate it cannot model).
	MediumErrors int
}

// Gateway is one simulated gateway. Create one with New.
type Gateway struct {
	cfg   Config
	clk   clock.Clock
	reg   *region.Region
	bands region.SubBands
	port  *radio.Port

	mu      sync.Mutex
	ledgers map[string]*subBand
	frames  []*frame // accepted and not yet over, by start
	stats   Stats
}

// subBand is the ledger of one sub-band (or channel).
type subBand struct {
	band    region.SubBand
	ledger  *dutycycle.Ledger
	airtime time.Duration // every frame ever recorded
	frames  int
}

type frame struct {
	req     TxRequest
	start   time.Time
	airtime time.Duration
	onAir   bool
}

func (f *frame) end() time.Time { return f.start.Add(f.airtime) }

// New returns a gateway. If medium is not nil the gateway joins it at
// cfg.Position, and its frames go on air there.
func New(cfg Config, clk clock.Clock, medium *radio.Medium) (*Gateway, error) {
	if clk == nil {
		return nil, fmt.Errorf("gateway %s: nil clock", cfg.ID)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("gateway %s: %w", cfg.ID, err)
	}
	reg, err := region.Get(cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", cfg.ID, err)
	}
	enf := region.Regulatory
	if cfg.Model == BasicStation {
		enf = region.BasicStation
	}
	bands, err := reg.SubBands(enf)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", cfg.ID, err)
	}
	if cfg.Position != nil {
		p := *cfg.Position
		cfg.Position = &p
	}
	g := &Gateway{
		cfg:     cfg,
		clk:     clk,
		reg:     reg,
		bands:   bands,
		ledgers: make(map[string]*subBand),
		stats:   Stats{Rejected: make(map[gw.TxAckStatus]int)},
	}
	if medium != nil {
		if g.port, err = medium.AddGateway(cfg.ID, cfg.Position); err != nil {
			return nil, fmt.Errorf("gateway %s: %w", cfg.ID, err)
		}
	}
	return g, nil
}

// ID returns the gateway's id.
func (g *Gateway) ID() lorawan.EUI64 { return g.cfg.ID }

// Config returns the configuration with defaults filled in.
func (g *Gateway) Config() Config { return g.cfg }

// lookup finds the sub-band of a frame the way the gateway software does.
func (g *Gateway) lookup(freqHz uint32, powerDBm int) (region.SubBand, error) {
	if g.cfg.Model == Concentratord {
		return g.bands.LookupEIRP(freqHz, float64(powerDBm))
	}
	return g.bands.Lookup(freqHz)
}

func ledgerKey(b region.SubBand, freqHz uint32) string {
	if b.PerChannel {
		return fmt.Sprintf("%s@%d", b.Name, freqHz)
	}
	return b.Name
}

// SubBand returns the name of the ledger a frame on freqHz at powerDBm EIRP
// is booked in: the sub-band's name, with "@<frequency in Hz>" where the
// limit is per channel.
func (g *Gateway) SubBand(freqHz uint32, powerDBm int) (string, error) {
	b, err := g.lookup(freqHz, powerDBm)
	if err != nil {
		return "", fmt.Errorf("gateway %s: %w", g.cfg.ID, err)
	}
	return ledgerKey(b, freqHz), nil
}

// ledgerOf returns the ledger of band b for freqHz, creating it. The caller
// holds g.mu.
func (g *Gateway) ledgerOf(b region.SubBand, freqHz uint32) (*subBand, error) {
	k := ledgerKey(b, freqHz)
	if sb := g.ledgers[k]; sb != nil {
		return sb, nil
	}
	// Without enforcement a limit of 1 records every frame: one
	// transmitter can never exceed it.
	limit := 1.0
	if g.cfg.EnforceDC && !b.DutyCycle.Unlimited() {
		limit = b.DutyCycle.Fraction()
	}
	l, err := dutycycle.New(g.cfg.Model, limit, g.cfg.Window)
	if err != nil {
		return nil, err
	}
	sb := &subBand{band: b, ledger: l}
	g.ledgers[k] = sb
	return sb, nil
}

// Schedule takes a downlink and returns the tx ack the gateway sends: OK if
// the frame is queued, a refusal status under Concentratord, NoAck for any
// frame Basic Station drops. An accepted frame is booked in its sub-band's
// ledger at once and goes on air at its start.
func (g *Gateway) Schedule(tx TxRequest) gw.TxAckStatus {
	tx.PHYPayload = slices.Clone(tx.PHYPayload)
	g.mu.Lock()
	now := g.clk.Now()
	st, f := g.schedule(tx, now)
	g.mu.Unlock()
	if f != nil {
		g.clk.AfterFunc(f.start.Sub(now), func() { g.onAir(f) })
	}
	return st
}

// schedule decides on tx. The caller holds g.mu.
func (g *Gateway) schedule(tx TxRequest, now time.Time) (gw.TxAckStatus, *frame) {
	g.forget(now)
	if tx.Timing < Immediately || tx.Timing > AtGPSTime {
		return g.refuse(gw.TxAckStatus_INTERNAL_ERROR), nil
	}
	airtime, err := g.reg.DownlinkToA(tx.DR, len(tx.PHYPayload))
	if err != nil {
		return g.refuse(gw.TxAckStatus_INTERNAL_ERROR), nil
	}
	b, err := g.lookup(tx.Frequency, tx.PowerDBm)
	if err != nil {
		// Concentratord: "No duty-cycle band found for packet".
		return g.refuse(gw.TxAckStatus_DUTY_CYCLE_OVERFLOW), nil
	}
	sb, err := g.ledgerOf(b, tx.Frequency)
	if err != nil {
		return g.refuse(gw.TxAckStatus_INTERNAL_ERROR), nil
	}
	sb.ledger.Prune(now)
	if g.queued() >= g.cfg.QueueCapacity {
		return g.refuse(gw.TxAckStatus_QUEUE_FULL), nil
	}

	var (
		start time.Time
		late  bool
		st    gw.TxAckStatus
	)
	if g.cfg.Model == BasicStation {
		start, late, st = g.placeBasicStation(tx, now, airtime, sb)
	} else {
		start, late, st = g.placeConcentratord(tx, now, airtime, sb)
	}
	if st != gw.TxAckStatus_OK {
		return g.refuse(st), nil
	}
	if err := sb.ledger.Add(start, airtime); err != nil {
		// Placement checked the ledger; this cannot happen.
		return g.refuse(gw.TxAckStatus_INTERNAL_ERROR), nil
	}
	sb.airtime += airtime
	sb.frames++
	if late {
		g.stats.LateGPS++
	}
	g.stats.Accepted++
	f := &frame{req: tx, start: start, airtime: airtime}
	i, _ := slices.BinarySearchFunc(g.frames, start, func(f *frame, t time.Time) int { return f.start.Compare(t) })
	g.frames = slices.Insert(g.frames, i, f)
	return gw.TxAckStatus_OK, f
}

// placeConcentratord places a frame as Concentratord's JIT queue and duty-
// cycle tracker do, in their order of checks.
func (g *Gateway) placeConcentratord(tx TxRequest, now time.Time, airtime time.Duration, sb *subBand) (time.Time, bool, gw.TxAckStatus) {
	var (
		start time.Time
		late  bool
	)
	if tx.Timing == Immediately {
		start = g.firstFree(now.Add(g.cfg.ImmediateDelay), airtime)
	} else {
		start, late = g.gpsLate(tx, now)
		if g.collides(start, airtime) {
			return start, late, gw.TxAckStatus_COLLISION_PACKET
		}
		if start.Sub(now) < g.cfg.MinLead {
			return start, late, gw.TxAckStatus_TOO_LATE
		}
	}
	if start.Sub(now) > g.cfg.MaxAdvance {
		return start, late, gw.TxAckStatus_TOO_EARLY
	}
	if sb.ledger.Check(start, airtime) != nil {
		return start, late, gw.TxAckStatus_DUTY_CYCLE_OVERFLOW
	}
	return start, late, gw.TxAckStatus_OK
}

// placeBasicStation places a frame as Basic Station's s2e_addTxjob does:
// class C ("immediately") frames step back by ClassCBackoff while the band
// is blocked or the transmitter taken, timed frames get one try.
func (g *Gateway) placeBasicStation(tx TxRequest, now time.Time, airtime time.Duration, sb *subBand) (time.Time, bool, gw.TxAckStatus) {
	fits := func(start time.Time) gw.TxAckStatus {
		if g.collides(start, airtime) {
			return gw.TxAckStatus_COLLISION_PACKET
		}
		if sb.ledger.Check(start, airtime) != nil {
			return gw.TxAckStatus_DUTY_CYCLE_OVERFLOW
		}
		return gw.TxAckStatus_OK
	}
	if tx.Timing == Immediately {
		start := now.Add(g.cfg.ImmediateDelay)
		for try := 0; ; try++ {
			st := fits(start)
			if st == gw.TxAckStatus_OK || try == g.cfg.ClassCBackoffMax {
				return start, false, st
			}
			g.stats.Backoffs++
			start = start.Add(g.cfg.ClassCBackoff)
		}
	}
	start, late := g.gpsLate(tx, now)
	switch {
	case start.Sub(now) > g.cfg.MaxAdvance:
		return start, late, gw.TxAckStatus_TOO_EARLY
	case start.Sub(now) < g.cfg.MinLead:
		return start, late, gw.TxAckStatus_TOO_LATE
	}
	return start, late, fits(start)
}

// gpsLate returns the start of a timed frame: tx.At, or, for a GPS time
// that is late by no more than the tolerance, the earliest start from now.
func (g *Gateway) gpsLate(tx TxRequest, now time.Time) (time.Time, bool) {
	earliest := now.Add(g.cfg.MinLead)
	if tx.Timing != AtGPSTime || g.cfg.StrictGPSTiming || !tx.At.Before(earliest) {
		return tx.At, false
	}
	if now.Sub(tx.At) > g.cfg.GPSLateTolerance {
		return tx.At, false
	}
	return earliest, true
}

// refuse counts a refusal and returns what the network server hears. The
// caller holds g.mu.
func (g *Gateway) refuse(st gw.TxAckStatus) gw.TxAckStatus {
	g.stats.Rejected[st]++
	if g.cfg.Model == BasicStation {
		g.stats.Unacked++
		return NoAck
	}
	return st
}

// forget drops frames that are over. The caller holds g.mu.
func (g *Gateway) forget(now time.Time) {
	g.frames = slices.DeleteFunc(g.frames, func(f *frame) bool { return !f.end().After(now) })
}

// queued returns the number of frames waiting to go on air. The caller
// holds g.mu.
func (g *Gateway) queued() int {
	n := 0
	for _, f := range g.frames {
		if !f.onAir {
			n++
		}
	}
	return n
}

// collides reports whether a frame of airtime a at start would come closer
// than TxGap to a frame queued or on air. The caller holds g.mu.
func (g *Gateway) collides(start time.Time, a time.Duration) bool {
	end := start.Add(a)
	for _, f := range g.frames {
		if start.Before(f.end().Add(g.cfg.TxGap)) && f.start.Before(end.Add(g.cfg.TxGap)) {
			return true
		}
	}
	return false
}

// firstFree returns the first start at or after t where a frame of airtime
// a collides with nothing. The caller holds g.mu.
func (g *Gateway) firstFree(t time.Time, a time.Duration) time.Time {
	end := t.Add(a)
	// g.frames is sorted and its frames do not overlap, so one pass that
	// moves t behind every frame in the way finds the first gap.
	for _, f := range g.frames {
		if t.Before(f.end().Add(g.cfg.TxGap)) && f.start.Before(end.Add(g.cfg.TxGap)) {
			t = f.end().Add(g.cfg.TxGap)
			end = t.Add(a)
		}
	}
	return t
}

// onAir puts f on the medium, at its start.
func (g *Gateway) onAir(f *frame) {
	g.mu.Lock()
	f.onAir = true
	g.stats.Sent++
	g.stats.Airtime += f.airtime
	port := g.port
	g.mu.Unlock()
	if port == nil {
		return
	}
	err := port.Transmit(radio.Frame{
		ID:         f.req.ID,
		Frequency:  f.req.Frequency,
		DR:         f.req.DR,
		PowerDBm:   float64(f.req.PowerDBm),
		PHYPayload: f.req.PHYPayload,
		Airtime:    f.airtime,
	})
	if err != nil {
		g.mu.Lock()
		g.stats.MediumErrors++
		g.mu.Unlock()
	}
}

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	s.Rejected = maps.Clone(g.stats.Rejected)
	return s
}

// SubBandReport is the state of one duty-cycle ledger.
type SubBandReport struct {
	SubBand   string
	DutyCycle region.DutyCycle
	// Window is the observation window of Used and Budget (one hour by
	// default; under Basic Station an accounting aid, not the rule).
	Window   time.Duration
	Budget   time.Duration // DutyCycle × Window
	Used     time.Duration // airtime in the window ending at the report's time
	Headroom time.Duration // Budget − Used, at least 0
	// Airtime and Frames are everything ever booked in the ledger,
	// including frames still to come.
	Airtime time.Duration
	Frames  int
}

func (g *Gateway) report(k string, sb *subBand, at time.Time) SubBandReport {
	budget := sb.band.DutyCycle.Budget(g.cfg.Window)
	used := sb.ledger.Used(at)
	return SubBandReport{
		SubBand:   k,
		DutyCycle: sb.band.DutyCycle,
		Window:    g.cfg.Window,
		Budget:    budget,
		Used:      used,
		Headroom:  max(budget-used, 0),
		Airtime:   sb.airtime,
		Frames:    sb.frames,
	}
}

// DutyCycle reports every ledger that has booked a frame, by name, for the
// window ending at at. Ledgers forget frames that can no longer matter, so
// at should not be earlier than the last Schedule.
func (g *Gateway) DutyCycle(at time.Time) []SubBandReport {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []SubBandReport
	for _, k := range slices.Sorted(maps.Keys(g.ledgers)) {
		out = append(out, g.report(k, g.ledgers[k], at))
	}
	return out
}

// Airtime returns the airtime ever booked in a ledger (named as SubBand
// names it), including frames still to come.
func (g *Gateway) Airtime(subBand string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if sb := g.ledgers[subBand]; sb != nil {
		return sb.airtime
	}
	return 0
}

// Headroom returns how much more airtime the window of a ledger ending at
// at could take: the whole budget for a sub-band not used yet, 0 for a name
// the gateway does not know.
func (g *Gateway) Headroom(subBand string, at time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if sb := g.ledgers[subBand]; sb != nil {
		return g.report(subBand, sb, at).Headroom
	}
	for _, b := range g.bands {
		if b.Name == subBand && !b.PerChannel {
			return b.DutyCycle.Budget(g.cfg.Window)
		}
	}
	return 0
}
