package fuota

import (
	"fmt"
	"strconv"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/multicast"
)

// lane is one of the campaign's multicast groups: a device-side slot, its
// address, its class C session when lanes are in use, and its ChirpStack
// group.
type lane struct {
	McGroupID   uint8            `json:"mc_group_id"`
	McAddr      *lorawan.DevAddr `json:"mc_addr,omitempty"`
	SessionTime uint64           `json:"session_time,omitempty"`
	TimeOut     uint8            `json:"time_out,omitempty"`
	// GroupRequested, GroupID and GroupDeleted follow the ChirpStack group.
	GroupRequested bool   `json:"group_requested"`
	GroupID        string `json:"group_id,omitempty"`
	GroupDeleted   bool   `json:"group_deleted"`
	// Allocated marks an address from AllocateMcAddr, given back with
	// ReleaseMcAddr when the group is gone.
	Allocated bool `json:"allocated,omitempty"`
	// GatewaysPending counts the AddGateway calls not answered yet (the
	// lane sends nothing until they are); GatewaysAdded those that worked.
	GatewaysPending int `json:"gateways_pending,omitempty"`
	GatewaysAdded   int `json:"gateways_added,omitempty"`
}

// addressed reports whether every lane has its address.
func (d *Deployment) addressed() bool {
	for _, l := range d.st.Lanes {
		if l.McAddr == nil {
			return false
		}
	}
	return true
}

// laned reports whether each session has a lane of its own.
func (d *Deployment) laned() bool { return len(d.st.Lanes) > 1 }

// lane is the lane of the current session.
func (d *Deployment) lane() *lane {
	if d.laned() {
		return &d.st.Lanes[d.st.Session]
	}
	return &d.st.Lanes[0]
}

// mcGroupMask is the McGroupBitMask of every lane.
func (d *Deployment) mcGroupMask() uint8 {
	var m uint8
	for _, l := range d.st.Lanes {
		m |= 1 << l.McGroupID
	}
	return m
}

// mcState is the multicast's persisted progress.
type mcState struct {
	// Block and N name the next fragment (N is 1-based).
	Block         int       `json:"block"`
	N             int       `json:"n"`
	Sent          int       `json:"sent"`
	LastStart     time.Time `json:"last_start"`
	LastEnd       time.Time `json:"last_end"`
	Finished      bool      `json:"finished"`
	EnqueueErrors int       `json:"enqueue_errors"`
	// SessionSent counts the fragments of the current session.
	SessionSent int `json:"session_sent"`
}

func gpsTime(s uint64) time.Time { return clocksync.FromGPSSeconds(s) }

func (d *Deployment) sessionEnd() time.Time { return d.sessionEndOf(d.st.SessionTime, d.st.TimeOut) }

// sessionEndOf is when a session of the deployment's class starting at the
// GPS second start with timeOut ends.
func (d *Deployment) sessionEndOf(start uint64, timeOut uint8) time.Time {
	if d.st.Cfg.SessionClass == ClassB {
		end, _ := multicast.ClassBSessionEnd(start, timeOut) // timeOut ≤ 15
		return gpsTime(end)
	}
	end, _ := multicast.ClassCSessionEnd(start, timeOut)
	return gpsTime(end)
}

// sessionTimeOut is the smallest TimeOut of the deployment's class whose
// session lasts length, at most 15.
func (d *Deployment) sessionTimeOut(length time.Duration) uint8 {
	secs := uint64((max(length, time.Second) + time.Second - 1) / time.Second)
	timeOut, err := multicast.ClassCTimeOut(secs)
	if d.st.Cfg.SessionClass == ClassB {
		timeOut, err = multicast.ClassBTimeOut(secs)
	}
	if err != nil {
		// The session carries what fits; the rest waits for the status round.
		return maxTimeOut
	}
	return timeOut
}

// advance moves the deployment on once the devices allow it.
func (s *stepper) advance() error {
	st := &s.d.st
	switch st.Phase {
	case PhaseSetup:
		if !s.d.addressed() {
			return nil
		}
		for _, dev := range st.Devices {
			if !dev.terminal() && dev.Step != StepReady {
				return nil
			}
		}
		return s.chooseSession()
	case PhaseMulticast, PhaseStatus:
		for _, dev := range st.Devices {
			if !dev.terminal() {
				return nil
			}
		}
		if st.Phase == PhaseMulticast && !st.Mc.Finished {
			s.finishMulticast("no device is listening any more")
		}
		if s.d.groupSettled() {
			st.Phase = PhaseDone
			s.log(lorawan.EUI64{}, "deployment done")
		}
	case PhaseSession:
		for _, dev := range st.Devices {
			if !dev.terminal() {
				return nil
			}
		}
		st.Phase = PhaseDone
		s.log(lorawan.EUI64{}, "no device accepted the session; nothing multicast")
	}
	return nil
}

// chooseSession picks the fragmentation matrix once the slowest device is
// ready (or the setup deadline passed) and starts the first session.
func (s *stepper) chooseSession() error {
	st := &s.d.st
	var n [3]int
	for _, dev := range st.Devices {
		if !dev.terminal() {
			n[dev.Ver.Fragmentation]++
		}
	}
	if n[1]+n[2] == 0 {
		st.Phase = PhaseDone
		s.log(lorawan.EUI64{}, "no device is ready; nothing multicast")
		return nil
	}
	// v1 and v2 parity rows differ; one multicast serves one of them.
	st.Matrix = 2
	if n[1] > n[2] {
		st.Matrix = 1
	}
	for _, dev := range st.Devices {
		if !dev.terminal() && dev.Ver.Fragmentation != st.Matrix {
			s.fail(dev, StepReady, fmt.Sprintf("TS004 v%d parity differs from the campaign's v%d; deploy it separately", dev.Ver.Fragmentation, st.Matrix))
		}
	}
	return s.openSession()
}

// openSession fixes the current session's start and length and asks every
// device still in the campaign for it (with lanes, for every session at
// once). The start leaves time for the requests (StartMargin) and, under a
// sliding-window duty cycle, may wait further until the window has room for
// the session's fragments at full pace; the length covers the fragments as
// the ledgers will let them go.
func (s *stepper) openSession() error {
	st := &s.d.st
	var reqs int
	for _, dev := range st.Devices {
		if !dev.terminal() && dev.Cfg.Class == ClassC {
			reqs++
		}
	}
	start, timeOut, err := s.d.scheduleSession(s.now, reqs*len(st.Lanes))
	if err != nil {
		return fmt.Errorf("session %d: %w", st.Session, err)
	}
	st.SessionTime, st.TimeOut = start, timeOut
	if s.d.laned() {
		s.d.layLanes(s.now, reqs)
	} else {
		st.Lanes[0].SessionTime, st.Lanes[0].TimeOut = start, timeOut
	}
	st.Phase = PhaseSession
	for _, dev := range st.Devices {
		if dev.terminal() {
			continue
		}
		dev.Lane = 0
		if err := s.sendSessionReq(dev, 1); err != nil {
			return err
		}
	}
	s.emit(SetTimer{ID: sessionTimerID(timerSessionStart, st.Session), At: gpsTime(st.SessionTime)})
	if s.d.laned() {
		for k, l := range st.Lanes {
			s.emit(SetTimer{ID: sessionTimerID(timerSessionEnd, k), At: s.d.sessionEndOf(l.SessionTime, l.TimeOut)})
			s.log(lorawan.EUI64{}, "session at GPS %d (%s) for 2^%d s", l.SessionTime, gpsTime(l.SessionTime).Format(time.RFC3339), l.TimeOut)
		}
		return nil
	}
	s.emit(SetTimer{ID: sessionTimerID(timerSessionEnd, st.Session), At: s.d.sessionEnd()})
	frames := st.Sessions[st.Session]
	s.log(lorawan.EUI64{}, "session at GPS %d (%s) for 2^%d s", st.SessionTime, gpsTime(st.SessionTime).Format(time.RFC3339), st.TimeOut)
	if len(st.Sessions) > 1 {
		s.log(lorawan.EUI64{}, "session %d of %d carries frames %d to %d", st.Session+1, len(st.Sessions), frames.First, frames.End-1)
	}
	return nil
}

// layLanes places the lanes' sessions end to end from the current session
// time: each but the last takes the longest class C session, 2^15 s, and the
// last the time the remaining fragments take in a replay (at most 2^15 s;
// what does not fit is left to the parity and the status round).
func (d *Deployment) layLanes(now time.Time, reqs int) {
	st := &d.st
	t := st.SessionTime
	for k := range st.Lanes {
		l := &st.Lanes[k]
		l.SessionTime, l.TimeOut = t, maxTimeOut
		t += 1 << maxTimeOut
	}
	st.TimeOut = st.Lanes[0].TimeOut
	last := &st.Lanes[len(st.Lanes)-1]
	if end, err := d.replayLanes(now, reqs); err == nil {
		last.TimeOut = d.sessionTimeOut(end.Sub(gpsTime(last.SessionTime)) + sessionSlack)
	}
}

func sessionTimerID(prefix string, session int) string { return prefix + strconv.Itoa(session) }

func (s *stepper) sessionStart() error {
	st := &s.d.st
	if st.Phase != PhaseSession {
		return nil
	}
	active := 0
	for _, dev := range st.Devices {
		switch {
		case dev.terminal():
		case dev.Step == StepSession:
			reason := "no valid McClassCSessionAns before the session start"
			if dev.Problem != "" {
				reason += " (last answer: " + dev.Problem + ")"
			}
			s.fail(dev, StepSession, reason)
		case dev.Step == StepMulticast:
			active++
		}
	}
	if active == 0 {
		return nil // advance ends the deployment
	}
	st.Phase = PhaseMulticast
	if st.Lanes[0].GroupRequested {
		return s.pace() // a later session: the group is there
	}
	if st.Mc.N == 0 {
		st.Mc.N = 1
	}
	for k := range st.Lanes {
		l := &st.Lanes[k]
		l.GroupRequested = true
		s.emit(CreateMulticastGroup{
			ActionID: s.newCall(call{Kind: callGroup, Lane: k}), McAddr: *l.McAddr,
			McAppSKey: multicast.McAppSKey(st.McKey, *l.McAddr), McNwkSKey: multicast.McNwkSKey(st.McKey, *l.McAddr),
			DR: s.d.plan.Request.DR, FrequencyHz: s.d.plan.FrequencyHz, Class: string(st.Cfg.SessionClass), Lane: k,
			PingSlotPeriodicity: st.Cfg.PingSlotPeriodicity,
		})
	}
	return nil
}

func (s *stepper) groupCreated(c call, r Result) error {
	st := &s.d.st
	l := &st.Lanes[c.Lane]
	if r.Err != nil {
		for _, dev := range st.Devices {
			if dev.Step == StepMulticast {
				s.fail(dev, StepMulticast, fmt.Sprintf("creating multicast group %d: %v", c.Lane, r.Err))
			}
		}
		l.GroupRequested = false
		st.Mc.Finished = true
		s.deleteGroup() // the other lanes' groups
		return nil
	}
	l.GroupID = r.GroupID
	if st.Phase != PhaseMulticast {
		// Cancelled or failed while the group was being created: nothing
		// was queued.
		s.deleteGroup()
		return nil
	}
	for _, dev := range st.Devices {
		if dev.Step == StepMulticast && !dev.terminal() {
			s.emit(AddDevice{ActionID: s.newCall(call{Kind: callAddDevice, DevEUI: dev.Cfg.DevEUI, Lane: c.Lane, Attempts: 1}),
				GroupID: r.GroupID, DevEUI: dev.Cfg.DevEUI})
		}
	}
	for _, g := range st.Cfg.Gateways {
		l.GatewaysPending++
		s.emit(AddGateway{ActionID: s.newCall(call{Kind: callAddGateway, Lane: c.Lane, Attempts: 1}), GroupID: r.GroupID, GatewayID: g.ID})
	}
	return s.pace()
}

// memberAdded takes the answer to AddDevice or AddGateway: a failure is
// tried again, up to the retry count; a device that cannot be added is left
// to hear the group anyway (ChirpStack needs the devices only to choose
// gateways when none is given), and a lane no gateway could join fails the
// devices, since nothing would reach them.
func (s *stepper) memberAdded(c call, r Result) error {
	st := &s.d.st
	l := &st.Lanes[c.Lane]
	if r.Err != nil && c.Attempts <= st.Cfg.Retry.Count && !l.GroupDeleted && st.Phase == PhaseMulticast {
		c.Attempts++
		id := s.newCall(c)
		if c.Kind == callAddDevice {
			a, err := unmarshalAction[AddDevice](c.Action)
			if err != nil {
				return fmt.Errorf("retrying AddDevice: %w", err)
			}
			a.ActionID = id
			s.emit(a)
			return nil
		}
		a, err := unmarshalAction[AddGateway](c.Action)
		if err != nil {
			return fmt.Errorf("retrying AddGateway: %w", err)
		}
		a.ActionID = id
		s.emit(a)
		return nil
	}
	if c.Kind == callAddDevice {
		if r.Err != nil {
			s.log(c.DevEUI, "not added to multicast group %d after %d attempts: %v", c.Lane, c.Attempts, r.Err)
		}
		return nil
	}
	l.GatewaysPending--
	if r.Err == nil {
		l.GatewaysAdded++
	} else {
		s.log(lorawan.EUI64{}, "gateway not added to multicast group %d after %d attempts: %v", c.Lane, c.Attempts, r.Err)
	}
	if l.GatewaysPending == 0 && l.GatewaysAdded == 0 && st.Phase == PhaseMulticast {
		for _, dev := range st.Devices {
			if dev.Step == StepMulticast && !dev.terminal() {
				s.fail(dev, StepMulticast, fmt.Sprintf("no gateway could join multicast group %d: nothing would reach the device", c.Lane))
			}
		}
		return nil
	}
	return s.pace()
}

func (s *stepper) paceTimerID() string {
	return fmt.Sprintf("%s%d", timerPacePrefix, s.d.st.Mc.Sent)
}

func (d *Deployment) fragments(block int) ([][]byte, error) {
	if f, ok := d.frags[block]; ok {
		return f, nil
	}
	b := d.plan.Blocks[block]
	padded, _ := fragmentation.Pad(d.image[b.Offset:b.Offset+b.Size], d.plan.FragmentSize)
	m := fragmentation.MatrixV1
	if d.st.Matrix == 2 {
		m = fragmentation.MatrixV2
	}
	f, err := fragmentation.Encode(padded, d.plan.FragmentSize, b.Redundancy, fragmentation.WithMatrix(m))
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", block, err)
	}
	if d.frags == nil {
		d.frags = map[int][][]byte{}
	}
	d.frags[block] = f
	return f, nil
}

// pace offers the next fragment if the gateways can send it now, and sets a
// timer for the slot after. The network server sends a queued fragment at its
// scheduler's next run, up to jitter later (mcJitter); the ledgers record it
// at the latest instant.
func (s *stepper) pace() error {
	st := &s.d.st
	mc := &st.Mc
	group := s.d.lane().GroupID
	if st.Phase != PhaseMulticast || mc.Finished || group == "" || s.d.lane().GatewaysPending > 0 {
		return nil
	}
	jitter := s.d.mcJitter()
	freq := s.d.plan.FrequencyHz
	a := s.d.plan.FrameAirtime
	// A timer on the wall clock fires a little after its instant: a slot
	// that passed by less than lateTolerance is still taken, from now, or the
	// pacer would chase the next tick for ever.
	t, err := s.fragmentSlot(s.now.Add(-lateTolerance))
	if err != nil {
		return fmt.Errorf("pacing: %w", err)
	}
	if t.After(s.now) {
		s.emit(SetTimer{ID: s.paceTimerID(), At: t})
		return nil
	}
	handover := maxTime(t, s.now)
	off := s.d.mcOffset()
	end := handover.Add(off + jitter + a)
	if sessEnd := s.d.sessionEnd(); end.After(sessEnd) {
		s.log(lorawan.EUI64{}, "fragment %d of block %d would end at %v, after the session end %v",
			mc.N, mc.Block, end.Format(time.RFC3339), sessEnd.Format(time.RFC3339))
		return s.closeSession("session end reached")
	}
	frags, err := s.d.fragments(mc.Block)
	if err != nil {
		return err
	}
	data, err := fragmentation.EncodeFrame(&fragmentation.DataFragment{FragIndex: uint8(mc.Block), N: uint16(mc.N), Payload: frags[mc.N-1]})
	if err != nil {
		return fmt.Errorf("fragment %d of block %d: %w", mc.N, mc.Block, err)
	}
	if err := s.book(handover.Add(off+jitter), freq, a); err != nil {
		return fmt.Errorf("fragment %d of block %d: %w", mc.N, mc.Block, err)
	}
	s.emit(EnqueueMulticast{ActionID: s.newCall(call{Kind: callEnqueue}), GroupID: group,
		FPort: fragmentation.DefaultFPort, Data: data, ExpiresAt: s.d.sessionEnd()})
	mc.LastStart, mc.LastEnd = t, end
	mc.Sent++
	mc.SessionSent++
	if mc.N++; mc.N > len(frags) {
		mc.Block, mc.N = mc.Block+1, 1
	}
	if g := s.d.frameIndex(mc.Block, mc.N); g == s.d.plan.Frames || !s.d.laned() && g == st.Sessions[st.Session].End {
		return s.closeSession("")
	}
	next, err := s.fragmentSlot(t)
	if err != nil {
		return fmt.Errorf("pacing: %w", err)
	}
	s.emit(SetTimer{ID: s.paceTimerID(), At: next})
	return nil
}

// fragmentSlot is when the next fragment may be handed over, at or after
// now. The first of a session must clear whatever was on air before it at
// its earliest instant; it is handed over half a scheduler run after a whole
// second, away from the runs of a scheduler started on one. The next ones are
// handed over a whole number of scheduler runs after the one before: the
// scheduler then picks each at the same point of its cycle, so they keep the
// spacing they were handed over with, and an off-time ledger can be asked
// about each at its latest instant, like the one before it, instead of paying
// the scheduler's latency on every frame (3.6 % at EU868 DR0). This assumes
// the scheduler runs at a steady period, as ChirpStack's interval timer does;
// a sliding-window ledger is still asked at the earliest instant, which holds
// without that assumption.
func (s *stepper) fragmentSlot(now time.Time) (time.Time, error) {
	d := s.d
	mc := &d.st.Mc
	freq, a := d.plan.FrequencyHz, d.plan.FrameAirtime
	off := d.mcOffset()
	from := maxTime(now, d.SessionTime().Add(-off))
	if d.st.Cfg.SessionClass == ClassB {
		// Ping slots are not periodic: each fragment is checked on its own.
		if mc.SessionSent > 0 {
			from = maxTime(from, mc.LastStart.Add(d.frameSpacing()))
		}
		t, err := s.slot(from.Add(off), freq, a)
		return t.Add(-off), err
	}
	if mc.SessionSent == 0 {
		if tick := d.st.Cfg.SchedulerLatency; tick > 0 {
			from = from.Truncate(time.Second).Add(tick / 2)
			if from.Before(now) {
				from = from.Add(tick)
			}
		}
		return s.slot(from, freq, a)
	}
	ls, err := d.ledgersFor(freq)
	if err != nil {
		return time.Time{}, err
	}
	return lockedSlot(ls, mc.LastStart, maxTime(from, mc.LastStart.Add(d.frameSpacing())), a, d.mcJitter(), d.st.Cfg.SchedulerLatency)
}

// lockedSlot returns the first hand-over at or after from, a whole number of
// ticks after last, whose frame every ledger admits: an off-time ledger at
// its latest instant (hand-over + jitter), a sliding-window one at its
// earliest.
func lockedSlot(ls []ledger, last, from time.Time, a, jitter, tick time.Duration) (time.Time, error) {
	for range 1000 {
		if tick > 0 {
			from = last.Add((from.Sub(last) + tick - 1) / tick * tick)
		}
		moved := false
		for _, l := range ls {
			shift := time.Duration(0)
			if l.l.Model() == dutycycle.OffTime {
				shift = jitter
			}
			e, err := l.l.Earliest(from.Add(shift), a)
			if err != nil {
				return time.Time{}, fmt.Errorf("gateway %q sub-band %s: %w", l.gateway, l.band, err)
			}
			if e = e.Add(-shift); e.After(from) {
				from, moved = e, true
			}
		}
		if !moved {
			return from, nil
		}
	}
	return time.Time{}, fmt.Errorf("no phase-locked slot after %v", from)
}

// lateTolerance is how late a pace timer may be handled and still send its
// fragment.
const lateTolerance = 100 * time.Millisecond

// mcJitter is how much later than its hand-over a fragment may go on air: a
// group queue is scheduled at the network server's next scheduler run, and
// in ChirpStack's DELAY mode each further gateway sends one margin after the
// one before.
func (d *Deployment) mcJitter() time.Duration {
	if d.st.Cfg.SessionClass == ClassB {
		return d.pingPeriod()
	}
	g := max(len(d.st.Cfg.Gateways), 1)
	return d.st.Cfg.SchedulerLatency + time.Duration(g-1)*d.plan.Request.Margin
}

// mcOffset is how long after its hand-over a fragment goes on air at the
// earliest: at once for class C; for class B, in the first ping slot after
// the network server's class B margin (an empty group queue), up to a ping
// period later (mcJitter).
func (d *Deployment) mcOffset() time.Duration {
	if d.st.Cfg.SessionClass == ClassB {
		return d.st.Cfg.ClassBMargin
	}
	return 0
}

// pingPeriod is the class B session's ping-slot period, 2^p s.
func (d *Deployment) pingPeriod() time.Duration {
	return time.Duration(1<<d.st.Cfg.PingSlotPeriodicity) * time.Second
}

// frameSpacing is the least time between two fragments' hand-overs: the
// plan's, and a margin per gateway (the rows of one fragment go a margin
// apart in DELAY mode).
func (d *Deployment) frameSpacing() time.Duration {
	if d.st.Cfg.SessionClass == ClassB {
		// The next fragment is handed over once the last is on air, so the
		// group queue is empty and the margin applies to each alike.
		return max(d.plan.FrameSpacing, d.mcOffset()+d.mcJitter()+d.plan.FrameAirtime)
	}
	g := max(len(d.st.Cfg.Gateways), 1)
	return max(d.plan.FrameSpacing, time.Duration(g)*d.plan.Request.Margin)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (s *stepper) finishMulticast(why string) {
	st := &s.d.st
	st.Mc.Finished = true
	if why != "" {
		s.log(lorawan.EUI64{}, "multicast stopped after %d fragments: %s", st.Mc.Sent, why)
	}
	if st.Phase == PhaseMulticast {
		st.Phase = PhaseStatus
		s.emit(SetTimer{ID: timerStatus, At: maxTime(s.now, st.Mc.LastEnd).Add(st.Cfg.StatusDelay)})
	}
}

// closeSession ends the current session's multicast: the next session
// opens, or, after the last, the multicast is over. Fragments of the
// session not sent are skipped; parity and the status round cover them.
func (s *stepper) closeSession(why string) error {
	st := &s.d.st
	mc := &st.Mc
	if s.d.laned() && st.Session+1 < len(st.Lanes) && s.d.frameIndex(mc.Block, mc.N) < s.d.plan.Frames {
		// The next lane's session is booked: the fragments go on there.
		if why != "" {
			s.log(lorawan.EUI64{}, "session %d: %s after %d fragments; going on in the next", st.Session+1, why, mc.SessionSent)
		}
		st.Session++
		mc.SessionSent = 0
		l := st.Lanes[st.Session]
		st.SessionTime, st.TimeOut = l.SessionTime, l.TimeOut
		return s.pace()
	}
	if !s.d.laned() && st.Session+1 < len(st.Sessions) {
		if why != "" {
			s.log(lorawan.EUI64{}, "session %d closed after %d fragments: %s", st.Session+1, mc.Sent, why)
		}
		st.Session++
		mc.SessionSent = 0
		mc.Block, mc.N = s.d.frameAt(st.Sessions[st.Session].First)
		return s.openSession()
	}
	s.finishMulticast(why)
	return nil
}

// sessionEnd handles the end of session k: if it is the current one and
// ran out before its fragments did, it closes. With lanes, its group goes
// now (its last fragment is on air before its end); with one group, after
// the last session.
func (s *stepper) sessionEnd(k int) error {
	st := &s.d.st
	if k > st.Session || !s.d.laned() && k != st.Session {
		return nil // a stale timer
	}
	if k == st.Session && st.Phase == PhaseMulticast && !st.Mc.Finished {
		if err := s.closeSession("session ended"); err != nil {
			return err
		}
	}
	switch {
	case st.Phase == PhaseCanceled:
	case s.d.laned():
		s.deleteLane(k)
	case st.Phase != PhaseSession && st.Phase != PhaseMulticast:
		s.deleteGroup()
	}
	return nil
}

// deleteGroup deletes every lane's ChirpStack group that exists.
func (s *stepper) deleteGroup() {
	for k := range s.d.st.Lanes {
		s.deleteLane(k)
	}
}

func (s *stepper) deleteLane(k int) {
	l := &s.d.st.Lanes[k]
	if l.GroupID != "" && !l.GroupDeleted {
		s.emit(DeleteMulticastGroup{GroupID: l.GroupID})
		l.GroupDeleted = true
	}
}

// releaseAddrs gives back the allocated addresses once every group is gone
// (or was never created).
func (s *stepper) releaseAddrs() {
	if !s.d.groupSettled() {
		return
	}
	for k := range s.d.st.Lanes {
		l := &s.d.st.Lanes[k]
		if l.Allocated && l.McAddr != nil {
			s.emit(ReleaseMcAddr{Lane: k, McAddr: *l.McAddr})
			l.Allocated = false
		}
	}
}

// groupSettled reports whether every group requested has been deleted.
func (d *Deployment) groupSettled() bool {
	for _, l := range d.st.Lanes {
		if l.GroupRequested && !l.GroupDeleted {
			return false
		}
	}
	return true
}

func (s *stepper) beginStatus() {
	st := &s.d.st
	if st.Phase != PhaseStatus {
		return
	}
	for _, dev := range st.Devices {
		if !dev.terminal() && dev.Step == StepMulticast {
			dev.Step = StepStatus
			dev.Block = 0
			if err := s.nextStatus(dev); err != nil {
				s.fail(dev, StepStatus, err.Error())
			}
		}
	}
}

// cancel stops the campaign: no more fragments, pending reboots cancelled,
// device sessions deleted; the group is deleted once its last queued fragment
// has gone.
func (s *stepper) cancel(reason string) {
	st := &s.d.st
	if st.Phase == PhaseDone || st.Phase == PhaseCanceled {
		return
	}
	if reason == "" {
		reason = "cancelled"
	}
	st.Phase = PhaseCanceled
	st.Mc.Finished = true
	for _, dev := range st.Devices {
		if dev.terminal() {
			continue
		}
		// A reboot request still awaiting its answer may have been taken too.
		if dev.RebootPending || dev.Step == StepReboot && dev.Pending != nil {
			s.fire(dev, fwmanagement.FPort, &fwmanagement.DevRebootCountdownReq{Countdown: fwmanagement.CountdownCancel})
			dev.RebootPending = false
		}
		s.conclude(dev, Canceled, dev.Step, reason)
	}
	created := false
	for _, l := range st.Lanes {
		created = created || l.GroupID != ""
	}
	switch {
	case !created:
		// Not created yet; groupCreated deletes it if it comes.
	case st.Mc.LastEnd.After(s.now):
		s.emit(SetTimer{ID: timerGroupDelete, At: st.Mc.LastEnd.Add(s.d.plan.FrameSpacing)})
	default:
		s.deleteGroup()
	}
	s.log(lorawan.EUI64{}, "deployment cancelled: %s", reason)
}

// sessionReqLen is the length of a McClassCSessionReq frame.
const sessionReqLen = 11
