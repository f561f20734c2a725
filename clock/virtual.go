package clock

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrEventLimit is returned, wrapped, by RunUntilIdle when it ran as many
// events as allowed and the queue is still not empty: most often a livelock,
// such as a callback that keeps rescheduling itself at the same instant.
var ErrEventLimit = errors.New("event limit reached")

// Virtual is a Clock whose time moves only when its event loop runs. Events
// are ordered by time, then by the order they were scheduled in, so events
// due at the same instant run first-scheduled first, and events a callback
// schedules for the current instant run before time advances. A run is
// therefore a function of what was scheduled, not of how fast it ran.
//
// Its methods are safe for concurrent use; see the package documentation for
// which goroutine should do what. The zero value is not usable; call
// NewVirtual.
type Virtual struct {
	// base is the start time without its monotonic reading; every instant
	// is kept as a nanosecond offset from it, which is cheaper to compare
	// than time.Time and keeps the start's location.
	base time.Time

	// running guards against two event loops at once, or a callback that
	// re-enters the loop: both would break the ordering guarantees.
	running atomic.Bool

	// wake tells RunRealtime that an event became the earliest.
	wake chan struct{}

	mu     sync.Mutex
	now    int64 // offset of Now from base
	seq    uint64
	events []*event // min-heap by (at, seq)

	// Real-time mode, set while RunRealtime runs: virtual instant rtVirt
	// corresponds to wall time rtWall, and virtual time runs rtScale times
	// as fast as the wall clock.
	rt      bool
	rtWall  time.Time
	rtVirt  int64
	rtScale float64
}

var _ Clock = (*Virtual)(nil)

// NewVirtual returns a virtual clock whose Now is start and whose queue is
// empty. Any monotonic clock reading in start is dropped: virtual instants
// have nothing to do with the machine's clock.
func NewVirtual(start time.Time) *Virtual {
	return &Virtual{
		base: start.Round(0),
		wake: make(chan struct{}, 1),
	}
}

// event is one scheduled call, and the Timer that controls it.
type event struct {
	c     *Virtual
	at    int64
	seq   uint64
	f     func()
	index int // position in c.events, or -1 when not pending
}

// Now returns the current virtual time: the time of the event being run, or
// the time the last Run call stopped at. While RunRealtime runs, it is the
// virtual time that corresponds to the wall clock, never past an event that
// is due but has not run yet.
func (c *Virtual) Now() time.Time {
	c.mu.Lock()
	now := c.current()
	c.mu.Unlock()
	return c.base.Add(time.Duration(now))
}

// AfterFunc schedules f to run on the loop goroutine at Now()+d; d < 0 is
// taken as 0. Events scheduled for the same instant run in the order they
// were scheduled.
func (c *Virtual) AfterFunc(d time.Duration, f func()) Timer {
	if f == nil {
		panic("clock: AfterFunc with nil func")
	}
	e := &event{c: c, f: f, index: -1}
	c.mu.Lock()
	c.schedule(e, d)
	c.mu.Unlock()
	return e
}

// Stop removes the event from the queue if it has not started to run.
func (e *event) Stop() bool {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.index < 0 {
		return false
	}
	c.remove(e.index)
	return true
}

// Reset moves the event to Now()+d, or schedules it again if it has already
// run or was stopped. Either way it runs after the events already scheduled
// for that instant.
func (e *event) Reset(d time.Duration) bool {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	pending := e.index >= 0
	if pending {
		c.remove(e.index)
	}
	c.schedule(e, d)
	return pending
}

// Step runs the earliest pending event, first moving Now to its time. It
// returns false, and changes nothing, if the queue is empty.
func (c *Virtual) Step() bool {
	c.enter()
	defer c.leave()
	e := c.pop(math.MaxInt64, false)
	if e == nil {
		return false
	}
	e.f()
	return true
}

// RunUntil runs every event due at or before t, including those the
// callbacks schedule on the way, then sets Now to t. It returns the number
// of events run. If t is before Now, nothing runs and Now does not move:
// virtual time never goes backwards.
func (c *Virtual) RunUntil(t time.Time) int {
	return c.runUntil(int64(t.Sub(c.base)))
}

// RunFor is RunUntil(Now().Add(d)); d < 0 is taken as 0.
func (c *Virtual) RunFor(d time.Duration) int {
	c.mu.Lock()
	limit := addSat(c.now, int64(max(d, 0)))
	c.mu.Unlock()
	return c.runUntil(limit)
}

func (c *Virtual) runUntil(limit int64) int {
	c.enter()
	defer c.leave()
	n := 0
	for {
		e := c.pop(limit, true)
		if e == nil {
			return n
		}
		e.f()
		n++
	}
}

// RunUntilIdle runs events until the queue is empty and returns how many it
// ran. With limit > 0 it runs at most limit events; if some are still
// pending then, it returns an error wrapping ErrEventLimit, so that a
// simulation that never settles is reported instead of spinning forever.
// limit <= 0 means no limit.
func (c *Virtual) RunUntilIdle(limit int) (int, error) {
	c.enter()
	defer c.leave()
	n := 0
	for limit <= 0 || n < limit {
		e := c.pop(math.MaxInt64, false)
		if e == nil {
			return n, nil
		}
		e.f()
		n++
	}
	c.mu.Lock()
	pending, now := len(c.events), c.now
	c.mu.Unlock()
	if pending == 0 {
		return n, nil
	}
	return n, fmt.Errorf("clock: ran %d events, %d still pending at %v: %w",
		n, pending, c.base.Add(time.Duration(now)), ErrEventLimit)
}

// Pending returns the number of scheduled events.
func (c *Virtual) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// Next returns the time of the earliest scheduled event, and false if there
// is none.
func (c *Virtual) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) == 0 {
		return time.Time{}, false
	}
	return c.base.Add(time.Duration(c.events[0].at)), true
}

func (c *Virtual) enter() {
	if !c.running.CompareAndSwap(false, true) {
		panic("clock: Virtual event loop entered twice (from two goroutines, or from a callback)")
	}
}

func (c *Virtual) leave() { c.running.Store(false) }

// pop removes and returns the earliest event if it is due at or before
// limit, moving Now to its time. Otherwise it returns nil and, if settle is
// set, moves Now to limit in the same critical section, so that an event
// another goroutine schedules meanwhile cannot end up in the past.
func (c *Virtual) pop(limit int64, settle bool) *event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) == 0 || c.events[0].at > limit {
		if settle && limit > c.now {
			c.now = limit
		}
		return nil
	}
	e := c.remove(0)
	c.now = max(c.now, e.at)
	return e
}

// current returns Now as an offset; c.mu must be held. In real-time mode it
// first advances now to the wall clock, but never past the earliest pending
// event, so nothing can observe an instant whose due events have not run,
// and every event runs at exactly its own time.
func (c *Virtual) current() int64 {
	if c.rt {
		v := addSat(c.rtVirt, scaleDuration(time.Since(c.rtWall), c.rtScale))
		if len(c.events) > 0 {
			v = min(v, c.events[0].at)
		}
		c.now = max(c.now, v)
	}
	return c.now
}

// schedule queues e at Now()+d; c.mu must be held.
func (c *Virtual) schedule(e *event, d time.Duration) {
	e.at = addSat(c.current(), int64(max(d, 0)))
	e.seq = c.seq
	c.seq++
	c.push(e)
	if c.rt && e.index == 0 {
		select {
		case c.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// The queue is a binary min-heap written out rather than container/heap:
// it avoids the interface calls, and each event knows its index so that
// Stop and Reset remove it in O(log n).

func less(a, b *event) bool {
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

func (c *Virtual) push(e *event) {
	e.index = len(c.events)
	c.events = append(c.events, e)
	c.up(e.index)
}

func (c *Virtual) remove(i int) *event {
	h := c.events
	last := len(h) - 1
	e := h[i]
	if i != last {
		h[i] = h[last]
		h[i].index = i
	}
	h[last] = nil // let the garbage collector have the callback
	c.events = h[:last]
	if i != last && !c.down(i) {
		c.up(i)
	}
	e.index = -1
	return e
}

func (c *Virtual) up(i int) {
	h := c.events
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		h[i].index, h[p].index = i, p
		i = p
	}
}

// down sifts h[i] towards the leaves and reports whether it moved.
func (c *Virtual) down(i int) bool {
	h := c.events
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		h[i].index, h[m].index = i, m
		i = m
	}
	return i > start
}

// addSat returns a+b, saturated to the int64 range, so that a timer set
// "forever" away does not wrap into the past.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}

// scaleDuration returns d·k in nanoseconds, saturated to the int64 range.
func scaleDuration(d time.Duration, k float64) int64 {
	f := float64(d) * k
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}
