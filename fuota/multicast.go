package fuota

import (
	"fmt"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/multicast"
)

// mcState is the multicast's persisted progress.
type mcState struct {
	GroupRequested bool   `json:"group_requested"`
	GroupID        string `json:"group_id,omitempty"`
	GroupDeleted   bool   `json:"group_deleted"`
	// Block and N name the next fragment (N is 1-based).
	Block         int       `json:"block"`
	N             int       `json:"n"`
	Sent          int       `json:"sent"`
	LastStart     time.Time `json:"last_start"`
	LastEnd       time.Time `json:"last_end"`
	Finished      bool      `json:"finished"`
	EnqueueErrors int       `json:"enqueue_errors"`
	// Gateways holds each gateway's recent frames, from which its ledger is
	// rebuilt after a restart.
	Gateways []gatewayFrames `json:"gateways"`
}

type gatewayFrames struct {
	ID     string            `json:"id"`
	Frames []dutycycle.Frame `json:"frames"`
}

func gpsTime(s uint64) time.Time { return clocksync.FromGPSSeconds(s) }

func (d *Deployment) sessionEnd() time.Time {
	end, _ := multicast.ClassCSessionEnd(d.st.SessionTime, d.st.TimeOut) // TimeOut checked in NewDeployment
	return gpsTime(end)
}

// advance moves the deployment on once the devices allow it.
func (s *stepper) advance() error {
	st := &s.d.st
	switch st.Phase {
	case PhaseSetup:
		if st.McAddr == nil {
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

// chooseSession fixes the one SessionTime of the campaign, once the slowest
// device is ready (or the setup deadline passed), and asks every ready device
// for its class C session.
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
	st.SessionTime = clocksync.GPSSeconds(s.now.Add(st.Cfg.StartMargin)) + 1
	st.Phase = PhaseSession
	for _, dev := range st.Devices {
		if dev.terminal() {
			continue
		}
		if dev.Ver.Fragmentation != st.Matrix {
			s.fail(dev, StepReady, fmt.Sprintf("TS004 v%d parity differs from the campaign's v%d; deploy it separately", dev.Ver.Fragmentation, st.Matrix))
			continue
		}
		if err := s.sendSessionReq(dev, 1); err != nil {
			return err
		}
	}
	s.emit(SetTimer{ID: timerSessionStart, At: gpsTime(st.SessionTime)},
		SetTimer{ID: timerSessionEnd, At: s.d.sessionEnd()})
	s.log(lorawan.EUI64{}, "session at GPS %d (%s) for 2^%d s", st.SessionTime, gpsTime(st.SessionTime).Format(time.RFC3339), st.TimeOut)
	return nil
}

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
			s.fail(dev, StepSession, "no valid McClassCSessionAns before the session start")
		case dev.Step == StepMulticast:
			active++
		}
	}
	if active == 0 {
		return nil // advance ends the deployment
	}
	st.Phase = PhaseMulticast
	st.Mc.GroupRequested = true
	st.Mc.N = 1
	s.emit(CreateMulticastGroup{
		ActionID: s.newCall(call{Kind: callGroup}), McAddr: *st.McAddr,
		McAppSKey: multicast.McAppSKey(st.McKey, *st.McAddr), McNwkSKey: multicast.McNwkSKey(st.McKey, *st.McAddr),
		DR: s.d.plan.Request.DR, FrequencyHz: s.d.plan.FrequencyHz, Class: string(ClassC),
	})
	return nil
}

func (s *stepper) groupCreated(r Result) error {
	st := &s.d.st
	if r.Err != nil {
		for _, dev := range st.Devices {
			if dev.Step == StepMulticast {
				s.fail(dev, StepMulticast, "creating the multicast group: "+r.Err.Error())
			}
		}
		st.Mc.GroupRequested = false
		st.Mc.Finished = true
		return nil
	}
	st.Mc.GroupID = r.GroupID
	if st.Phase != PhaseMulticast {
		// Cancelled while the group was being created: nothing was queued.
		s.deleteGroup()
		return nil
	}
	for _, dev := range st.Devices {
		if dev.Step == StepMulticast && !dev.terminal() {
			s.emit(AddDevice{GroupID: r.GroupID, DevEUI: dev.Cfg.DevEUI})
		}
	}
	for _, g := range st.Cfg.Gateways {
		s.emit(AddGateway{GroupID: r.GroupID, GatewayID: g.ID})
	}
	return s.pace()
}

func (s *stepper) paceTimerID() string {
	return fmt.Sprintf("%s%d", timerPacePrefix, s.d.st.Mc.Sent)
}

// ensureLedgers builds the gateways' ledgers, from the persisted frames after
// a restart.
func (d *Deployment) ensureLedgers() error {
	if d.ledgers != nil {
		return nil
	}
	mc := &d.st.Mc
	if mc.Gateways == nil {
		if len(d.st.Cfg.Gateways) == 0 {
			mc.Gateways = []gatewayFrames{{}}
		}
		for _, g := range d.st.Cfg.Gateways {
			mc.Gateways = append(mc.Gateways, gatewayFrames{ID: g.ID})
		}
	}
	for i, g := range mc.Gateways {
		model := d.plan.Request.DutyCycleModel
		if i < len(d.st.Cfg.Gateways) && d.st.Cfg.Gateways[i].Model != 0 {
			model = d.st.Cfg.Gateways[i].Model
		}
		l, err := dutycycle.New(model, d.plan.DutyCycle, 0)
		if err != nil {
			return fmt.Errorf("gateway %q ledger: %w", g.ID, err)
		}
		for _, f := range g.Frames {
			if err := l.Add(f.Start, f.Airtime); err != nil {
				return fmt.Errorf("gateway %q ledger: replaying %v: %w", g.ID, f.Start, err)
			}
		}
		d.ledgers = append(d.ledgers, l)
	}
	return nil
}

// earliest returns the first instant at or after t at which every gateway of
// the group may send a frame.
func (s *stepper) earliest(t time.Time) (time.Time, error) {
	a := s.d.plan.FrameAirtime
	for range 1000 {
		moved := false
		for i, l := range s.d.ledgers {
			e, err := l.Earliest(t, a)
			if err != nil {
				return time.Time{}, fmt.Errorf("gateway %q: %w", s.d.st.Mc.Gateways[i].ID, err)
			}
			if e.After(t) {
				t, moved = e, true
			}
		}
		if !moved {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("gateways' duty cycles never agree on a slot after %v", t)
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
// timer for the slot after.
func (s *stepper) pace() error {
	st := &s.d.st
	mc := &st.Mc
	if st.Phase != PhaseMulticast || mc.Finished || mc.GroupID == "" {
		return nil
	}
	if err := s.d.ensureLedgers(); err != nil {
		return err
	}
	from := maxTime(s.now, s.d.SessionTime())
	if mc.Sent > 0 {
		from = maxTime(from, mc.LastStart.Add(s.d.plan.FrameSpacing))
	}
	t, err := s.earliest(from)
	if err != nil {
		return fmt.Errorf("pacing: %w", err)
	}
	if t.After(s.now) {
		s.emit(SetTimer{ID: s.paceTimerID(), At: t})
		return nil
	}
	a := s.d.plan.FrameAirtime
	end := t.Add(a)
	if sessEnd := s.d.sessionEnd(); end.After(sessEnd) {
		s.log(lorawan.EUI64{}, "fragment %d of block %d would end at %v, after the session end %v; stopping the multicast",
			mc.N, mc.Block, end.Format(time.RFC3339), sessEnd.Format(time.RFC3339))
		s.finishMulticast("session end reached")
		return nil
	}
	frags, err := s.d.fragments(mc.Block)
	if err != nil {
		return err
	}
	data, err := fragmentation.EncodeFrame(&fragmentation.DataFragment{FragIndex: uint8(mc.Block), N: uint16(mc.N), Payload: frags[mc.N-1]})
	if err != nil {
		return fmt.Errorf("fragment %d of block %d: %w", mc.N, mc.Block, err)
	}
	for i, l := range s.d.ledgers {
		if err := l.Add(t, a); err != nil {
			return fmt.Errorf("gateway %q: %w", mc.Gateways[i].ID, err)
		}
		l.Prune(t)
	}
	s.emit(EnqueueMulticast{ActionID: s.newCall(call{Kind: callEnqueue}), GroupID: mc.GroupID,
		FPort: fragmentation.DefaultFPort, Data: data, ExpiresAt: s.d.sessionEnd()})
	mc.LastStart, mc.LastEnd = t, end
	mc.Sent++
	if mc.N++; mc.N > len(frags) {
		mc.Block, mc.N = mc.Block+1, 1
	}
	if mc.Block == len(s.d.plan.Blocks) {
		s.finishMulticast("")
		return nil
	}
	next, err := s.earliest(t.Add(s.d.plan.FrameSpacing))
	if err != nil {
		return fmt.Errorf("pacing: %w", err)
	}
	s.emit(SetTimer{ID: s.paceTimerID(), At: next})
	return nil
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

func (s *stepper) sessionEnd() {
	st := &s.d.st
	if st.Phase == PhaseMulticast && !st.Mc.Finished {
		s.finishMulticast("session ended")
	}
	if st.Phase != PhaseCanceled {
		s.deleteGroup()
	}
}

func (s *stepper) deleteGroup() {
	mc := &s.d.st.Mc
	if mc.GroupID != "" && !mc.GroupDeleted {
		s.emit(DeleteMulticastGroup{GroupID: mc.GroupID})
		mc.GroupDeleted = true
	}
}

func (d *Deployment) groupSettled() bool {
	return !d.st.Mc.GroupRequested || d.st.Mc.GroupDeleted
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
	switch {
	case st.Mc.GroupID == "":
		// Not created yet; groupCreated deletes it if it comes.
	case st.Mc.LastEnd.After(s.now):
		s.emit(SetTimer{ID: timerGroupDelete, At: st.Mc.LastEnd.Add(s.d.plan.FrameSpacing)})
	default:
		s.deleteGroup()
	}
	s.log(lorawan.EUI64{}, "deployment cancelled: %s", reason)
}
