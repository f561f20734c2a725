package radio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/rng"
)

// Config configures a Medium.
type Config struct {
	// Region gives each data rate's spreading factor and bandwidth, and
	// the airtime of uplinks.
	Region region.Name
	// Source is where every random draw comes from. Required.
	Source *rng.Source
	// PathLoss turns distance into path loss; the zero value means
	// HataUrban.
	PathLoss PathLoss
	// NoiseFigureDB is the receivers' noise figure; 0 means
	// DefaultNoiseFigureDB.
	NoiseFigureDB float64
	// DefaultLoss is the loss model of links made from positions; nil
	// means LinkBudget{SigmaDB: DefaultSigmaDB}.
	DefaultLoss Loss
}

// txHistory is how long a gateway's transmissions are remembered for the
// half-duplex check: longer than any uplink lasts.
const txHistory = time.Minute

// Medium is the shared channel between gateways and devices. Create one with
// New.
type Medium struct {
	clk         clock.Clock
	reg         *region.Region
	src         *rng.Source
	pathLoss    PathLoss
	noiseFigure float64
	defaultLoss Loss

	mu       sync.Mutex
	handler  UplinkHandler
	gateways map[lorawan.EUI64]*gatewayNode
	devices  map[lorawan.EUI64]*deviceNode
	gwOrder  []lorawan.EUI64 // sorted, for a deterministic order of draws
	devOrder []lorawan.EUI64
	links    map[linkKey]*link
	stats    Stats
}

type gatewayNode struct {
	id    lorawan.EUI64
	pos   *Position
	tx    []Frame // recent transmissions, oldest first
	stats GatewayStats
}

type deviceNode struct {
	id  lorawan.EUI64
	pos *Position
	rx  Receiver
}

type linkKey struct{ dev, gw lorawan.EUI64 }

type link struct {
	loss     lossState
	rnd      *rand.Rand
	pathLoss float64
	distance float64
	explicit bool
	stats    LinkStats
}

// Stats counts what went through the medium.
type Stats struct {
	Uplinks        int // uplinks sent
	UplinksUnheard int // uplinks no gateway heard
	Downlinks      int // downlinks put on air
	Deliveries     int // downlink receptions by listening devices
	DownlinksLost  int // downlink receptions the link lost
}

// GatewayStats counts one gateway's traffic.
type GatewayStats struct {
	Transmitted     int // downlinks put on air
	UplinksReceived int
	UplinksLost     int // lost on the link
	// HalfDuplexDrops counts uplinks the gateway missed because it was
	// transmitting during them.
	HalfDuplexDrops int
}

// LinkStats counts one link's traffic.
type LinkStats struct {
	UplinksHeard, UplinksLost     int
	DownlinksHeard, DownlinksLost int
}

// New returns an empty medium for cfg on clk.
func New(cfg Config, clk clock.Clock) (*Medium, error) {
	if clk == nil {
		return nil, errors.New("radio: nil clock")
	}
	if cfg.Source == nil {
		return nil, errors.New("radio: Config.Source is required, so that runs replay from a seed")
	}
	reg, err := region.Get(cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("radio: %w", err)
	}
	pl := cfg.PathLoss
	if pl == (PathLoss{}) {
		pl = HataUrban()
	}
	if err := pl.validate(); err != nil {
		return nil, fmt.Errorf("radio: %w", err)
	}
	nf := cfg.NoiseFigureDB
	if nf == 0 {
		nf = DefaultNoiseFigureDB
	}
	loss := cfg.DefaultLoss
	if loss == nil {
		loss = LinkBudget{SigmaDB: DefaultSigmaDB}
	}
	if _, err := loss.newState(); err != nil {
		return nil, fmt.Errorf("radio: default loss: %w", err)
	}
	return &Medium{
		clk:         clk,
		reg:         reg,
		src:         cfg.Source,
		pathLoss:    pl,
		noiseFigure: nf,
		defaultLoss: loss,
		gateways:    make(map[lorawan.EUI64]*gatewayNode),
		devices:     make(map[lorawan.EUI64]*deviceNode),
		links:       make(map[linkKey]*link),
	}, nil
}

// SetUplinkHandler sets who receives the uplinks the gateways hear.
func (m *Medium) SetUplinkHandler(h UplinkHandler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handler = h
}

func insertSorted(ids []lorawan.EUI64, id lorawan.EUI64) []lorawan.EUI64 {
	i, _ := slices.BinarySearchFunc(ids, id, compareEUI)
	return slices.Insert(ids, i, id)
}

func compareEUI(a, b lorawan.EUI64) int { return bytes.Compare(a[:], b[:]) }

func clonePos(p *Position) *Position {
	if p == nil {
		return nil
	}
	q := *p
	return &q
}

// AddGateway registers a gateway, at pos if not nil, and returns the port
// through which it transmits.
func (m *Medium) AddGateway(id lorawan.EUI64, pos *Position) (*Port, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gateways[id] != nil {
		return nil, fmt.Errorf("radio: add gateway %s: already registered", id)
	}
	m.gateways[id] = &gatewayNode{id: id, pos: clonePos(pos)}
	m.gwOrder = insertSorted(m.gwOrder, id)
	return &Port{m: m, id: id}, nil
}

// AddDevice registers a device, at pos if not nil, with its receiver; a nil
// receiver never listens.
func (m *Medium) AddDevice(id lorawan.EUI64, pos *Position, r Receiver) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.devices[id] != nil {
		return fmt.Errorf("radio: add device %s: already registered", id)
	}
	m.devices[id] = &deviceNode{id: id, pos: clonePos(pos), rx: r}
	m.devOrder = insertSorted(m.devOrder, id)
	return nil
}

// SetLink gives the pair an explicit link, replacing any earlier one; the
// link keeps its random stream but its loss state starts afresh.
func (m *Medium) SetLink(dev, gw lorawan.EUI64, l Link) error {
	if l.Loss == nil {
		l.Loss = noLoss{}
	}
	st, err := l.Loss.newState()
	if err != nil {
		return fmt.Errorf("radio: link %s–%s: %w", dev, gw, err)
	}
	if l.PathLossDB < 0 {
		return fmt.Errorf("radio: link %s–%s: negative path loss %v dB", dev, gw, l.PathLossDB)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, g := m.devices[dev], m.gateways[gw]
	if d == nil || g == nil {
		return fmt.Errorf("radio: link %s–%s: device and gateway must be registered first", dev, gw)
	}
	dist := distance(d, g)
	pl := l.PathLossDB
	if pl == 0 {
		if dist < 0 {
			return fmt.Errorf("radio: link %s–%s: no path loss: set Link.PathLossDB or give both ends a position", dev, gw)
		}
		pl = -1 // from the distance, at the frame's frequency
	}
	k := linkKey{dev, gw}
	old := m.links[k]
	nl := &link{loss: st, pathLoss: pl, distance: max(dist, 0), explicit: true}
	if old != nil {
		nl.rnd, nl.stats = old.rnd, old.stats
	} else {
		nl.rnd = m.stream(k)
	}
	m.links[k] = nl
	return nil
}

// RemoveLink takes the pair out of range, whatever their positions.
func (m *Medium) RemoveLink(dev, gw lorawan.EUI64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := linkKey{dev, gw}
	l := m.links[k]
	if l == nil {
		l = &link{rnd: m.stream(k)}
	}
	l.loss, l.explicit = nil, true
	m.links[k] = l
}

// noLoss is the model of a link without one.
type noLoss struct{}

func (noLoss) newState() (lossState, error)             { return noLoss{}, nil }
func (noLoss) next(*rand.Rand, float64) (bool, float64) { return false, 0 }

func (m *Medium) stream(k linkKey) *rand.Rand {
	return m.src.Stream("radio/link/" + k.gw.String() + "/" + k.dev.String())
}

// distance returns the distance between the two, or −1 if either has no
// position.
func distance(d *deviceNode, g *gatewayNode) float64 {
	if d.pos == nil || g.pos == nil {
		return -1
	}
	return d.pos.Distance(*g.pos)
}

// linkOf returns the link of the pair, making it from their positions on
// first use; nil means out of range. The caller holds m.mu.
func (m *Medium) linkOf(d *deviceNode, g *gatewayNode) *link {
	k := linkKey{d.id, g.id}
	if l := m.links[k]; l != nil {
		if l.loss == nil {
			return nil
		}
		return l
	}
	dist := distance(d, g)
	if dist < 0 {
		return nil
	}
	st, _ := m.defaultLoss.newState() // validated in New
	l := &link{loss: st, rnd: m.stream(k), pathLoss: -1, distance: dist}
	m.links[k] = l
	return l
}

// budget returns the mean link budget of l for a frame. The caller holds
// m.mu.
func (m *Medium) budget(l *link, freqHz uint32, dr int, powerDBm float64) (Budget, error) {
	rate, err := m.reg.DataRate(dr)
	if err != nil {
		return Budget{}, err
	}
	if !rate.IsLoRa() {
		return Budget{}, fmt.Errorf("DR%d is %v: %w", dr, rate.Modulation, region.ErrNotAvailable)
	}
	pl := l.pathLoss
	if pl < 0 {
		pl = m.pathLoss.DB(l.distance, freqHz)
	}
	rssi := powerDBm - pl
	snr := rssi - NoiseFloorDBm(rate.BandwidthHz, m.noiseFigure)
	return Budget{
		Distance:   l.distance,
		PathLossDB: pl,
		RSSI:       rssi,
		SNR:        snr,
		MarginDB:   snr - DemodFloorDB(rate.SF),
	}, nil
}

// Budget returns the mean link budget between a device and a gateway for a
// frame on freqHz at dr sent with powerDBm EIRP (either way: the link is
// symmetric). It fails if the pair is out of range.
func (m *Medium) Budget(dev, gw lorawan.EUI64, freqHz uint32, dr int, powerDBm float64) (Budget, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, g := m.devices[dev], m.gateways[gw]
	if d == nil || g == nil {
		return Budget{}, fmt.Errorf("radio: budget %s–%s: not registered", dev, gw)
	}
	l := m.linkOf(d, g)
	if l == nil {
		return Budget{}, fmt.Errorf("radio: budget %s–%s: out of range", dev, gw)
	}
	b, err := m.budget(l, freqHz, dr, powerDBm)
	if err != nil {
		return Budget{}, fmt.Errorf("radio: budget %s–%s: %w", dev, gw, err)
	}
	return b, nil
}

// draw decides one frame's fate on l. The caller holds m.mu.
func (m *Medium) draw(l *link, f Frame) (Signal, bool, error) {
	b, err := m.budget(l, f.Frequency, f.DR, f.PowerDBm)
	if err != nil {
		return Signal{}, false, err
	}
	lost, fade := l.loss.next(l.rnd, b.MarginDB)
	return Signal{RSSI: b.RSSI + fade, SNR: b.SNR + fade}, lost, nil
}

// Port is a gateway's transmitter on the medium.
type Port struct {
	m  *Medium
	id lorawan.EUI64
}

// Transmit puts a downlink on air now: f.Start is set to the clock's now,
// f.Gateway to the port's gateway; f.Airtime must be set. Every device with
// a link that is listening hears it at its end unless the link loses it.
func (p *Port) Transmit(f Frame) error {
	m := p.m
	if f.Airtime <= 0 {
		return fmt.Errorf("radio: transmit from %s: airtime %v is not positive", p.id, f.Airtime)
	}
	f = f.clone()
	f.Gateway, f.Start = p.id, m.clk.Now()

	m.mu.Lock()
	g := m.gateways[p.id]
	g.tx = append(g.tx, f)
	// Forget transmissions no uplink can overlap any more.
	cut := 0
	for cut < len(g.tx) && g.tx[cut].End().Add(txHistory).Before(f.Start) {
		cut++
	}
	g.tx = slices.Delete(g.tx, 0, cut)
	g.stats.Transmitted++
	m.stats.Downlinks++
	devs := make([]*deviceNode, 0, len(m.devOrder))
	for _, id := range m.devOrder {
		if d := m.devices[id]; d.rx != nil && m.linkOf(d, g) != nil {
			devs = append(devs, d)
		}
	}
	m.mu.Unlock()

	var errs []error
	for _, d := range devs {
		// Asked without the lock: a receiver may call back into the medium.
		if !d.rx.Listening(f.Frequency, f.DR, f.Start) {
			continue
		}
		m.mu.Lock()
		l := m.linkOf(d, g)
		var (
			sig  Signal
			lost bool
			err  error
		)
		if l != nil {
			sig, lost, err = m.draw(l, f)
			switch {
			case err != nil:
			case lost:
				l.stats.DownlinksLost++
				m.stats.DownlinksLost++
			default:
				l.stats.DownlinksHeard++
				m.stats.Deliveries++
			}
		}
		m.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("radio: transmit from %s to %s: %w", p.id, d.id, err))
			continue
		}
		if l == nil || lost {
			continue
		}
		rx, fc := d.rx, f.clone()
		m.clk.AfterFunc(f.Airtime, func() { rx.Receive(fc, sig) })
	}
	return errors.Join(errs...)
}

// Uplink puts a device's frame on air now: f.Start is set to the clock's
// now and f.Device to dev, and f.Airtime, if zero, to the region's uplink
// airtime of the payload at f.DR. At the frame's end every gateway with a
// link that was not transmitting meanwhile hears it unless the link loses
// it, and the UplinkHandler gets it.
func (m *Medium) Uplink(dev lorawan.EUI64, f Frame) error {
	if rate, err := m.reg.DataRate(f.DR); err != nil || !rate.IsLoRa() {
		return fmt.Errorf("radio: uplink from %s: DR%d is not a LoRa data rate of %s", dev, f.DR, m.reg.Name())
	}
	if f.Airtime <= 0 {
		a, err := m.reg.UplinkToA(f.DR, len(f.PHYPayload))
		if err != nil {
			return fmt.Errorf("radio: uplink from %s: %w", dev, err)
		}
		f.Airtime = a
	}
	f = f.clone()
	f.Device, f.Start = dev, m.clk.Now()
	m.mu.Lock()
	if m.devices[dev] == nil {
		m.mu.Unlock()
		return fmt.Errorf("radio: uplink from %s: device not registered", dev)
	}
	m.stats.Uplinks++
	m.mu.Unlock()
	m.clk.AfterFunc(f.Airtime, func() { m.endUplink(f) })
	return nil
}

// endUplink runs at an uplink's end: by then every transmission that
// started during it has been reported.
func (m *Medium) endUplink(f Frame) {
	m.mu.Lock()
	d := m.devices[f.Device]
	var rx []RxInfo
	for _, id := range m.gwOrder {
		g := m.gateways[id]
		l := m.linkOf(d, g)
		if l == nil {
			continue
		}
		if g.transmitting(f.Start, f.End()) {
			g.stats.HalfDuplexDrops++
			continue
		}
		sig, lost, err := m.draw(l, f)
		if err != nil {
			continue // checked in Uplink
		}
		if lost {
			g.stats.UplinksLost++
			l.stats.UplinksLost++
			continue
		}
		g.stats.UplinksReceived++
		l.stats.UplinksHeard++
		end := f.End()
		rx = append(rx, RxInfo{
			GatewayID:         id,
			Frequency:         f.Frequency,
			DR:                f.DR,
			RSSI:              sig.RSSI,
			SNR:               sig.SNR,
			Time:              end,
			TimeSinceGPSEpoch: sinceGPSEpoch(end),
		})
	}
	if len(rx) == 0 {
		m.stats.UplinksUnheard++
	}
	h := m.handler
	m.mu.Unlock()
	if h != nil && len(rx) > 0 {
		h.HandleUplink(f, rx)
	}
}

// transmitting reports whether the gateway was on air at any time in
// [from, to).
func (g *gatewayNode) transmitting(from, to time.Time) bool {
	for _, t := range g.tx {
		if t.Start.Before(to) && from.Before(t.End()) {
			return true
		}
	}
	return false
}

// Stats returns the medium's counters.
func (m *Medium) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// GatewayStats returns one gateway's counters.
func (m *Medium) GatewayStats(id lorawan.EUI64) (GatewayStats, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.gateways[id]
	if g == nil {
		return GatewayStats{}, false
	}
	return g.stats, true
}

// LinkStats returns one link's counters; false if the pair never had a
// link.
func (m *Medium) LinkStats(dev, gw lorawan.EUI64) (LinkStats, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.links[linkKey{dev, gw}]
	if l == nil {
		return LinkStats{}, false
	}
	return l.stats, true
}
