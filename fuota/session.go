package fuota

import (
	"fmt"
	"math"
	"time"

	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/multicast"
)

// sessionFrames are the frames [First, End) one class C session carries,
// counted over the campaign, block after block (Plan.Sessions).
type sessionFrames struct {
	First int `json:"first"`
	End   int `json:"end"`
}

func sessionsOf(p *Plan) []sessionFrames {
	out := make([]sessionFrames, len(p.Sessions))
	for i, se := range p.Sessions {
		out[i] = sessionFrames{First: se.FirstFrame, End: se.FirstFrame + se.Frames}
	}
	return out
}

// frameIndex is the campaign-wide index of fragment n (1-based) of block.
func (d *Deployment) frameIndex(block, n int) int {
	g := n - 1
	for _, b := range d.plan.Blocks[:block] {
		g += b.Frames
	}
	return g
}

// frameAt is the block and fragment number (1-based) of frame index g.
func (d *Deployment) frameAt(g int) (block, n int) {
	for i, b := range d.plan.Blocks {
		if g < b.Frames {
			return i, g + 1
		}
		g -= b.Frames
	}
	return len(d.plan.Blocks), 1
}

// startSearch bounds how far scheduleSession moves a session's start to let
// the sliding window empty: one window.
const startSearch = dutycycle.DefaultWindow + 5*time.Minute

// scheduleSession chooses the current session's start and its TimeOut, with
// the session requests of reqs class C devices about to be queued. It replays
// on copies of the ledgers what the outbox and the pacer will send:
//
//   - the requests, with as many again as the expected loss will cost in
//     retries: the start comes after the last of them, plus Retry.Count+1 of
//     the slowest device's answer timeouts (or StartMargin, when given). A
//     sliding window lets a burst through and then holds everything until
//     the burst ages out, so a steady-rate estimate can be off by most of an
//     hour; the replay is not.
//   - the session's fragments: where the window still holds the setup's
//     airtime they would go slower than the duty cycle allows from an empty
//     window, so the start moves later, by doubling steps up to one window,
//     until the replayed multicast is within 2 % of that pace (or, failing
//     that, is shortest). The TimeOut covers the replayed multicast.
func (d *Deployment) scheduleSession(now time.Time, reqs int) (uint64, uint8, error) {
	st := &d.st
	uni, mc, err := d.ledgerCopies()
	if err != nil {
		return 0, 0, err
	}
	margin := st.Cfg.StartMargin
	if reqs > 0 || margin == 0 {
		last, err := d.replayRequests(uni, now, d.requestAttempts(reqs))
		if err != nil {
			return 0, 0, err
		}
		var slowest time.Duration
		for _, dev := range st.Devices {
			if !dev.terminal() {
				slowest = max(slowest, answerTimeout(st.Cfg.Retry, dev.Cfg))
			}
		}
		if margin == 0 {
			// Each retry of the unluckiest device also waits for its turn on
			// the band: a request's off-time at the channel's duty cycle.
			turn := st.Cfg.UnicastSpacing
			if a, err := d.unicastAirtime(make([]byte, sessionReqLen)); err == nil {
				for _, l := range uni {
					turn = max(turn, time.Duration(float64(a)/l.l.Limit()))
				}
			}
			margin = last.Sub(now) + time.Duration(st.Cfg.Retry.Count+1)*(slowest+turn) + 10*time.Second
		}
	}
	frames := st.Sessions[st.Session].End - st.Sessions[st.Session].First
	ideal, err := dutycycle.MinDuration(d.plan.Request.DutyCycleModel, d.plan.DutyCycle, 0, frames, d.plan.FrameAirtime, d.plan.FrameSpacing)
	if err != nil {
		return 0, 0, err
	}
	// The search keeps the start with the shortest multicast, earlier on a
	// tie: the devices listen in class C for the whole session, and waiting
	// costs the campaign at most one window.
	first := clocksync.GPSSeconds(now.Add(margin)) + 1
	best, bestEnd := first, time.Time{}
	search := startSearch
	if st.Session > 0 {
		// Between sessions waiting only lengthens the multicast: what a
		// sliding window saves by waiting it has to wait for anyway.
		search = 0
	}
	for step := time.Duration(0); step <= search; step = nextStep(step, search) {
		start := first + uint64(step/time.Second)
		if st.Cfg.SessionClass == ClassB {
			start = multicast.AlignBeaconUp(start) // TS005 v2: on a beacon boundary
		}
		end, err := d.replayFragments(cloneAll(mc), gpsTime(start), frames)
		if err != nil {
			return 0, 0, err
		}
		if bestEnd.IsZero() || end.Sub(gpsTime(start)) < bestEnd.Sub(gpsTime(best)) {
			best, bestEnd = start, end
		}
		if end.Sub(gpsTime(start)) <= ideal+ideal/50+d.frameSpacing() {
			best, bestEnd = start, end
			break
		}
	}
	return best, d.sessionTimeOut(bestEnd.Sub(gpsTime(best)) + sessionSlack), nil
}

// requestAttempts is how many requests reqs exchanges are expected to take:
// each fails when the request or the answer is lost and is tried again,
// q/(1-q) retries per exchange on average, and the unluckiest device may
// need all its retries.
func (d *Deployment) requestAttempts(reqs int) int {
	if reqs == 0 {
		return 0
	}
	p := d.plan.Request.ExpectedLoss
	q := 1 - (1-p)*(1-p)
	return reqs + int(math.Ceil(q/(1-q)*float64(reqs))) + d.st.Cfg.Retry.Count
}

// replayLanes replays the session requests of reqs exchanges from now and
// then every fragment through the lanes' sessions as laid out, and returns
// when the last fragment would end.
func (d *Deployment) replayLanes(now time.Time, reqs int) (time.Time, error) {
	st := &d.st
	uni, mc, err := d.ledgerCopies()
	if err != nil {
		return time.Time{}, err
	}
	if _, err := d.replayRequests(uni, now, d.requestAttempts(reqs)); err != nil {
		return time.Time{}, err
	}
	jitter, a, spacing := d.mcJitter(), d.plan.FrameAirtime, d.frameSpacing()
	k := 0
	laneEnd := func(k int) time.Time {
		return d.sessionEndOf(st.Lanes[k].SessionTime, st.Lanes[k].TimeOut)
	}
	from := gpsTime(st.Lanes[0].SessionTime)
	var last, end time.Time
	inLane := 0
	for range d.plan.Frames {
		var t time.Time
		if inLane == 0 {
			t, err = earliestOn(mc, from, a)
		} else {
			t, err = lockedSlot(mc, last, from, a, jitter, st.Cfg.SchedulerLatency)
		}
		if err != nil {
			return time.Time{}, err
		}
		if t.Add(jitter+a).After(laneEnd(k)) && k+1 < len(st.Lanes) {
			k++
			from, inLane = gpsTime(st.Lanes[k].SessionTime), 0
			if t, err = earliestOn(mc, from, a); err != nil {
				return time.Time{}, err
			}
		}
		if err := addOn(mc, t.Add(jitter), a); err != nil {
			return time.Time{}, err
		}
		last, end = t, t.Add(jitter+a)
		from = t.Add(spacing)
		inLane++
	}
	return end, nil
}

// nextStep doubles the start search's step from a minute, ending on limit
// itself (past it when step is limit).
func nextStep(step, limit time.Duration) time.Duration {
	switch {
	case step >= limit:
		return limit + 1
	case step == 0:
		return min(time.Minute, limit)
	}
	return min(2*step, limit)
}

// ledgerCopies returns copies of the ledgers of the unicast and the
// multicast sub-bands; where the two share a sub-band they share the copy.
func (d *Deployment) ledgerCopies() (uni, mc []ledger, err error) {
	if uni, err = d.ledgersFor(d.st.Cfg.UnicastFrequencyHz); err != nil {
		return nil, nil, err
	}
	if mc, err = d.ledgersFor(d.plan.FrequencyHz); err != nil {
		return nil, nil, err
	}
	copies := map[*dutycycle.Ledger]*dutycycle.Ledger{}
	clone := func(ls []ledger) []ledger {
		out := make([]ledger, len(ls))
		for i, l := range ls {
			c, ok := copies[l.l]
			if !ok {
				c = l.l.Clone()
				copies[l.l] = c
			}
			out[i] = ledger{gateway: l.gateway, band: l.band, l: c}
		}
		return out
	}
	return clone(uni), clone(mc), nil
}

func cloneAll(ls []ledger) []ledger {
	out := make([]ledger, len(ls))
	for i, l := range ls {
		out[i] = ledger{gateway: l.gateway, band: l.band, l: l.l.Clone()}
	}
	return out
}

// replayRequests enters n session requests in ls as the outbox would send
// them from now, and returns when the last is handed over.
func (d *Deployment) replayRequests(ls []ledger, now time.Time, n int) (time.Time, error) {
	st := &d.st
	a, err := d.unicastAirtime(make([]byte, sessionReqLen))
	if err != nil {
		return time.Time{}, err
	}
	lat, gap := st.Cfg.SchedulerLatency, d.plan.Request.FrameGap
	busy := st.Air.BusyUntil
	t, last := maxTime(now, st.NextUnicast), now
	for range n {
		if t, err = earliestOn(ls, maxTime(t, busy), a); err != nil {
			return time.Time{}, err
		}
		if err := addOn(ls, t.Add(lat), a); err != nil {
			return time.Time{}, err
		}
		last, busy = t, t.Add(lat+a+gap)
		t = t.Add(st.Cfg.UnicastSpacing)
	}
	return last, nil
}

// replayFragments enters n fragments in ls as the pacer would send them
// from start, and returns when the last ends.
func (d *Deployment) replayFragments(ls []ledger, start time.Time, n int) (time.Time, error) {
	jitter, a := d.mcJitter(), d.plan.FrameAirtime
	spacing := d.frameSpacing()
	from, end := maxTime(start, d.st.Air.BusyUntil), start
	if tick := d.st.Cfg.SchedulerLatency; tick > 0 {
		from = from.Truncate(time.Second).Add(tick / 2) // as fragmentSlot
	}
	var last time.Time
	for i := range n {
		var t time.Time
		var err error
		// In air time: t is the earliest a fragment goes on air.
		if i == 0 || d.st.Cfg.SessionClass == ClassB {
			t, err = earliestOn(ls, from, a)
		} else {
			t, err = lockedSlot(ls, last, from, a, jitter, d.st.Cfg.SchedulerLatency)
		}
		if err != nil {
			return time.Time{}, err
		}
		if err := addOn(ls, t.Add(jitter), a); err != nil {
			return time.Time{}, err
		}
		end, last = t.Add(jitter+a), t
		from = t.Add(spacing)
	}
	return end, nil
}

// earliestOn returns the first instant at or after t at which every ledger
// of ls admits a frame of airtime a.
func earliestOn(ls []ledger, t time.Time, a time.Duration) (time.Time, error) {
	for range 1000 {
		moved := false
		for _, l := range ls {
			e, err := l.l.Earliest(t, a)
			if err != nil {
				return time.Time{}, fmt.Errorf("gateway %q sub-band %s: %w", l.gateway, l.band, err)
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

// addOn enters a frame in every ledger of ls.
func addOn(ls []ledger, at time.Time, a time.Duration) error {
	for _, l := range ls {
		if err := l.l.Add(at, a); err != nil {
			return fmt.Errorf("gateway %q sub-band %s: %w", l.gateway, l.band, err)
		}
		l.l.Prune(at)
	}
	return nil
}
