package simulator

import (
	"cmp"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/device"
	"github.com/lorafuota/lorafuota/simulator/events"
	"github.com/lorafuota/lorafuota/simulator/flash"
	"github.com/lorafuota/lorafuota/simulator/gateway"
	"github.com/lorafuota/lorafuota/simulator/ns"
	"github.com/lorafuota/lorafuota/simulator/radio"
	"github.com/lorafuota/lorafuota/simulator/rng"
)

// Defaults of a scenario's zero fields.
const (
	DefaultUplinkInterval = 15 * time.Minute
	DefaultUplinkDR       = 5
	DefaultMaxImage       = 64 * flash.KiB
	DefaultFirmwareSize   = 8 * flash.KiB
	// DefaultPathLossDB is the path loss of a link between ends without
	// positions: a strong link (−86 dBm for a 14 dBm uplink).
	DefaultPathLossDB = 100
	// UplinkPowerDBm is the EIRP of every device uplink.
	UplinkPowerDBm = 14
)

// defaultStart is the virtual start time of a scenario without one.
var defaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// gatewayStatsInterval is how often gateways report stats.
const gatewayStatsInterval = 30 * time.Second

// StartTime is when a virtual-time run of the scenario starts: Start, or
// 2026-01-01T00:00:00Z.
func (sc *Scenario) StartTime() time.Time {
	if sc.Start.IsZero() {
		return defaultStart
	}
	return sc.Start
}

// eu868Channels are EU868's default uplink channels.
var eu868Channels = []uint32{868_100_000, 868_300_000, 868_500_000}

// Options configure a Network.
type Options struct {
	// Seed makes every random draw of the run: keys not given, DevAddrs,
	// channels, losses, ids.
	Seed uint64
	// APIKeys are the bearer tokens the ChirpStack API accepts.
	APIKeys []string
	// Publisher receives the integration events; nil means one of the
	// network's own without network sinks (subscribe through Publisher).
	Publisher *events.Publisher
	// Logger logs what every device and the network do; nil discards.
	Logger *slog.Logger
	// SigningKey signs the devices' factory firmware, and its public key
	// is the one their bootloaders trust; nil means an Ed25519 key derived
	// from Seed. Give one to sign the images of a campaign outside the
	// simulator (`lorafuota image sign`).
	SigningKey crypto.Signer
}

// Network is a simulated LoRaWAN field behind a simulated ChirpStack: the
// network server (ns), its gateways (gateway), the radio channel (radio) and
// the end devices, each a MAC layer of this package over an App. All of it
// runs on one clock.Virtual; see Run, RunFor and RunRealtime.
type Network struct {
	sc     *Scenario
	clk    *clock.Virtual
	src    *rng.Source
	log    *slog.Logger
	reg    *region.Region
	ns     *ns.Server
	medium *radio.Medium
	gws    *gateway.Network
	pub    *events.Publisher
	ownPub bool
	signer crypto.Signer

	devices   []*Device
	byEUI     map[lorawan.EUI64]*Device
	sessions  map[lorawan.DevAddr]*session // active sessions
	sessByEUI map[lorawan.EUI64]*session   // every device's, active or not
	joinAddrs *rand.Rand                   // DevAddrs of OTAA joins
	ids       *rand.Rand                   // deduplication ids, on the loop goroutine only

	startOnce sync.Once
}

// New builds the network of sc on clk: it loads the simulated ChirpStack,
// places gateways and devices on the medium, and powers the devices on.
// Nothing runs until the clock does.
func New(sc *Scenario, clk *clock.Virtual, opts Options) (*Network, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	reg, err := region.Get(region.Name(cmp.Or(sc.Region, string(region.EU868))))
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	n := &Network{
		sc:       sc,
		clk:      clk,
		src:      rng.New(opts.Seed),
		log:      opts.Logger,
		reg:      reg,
		pub:      opts.Publisher,
		byEUI:    map[lorawan.EUI64]*Device{},
		sessions: map[lorawan.DevAddr]*session{},

		sessByEUI: map[lorawan.EUI64]*session{},
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.ids = n.src.Stream("network/ids")
	if n.pub == nil {
		if n.pub, err = events.New(context.Background(), events.Config{Logger: n.log}); err != nil {
			return nil, fmt.Errorf("simulator: %w", err)
		}
		n.ownPub = true
	}
	if err := n.build(opts); err != nil {
		if n.ownPub {
			_ = n.pub.Close(context.Background())
		}
		return nil, err
	}
	return n, nil
}

func (n *Network) build(opts Options) error {
	sc := n.sc
	var err error
	if n.medium, err = radio.New(radio.Config{Region: n.reg.Name(), Source: n.src}, n.clk); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	n.medium.SetUplinkHandler(n)
	if n.gws, err = gateway.NewNetwork(); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	cfg := ns.Config{
		APIKeys:           opts.APIKeys,
		SchedulerInterval: time.Duration(sc.Network.SchedulerInterval),
		ClassCMargin:      time.Duration(sc.Network.ClassCMargin),
		ClassBMargin:      time.Duration(sc.Network.ClassBMargin),
		Quirks: ns.Quirks{
			RefuseOversize:        sc.Network.Quirks.RefuseOversize,
			RefuseNoGateways:      sc.Network.Quirks.RefuseNoGateways,
			ReportMulticastTxAck:  sc.Network.Quirks.ReportMulticastTxAck,
			ReportMulticastExpiry: sc.Network.Quirks.ReportMulticastExpiry,
			ProperErrorCodes:      sc.Network.Quirks.ProperErrorCodes,
		},
	}
	sink := events.NewNSSink(n.pub, n.deviceInfo)
	n.ns, err = ns.New(cfg, n.clk, ns.WithRand(n.src.Stream("ns")), ns.WithTransmitter(n.gws),
		ns.WithEventSink(sink), ns.WithLogger(n.log.With("component", "ns")))
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}

	commonRegion := regionProto(n.reg.Name())
	tenantIDs := map[string]string{}
	for _, t := range sc.Tenants {
		id, err := n.ns.AddTenant(ns.Tenant{ID: t.ID, Name: t.Name, CanHaveGateways: true})
		if err != nil {
			return fmt.Errorf("simulator: tenant %q: %w", t.Name, err)
		}
		tenantIDs[t.Name] = id
	}
	tenantOf := func(name string) (string, string) {
		i, _ := pick(name, names(len(sc.Tenants), func(i int) string { return sc.Tenants[i].Name }))
		return tenantIDs[sc.Tenants[i].Name], sc.Tenants[i].Name
	}
	type appInfo struct{ id, name, tenantID, tenantName string }
	apps := make([]appInfo, len(sc.Applications))
	for i, a := range sc.Applications {
		tid, tname := tenantOf(a.Tenant)
		id, err := n.ns.AddApplication(ns.Application{ID: a.ID, TenantID: tid, Name: a.Name})
		if err != nil {
			return fmt.Errorf("simulator: application %q: %w", a.Name, err)
		}
		apps[i] = appInfo{id, a.Name, tid, tname}
	}
	profileIDs := make([]string, len(sc.DeviceProfiles))
	pingFreq, pingDR := pingSlotChannel(n.reg)
	for i, p := range sc.DeviceProfiles {
		tid, _ := tenantOf(p.Tenant)
		mv := common.MacVersion_LORAWAN_1_0_4
		if p.MACVersion != "" {
			mv = macVersionProto(p.MACVersion)
		}
		id, err := n.ns.AddDeviceProfile(ns.DeviceProfile{
			ID: p.ID, TenantID: tid, Name: p.Name, Region: commonRegion, MACVersion: mv,
			RegParamsRevision: common.RegParamsRevision_RP002_1_0_3,
			SupportsClassB:    p.SupportsClassB, SupportsClassC: p.SupportsClassC,
			UplinkInterval:            uint32(cmp.Or(time.Duration(p.UplinkInterval), time.Hour) / time.Second),
			SupportsOTAA:              profileHasOTAA(sc, p.Name),
			ClassBPingSlotPeriodicity: uint32(p.ClassBPingSlotPeriodicity),
			ClassBPingSlotDR:          uint32(pingDR),
			ClassBPingSlotFreq:        pingFreq,
		})
		if err != nil {
			return fmt.Errorf("simulator: device profile %q: %w", p.Name, err)
		}
		profileIDs[i] = id
	}

	var allGWs []lorawan.EUI64
	gwPos := map[lorawan.EUI64]bool{}
	for _, g := range sc.Gateways {
		id, _ := parseEUI(g.ID)
		basic, _ := parseModel(g.Model)
		gc := gateway.Config{ID: id, Region: n.reg.Name(), EnforceDC: g.EnforceDC || basic}
		if basic {
			gc.Model = gateway.BasicStation
		}
		var loc ns.Location
		if g.Position != nil {
			gc.Position = &radio.Position{X: g.Position.X, Y: g.Position.Y}
			gwPos[id] = true
			// A plane in metres has no latitude; the position is kept
			// readable as the location's fields.
			loc = ns.Location{Latitude: g.Position.Y, Longitude: g.Position.X}
		}
		gwy, err := gateway.New(gc, n.clk, n.medium)
		if err != nil {
			return fmt.Errorf("simulator: gateway %s: %w", id, err)
		}
		if err := n.gws.Add(gwy); err != nil {
			return fmt.Errorf("simulator: gateway %s: %w", id, err)
		}
		tid, _ := tenantOf(g.Tenant)
		if err := n.ns.AddGateway(ns.Gateway{GatewayID: id, TenantID: tid, Name: cmp.Or(g.Name, id.String()), Location: loc}); err != nil {
			return fmt.Errorf("simulator: gateway %s: %w", id, err)
		}
		allGWs = append(allGWs, id)
	}

	// The derived key is drawn even when one is given, so that the other
	// streams do not depend on it.
	if n.signer, err = image.GenerateKey(image.Ed25519, streamReader(n.src.Stream("signing-key"))); err != nil {
		return fmt.Errorf("simulator: signing key: %w", err)
	}
	if opts.SigningKey != nil {
		n.signer = opts.SigningKey
	}
	images := map[string][]byte{}
	addrs := n.src.Stream("devaddr")
	n.joinAddrs = n.src.Stream("devaddr/join")
	keyStream := n.src.Stream("keys")
	appNames := names(len(sc.Applications), func(i int) string { return sc.Applications[i].Name })
	profNames := names(len(sc.DeviceProfiles), func(i int) string { return sc.DeviceProfiles[i].Name })
	for gi := range sc.Devices {
		g := &sc.Devices[gi]
		ai, _ := pick(g.Application, appNames)
		pi, _ := pick(g.DeviceProfile, profNames)
		prof := sc.DeviceProfiles[pi]
		cls, _ := parseClass(g.Class)
		otaa, _ := parseActivation(g.Activation)
		mac11 := prof.MACVersion == "1.1.0" || prof.MACVersion == "1.1"
		base, _ := parseEUI(g.DevEUIBase)
		gwSet := allGWs
		if len(g.Gateways) > 0 {
			gwSet = nil
			for _, s := range g.Gateways {
				id, _ := parseEUI(s)
				gwSet = append(gwSet, id)
			}
		}
		img, err := n.firmware(images, g)
		if err != nil {
			return fmt.Errorf("simulator: devices[%d]: %w", gi, err)
		}
		for i := range max(g.Count, 1) {
			eui := addEUI(base, i)
			// Keys come from the seed in device order unless given, so a
			// scenario's devices keep their keys run after run.
			appKey, nwkKey, genAppKey := randomKey(keyStream), randomKey(keyStream), randomKey(keyStream)
			if g.AppKey != "" {
				appKey, _ = parseKey(g.AppKey)
			}
			if g.NwkKey != "" {
				nwkKey, _ = parseKey(g.NwkKey)
			}
			if g.GenAppKey != "" {
				genAppKey, _ = parseKey(g.GenAppKey)
			}
			keys := ns.Keys10x(appKey, genAppKey)
			if mac11 {
				keys = ns.Keys11(nwkKey, appKey)
				genAppKey = lorawan.AES128Key{}
			}
			// An OTAA device gets its DevAddr and keys when it joins.
			var addr lorawan.DevAddr
			var sk sessionKeys
			if !otaa {
				addr = n.newDevAddr(addrs)
				sk = deriveSession(mac11, nwkKey, appKey, abpJoin)
			}
			name := fmt.Sprintf("%s%d", cmp.Or(g.NamePrefix, "device-"), i+1)
			dc := classProto(cls)
			if err := n.ns.AddDevice(ns.Device{
				DevEUI: eui, Name: name, ApplicationID: apps[ai].id, DeviceProfileID: profileIDs[pi],
				Tags: g.Tags, Keys: keys, ClassEnabled: dc,
			}); err != nil {
				return fmt.Errorf("simulator: device %s: %w", eui, err)
			}
			info := &integration.DeviceInfo{
				TenantId: apps[ai].tenantID, TenantName: apps[ai].tenantName,
				ApplicationId: apps[ai].id, ApplicationName: apps[ai].name,
				DeviceProfileId: profileIDs[pi], DeviceProfileName: prof.Name,
				DeviceName: name, DevEui: eui.String(), DeviceClassEnabled: dc, Tags: g.Tags,
			}
			freqs := g.UplinkFrequencies
			if len(freqs) == 0 {
				freqs = eu868Channels
			}
			d := &Device{
				net: n, eui: eui, name: name, class: cls, mac11: mac11, addr: addr, keys: sk,
				otaa: otaa, joined: !otaa, appKey: appKey, nwkKey: nwkKey, rxDelay: rx1Delay,
				uplinkDR: DefaultUplinkDR, freqs: freqs, rnd: n.src.Stream("mac/" + eui.String()),
				battery:         uint8(1 + n.src.Stream("battery/"+eui.String()).IntN(254)),
				pingPeriodicity: prof.ClassBPingSlotPeriodicity, pingFreq: pingFreq, pingDR: pingDR,
				log: n.log.With("dev_eui", eui.String(), "device", name),
			}
			if g.UplinkDR != nil {
				d.uplinkDR = *g.UplinkDR
			}
			s := &session{
				eui: eui, addr: addr, class: cls, mac11: mac11, keys: sk, freqs: freqs,
				appID: apps[ai].id, info: info,
				otaa: otaa, active: !otaa, appKey: appKey, nwkKey: nwkKey, devNonces: map[uint16]bool{},
				pingPeriodicity: prof.ClassBPingSlotPeriodicity, pingFreq: pingFreq, pingDR: pingDR,
			}
			n.sessByEUI[eui] = s
			if !otaa {
				n.sessions[addr] = s
			}
			if err := n.medium.AddDevice(eui, positionOf(g.Position), d); err != nil {
				return fmt.Errorf("simulator: device %s: %w", eui, err)
			}
			if err := n.link(eui, g, gwSet, allGWs, gwPos); err != nil {
				return fmt.Errorf("simulator: device %s: %w", eui, err)
			}
			if d.app, err = n.newApp(d, g, img, appKey, genAppKey, mac11); err != nil {
				return fmt.Errorf("simulator: device %s: %w", eui, err)
			}
			n.devices = append(n.devices, d)
			n.byEUI[eui] = d
			if nv, ok := d.app.(JoinNVM); ok {
				d.boots = nv.Boots()
			}
			// A device sends a first frame soon after power-on: an ABP
			// device an empty one, as after a join, so the network knows
			// a gateway to reach it by; an OTAA device its JoinRequest.
			interval := cmp.Or(time.Duration(g.UplinkInterval), DefaultUplinkInterval)
			first := time.Duration(d.rnd.Int64N(int64(min(interval, 10*time.Second))))
			if otaa {
				n.clk.AfterFunc(first, d.join)
			} else {
				n.clk.AfterFunc(first, func() { d.send(0, nil, false) })
			}
		}
	}
	return nil
}

// profileHasOTAA reports whether a group of devices of the profile joins.
func profileHasOTAA(sc *Scenario, profile string) bool {
	profs := names(len(sc.DeviceProfiles), func(i int) string { return sc.DeviceProfiles[i].Name })
	for _, g := range sc.Devices {
		pi, _ := pick(g.DeviceProfile, profs)
		otaa, _ := parseActivation(g.Activation)
		if otaa && pi >= 0 && sc.DeviceProfiles[pi].Name == profile {
			return true
		}
	}
	return false
}

// newDevAddr draws a unique DevAddr of NetID 000000 (type 0, NwkID 0).
func (n *Network) newDevAddr(r *rand.Rand) lorawan.DevAddr {
	for {
		v := r.Uint32() & (1<<25 - 1)
		a := lorawan.DevAddr{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		if _, used := n.sessions[a]; !used && v != 0 {
			return a
		}
	}
}

// link sets the group's links to every gateway.
func (n *Network) link(dev lorawan.EUI64, g *DeviceGroup, set, all []lorawan.EUI64, gwPos map[lorawan.EUI64]bool) error {
	in := map[lorawan.EUI64]bool{}
	for _, id := range set {
		in[id] = true
	}
	for _, gw := range all {
		if !in[gw] {
			n.medium.RemoveLink(dev, gw)
			continue
		}
		positioned := g.Position != nil && gwPos[gw]
		l := radio.Link{}
		if g.Loss != nil {
			l.Loss, _ = g.Loss.model()
			l.PathLossDB = g.Loss.PathLossDB
		} else if positioned {
			continue // the medium's path loss and fading
		}
		if l.PathLossDB == 0 && !positioned {
			l.PathLossDB = DefaultPathLossDB
		}
		if err := n.medium.SetLink(dev, gw, l); err != nil {
			return err
		}
	}
	return nil
}

// firmware returns the signed factory image of a group, shared by groups
// with the same version and size.
func (n *Network) firmware(cache map[string][]byte, g *DeviceGroup) ([]byte, error) {
	v := image.Version{Major: 1}
	if g.Firmware != "" {
		v, _ = image.ParseVersion(g.Firmware)
	}
	size := cmp.Or(g.FirmwareSize, DefaultFirmwareSize)
	k := fmt.Sprintf("%s/%d", v, size)
	if img, ok := cache[k]; ok {
		return img, nil
	}
	img, err := boot.FirmwareImage(boot.FirmwareSpec{
		Version: v, Behaviour: boot.Good, SecurityCounter: 1, Key: n.signer, Size: size, Seed: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("firmware %s: %w", v, err)
	}
	cache[k] = img
	return img, nil
}

// newApp builds the device's application layer: a simulator/device.Device
// on its own flash and bootloader, running the group's firmware.
func (n *Network) newApp(d *Device, g *DeviceGroup, img []byte, appKey, genAppKey lorawan.AES128Key, mac11 bool) (App, error) {
	part := boot.PartSTM32WL
	if g.Flash != "" {
		part, _ = boot.ParsePart(g.Flash)
	}
	layout := boot.DualBank
	if g.Layout != "" {
		layout, _ = boot.ParseLayout(g.Layout)
	}
	prof, err := part.Profile(g.FlashSize)
	if err != nil {
		return nil, err
	}
	internal, err := flash.New(prof)
	if err != nil {
		return nil, err
	}
	var external *flash.Flash
	if layout == boot.ExternalSwap {
		if external, err = flash.New(flash.NORW25Q(flash.MiB)); err != nil {
			return nil, err
		}
	}
	parts, err := boot.Plan(layout, internal, external, boot.PlanOptions{MaxImage: cmp.Or(g.MaxImage, DefaultMaxImage)})
	if err != nil {
		return nil, err
	}
	bl, err := boot.New(boot.Config{Layout: layout, Partitions: parts, TrustedKeys: []crypto.PublicKey{n.signer.Public()}})
	if err != nil {
		return nil, err
	}
	if err := bl.Install(img); err != nil {
		return nil, err
	}
	stack := device.Spec
	if g.Stack != "" {
		stack, _ = device.ParseProfile(g.Stack)
	}
	band, err := deviceBand(n.reg)
	if err != nil {
		return nil, err
	}
	dev, err := device.New(device.Config{
		Clock: n.clk, Boot: bl, Uplinker: device.UplinkFunc(d.uplink), Rand: n.src, Name: d.eui.String(),
		Profile: stack,
		Versions: device.Versions{
			ClockSync: g.Versions.ClockSync, Multicast: g.Versions.Multicast,
			Fragmentation: g.Versions.Fragmentation, FirmwareManagement: g.Versions.FirmwareManagement,
		},
		LoRaWAN11: mac11, AppKey: appKey, GenAppKey: genAppKey, HWVersion: g.HWVersion, Band: band,
		RAMBudget:      g.RAMBudget,
		ClockOffset:    time.Duration(g.ClockOffset),
		ClockDriftPPM:  g.ClockDriftPPM,
		AppTimePeriod:  time.Duration(g.AppTimePeriod),
		UplinkInterval: cmp.Or(time.Duration(g.UplinkInterval), DefaultUplinkInterval),
		// The MAC layer here opens the class A windows itself, on their
		// frequencies and data rates; the device's own approximation
		// (any frequency for a while after an uplink) is turned off.
		RXWindow: time.Nanosecond,
		OnBoot:   d.logBoot,
	})
	if err != nil {
		return nil, err
	}
	if _, ok := dev.Running(); !ok {
		return nil, fmt.Errorf("device does not boot: %w", dev.LastBoot().Err)
	}
	return DeviceApp{Device: dev, boot: bl}, nil
}

// deviceBand is what a device of region r can receive, for its checks of the
// TS005 session requests: the region's frequency range and its highest
// downlink data rate.
func deviceBand(r *region.Region) (device.Band, error) {
	sbs, err := r.SubBands(region.Regulatory)
	if err != nil || len(sbs) == 0 {
		return device.Band{}, fmt.Errorf("%s: no frequency range: %v", r.Name(), err)
	}
	b := device.Band{MinFrequency: sbs[0].MinHz, MaxFrequency: sbs[0].MaxHz}
	for _, sb := range sbs[1:] {
		b.MinFrequency, b.MaxFrequency = min(b.MinFrequency, sb.MinHz), max(b.MaxFrequency, sb.MaxHz)
	}
	for _, dr := range r.DataRates() {
		if dr.Downlink {
			b.MaxDR = max(b.MaxDR, uint8(dr.Index))
		}
	}
	return b, nil
}

// Start runs the multicast scheduler and the class C downlink poll on the
// clock until ctx is done. Run and RunRealtime call it; call it before
// driving the clock with RunFor.
func (n *Network) Start(ctx context.Context) {
	n.startOnce.Do(func() {
		n.ns.StartScheduler(ctx)
		interval := cmp.Or(time.Duration(n.sc.Network.SchedulerInterval), ns.DefaultSchedulerInterval)
		var poll func()
		poll = func() {
			if ctx.Err() != nil {
				return
			}
			n.pollClassC()
			n.pollClassB()
			n.clk.AfterFunc(interval, poll)
		}
		n.clk.AfterFunc(interval, poll)
		// Gateways send stats every 30 s, ChirpStack's default
		// stats_interval, which keeps them ONLINE in GatewayService.List.
		var stats func()
		stats = func() {
			if ctx.Err() != nil {
				return
			}
			for _, g := range n.gws.Gateways() {
				_ = n.ns.MarkGatewaySeen(g.ID())
			}
			n.clk.AfterFunc(gatewayStatsInterval, stats)
		}
		stats()
	})
}

// RunFor runs the simulation for d of virtual time.
func (n *Network) RunFor(ctx context.Context, d time.Duration) {
	n.Start(ctx)
	n.clk.RunFor(d)
}

// Run runs the simulation in virtual time, as fast as it goes, until ctx
// is done.
func (n *Network) Run(ctx context.Context) error {
	n.Start(ctx)
	for ctx.Err() == nil {
		for range 1000 {
			if !n.clk.Step() {
				return nil
			}
		}
	}
	return ctx.Err()
}

// RunRealtime runs the simulation against the wall clock, scale times as
// fast, until ctx is done, for external clients (`lorafuota sim serve`).
func (n *Network) RunRealtime(ctx context.Context, scale float64) error {
	n.Start(ctx)
	return realtimeErr(n.clk.RunRealtime(ctx, scale))
}

// RunRealtimeFrom is RunRealtime with virtual time origin + (wall −
// origin)·scale (clock.Virtual.RunRealtimeFrom), so that a server on
// clock.Scaled(origin, scale) in another process keeps the same time.
func (n *Network) RunRealtimeFrom(ctx context.Context, scale float64, origin time.Time) error {
	n.Start(ctx)
	return realtimeErr(n.clk.RunRealtimeFrom(ctx, scale, origin))
}

func realtimeErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// Serve serves the ChirpStack API on lis until ctx is done.
func (n *Network) Serve(ctx context.Context, lis net.Listener) error { return n.ns.Serve(ctx, lis) }

// Close releases the network's own event publisher, flushing it until ctx
// is done.
func (n *Network) Close(ctx context.Context) error {
	if n.ownPub {
		return n.pub.Close(ctx)
	}
	return nil
}

// Clock returns the network's clock.
func (n *Network) Clock() *clock.Virtual { return n.clk }

// NS returns the simulated ChirpStack.
func (n *Network) NS() *ns.Server { return n.ns }

// Medium returns the radio channel.
func (n *Network) Medium() *radio.Medium { return n.medium }

// Gateways returns the gateways.
func (n *Network) Gateways() *gateway.Network { return n.gws }

// Publisher returns the integration-event publisher.
func (n *Network) Publisher() *events.Publisher { return n.pub }

// SigningKey is the key the devices' bootloaders trust: images signed with
// it verify on every device of the run. It follows from the seed unless
// Options.SigningKey gave one.
func (n *Network) SigningKey() crypto.Signer { return n.signer }

// Seed returns the seed of the run.
func (n *Network) Seed() uint64 { return n.src.Seed() }

// Devices returns the devices in scenario order.
func (n *Network) Devices() []*Device { return n.devices }

// Device returns the device with the DevEUI.
func (n *Network) Device(eui lorawan.EUI64) (*Device, bool) {
	d, ok := n.byEUI[eui]
	return d, ok
}

func (n *Network) deviceInfo(eui lorawan.EUI64) (*integration.DeviceInfo, bool) {
	s, ok := n.sessByEUI[eui]
	if !ok {
		return nil, false
	}
	return s.info, true
}

// model returns the radio loss model.
func (l *LossSpec) model() (radio.Loss, error) {
	prob := func(name string, p float64) error {
		if p < 0 || p > 1 {
			return fmt.Errorf("%s %v is not a probability", name, p)
		}
		return nil
	}
	switch l.Model {
	case "bernoulli":
		if err := prob("p", l.P); err != nil {
			return nil, err
		}
		return radio.Bernoulli{P: l.P}, nil
	case "gilbert-elliott":
		if err := errors.Join(prob("p_good_to_bad", l.PGoodToBad), prob("p_bad_to_good", l.PBadToGood),
			prob("loss_good", l.LossGood), prob("loss_bad", l.LossBad)); err != nil {
			return nil, err
		}
		return radio.GilbertElliott{PGoodToBad: l.PGoodToBad, PBadToGood: l.PBadToGood, LossGood: l.LossGood, LossBad: l.LossBad}, nil
	case "link-budget":
		if l.SigmaDB < 0 {
			return nil, fmt.Errorf("sigma_db %v is negative", l.SigmaDB)
		}
		return radio.LinkBudget{SigmaDB: l.SigmaDB}, nil
	case "", "none":
		return nil, nil
	}
	return nil, fmt.Errorf("model %q is not bernoulli, gilbert-elliott, link-budget or none", l.Model)
}

func positionOf(p *Position) *radio.Position {
	if p == nil {
		return nil
	}
	return &radio.Position{X: p.X, Y: p.Y}
}

func classProto(c class) common.DeviceClass {
	switch c {
	case classB:
		return common.DeviceClass_CLASS_B
	case classC:
		return common.DeviceClass_CLASS_C
	}
	return common.DeviceClass_CLASS_A
}

func macVersionProto(s string) common.MacVersion {
	switch s {
	case "1.0.0":
		return common.MacVersion_LORAWAN_1_0_0
	case "1.0.1":
		return common.MacVersion_LORAWAN_1_0_1
	case "1.0.2":
		return common.MacVersion_LORAWAN_1_0_2
	case "1.0.3":
		return common.MacVersion_LORAWAN_1_0_3
	case "1.1.0", "1.1":
		return common.MacVersion_LORAWAN_1_1_0
	}
	return common.MacVersion_LORAWAN_1_0_4
}

func regionProto(r region.Name) common.Region {
	if v, ok := common.Region_value[string(r)]; ok {
		return common.Region(v)
	}
	return common.Region_EU868
}

// streamReader reads bytes off a random stream.
type streamReaderT struct{ r *rand.Rand }

func streamReader(r *rand.Rand) io.Reader { return streamReaderT{r} }

func (s streamReaderT) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(s.r.Uint32())
	}
	return len(b), nil
}
