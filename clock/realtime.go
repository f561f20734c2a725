package clock

import (
	"context"
	"fmt"
	"math"
	"time"
)

// RunRealtime runs the event loop against the wall clock, scale times as
// fast: one wall second is scale virtual seconds. It is the same loop as
// Step, on the calling goroutine, except that an event due at virtual time
// t waits until the wall clock reaches start + (t − Now at start)/scale.
// While it runs, Now follows the wall clock between events, and an event
// that another goroutine schedules earlier than the one being waited for
// wakes the loop at once.
//
// If the loop falls behind (a slow callback, a busy machine), events run as
// soon as possible, still in order and each at its own virtual time, and Now
// holds at the earliest overdue event until it has run; the mapping to the
// wall clock does not drift, so the loop catches up.
//
// RunRealtime returns ctx.Err() once ctx is done, with Now at the virtual
// time reached; afterwards Step and the Run methods carry on from there. It
// returns an error at once if scale is not a finite number greater than 0.
func (c *Virtual) RunRealtime(ctx context.Context, scale float64) error {
	if err := checkScale(scale); err != nil {
		return err
	}
	c.enter()
	defer c.leave()

	c.mu.Lock()
	c.rt, c.rtWall, c.rtVirt, c.rtScale = true, time.Now(), c.now, scale
	c.mu.Unlock()
	return c.runRealtime(ctx)
}

// RunRealtimeFrom is RunRealtime with the mapping to the wall clock anchored
// at origin rather than at the call: the virtual time at wall time w is
// origin + (w − origin)·scale, the Now of Scaled(origin, scale). Two
// processes given the same origin and scale therefore agree on the time
// (within their wall clocks' agreement), which is how `lorafuota sim serve`
// and a `lorafuota serve` sped up by the same factor share one timeline.
//
// Events due before the mapped time of the call run at once, in order, as
// overdue events do. It returns an error at once if scale is not a finite
// number greater than 0, or if Now is already past the mapped time, since
// virtual time never goes back: start the clock at or before it
// (NewVirtual(Scaled(origin, scale).Now()) does).
func (c *Virtual) RunRealtimeFrom(ctx context.Context, scale float64, origin time.Time) error {
	if err := checkScale(scale); err != nil {
		return err
	}
	c.enter()
	defer c.leave()

	origin = origin.Round(0) // the wall clock reading, as in another process
	c.mu.Lock()
	virt := int64(origin.Sub(c.base))
	if mapped := addSat(virt, scaleDuration(time.Since(origin), scale)); c.now > mapped {
		now := c.base.Add(time.Duration(c.now))
		c.mu.Unlock()
		return fmt.Errorf("clock: real-time run from %v at scale %v: Now %v is past the mapped time %v",
			origin, scale, now, c.base.Add(time.Duration(mapped)))
	}
	c.rt, c.rtWall, c.rtVirt, c.rtScale = true, origin, virt, scale
	c.mu.Unlock()
	return c.runRealtime(ctx)
}

func checkScale(scale float64) error {
	if !(scale > 0) || math.IsInf(scale, 1) {
		return fmt.Errorf("clock: real-time scale %v: must be a finite number greater than 0", scale)
	}
	return nil
}

// runRealtime is the loop of RunRealtime once real-time mode is set; the
// caller holds the loop (enter).
func (c *Virtual) runRealtime(ctx context.Context) error {
	defer func() {
		c.mu.Lock()
		c.current() // keep the time reached, so Now does not step back
		c.rt = false
		c.mu.Unlock()
	}()

	// One timer for the whole run; since Go 1.23 Reset and Stop leave no
	// stale tick in its channel.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, wait := c.popRealtime()
		if e != nil {
			e.f()
			continue
		}
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.wake:
		case <-tick:
		}
		timer.Stop()
	}
}

// popRealtime removes and returns the earliest event if the wall clock has
// reached it. Otherwise it returns how long to wait for it, or 0 if the
// queue is empty and only a wake-up can bring work.
func (c *Virtual) popRealtime() (*event, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) == 0 {
		return nil, 0
	}
	next := c.events[0]
	wait := time.Until(c.rtWall.Add(unscale(next.at-c.rtVirt, c.rtScale)))
	if wait > 0 {
		return nil, wait
	}
	c.remove(0)
	c.now = max(c.now, next.at)
	return next, 0
}

// unscale converts a virtual span to the wall time it takes at scale k,
// saturated so that an event "forever" away waits forever rather than
// wrapping into the past.
func unscale(v int64, k float64) time.Duration {
	f := float64(v) / k
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(f)
}
