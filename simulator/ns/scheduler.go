package ns

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/region"
)

// Downlink is one multicast frame for one gateway, as ChirpStack hands it to
// the gateway backend (a gw.DownlinkFrame with one item).
type Downlink struct {
	// ID is the downlink id: a random uint32 naming this attempt, as
	// ChirpStack's downlink_id.
	ID        uint32
	GatewayID lorawan.EUI64

	Region    region.Name
	Frequency uint32 // Hz
	DR        int
	// PowerDBm is the EIRP: the region's default downlink power at
	// Frequency (ChirpStack's, when network.downlink_tx_power is unset).
	PowerDBm int

	// TimeSinceGPSEpoch is set for GPS-epoch timing (class C GPS_TIME,
	// class B ping slots) and nil for "immediately" (class C DELAY).
	TimeSinceGPSEpoch *time.Duration
	// EmitAt is when the frame is to go on air: the scheduler's Now for
	// "immediately", else TimeSinceGPSEpoch as UTC. ChirpStack picks a
	// GPS-timed class C row at or after its emit time, so a gateway may
	// find EmitAt already past (TOO_LATE); that is reproduced, not fixed.
	EmitAt time.Time

	// PHYPayload is the frame as the gateway sends it: unconfirmed data
	// down to DevAddr, FRMPayload encrypted with the McAppSKey, MIC with
	// the McNwkSKey.
	PHYPayload []byte

	// The same frame in clear, so that the radio side need not decode it.
	DevAddr    lorawan.DevAddr // the group's McAddr
	FCnt       uint32
	FPort      uint8
	FRMPayload []byte

	MulticastGroupID string
	QueueItemID      string // the row's id
}

// Transmitter sends multicast frames: the gateway and radio side of the
// simulator.
type Transmitter interface {
	// Transmit hands d to its gateway and returns the gateway's tx ack.
	// The row is deleted on OK and on any error status, as ChirpStack
	// does. Returning NoAck means the gateway never answered: the row
	// stays and is picked again once the lock duration has passed (and
	// may so be sent twice, as with ChirpStack). Transmit is called
	// without the server's lock held, from the goroutine running Tick.
	Transmit(ctx context.Context, d Downlink) gw.TxAckStatus
}

// NoAck is the status a Transmitter returns when no tx ack arrives.
const NoAck gw.TxAckStatus = -1

// TransmitterFunc adapts a function to Transmitter.
type TransmitterFunc func(ctx context.Context, d Downlink) gw.TxAckStatus

// Transmit calls f.
func (f TransmitterFunc) Transmit(ctx context.Context, d Downlink) gw.TxAckStatus { return f(ctx, d) }

// EventKind says which integration event an Event stands for.
type EventKind int

const (
	// EventTxAck is integration.TxAckEvent: a unicast item went out.
	EventTxAck EventKind = iota + 1
	// EventAck is integration.AckEvent: the answer to a confirmed item.
	EventAck
	// EventLog is integration.LogEvent.
	EventLog
	// EventMulticastTxAck has no ChirpStack counterpart: the tx ack of a
	// multicast row, raised only with Quirks.ReportMulticastTxAck.
	EventMulticastTxAck
)

func (k EventKind) String() string {
	switch k {
	case EventTxAck:
		return "txack"
	case EventAck:
		return "ack"
	case EventLog:
		return "log"
	case EventMulticastTxAck:
		return "multicast-txack"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is an integration event, for whoever publishes them (MQTT, HTTP).
// Which fields are set depends on Kind.
type Event struct {
	Kind EventKind
	Time time.Time

	DevEUI           lorawan.EUI64 // unicast events
	MulticastGroupID string        // multicast events
	QueueItemID      string
	FCnt             uint32 // FCntDown of a unicast item, FCnt of a multicast row
	GatewayID        lorawan.EUI64

	Status       gw.TxAckStatus // EventMulticastTxAck
	Acknowledged bool           // EventAck

	Level       integration.LogLevel // EventLog
	Code        integration.LogCode
	Description string
	Context     map[string]string
}

// EventSink receives events. HandleEvent is called without the server's lock
// held and may call the server.
type EventSink interface {
	HandleEvent(Event)
}

// EventSinkFunc adapts a function to EventSink.
type EventSinkFunc func(Event)

// HandleEvent calls f.
func (f EventSinkFunc) HandleEvent(e Event) { f(e) }

// simRegion maps ChirpStack's region enum to a region this simulator has
// tables for.
func simRegion(r common.Region) (region.Name, bool) {
	switch r {
	case common.Region_EU868:
		return region.EU868, true
	case common.Region_US915:
		return region.US915, true
	case common.Region_AU915:
		return region.AU915, true
	case common.Region_AS923:
		return region.AS923_1, true
	case common.Region_AS923_2:
		return region.AS923_2, true
	case common.Region_AS923_3:
		return region.AS923_3, true
	case common.Region_AS923_4:
		return region.AS923_4, true
	case common.Region_IN865:
		return region.IN865, true
	case common.Region_KR920:
		return region.KR920, true
	}
	return "", false
}

// maxPayloadN is N, the largest FRMPayload, of a downlink at dr under the
// latest RP002 tables, which is what ChirpStack checks multicast rows against.
func maxPayloadN(r common.Region, dr uint32) (int, error) {
	name, ok := simRegion(r)
	if !ok {
		return 0, fmt.Errorf("region %v is not simulated", r)
	}
	reg, err := region.Get(name)
	if err != nil {
		return 0, err
	}
	p, err := reg.MaxPayload(int(dr), region.Downlink, region.PayloadOptions{})
	if err != nil {
		return 0, err
	}
	return p.N, nil
}

// gatewaySet returns the gateways a frame of g goes out through: those added
// to the group or, if none, those chosen from the devices' reception history.
// The caller holds s.mu.
func (s *Server) gatewaySet(g *groupRec) []lorawan.EUI64 {
	if len(g.gateways) > 0 {
		return slices.Clone(g.gateways)
	}
	// ChirpStack builds a minimum spanning tree over the gateways (linked
	// to each other with weight −999) and the devices (linked to each
	// gateway that heard them with weight 1/devices-heard-by-it), and keeps
	// every gateway left with a device edge. In such a tree each device
	// hangs off its lightest edge, so the set is: for every device, the
	// gateway that heard it and heard the most devices. ChirpStack breaks
	// ties arbitrarily; here the lowest gateway id wins.
	heard := make(map[lorawan.EUI64]int)
	for _, dev := range g.devices {
		if d := s.devices[dev]; d != nil {
			for _, id := range d.rxGateways {
				heard[id]++
			}
		}
	}
	chosen := make(map[lorawan.EUI64]bool)
	for _, dev := range g.devices {
		d := s.devices[dev]
		if d == nil || len(d.rxGateways) == 0 {
			continue
		}
		best := d.rxGateways[0]
		for _, id := range d.rxGateways[1:] {
			if heard[id] > heard[best] || heard[id] == heard[best] && lessEUI(id, best) {
				best = id
			}
		}
		chosen[best] = true
	}
	return slices.SortedFunc(maps.Keys(chosen), compareEUI)
}

func compareEUI(a, b lorawan.EUI64) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

func lessEUI(a, b lorawan.EUI64) bool { return compareEUI(a, b) < 0 }

// enqueueMulticast queues one frame for the group and returns the FCnt it
// got, following ChirpStack's storage/multicast.rs enqueue (CHIRPSTACK.md
// §3.1). Every error it returns went through anyhow in ChirpStack, hence
// viaAnyhow at the call site.
func (s *Server) enqueueMulticast(groupID string, fPort uint32, data []byte, expiresAt *time.Time) (uint32, error) {
	// ChirpStack takes the request's uint32 `as i16` before checking it.
	if p := int16(fPort); p <= 0 || p > 255 {
		return 0, validation("FPort must be between 1 - 255")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[groupID]
	if g == nil {
		return 0, notFound(groupID)
	}
	gateways := s.gatewaySet(g)
	q := s.cfg.Quirks
	if len(gateways) == 0 && q.RefuseNoGateways {
		return 0, loud(ErrPrecondition, fmt.Sprintf(
			"multicast-group %s has no gateways: none added and none heard its devices; the frame would not be sent", groupID))
	}
	if q.RefuseOversize {
		n, err := maxPayloadN(g.region, g.dr)
		if err != nil {
			return 0, loud(ErrInvalid, fmt.Sprintf("multicast-group %s: max. payload size of DR%d: %v", groupID, g.dr, err))
		}
		if len(data) > n {
			return 0, loud(ErrInvalid, fmt.Sprintf("payload of %d bytes exceeds max. payload size %d of DR%d", len(data), n, g.dr))
		}
	}

	now := s.clk.Now()
	var rows []*mcRow
	newRow := func(gwID lorawan.EUI64, runAfter time.Time, emit *time.Duration) *mcRow {
		s.seq++
		r := &mcRow{
			id:        newUUID(s.rnd),
			seq:       s.seq,
			created:   now,
			runAfter:  runAfter,
			groupID:   groupID,
			gatewayID: gwID,
			fCnt:      g.fCnt,
			fPort:     uint8(fPort),
			data:      slices.Clone(data),
		}
		if emit != nil {
			e := *emit
			r.emitGPS = &e
		}
		if expiresAt != nil {
			t := *expiresAt
			r.expiresAt = &t
		}
		return r
	}

	switch g.groupType {
	case api.MulticastGroupType_CLASS_B:
		if g.pingSlotPeriod > 7 {
			return 0, invalidArg(fmt.Sprintf("class_b_ping_slot_periodicity %d: must be 0 - 7", g.pingSlotPeriod))
		}
		pingNb := 1 << (7 - g.pingSlotPeriod)
		// After the latest queued emit time, or after now + margin.
		after := gpsTime(now.Add(s.cfg.ClassBMargin))
		if last, ok := s.maxEmit(groupID); ok {
			after = last
		}
		slot, err := nextPingSlotAfter(after, g.mcAddr, pingNb)
		if err != nil {
			return 0, err
		}
		runAfter := fromGPSTime(slot).Add(-2 * s.cfg.SchedulerInterval)
		for _, id := range gateways {
			rows = append(rows, newRow(id, runAfter, &slot))
		}
	default: // CLASS_C; prost reads an unknown enum value as the default
		margin := s.cfg.ClassCMargin
		at := now
		if last, ok := s.maxRunAfter(groupID); ok {
			at = last.Add(margin)
		}
		var emit *time.Duration
		if g.schedulingType == api.MulticastGroupSchedulingType_GPS_TIME {
			// One margin more, so the gateway is not asked for "now".
			at = at.Add(margin)
			e := gpsTime(at)
			emit = &e
		}
		for _, id := range gateways {
			rows = append(rows, newRow(id, at, emit))
			if g.schedulingType != api.MulticastGroupSchedulingType_GPS_TIME {
				at = at.Add(margin) // DELAY: gateways take turns
			}
		}
	}
	s.rows = append(s.rows, rows...)
	fCnt := g.fCnt
	g.fCnt++
	s.log.Info("Multicast-group queue item created",
		"multicast_group_id", groupID, "f_cnt", fCnt, "gateways", len(rows))
	return fCnt, nil
}

// maxRunAfter is max(scheduler_run_after) over the group's rows.
func (s *Server) maxRunAfter(groupID string) (time.Time, bool) {
	var last time.Time
	found := false
	for _, r := range s.rows {
		if r.groupID == groupID && (!found || r.runAfter.After(last)) {
			last, found = r.runAfter, true
		}
	}
	return last, found
}

// maxEmit is max(emit_at_time_since_gps_epoch) over the group's rows; like
// SQL's max it ignores rows without one.
func (s *Server) maxEmit(groupID string) (time.Duration, bool) {
	var last time.Duration
	found := false
	for _, r := range s.rows {
		if r.groupID == groupID && r.emitGPS != nil && (!found || *r.emitGPS > last) {
			last, found = *r.emitGPS, true
		}
	}
	return last, found
}

// deleteRows removes the rows for which drop is true.
func (s *Server) deleteRows(drop func(*mcRow) bool) int {
	n := len(s.rows)
	s.rows = slices.DeleteFunc(s.rows, drop)
	return n - len(s.rows)
}

// picked is a row handed to the transmitter.
type picked struct {
	rowID string
	dl    Downlink
}

// Tick runs the multicast scheduler once, as ChirpStack does every scheduler
// interval: it picks up to SchedulerBatchSize rows whose run-after time has
// come, in creation order, and locks them for the lock duration. An expired
// row is deleted (with only a log line, unless Quirks.ReportMulticastExpiry);
// a row longer than N of its group's DR is deleted with only a log line; the
// others go to the Transmitter, and the row is deleted on its tx ack, OK or
// not (reported only with Quirks.ReportMulticastTxAck). It returns the number
// of frames handed to the Transmitter.
func (s *Server) Tick(ctx context.Context) int {
	batch, evs := s.pick()
	s.dispatch(evs)
	for _, p := range batch {
		st := NoAck
		if s.tx != nil {
			st = s.tx.Transmit(ctx, p.dl)
		}
		s.dispatch(s.txAck(p, st))
	}
	return len(batch)
}

func (s *Server) pick() ([]picked, []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	var (
		batch []picked
		evs   []Event
		drop  = make(map[string]bool)
		n     int
	)
	for _, r := range s.rows {
		if n == s.cfg.SchedulerBatchSize {
			break
		}
		if r.runAfter.After(now) {
			continue
		}
		n++
		r.runAfter = now.Add(s.cfg.SchedulerLockDuration)
		g := s.groups[r.groupID]
		log := s.log.With("multicast_group_id", r.groupID, "gateway_id", r.gatewayID.String(), "f_cnt", r.fCnt)
		if r.expiresAt != nil && now.After(*r.expiresAt) {
			log.Warn("Discarding multicast-group queue item because it has expired", "expires_at", *r.expiresAt)
			drop[r.id] = true
			if s.cfg.Quirks.ReportMulticastExpiry {
				evs = append(evs, Event{
					Kind: EventLog, Time: now, MulticastGroupID: r.groupID, QueueItemID: r.id,
					FCnt: r.fCnt, GatewayID: r.gatewayID,
					Level: integration.LogLevel_WARNING, Code: integration.LogCode_EXPIRED,
					Description: "Multicast-group queue item discarded because it has expired",
					Context:     map[string]string{"queue_item_id": r.id, "multicast_group_id": r.groupID},
				})
			}
			continue
		}
		maxN, err := maxPayloadN(g.region, g.dr)
		if err != nil {
			// Not a drop in ChirpStack: the item stays, locked, and is
			// tried again after the lock duration.
			log.Error("Schedule multicast-group queue item", "error", err)
			continue
		}
		if len(r.data) > maxN {
			log.Warn("Discarding multicast-group queue item because it exceeds max. payload size",
				"dr", g.dr, "max_pl_size", maxN, "pl_size", len(r.data))
			drop[r.id] = true
			continue
		}
		dl, err := s.downlink(g, r, now)
		if err != nil {
			log.Error("Schedule multicast-group queue item", "error", err)
			continue
		}
		batch = append(batch, picked{rowID: r.id, dl: dl})
	}
	s.deleteRows(func(r *mcRow) bool { return drop[r.id] })
	return batch, evs
}

// downlink builds the frame of a row. The caller holds s.mu.
func (s *Server) downlink(g *groupRec, r *mcRow, now time.Time) (Downlink, error) {
	name, _ := simRegion(g.region) // maxPayloadN has checked it
	reg, err := region.Get(name)
	if err != nil {
		return Downlink{}, err
	}
	fPort := r.fPort
	phy := lorawan.PHYPayload{
		MHDR: lorawan.MHDR{MType: lorawan.UnconfirmedDataDown, Major: lorawan.LoRaWANR1},
		MACPayload: &lorawan.MACPayload{
			FHDR:       lorawan.FHDR{DevAddr: g.mcAddr, FCnt: r.fCnt},
			FPort:      &fPort,
			FRMPayload: []lorawan.Payload{&lorawan.DataPayload{Bytes: slices.Clone(r.data)}},
		},
	}
	if err := phy.EncryptFRMPayload(g.mcAppSKey); err != nil {
		return Downlink{}, fmt.Errorf("encrypt FRMPayload: %w", err)
	}
	// For an unconfirmed downlink the 1.0 and 1.1 MICs agree.
	if err := phy.SetDownlinkDataMIC(lorawan.LoRaWAN1_1, 0, g.mcNwkSKey); err != nil {
		return Downlink{}, fmt.Errorf("downlink MIC: %w", err)
	}
	b, err := phy.MarshalBinary()
	if err != nil {
		return Downlink{}, fmt.Errorf("marshal PHYPayload: %w", err)
	}
	d := Downlink{
		ID:               s.rnd.Uint32(),
		GatewayID:        r.gatewayID,
		Region:           name,
		Frequency:        g.frequency,
		DR:               int(g.dr),
		PowerDBm:         reg.DownlinkTXPowerDBm(g.frequency),
		EmitAt:           now,
		PHYPayload:       b,
		DevAddr:          g.mcAddr,
		FCnt:             r.fCnt,
		FPort:            r.fPort,
		FRMPayload:       slices.Clone(r.data),
		MulticastGroupID: r.groupID,
		QueueItemID:      r.id,
	}
	if r.emitGPS != nil {
		e := *r.emitGPS
		d.TimeSinceGPSEpoch = &e
		d.EmitAt = fromGPSTime(e)
	}
	return d, nil
}

// txAck applies the tx ack of a picked row.
func (s *Server) txAck(p picked, st gw.TxAckStatus) []Event {
	if st == NoAck {
		return nil // the row stays locked until the lock duration has passed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The row may be gone already: flushed, or its group deleted.
	s.deleteRows(func(r *mcRow) bool { return r.id == p.rowID })
	if st != gw.TxAckStatus_OK {
		s.log.Warn("Multicast downlink tx ack error, queue item deleted",
			"multicast_group_id", p.dl.MulticastGroupID, "gateway_id", p.dl.GatewayID.String(),
			"f_cnt", p.dl.FCnt, "status", st.String())
	}
	if !s.cfg.Quirks.ReportMulticastTxAck {
		return nil
	}
	return []Event{{
		Kind: EventMulticastTxAck, Time: s.clk.Now(),
		MulticastGroupID: p.dl.MulticastGroupID, QueueItemID: p.rowID,
		FCnt: p.dl.FCnt, GatewayID: p.dl.GatewayID, Status: st,
	}}
}

// StartScheduler runs Tick every SchedulerInterval on the clock, the first
// time one interval from now, until ctx is done or the returned stop is
// called. On a clock.Virtual the ticks are events of its loop, so the loop
// never runs idle while the scheduler runs: drive it with RunFor or
// RunUntil, not RunUntilIdle.
func (s *Server) StartScheduler(ctx context.Context) (stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
		t       clock.Timer
	)
	halted := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return stopped || ctx.Err() != nil
	}
	tick := func() {
		if halted() {
			return
		}
		s.Tick(ctx)
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t.Reset(s.cfg.SchedulerInterval)
		}
	}
	mu.Lock()
	t = s.clk.AfterFunc(s.cfg.SchedulerInterval, tick)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}
