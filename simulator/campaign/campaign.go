// Package campaign runs a complete FUOTA campaign in one process, in virtual
// time: the fuota engine, driven by fuota/runner, talks to a simulated
// ChirpStack (simulator.Network) through integration.Client over an
// in-memory gRPC connection, keeps its state in the embedded store, and hears
// the network's events through integration's HTTP handler, in process. It is
// what `lorafuota demo` runs.
//
// Everything is drawn from Config.Seed, so a configuration replays exactly.
package campaign

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/fuota/runner"
	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/internal/inprocess"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/events"
	"github.com/lorafuota/lorafuota/simulator/gateway"
	"github.com/lorafuota/lorafuota/simulator/ns"
	"github.com/lorafuota/lorafuota/simulator/radio"
)

// epoch is the virtual time every campaign's network starts at.
func epoch() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

const (
	apiKey       = "campaign"
	hookSecret   = "Bearer campaign"
	deploymentID = "demo"
	// hearing bounds how long the network runs before the campaign starts,
	// until it has heard every device (hear).
	hearing = 2 * time.Hour
	// sector rounds the devices' slots.
	sector = 4096
	// bigImage is the largest slot the devices' default flash (STM32WL,
	// 256 KiB, dual bank) holds; larger ones get an nRF52840 (1 MiB).
	bigImage = 96 << 10
	// DefaultProgressInterval is Config.ProgressInterval's default.
	DefaultProgressInterval = time.Minute
)

var (
	newVersion  = image.Version{Major: 2}
	mcPool      = store.McAddrPool{Min: lorawan.DevAddr{0xfc, 0, 0, 0}, Max: lorawan.DevAddr{0xfc, 0, 0, 0xff}}
	firstGW     = lorawan.EUI64{0x00, 0x16, 0xc0, 0x01, 0xf0, 0x00, 0x00, 0x01}
	firstDevice = lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0x00, 0x00, 0x01}
	// probeEUI sorts after every device, so at a frame's end the probe
	// hears it after the devices have.
	probeEUI = lorawan.EUI64{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// Config is a campaign.
type Config struct {
	// Plan is the campaign's plan request. ImageSize is the size of the
	// signed image; Devices is taken from Devices; a zero Margin is the
	// simulated ChirpStack's multicast_class_c_margin, which the network
	// is also given.
	Plan fuota.PlanRequest
	// Devices and Gateways count the simulated field; 0 means 1. Every
	// gateway hears every device, and every device every gateway.
	Devices, Gateways int
	// Class is the devices' class: fuota.ClassC (the default),
	// fuota.ClassA (switched to class C for the session) or fuota.ClassB
	// (class A devices that follow a class B session in their ping slots).
	Class fuota.Class
	// Stack is the devices' stack profile (simulator/device.ParseProfile);
	// empty means spec.
	Stack string
	// PackageVersion is the devices' TS004 version, 1 or 2; 0 means the
	// stack's highest.
	PackageVersion int
	// Loss is the probability that a device misses any frame from a
	// gateway (Bernoulli).
	Loss float64
	Seed uint64
	// Limit bounds the campaign in virtual time; 0 means a day plus twice
	// the multicast's lower bound and twice the time the unicast exchanges
	// take at the RX2 channel's steady pace.
	Limit time.Duration
	// Progress, if not nil, is called after every ProgressInterval of
	// virtual time (0: DefaultProgressInterval) the campaign runs.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// UnicastSpacing is the deployment's fuota.DeploymentConfig
	// UnicastSpacing; 0 takes the engine's default (the engine fits the
	// class C unicasts into the RX2 channel's duty cycle itself).
	UnicastSpacing time.Duration
	// Retries is the deployment's Retry.Count; 0 sizes it from Loss
	// (retries).
	Retries int
	// Logger gets the network's and the runner's logs; nil discards them.
	Logger *slog.Logger
}

// Progress is the state of a running campaign.
type Progress struct {
	Elapsed       time.Duration // virtual, since the campaign started
	Phase         fuota.Phase
	Devices       int
	Verdicts      int
	Updated       int // verdicts Updated
	FragmentsSent int
}

// Summary is what a campaign did.
type Summary struct {
	Plan       *fuota.Plan
	ImageBytes int
	// Done reports whether the deployment finished within Config.Limit.
	Done    bool
	Devices int
	// Updated counts devices with an Updated verdict that run the new
	// image; Failed counts every other device, the Bricked ones, which boot
	// nothing, included.
	Updated, Failed, Bricked int
	// Outcomes counts the verdicts by outcome; devices without one count
	// as "none". FailureReasons counts the reasons of the other verdicts.
	Outcomes       map[fuota.Outcome]int
	FailureReasons map[string]int
	// Mismatches counts devices whose verdict disagrees with the image
	// they run (Updated but running another, or not Updated but running
	// the new one).
	Mismatches int
	// Campaign runs from the first action to the last verdict; Multicast
	// from the start of the first fragment on air to the end of the last.
	Campaign, Multicast time.Duration
	// FragmentsSent counts the fragment frames that went on air.
	// FragmentsNeeded is the fewest of them after which every device that
	// completed its blocks had: for each device, the number of fragment
	// frames on air when its last block's decoder completed, maximised
	// over the devices.
	FragmentsSent, FragmentsNeeded int
	// Airtime is every gateway's airtime during the campaign (fragments,
	// unicasts, and the network's own MAC downlinks).
	Airtime time.Duration
	// Rejections counts the frames any gateway refused during the
	// campaign, by status in RejectionsByStatus.
	Rejections         int
	RejectionsByStatus map[string]int
	LowerBound         time.Duration
}

// Run runs the campaign cfg describes until every device has a verdict, the
// limit passes or ctx is done.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	sc, err := scenario(cfg)
	if err != nil {
		return nil, err
	}
	every := cmp.Or(cfg.ProgressInterval, DefaultProgressInterval)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	req := cfg.Plan
	req.Devices = max(cfg.Devices, 1)
	req.Margin = time.Duration(sc.Network.ClassCMargin)
	req.Gateways = max(cfg.Gateways, 1)
	plan, err := fuota.NewPlan(req)
	if err != nil {
		return nil, fmt.Errorf("campaign: plan: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clk := clock.NewVirtual(epoch())
	field, err := inprocess.Open(ctx, sc, clk, simulator.Options{Seed: cfg.Seed, Logger: log}, apiKey)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	defer field.Close()
	n, client, st := field.Net, field.Client, field.Store
	appID, err := applicationID(ctx, client)
	if err != nil {
		return nil, err
	}

	img, err := boot.FirmwareImage(boot.FirmwareSpec{Version: newVersion, Behaviour: boot.Good,
		SecurityCounter: 2, Key: n.SigningKey(), Size: req.ImageSize, Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("campaign: image: %w", err)
	}
	dep, spacing, err := deployment(cfg, plan, img, n)
	if err != nil {
		return nil, err
	}
	limit := cfg.Limit
	if limit == 0 {
		limit = 24*time.Hour + 2*plan.LowerBound + 2*time.Duration(len(n.Devices())*requestsPerDevice)*spacing
	}

	w := &watch{clk: clk, plan: plan, net: n, status: map[lorawan.EUI64]bool{}}
	r, err := runner.New(runner.Config{
		Clock: watchClock{clk, w.check}, Executor: client, Store: st, Logger: log,
		ApplicationID: appID, Region: sc.Region, McAddrPool: mcPool,
	})
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	w.runner = r
	hook, err := integration.NewHTTPHandler(integration.HTTPConfig{Secret: hookSecret, Now: clk.Now}, r)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	// The events reach the runner through integration's own decoding and
	// filtering, synchronously on the loop goroutine: each is encoded as
	// ChirpStack's HTTP integration would POST it.
	n.Publisher().Subscribe(func(e events.Event) {
		if e.Type == events.EventStatus {
			w.status[e.DevEUI] = true
		}
		w.deliver(ctx, hook, e)
		w.check()
	})
	if err := w.listen(sc); err != nil {
		return nil, err
	}

	if err := hear(ctx, n, client, appID, w.status); err != nil {
		return nil, err
	}
	w.start = clk.Now()
	w.before = gatewayStats(n)
	if err := r.Start(ctx, dep); err != nil {
		return nil, fmt.Errorf("campaign: start: %w", err)
	}
	w.check()
	progress := func() {
		if cfg.Progress == nil {
			return
		}
		p := Progress{Elapsed: clk.Now().Sub(w.start), Devices: len(n.Devices()), Verdicts: w.seen,
			Updated: w.updated, FragmentsSent: w.sent}
		if rec, err := st.GetDeployment(ctx, deploymentID); err == nil {
			p.Phase = fuota.Phase(rec.State)
		}
		cfg.Progress(p)
	}
	for !r.Done() && clk.Now().Sub(w.start) < limit && ctx.Err() == nil && w.err == nil {
		n.RunFor(ctx, every)
		progress()
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("campaign: %w", ctx.Err())
	case w.err != nil:
		return nil, w.err
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	return w.summary(plan, img, r.Done()), nil
}

// scenario builds the simulated field of cfg.
func scenario(cfg Config) (*simulator.Scenario, error) {
	if !(cfg.Loss >= 0 && cfg.Loss < 1) {
		return nil, fmt.Errorf("campaign: loss %v: must be in [0, 1)", cfg.Loss)
	}
	if v := cfg.PackageVersion; v < 0 || v > 2 {
		return nil, fmt.Errorf("campaign: package version %d: want 1 or 2", v)
	}
	class := cmp.Or(cfg.Class, fuota.ClassC)
	switch class {
	case fuota.ClassA, fuota.ClassC:
	case fuota.ClassB:
		class = fuota.ClassA // their unicasts follow their uplinks
	default:
		return nil, fmt.Errorf("campaign: class %q: want %q, %q or %q", class, fuota.ClassA, fuota.ClassB, fuota.ClassC)
	}
	model := "concentratord"
	if cfg.Plan.DutyCycleModel == dutycycle.OffTime {
		model = "basic-station"
	}
	margin := cmp.Or(cfg.Plan.Margin, ns.DefaultClassCMargin)
	sc := &simulator.Scenario{
		Region:         string(cmp.Or(cfg.Plan.Region, "EU868")),
		Start:          epoch(),
		Network:        simulator.NetworkSpec{ClassCMargin: simulator.Duration(margin)},
		Tenants:        []simulator.TenantSpec{{Name: "lorafuota"}},
		Applications:   []simulator.ApplicationSpec{{Name: "fuota"}},
		DeviceProfiles: []simulator.DeviceProfileSpec{{Name: "devices", MACVersion: "1.0.4", SupportsClassC: true}},
	}
	for i := range max(cfg.Gateways, 1) {
		sc.Gateways = append(sc.Gateways, simulator.GatewaySpec{
			ID: addEUI(firstGW, i).String(), Name: fmt.Sprintf("gw-%d", i+1), Model: model, EnforceDC: true,
		})
	}
	// The staging slot takes the image and, after it, the decoder's
	// scratch rows: one per uncoded fragment it can recover (Lmax).
	maxImage := max(roundUp(cfg.Plan.ImageSize*3/2, sector), simulator.DefaultMaxImage)
	g := simulator.DeviceGroup{
		Count: max(cfg.Devices, 1), NamePrefix: "device-", DevEUIBase: firstDevice.String(),
		Class: string(class), Stack: cfg.Stack,
		Versions: simulator.VersionsSpec{Fragmentation: uint8(cfg.PackageVersion)},
		MaxImage: maxImage,
	}
	if maxImage > bigImage {
		g.Flash = "nrf52840"
	}
	if ch, ok := uplinkChannels[cmp.Or(cfg.Plan.Region, region.EU868)]; ok {
		g.UplinkFrequencies = ch.freqs
		g.UplinkDR = &ch.dr
	}
	if cfg.Loss > 0 {
		g.Loss = &simulator.LossSpec{Model: "bernoulli", P: cfg.Loss}
	}
	sc.Devices = []simulator.DeviceGroup{g}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("campaign: scenario: %w", err)
	}
	return sc, nil
}

// deployment is the campaign of img for every device of n, through every
// gateway, and the steady spacing of its class C unicasts (for the limit).
func deployment(cfg Config, plan *fuota.Plan, img []byte, n *simulator.Network) (*fuota.Deployment, time.Duration, error) {
	// A fixed group key (McKey): the campaign is a simulation.
	key := lorawan.AES128Key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spacing, err := unicastSpacing(plan.Request.Region)
	if err != nil {
		return nil, 0, err
	}
	dc := fuota.DeploymentConfig{ID: deploymentID, Plan: plan, Image: img, McKey: &key, McGroupID: 0,
		UnicastSpacing: cfg.UnicastSpacing,
		Retry:          fuota.RetryPolicy{Count: cmp.Or(cfg.Retries, retries(len(n.Devices()), cfg.Loss))}}
	for _, g := range n.Gateways().Gateways() {
		dc.Gateways = append(dc.Gateways, fuota.GatewayConfig{ID: g.ID().String()})
	}
	class := cmp.Or(cfg.Class, fuota.ClassC)
	if class == fuota.ClassB {
		dc.SessionClass, class = fuota.ClassB, fuota.ClassA
	}
	for _, d := range n.Devices() {
		c := fuota.DeviceConfig{DevEUI: d.DevEUI(), MACVersion: fuota.MAC10x, Class: class}
		if class == fuota.ClassA {
			c.UplinkInterval = simulator.DefaultUplinkInterval
		}
		dc.Devices = append(dc.Devices, c)
	}
	d, err := fuota.NewDeployment(dc)
	if err != nil {
		return nil, 0, fmt.Errorf("campaign: deployment: %w", err)
	}
	return d, spacing, nil
}

// longestRequest is the PHYPayload of the longest unicast request of a
// campaign: a McGroupSetupReq (29 bytes) on 13 bytes of LoRaWAN framing.
const longestRequest = 13 + 29

// unicastSpacing is the steady spacing of class C unicasts within the duty
// cycle of the region's RX2 channel, where ChirpStack sends them.
func unicastSpacing(name region.Name) (time.Duration, error) {
	reg, err := region.Get(cmp.Or(name, region.EU868))
	if err != nil {
		return 0, fmt.Errorf("campaign: %w", err)
	}
	rx2 := reg.RX2()
	toa, err := reg.DownlinkToA(rx2.DataRate, longestRequest)
	if err != nil {
		return 0, fmt.Errorf("campaign: RX2 airtime: %w", err)
	}
	sb, err := reg.SubBand(rx2.FrequencyHz)
	if err != nil {
		return 0, fmt.Errorf("campaign: RX2 sub-band: %w", err)
	}
	if sb.DutyCycle.Unlimited() {
		return 0, nil
	}
	return sb.DutyCycle.MinSpacing(toa), nil
}

// requestsPerDevice is about how many unicast exchanges a campaign has with
// each device.
const requestsPerDevice = 8

// retries is the fewest retries after which the chance that any device
// runs out of them, each exchange lost with probability 1-(1-loss)² (the
// request or its answer), is below 1 %; at least the engine's default, 3.
func retries(devices int, loss float64) int {
	q := 1 - (1-loss)*(1-loss)
	if q <= 0 {
		return 3
	}
	n := float64(devices * requestsPerDevice)
	k := 3
	for ; k < 20 && n*math.Pow(q, float64(k+1)) >= 0.01; k++ {
	}
	return k
}

// applicationID is the id of the scenario's only application.
func applicationID(ctx context.Context, c *integration.Client) (string, error) {
	ts, err := c.Tenants.List(ctx, &api.ListTenantsRequest{Limit: 10})
	if err != nil {
		return "", fmt.Errorf("campaign: list tenants: %w", err)
	}
	if len(ts.Result) != 1 {
		return "", fmt.Errorf("campaign: %d tenants, want 1", len(ts.Result))
	}
	apps, err := c.Applications.List(ctx, &api.ListApplicationsRequest{Limit: 10, TenantId: ts.Result[0].Id})
	if err != nil {
		return "", fmt.Errorf("campaign: list applications: %w", err)
	}
	if len(apps.Result) != 1 {
		return "", fmt.Errorf("campaign: %d applications, want 1", len(apps.Result))
	}
	return apps.Result[0].Id, nil
}

// hear runs the network until it has heard every device and had its device
// status from each, as a FUOTA server picks devices the network has seen:
// ChirpStack sends class C downlinks only to devices it has heard, and a lost
// first uplink leaves a device unheard until its next one. The status
// exchange matters too: its DevStatusReq goes in a MAC-only downlink the
// application server cannot see, which would take the RX2 sub-band's
// airtime in the middle of the campaign. Devices still not heard after
// hearing go into the campaign anyway.
func hear(ctx context.Context, n *simulator.Network, c *integration.Client, appID string, status map[lorawan.EUI64]bool) error {
	for start := n.Clock().Now(); n.Clock().Now().Sub(start) < hearing; {
		n.RunFor(ctx, 15*time.Second)
		devs, err := c.Devices.List(ctx, &api.ListDevicesRequest{ApplicationId: appID, Limit: uint32(len(n.Devices()))})
		if err != nil {
			return fmt.Errorf("campaign: list devices: %w", err)
		}
		heard := 0
		for _, d := range devs.Result {
			if d.LastSeenAt != nil {
				heard++
			}
		}
		if heard == len(n.Devices()) && len(status) >= len(n.Devices()) {
			return nil
		}
	}
	return nil
}

// watchClock is the runner's clock: after each of the runner's timers it
// calls after, as the timer may have issued verdicts.
type watchClock struct {
	*clock.Virtual
	after func()
}

func (c watchClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return c.Virtual.AfterFunc(d, func() {
		f()
		c.after()
	})
}

// watch follows a campaign from the loop goroutine: the verdicts as they
// are issued, and the fragment frames on air as the probe hears them.
type watch struct {
	clk    *clock.Virtual
	plan   *fuota.Plan
	net    *simulator.Network
	runner *runner.Runner
	err    error                           // the first event the runner's HTTP handler refused
	before map[lorawan.EUI64]gateway.Stats // at the campaign's start
	status map[lorawan.EUI64]bool          // devices that sent their device status

	start       time.Time
	seen        int // verdicts
	updated     int
	lastVerdict time.Time

	sent        int    // fragment frames on air
	lastFrame   []byte // the last fragment frame, to count it once
	first, last time.Time
	pending     []*simulator.Device // devices that have not completed every block
	needed      map[lorawan.EUI64]int
}

// deliver posts e to the runner's HTTP handler.
func (w *watch) deliver(ctx context.Context, hook http.Handler, e events.Event) {
	b, err := events.Marshal(e.Message, events.JSON)
	if err != nil {
		w.fail(fmt.Errorf("campaign: encoding %s event: %w", e.Type, err))
		return
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/?event="+e.Type, strings.NewReader(string(b)))
	req.Header.Set("Authorization", hookSecret)
	req.Header.Set("Content-Type", events.JSON.ContentType())
	rec := httptest.NewRecorder()
	hook.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		w.fail(fmt.Errorf("campaign: %s event refused: %d %s", e.Type, rec.Code, strings.TrimSpace(rec.Body.String())))
	}
}

func (w *watch) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// check notes the verdicts issued since it last looked.
func (w *watch) check() {
	if w.runner == nil {
		return
	}
	vs := w.runner.Verdicts()
	if len(vs) == w.seen {
		return
	}
	for _, v := range vs[w.seen:] {
		if v.Outcome == fuota.Updated {
			w.updated++
		}
	}
	w.seen = len(vs)
	w.lastVerdict = w.clk.Now()
}

// listen puts a lossless probe on the medium that hears every gateway's
// frames at their end, after the devices.
func (w *watch) listen(sc *simulator.Scenario) error {
	m := w.net.Medium()
	if err := m.AddDevice(probeEUI, nil, w); err != nil {
		return fmt.Errorf("campaign: probe: %w", err)
	}
	for _, g := range w.net.Gateways().Gateways() {
		if err := m.SetLink(probeEUI, g.ID(), radio.Link{PathLossDB: simulator.DefaultPathLossDB}); err != nil {
			return fmt.Errorf("campaign: probe: %w", err)
		}
	}
	w.pending = append([]*simulator.Device(nil), w.net.Devices()...)
	w.needed = map[lorawan.EUI64]int{}
	return nil
}

// Listening implements radio.Receiver: the probe hears everything.
func (w *watch) Listening(uint32, int, time.Time) bool { return true }

// Receive implements radio.Receiver. It counts the fragment frames (the
// deployment's multicast frames on the fragmentation port; a frame sent
// by several gateways counts once) and, after each, notes the devices
// whose decoders have now completed every block.
func (w *watch) Receive(f radio.Frame, _ radio.Signal) {
	var phy lorawan.PHYPayload
	if err := phy.UnmarshalBinary(f.PHYPayload); err != nil || phy.MHDR.MType != lorawan.UnconfirmedDataDown {
		return
	}
	mp, ok := phy.MACPayload.(*lorawan.MACPayload)
	if !ok || mp.FPort == nil || *mp.FPort != fragmentation.DefaultFPort || !multicast(mp.FHDR.DevAddr) {
		return
	}
	if bytes.Equal(f.PHYPayload, w.lastFrame) {
		return
	}
	w.lastFrame = f.PHYPayload
	w.sent++
	if w.first.IsZero() {
		w.first = f.Start
	}
	w.last = f.End()
	kept := w.pending[:0]
	for _, d := range w.pending {
		if w.completed(d) {
			w.needed[d.DevEUI()] = w.sent
			continue
		}
		kept = append(kept, d)
	}
	w.pending = kept
}

// completed reports whether every block's decoder of d is done.
func (w *watch) completed(d *simulator.Device) bool {
	app, ok := d.App().(simulator.DeviceApp)
	if !ok {
		return false
	}
	for i := range w.plan.Blocks {
		s, ok := app.FragSession(uint8(i))
		if !ok || !s.Done {
			return false
		}
	}
	return true
}

func (w *watch) summary(plan *fuota.Plan, img []byte, done bool) *Summary {
	s := &Summary{
		Plan: plan, ImageBytes: len(img), Done: done, Devices: len(w.net.Devices()),
		Outcomes: map[fuota.Outcome]int{}, FragmentsSent: w.sent, LowerBound: plan.LowerBound,
	}
	if !w.first.IsZero() {
		s.Multicast = w.last.Sub(w.first)
	}
	if !w.lastVerdict.IsZero() {
		s.Campaign = w.lastVerdict.Sub(w.start)
	}
	verdicts := map[lorawan.EUI64]fuota.Verdict{}
	for _, v := range w.runner.Verdicts() {
		verdicts[v.DevEUI] = v
	}
	for _, d := range w.net.Devices() {
		v, ok := verdicts[d.DevEUI()]
		if ok {
			s.Outcomes[v.Outcome]++
		} else {
			s.Outcomes["none"]++
		}
		if ok && v.Outcome != fuota.Updated && v.Reason != "" {
			if s.FailureReasons == nil {
				s.FailureReasons = map[string]int{}
			}
			s.FailureReasons[v.Reason]++
		}
		var running image.Version
		boots := false
		if app, isApp := d.App().(simulator.DeviceApp); isApp {
			running, boots = app.Running()
		}
		isNew := boots && running == newVersion
		updated := ok && v.Outcome == fuota.Updated
		switch {
		case !boots:
			s.Bricked++
		case updated && isNew:
			s.Updated++
		}
		if updated != isNew {
			s.Mismatches++
		}
		if n, ok := w.needed[d.DevEUI()]; ok {
			s.FragmentsNeeded = max(s.FragmentsNeeded, n)
		}
	}
	s.Failed = s.Devices - s.Updated
	for id, gs := range gatewayStats(w.net) {
		b := w.before[id]
		s.Airtime += gs.Airtime - b.Airtime
		for status, k := range gs.Rejected {
			k -= b.Rejected[status]
			if k == 0 {
				continue
			}
			s.Rejections += k
			if s.RejectionsByStatus == nil {
				s.RejectionsByStatus = map[string]int{}
			}
			s.RejectionsByStatus[status.String()] += k
		}
	}
	return s
}

func gatewayStats(n *simulator.Network) map[lorawan.EUI64]gateway.Stats {
	out := map[lorawan.EUI64]gateway.Stats{}
	for _, g := range n.Gateways().Gateways() {
		out[g.ID()] = g.Stats()
	}
	return out
}

// multicast reports whether a is in the campaign's multicast address pool.
func multicast(a lorawan.DevAddr) bool {
	return bytes.Compare(a[:], mcPool.Min[:]) >= 0 && bytes.Compare(a[:], mcPool.Max[:]) <= 0
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// addEUI returns base + n.
func addEUI(base lorawan.EUI64, n int) lorawan.EUI64 {
	var v uint64
	for _, b := range base {
		v = v<<8 | uint64(b)
	}
	v += uint64(n)
	var e lorawan.EUI64
	for i := 7; i >= 0; i-- {
		e[i] = byte(v)
		v >>= 8
	}
	return e
}

// uplinkChannels are the devices' uplink channels and data rate in the
// regions whose scenario has no default (EU868 has three): the first eight
// channels a network usually enables (US915 and AU915: sub-band 2, as
// ChirpStack's default configuration), or the region's default channels.
var uplinkChannels = map[region.Name]struct {
	freqs []uint32
	dr    int
}{
	region.US915:   {[]uint32{903_900_000, 904_100_000, 904_300_000, 904_500_000, 904_700_000, 904_900_000, 905_100_000, 905_300_000}, 3},
	region.AU915:   {[]uint32{916_800_000, 917_000_000, 917_200_000, 917_400_000, 917_600_000, 917_800_000, 918_000_000, 918_200_000}, 5},
	region.AS923_1: {[]uint32{923_200_000, 923_400_000}, 5},
	region.IN865:   {[]uint32{865_062_500, 865_402_500, 865_985_000}, 5},
	region.KR920:   {[]uint32{922_100_000, 922_300_000, 922_500_000}, 5},
}
