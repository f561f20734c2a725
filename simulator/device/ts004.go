package device

import (
	"errors"
	"fmt"
	"time"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/simulator/flash"
)

// fragSession is a TS004 session: its setup, its decoder writing into the
// staging slot, and the counters the profile reports.
type fragSession struct {
	req     fragmentation.FragSessionSetupReq
	active  bool // LoRaMac-node's IsActive: FragSessionDeleteReq clears only this
	dec     *fragmentation.Decoder
	store   *stagingStore
	maxLost int
	ram     RAMUsage
	erase   time.Duration

	cntStored   bool // v2: SessionCntPrev updated by the first DataFragment
	done        bool
	matrixError bool  // more lost than Lmax when a coded fragment came
	micError    bool  // v2: the block failed its MIC
	failed      error // the store failed; the decoder is unusable

	lastN      int // the last fragment counter received (LoRaMac-node's FragNbRx)
	lastRx     int // LoRaMac-node's FragNbLastRx: older uncoded fragments are dropped
	lmnLost    int // LoRaMac-node's FragNbLost
	lbmMissing int // LoRa Basics Modem's MissingFrag

	recvTimer clock.Timer
	recvSent  int
	recvAcked bool
}

func (s *fragSession) stopTimers() {
	if s.recvTimer != nil {
		s.recvTimer.Stop()
	}
}

// RAMUsage is the RAM a fragmentation session takes on the device.
type RAMUsage struct {
	// Budget is Config.RAMBudget, 0 for no limit.
	Budget int
	// Decoder is what the decoder holds for the session's Lmax
	// (fragmentation.Decoder.Memory); DecoderTotal sums it.
	Decoder      fragmentation.Memory
	DecoderTotal int
	// UnitBuffers is the RAM reserved for program units that two rows
	// share: each such unit waits in RAM until both rows are known.
	UnitBuffers int
	Total       int
}

// FragSessionInfo describes a fragmentation session of the device.
type FragSessionInfo struct {
	Setup fragmentation.FragSessionSetupReq
	// Active is false once a LoRaMac-node device got FragSessionDeleteReq
	// (its decoder still takes fragments).
	Active bool
	Done   bool
	Status fragmentation.Status
	// MaxLost is the session's Lmax.
	MaxLost int
	RAM     RAMUsage
	// EraseTime is how long erasing the staging slot at setup took; the
	// device heard nothing meanwhile.
	EraseTime   time.Duration
	MatrixError bool
	MICError    bool
	// Err is a flash failure that stopped the session.
	Err error
	// UnitBuffersPeak is the most program units buffered at once.
	UnitBuffersPeak int
}

// FragSession returns the session of fragIndex, if there is one.
func (d *Device) FragSession(fragIndex uint8) (FragSessionInfo, bool) {
	if int(fragIndex) >= len(d.frag) || d.frag[fragIndex] == nil {
		return FragSessionInfo{}, false
	}
	s := d.frag[fragIndex]
	return FragSessionInfo{
		Setup: s.req, Active: s.active, Done: s.done, Status: s.dec.Status(),
		MaxLost: s.maxLost, RAM: s.ram, EraseTime: s.erase,
		MatrixError: s.matrixError, MICError: s.micError, Err: s.failed,
		UnitBuffersPeak: s.store.peak,
	}, true
}

// handleFragmentation processes one TS004 command; group is the multicast
// group the frame came on, nil for unicast.
func (d *Device) handleFragmentation(c applayer.Command, group *mcGroup, at time.Time) (applayer.Command, time.Duration, error) {
	switch c := c.(type) {
	case *fragmentation.FragSessionStatusReq:
		d.fragStatusReq(c, at)
		return nil, 0, nil
	case *fragmentation.DataFragment:
		return nil, 0, d.fragData(c, group)
	}
	if group != nil {
		d.stats.DroppedMulticast++
		return nil, 0, fmt.Errorf("%w: %s is unicast only", ErrDropped, c.Name())
	}
	switch c := c.(type) {
	case *fragmentation.FragSessionSetupReq:
		ans, busy := d.fragSetup(c, at)
		return ans, busy, nil
	case *fragmentation.FragSessionDeleteReq:
		return d.fragDelete(c), 0, nil
	case *fragmentation.FragDataBlockReceivedAns:
		if s := d.frag[c.FragIndex]; s != nil {
			s.recvAcked = true
			s.stopTimers()
		}
	}
	return nil, 0, nil
}

// sessionPlan is what a setup needs and where it goes.
type sessionPlan struct {
	staging, scratch *flash.Region
	scratchOff       int
	maxLost          int
	unitBuffers      int
	ram              RAMUsage
	matrix           fragmentation.Matrix
}

// errNoMemory is wrapped by the reasons a setup is refused for lack of RAM
// or flash.
var errNoMemory = errors.New("not enough memory")

// planSession sizes a session for the device's flash and RAM, as its
// "not enough memory" check.
func (d *Device) planSession(req *fragmentation.FragSessionSetupReq) (sessionPlan, error) {
	nb, fs := int(req.NbFrag), int(req.FragSize)
	p := sessionPlan{matrix: fragmentation.MatrixV1}
	if req.Version == 2 {
		p.matrix = fragmentation.MatrixV2
	}
	switch {
	case d.cfg.MaxNbFrag > 0 && nb > d.cfg.MaxNbFrag:
		return p, fmt.Errorf("%w: NbFrag %d above the device's %d", errNoMemory, nb, d.cfg.MaxNbFrag)
	case d.cfg.MaxFragSize > 0 && fs > d.cfg.MaxFragSize:
		return p, fmt.Errorf("%w: FragSize %d above the device's %d", errNoMemory, fs, d.cfg.MaxFragSize)
	case fs < d.cfg.MinFragSize:
		return p, fmt.Errorf("%w: FragSize %d below the device's %d", errNoMemory, fs, d.cfg.MinFragSize)
	}
	if !d.q.sharedDecoder {
		for j, s := range d.frag {
			if s != nil && j != int(req.FragIndex) && !s.done {
				return p, fmt.Errorf("%w: the staging slot holds the session of FragIndex %d", errNoMemory, j)
			}
		}
	}
	if run, ok := d.cfg.Boot.Running(); !ok || run.Test {
		return p, fmt.Errorf("%w: no staging slot while the running image is unconfirmed", errNoMemory)
	}
	p.staging = d.cfg.Boot.Staging()
	unit := p.staging.Flash().ProgramUnit()
	rowsEnd := roundUp(nb*fs, unit)
	if rowsEnd > p.staging.Size() {
		return p, fmt.Errorf("%w: a %d-byte block does not fit the %d-byte staging slot", errNoMemory, nb*fs, p.staging.Size())
	}
	p.scratch = p.staging
	if d.cfg.Scratch != nil {
		p.scratch = d.cfg.Scratch
	} else {
		p.scratchOff = rowsEnd
	}
	stride := roundUp(fs, p.scratch.Flash().ProgramUnit())
	flashRecs := (p.scratch.Size() - p.scratchOff) / stride

	ramFor := func(l int) (RAMUsage, int, error) {
		dec, err := fragmentation.NewDecoder(fragmentation.DecoderConfig{
			NbFrag: nb, FragSize: fs, Padding: int(req.Padding), Matrix: p.matrix, MaxLost: l, Store: nopStore{},
		})
		if err != nil {
			return RAMUsage{}, 0, err
		}
		m := dec.Memory()
		r := RAMUsage{Budget: d.cfg.RAMBudget, Decoder: m, DecoderTotal: m.Matrix + m.Columns + m.Fragments + m.Buffers}
		units := pendingBound(nb, fs, unit, l)
		r.UnitBuffers = units * (unit + unitOverhead)
		r.Total = r.DecoderTotal + r.UnitBuffers
		return r, units, nil
	}
	fits := func(r RAMUsage) bool { return d.cfg.RAMBudget == 0 || r.Total <= d.cfg.RAMBudget }

	if l := d.cfg.MaxLost; l > 0 {
		l = min(l, nb)
		if l > flashRecs {
			return p, fmt.Errorf("%w: scratch for Lmax %d needs %d bytes, %d free", errNoMemory, l, l*stride, p.scratch.Size()-p.scratchOff)
		}
		r, units, err := ramFor(l)
		if err != nil {
			return p, fmt.Errorf("%w: %w", errNoMemory, err)
		}
		if !fits(r) {
			return p, fmt.Errorf("%w: Lmax %d needs %d bytes of RAM (decoder %d, unit buffers %d), budget %d",
				errNoMemory, l, r.Total, r.DecoderTotal, r.UnitBuffers, d.cfg.RAMBudget)
		}
		p.maxLost, p.ram, p.unitBuffers = l, r, units
		return p, nil
	}
	// The largest Lmax that fits: memory grows with Lmax.
	hi := min(nb, flashRecs)
	if hi < 1 {
		return p, fmt.Errorf("%w: no room for scratch records after a %d-byte block", errNoMemory, nb*fs)
	}
	lo := 0
	for lo < hi {
		mid := (lo + hi + 1) / 2
		r, _, err := ramFor(mid)
		if err != nil {
			return p, fmt.Errorf("%w: %w", errNoMemory, err)
		}
		if fits(r) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo < 1 {
		r, _, _ := ramFor(1)
		return p, fmt.Errorf("%w: the decoder needs %d bytes of RAM with Lmax 1, budget %d", errNoMemory, r.Total, d.cfg.RAMBudget)
	}
	r, units, _ := ramFor(lo)
	p.maxLost, p.ram, p.unitBuffers = lo, r, units
	return p, nil
}

// LastSetupError says why the last FragSessionSetupReq was refused, nil if
// it was accepted.
func (d *Device) LastSetupError() error { return d.setupErr }

// fragSetup checks a FragSessionSetupReq and, if it is accepted, erases the
// staging slot and starts the session. It returns how long the erase kept
// the device busy.
func (d *Device) fragSetup(req *fragmentation.FragSessionSetupReq, at time.Time) (*fragmentation.FragSessionSetupAns, time.Duration) {
	idx := req.FragIndex
	ans := &fragmentation.FragSessionSetupAns{Version: req.Version, FragIndex: idx}
	var why []error
	if req.FragAlgo != 0 {
		ans.FragAlgoUnsupported = true
		why = append(why, fmt.Errorf("FragAlgo %d unsupported", req.FragAlgo))
	}
	if int(idx) >= d.cfg.FragSessions {
		ans.FragIndexUnsupported = true
		why = append(why, fmt.Errorf("FragIndex %d unsupported (%d sessions)", idx, d.cfg.FragSessions))
	} else if req.Version == 2 {
		if prev := d.cfg.Boot.NVM().SessionCntPrev(int(idx)); int32(req.SessionCnt) <= prev {
			ans.SessionCntReplay = true
			why = append(why, fmt.Errorf("SessionCnt %d replayed (SessionCntPrev %d)", req.SessionCnt, prev))
		}
	}
	plan, err := d.planSession(req)
	if err != nil {
		ans.NotEnoughMemory = true
		why = append(why, err)
	}
	if !ans.Accepted() {
		d.setupErr = fmt.Errorf("device: FragSessionSetupReq refused: %w", errors.Join(why...))
		return ans, 0
	}

	// An accepted setup replaces the session of its FragIndex (v2 says so;
	// v1 devices do it too), and with a single decoder every session.
	for j, s := range d.frag {
		if s != nil && (j == int(idx) || d.q.sharedDecoder) {
			s.stopTimers()
			d.frag[j] = nil
		}
	}
	before := d.busy()
	err = d.cfg.Boot.EraseStaging()
	if err == nil && d.cfg.Scratch != nil {
		err = d.cfg.Scratch.EraseAll()
	}
	busy := d.busy() - before
	d.upImage = nil // the slot no longer holds it
	if err != nil {
		ans.NotEnoughMemory = true
		d.setupErr = fmt.Errorf("device: FragSessionSetupReq: erasing the staging slot: %w", err)
		return ans, busy
	}
	nb, fs := int(req.NbFrag), int(req.FragSize)
	s := &fragSession{
		req: *req, active: true, maxLost: plan.maxLost, ram: plan.ram, erase: busy,
		lbmMissing: nb,
	}
	s.store = newStagingStore(plan.staging, plan.scratch, plan.scratchOff, nb, fs, plan.maxLost, plan.unitBuffers)
	s.dec, err = fragmentation.NewDecoder(fragmentation.DecoderConfig{
		NbFrag: nb, FragSize: fs, Padding: int(req.Padding), Matrix: plan.matrix, MaxLost: plan.maxLost, Store: s.store,
	})
	if err != nil {
		// planSession built the same decoder.
		panic(fmt.Sprintf("device: decoder for an accepted session: %v", err))
	}
	d.frag[idx] = s
	d.setupErr = nil
	return ans, busy
}

// fragDelete handles FragSessionDeleteReq.
func (d *Device) fragDelete(c *fragmentation.FragSessionDeleteReq) *fragmentation.FragSessionDeleteAns {
	ans := &fragmentation.FragSessionDeleteAns{FragIndex: c.FragIndex}
	s := d.frag[c.FragIndex]
	if s == nil || !s.active {
		ans.SessionDoesNotExist = true
		return ans
	}
	s.stopTimers()
	if d.q.fragAnyState {
		s.active = false // LoRaMac-node clears IsActive; its decoder carries on
		return ans
	}
	d.frag[c.FragIndex] = nil
	return ans
}

// fragTarget is the session a DataFragment of fragIndex feeds.
func (d *Device) fragTarget(fragIndex uint8) *fragSession {
	if d.q.fragAnyState {
		// One decoder, whatever the FragIndex.
		for _, s := range d.frag {
			if s != nil {
				return s
			}
		}
		return nil
	}
	return d.frag[fragIndex]
}

// fragData feeds a DataFragment to its session's decoder.
func (d *Device) fragData(c *fragmentation.DataFragment, group *mcGroup) error {
	drop := func(format string, args ...any) error {
		d.stats.FragmentsDropped++
		return fmt.Errorf("%w: DataFragment %d of FragIndex %d: %s", ErrDropped, c.N, c.FragIndex, fmt.Sprintf(format, args...))
	}
	s := d.fragTarget(c.FragIndex)
	switch {
	case s == nil:
		return drop("no session")
	case !d.q.fragAnyState && !s.active:
		return drop("session deleted")
	case !d.q.fragAnyState && group != nil && s.req.McGroupBitMask>>group.id&1 == 0:
		return drop("multicast group %d not in McGroupBitMask %04b", group.id, s.req.McGroupBitMask)
	case s.failed != nil:
		return drop("session failed: %v", s.failed)
	case s.done:
		return drop("block complete")
	case len(c.Payload) != int(s.req.FragSize):
		return drop("%d bytes, FragSize is %d", len(c.Payload), s.req.FragSize)
	}
	idx := s.req.FragIndex
	if s.req.Version == 2 && !s.cntStored {
		// TS004 v2: SessionCntPrev takes the session's counter at its first
		// fragment, and is never reset.
		if err := d.cfg.Boot.NVM().SetSessionCntPrev(int(idx), int32(s.req.SessionCnt)); err != nil {
			return drop("storing SessionCntPrev: %v", err)
		}
		s.cntStored = true
	}
	n, nb := int(c.N), int(s.req.NbFrag)
	s.lastN = n
	if d.q.lmnDecoder {
		if n <= nb {
			if n < s.lastRx {
				return drop("older than fragment %d (LoRaMac-node drops it)", s.lastRx)
			}
			s.lastRx = n
		} else {
			s.lastRx = nb + 1
		}
	}
	if n <= nb && s.store.wouldOverflow(n-1) {
		return drop("no program-unit buffer left")
	}
	before := s.dec.Status()
	done, err := s.dec.Push(n, c.Payload)
	st := s.dec.Status()
	switch {
	case errors.Is(err, fragmentation.ErrTooManyLost):
		s.matrixError = true
		s.lmnLost = st.Lost
		d.stats.FragmentsDropped++
		if d.q.matrixErrorDone {
			// LoRaMac-node returns FRAG_SESSION_FINISHED for a MatrixError,
			// the value of success.
			s.done = true
			d.complete(s)
		}
		return fmt.Errorf("%w: DataFragment %d: %w", ErrDropped, n, err)
	case errors.Is(err, fragmentation.ErrBadFragment):
		return drop("%v", err)
	case err != nil:
		s.failed = err
		return drop("%v", err)
	}
	d.stats.Fragments++
	switch {
	case !done:
		s.lmnLost = st.Lost
	case n > nb:
		s.lmnLost = before.Missing // a coded fragment counts every missing one as lost
	default:
		s.lmnLost = before.Lost
	}
	if n > nb {
		s.lbmMissing = st.Needed
	} else if !done {
		// LoRa Basics Modem skips the update on the fragment that completes
		// the block, so a loss-free session stays at 1.
		s.lbmMissing = nb - n + st.Lost
	}
	if done {
		s.done = true
		d.complete(s)
	}
	return nil
}

// complete verifies a reassembled block and, if the session asks for it,
// starts sending FragDataBlockReceivedReq.
func (d *Device) complete(s *fragSession) {
	v := d.verifyBlock(s)
	s.micError = v.MICChecked && !v.MICOK
	d.lastVer, d.upImage = v, v
	if s.req.Version == 2 && s.req.AckReception {
		d.armReceivedReq(s, true)
	}
	if d.q.authCRC {
		crc := v.lmnCRC32
		d.after(d.ackWait(s.req.BlockAckDelay), func() {
			d.uplink(fragmentation.DefaultFPort, &fragmentation.FragDataBlockAuthReq{CRC32: crc})
		})
	}
}

// armReceivedReq schedules the next FragDataBlockReceivedReq of s.
func (d *Device) armReceivedReq(s *fragSession, first bool) {
	wait := d.q.recvReqInterval
	if first || wait == 0 {
		wait = d.ackWait(s.req.BlockAckDelay)
	}
	s.recvTimer = d.after(wait, func() {
		if s.recvAcked || d.frag[s.req.FragIndex] != s {
			return
		}
		d.uplink(fragmentation.DefaultFPort, &fragmentation.FragDataBlockReceivedReq{FragIndex: s.req.FragIndex, MICError: s.micError})
		s.recvSent++
		if d.q.recvReqMax == 0 || s.recvSent < d.q.recvReqMax {
			d.armReceivedReq(s, false)
		}
	})
}

// ackWait draws the random wait before an answer that TS004 spreads over the
// BlockAckDelay window of 2^(b+4) s.
func (d *Device) ackWait(b uint8) time.Duration {
	window := time.Duration(1) << (b + 4)
	var w time.Duration
	if d.q.ackDelaySteps {
		// LoRaMac-node: randr(0, 1000) · 2^(b+4) ms.
		w = time.Duration(d.rngFrag.IntN(1001)) * window * time.Millisecond
	} else {
		w = time.Duration(d.rngFrag.Int64N(int64(window*time.Second/time.Millisecond)+1)) * time.Millisecond
	}
	return max(w, d.q.ackDelayMin)
}

// fragStatusReq schedules the FragSessionStatusAns after the session's
// BlockAckDelay wait; a later request replaces an answer not yet sent.
func (d *Device) fragStatusReq(c *fragmentation.FragSessionStatusReq, at time.Time) {
	idx := c.FragIndex
	var b uint8
	if s := d.frag[idx]; s != nil {
		b = s.req.BlockAckDelay
	}
	if t := d.statusTimer[idx]; t != nil {
		t.Stop()
	}
	participants := c.Participants
	d.statusTimer[idx] = d.sendAfter(d.delayFrom(at, d.ackWait(b)), fragmentation.DefaultFPort, func() []applayer.Command {
		ans, missing := d.fragStatus(idx)
		if !participants && !missing {
			return nil
		}
		return []applayer.Command{ans}
	})
}

// fragStatus builds the FragSessionStatusAns of fragIndex as the profile
// reports it, and whether the device counts as still missing fragments.
func (d *Device) fragStatus(idx uint8) (*fragmentation.FragSessionStatusAns, bool) {
	wire := d.ver.Fragmentation
	if wire == 2 && d.q.statusV1Order {
		wire = 1
	}
	s := d.frag[idx]
	if s == nil {
		if wire == 2 {
			return &fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, ZeroFilled: d.q.status4Bytes}, false
		}
		return &fragmentation.FragSessionStatusAns{Version: 1, FragIndex: idx}, false
	}
	st := s.dec.Status()
	var recv, missing int
	memErr := s.failed != nil
	switch {
	case d.q.lmnDecoder:
		recv = s.lastN
		missing = int(uint8(s.lmnLost)) // a u8 field, truncated
		memErr = memErr || s.matrixError
	case d.q.lbmCounters:
		recv = s.lastN - st.Lost
		missing = s.lbmMissing
		memErr = memErr || !st.Possible
	default:
		recv = st.Received
		missing = st.Missing
		memErr = memErr || !st.Possible
	}
	ans := &fragmentation.FragSessionStatusAns{Version: wire, FragIndex: idx,
		NbFragReceived: clampU14(recv), MissingFrag: clampU8(missing)}
	if wire == 1 {
		ans.NotEnoughMatrixMemory = memErr
	} else {
		ans.MemoryError = memErr
		ans.MICError = s.micError
	}
	return ans, ans.MissingFrag > 0
}
