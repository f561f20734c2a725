package clock_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/clock"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// trace records what callbacks did, with the virtual time they saw.
type trace struct {
	c   *clock.Virtual
	log []string
}

func (tr *trace) add(name string) func() {
	return func() {
		tr.log = append(tr.log, fmt.Sprintf("%s@%v", name, tr.c.Now().Sub(epoch)))
	}
}

func (tr *trace) String() string { return strings.Join(tr.log, " ") }

func TestVirtualOrder(t *testing.T) {
	tests := []struct {
		name   string
		delays []time.Duration // event i is named "e<i>"
		want   string
	}{
		{"by time", []time.Duration{3 * time.Second, time.Second, 2 * time.Second},
			"e1@1s e2@2s e0@3s"},
		{"same instant in scheduling order", []time.Duration{time.Second, time.Second, 0, time.Second},
			"e2@0s e0@1s e1@1s e3@1s"},
		{"negative delay is now", []time.Duration{time.Millisecond, -time.Hour, 0},
			"e1@0s e2@0s e0@1ms"},
		{"nanosecond apart", []time.Duration{2, 1, 2, 1},
			"e1@1ns e3@1ns e0@2ns e2@2ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewVirtual(epoch)
			tr := &trace{c: c}
			for i, d := range tt.delays {
				c.AfterFunc(d, tr.add(fmt.Sprintf("e%d", i)))
			}
			n, err := c.RunUntilIdle(100)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.delays) {
				t.Errorf("ran %d events, want %d", n, len(tt.delays))
			}
			if got := tr.String(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// Events a callback schedules for the current instant run before time moves
// on to anything already queued for later, even 1 ns later.
func TestVirtualSameInstantBeforeAdvancing(t *testing.T) {
	c := clock.NewVirtual(epoch)
	tr := &trace{c: c}
	c.AfterFunc(time.Second+1, tr.add("later"))
	c.AfterFunc(time.Second, func() {
		tr.add("a")()
		c.AfterFunc(0, func() {
			tr.add("a.1")()
			c.AfterFunc(-time.Minute, tr.add("a.1.1"))
		})
		c.AfterFunc(0, tr.add("a.2"))
	})
	c.AfterFunc(time.Second, tr.add("b"))
	if _, err := c.RunUntilIdle(100); err != nil {
		t.Fatal(err)
	}
	want := "a@1s b@1s a.1@1s a.2@1s a.1.1@1s later@1.000000001s"
	if got := tr.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestTimerStop(t *testing.T) {
	tests := []struct {
		name string
		// stop gets a clock with a pending timer x due at 1s; it calls
		// x.Stop, now or from events, and records the results in got.
		stop     func(c *clock.Virtual, x clock.Timer, got *[]bool)
		want     []bool
		wantRuns bool
	}{
		{"before it fires", func(c *clock.Virtual, x clock.Timer, got *[]bool) {
			*got = append(*got, x.Stop())
		}, []bool{true}, false},
		{"twice", func(c *clock.Virtual, x clock.Timer, got *[]bool) {
			*got = append(*got, x.Stop(), x.Stop())
		}, []bool{true, false}, false},
		{"after it fired", func(c *clock.Virtual, x clock.Timer, got *[]bool) {
			c.RunFor(time.Second)
			*got = append(*got, x.Stop())
		}, []bool{false}, true},
		{"by an event scheduled later for the same instant", func(c *clock.Virtual, x clock.Timer, got *[]bool) {
			c.AfterFunc(time.Second, func() { *got = append(*got, x.Stop()) })
		}, []bool{false}, true},
		{"by an earlier event", func(c *clock.Virtual, x clock.Timer, got *[]bool) {
			c.AfterFunc(time.Second-1, func() { *got = append(*got, x.Stop()) })
		}, []bool{true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewVirtual(epoch)
			runs := 0
			x := c.AfterFunc(time.Second, func() { runs++ })
			var got []bool
			tt.stop(c, x, &got)
			if _, err := c.RunUntilIdle(100); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Stop returned %v, want %v", got, tt.want)
			}
			if wantRuns := map[bool]int{false: 0, true: 1}[tt.wantRuns]; runs != wantRuns {
				t.Errorf("callback ran %d times, want %d", runs, wantRuns)
			}
		})
	}
}

// Stopping its own timer from the callback is too late.
func TestTimerStopFromOwnCallback(t *testing.T) {
	c := clock.NewVirtual(epoch)
	var x clock.Timer
	stopped := true
	x = c.AfterFunc(time.Second, func() { stopped = x.Stop() })
	c.RunFor(time.Second)
	if stopped {
		t.Error("Stop from the timer's own callback returned true")
	}
}

// An event stopping a later-scheduled event at the same instant prevents it.
func TestTimerStopSameInstant(t *testing.T) {
	c := clock.NewVirtual(epoch)
	tr := &trace{c: c}
	var y clock.Timer
	var stopped bool
	c.AfterFunc(time.Second, func() { stopped = y.Stop() })
	y = c.AfterFunc(time.Second, tr.add("y"))
	c.AfterFunc(time.Second, tr.add("z"))
	if _, err := c.RunUntilIdle(10); err != nil {
		t.Fatal(err)
	}
	if !stopped {
		t.Error("Stop of a pending same-instant event returned false")
	}
	if got, want := tr.String(), "z@1s"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestTimerReset(t *testing.T) {
	tests := []struct {
		name      string
		run       func(c *clock.Virtual, tr *trace, x clock.Timer) bool // returns what Reset returned
		wantReset bool
		want      string
	}{
		{"earlier", func(c *clock.Virtual, tr *trace, x clock.Timer) bool {
			return x.Reset(time.Second)
		}, true, "x@1s y@5s"},
		{"later", func(c *clock.Virtual, tr *trace, x clock.Timer) bool {
			return x.Reset(time.Hour)
		}, true, "y@5s x@1h0m0s"},
		{"negative is now", func(c *clock.Virtual, tr *trace, x clock.Timer) bool {
			return x.Reset(-time.Second)
		}, true, "x@0s y@5s"},
		{"to the same instant goes after what is there", func(c *clock.Virtual, tr *trace, x clock.Timer) bool {
			return x.Reset(5 * time.Second)
		}, true, "y@5s x@5s"},
		{"after stop", func(c *clock.Virtual, tr *trace, x clock.Timer) bool {
			x.Stop()
			return x.Reset(time.Minute)
		}, false, "y@5s x@1m0s"},
		{"after it fired runs it again", func(c *clock.Virtual, tr *trace, x clock.Timer) bool {
			c.RunFor(10 * time.Second)
			return x.Reset(time.Minute)
		}, false, "y@5s x@10s x@1m10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewVirtual(epoch)
			tr := &trace{c: c}
			x := c.AfterFunc(10*time.Second, tr.add("x"))
			c.AfterFunc(5*time.Second, tr.add("y"))
			if got := tt.run(c, tr, x); got != tt.wantReset {
				t.Errorf("Reset returned %v, want %v", got, tt.wantReset)
			}
			if _, err := c.RunUntilIdle(100); err != nil {
				t.Fatal(err)
			}
			if got := tr.String(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// A callback may Reset its own timer: the ticker pattern.
func TestTimerResetFromCallback(t *testing.T) {
	c := clock.NewVirtual(epoch)
	var ticks []time.Duration
	var tick clock.Timer
	tick = c.AfterFunc(time.Minute, func() {
		ticks = append(ticks, clock.Since(c, epoch))
		if len(ticks) < 3 {
			if tick.Reset(time.Minute) {
				t.Error("Reset of the running timer returned true")
			}
		}
	})
	if n := c.RunFor(time.Hour); n != 3 {
		t.Errorf("ran %d events, want 3", n)
	}
	if want := []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute}; !slices.Equal(ticks, want) {
		t.Errorf("ticks at %v, want %v", ticks, want)
	}
}

func TestRunUntil(t *testing.T) {
	tests := []struct {
		name    string
		delays  []time.Duration
		until   time.Duration
		wantN   int
		wantNow time.Duration
		pending int
	}{
		{"empty queue", nil, time.Hour, 0, time.Hour, 0},
		{"all before", []time.Duration{time.Second, time.Minute}, time.Hour, 2, time.Hour, 0},
		{"exactly at t runs", []time.Duration{time.Hour}, time.Hour, 1, time.Hour, 0},
		{"after t stays", []time.Duration{time.Second, time.Hour + 1}, time.Hour, 1, time.Hour, 1},
		{"t before now", []time.Duration{0, time.Second}, -time.Second, 0, 0, 2},
		{"t is now", []time.Duration{0, 0, time.Second}, 0, 2, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewVirtual(epoch)
			for _, d := range tt.delays {
				c.AfterFunc(d, func() {})
			}
			if n := c.RunUntil(epoch.Add(tt.until)); n != tt.wantN {
				t.Errorf("RunUntil ran %d events, want %d", n, tt.wantN)
			}
			if got, want := c.Now(), epoch.Add(tt.wantNow); !got.Equal(want) {
				t.Errorf("Now = %v, want %v", got, want)
			}
			if got := c.Pending(); got != tt.pending {
				t.Errorf("Pending = %d, want %d", got, tt.pending)
			}
		})
	}
}

// Events scheduled by callbacks during RunUntil run if they fall before t.
func TestRunUntilChained(t *testing.T) {
	c := clock.NewVirtual(epoch)
	var at []time.Duration
	var chain func()
	chain = func() {
		at = append(at, clock.Since(c, epoch))
		c.AfterFunc(400*time.Millisecond, chain)
	}
	c.AfterFunc(0, chain)
	if n := c.RunFor(time.Second); n != 3 {
		t.Errorf("RunFor ran %d events, want 3 (at 0, 400ms, 800ms)", n)
	}
	if n := c.RunFor(-time.Second); n != 0 {
		t.Errorf("RunFor(-1s) ran %d events, want 0", n)
	}
	if got := clock.Since(c, epoch); got != time.Second {
		t.Errorf("Now = epoch+%v, want epoch+1s", got)
	}
	if next, ok := c.Next(); !ok || !next.Equal(epoch.Add(1200*time.Millisecond)) {
		t.Errorf("Next = %v, %v; want epoch+1.2s, true", next, ok)
	}
	c.RunUntil(epoch.Add(1200 * time.Millisecond))
	if want := []time.Duration{0, 400 * time.Millisecond, 800 * time.Millisecond, 1200 * time.Millisecond}; !slices.Equal(at, want) {
		t.Errorf("chain ran at %v, want %v", at, want)
	}
}

func TestRunUntilIdleLimit(t *testing.T) {
	tests := []struct {
		name    string
		events  int // independent events at 1s, 2s, ...
		spin    bool
		limit   int
		wantN   int
		wantErr bool
	}{
		{"drains", 5, false, 10, 5, false},
		{"limit equals work", 5, false, 5, 5, false},
		{"limit below work", 5, false, 3, 3, true},
		{"no limit", 5, false, 0, 5, false},
		{"livelock", 0, true, 1000, 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewVirtual(epoch)
			for i := range tt.events {
				c.AfterFunc(time.Duration(i+1)*time.Second, func() {})
			}
			if tt.spin {
				var spin func()
				spin = func() { c.AfterFunc(0, spin) }
				c.AfterFunc(time.Second, spin)
			}
			n, err := c.RunUntilIdle(tt.limit)
			if n != tt.wantN {
				t.Errorf("ran %d events, want %d", n, tt.wantN)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, clock.ErrEventLimit) {
				t.Errorf("err = %v, does not wrap ErrEventLimit", err)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}

func TestVirtualPendingNextStep(t *testing.T) {
	c := clock.NewVirtual(epoch)
	if c.Step() {
		t.Error("Step on an empty queue returned true")
	}
	if _, ok := c.Next(); ok {
		t.Error("Next on an empty queue returned ok")
	}
	a := c.AfterFunc(2*time.Second, func() {})
	c.AfterFunc(3*time.Second, func() {})
	if got := c.Pending(); got != 2 {
		t.Errorf("Pending = %d, want 2", got)
	}
	a.Stop()
	if got := c.Pending(); got != 1 {
		t.Errorf("Pending after Stop = %d, want 1", got)
	}
	if next, ok := c.Next(); !ok || !next.Equal(epoch.Add(3*time.Second)) {
		t.Errorf("Next = %v, %v; want epoch+3s, true", next, ok)
	}
	if !c.Step() {
		t.Error("Step returned false with an event pending")
	}
	if got := clock.Since(c, epoch); got != 3*time.Second {
		t.Errorf("Now after Step = epoch+%v, want epoch+3s", got)
	}
	if got := clock.Until(c, epoch.Add(time.Hour)); got != time.Hour-3*time.Second {
		t.Errorf("Until(epoch+1h) = %v", got)
	}
}

func TestNewVirtualStart(t *testing.T) {
	loc := time.FixedZone("UTC+2", 2*3600)
	start := time.Now().In(loc) // carries a monotonic reading
	c := clock.NewVirtual(start)
	now := c.Now()
	if !now.Equal(start) || now.Location() != loc {
		t.Errorf("Now = %v, want %v", now, start)
	}
	if now != start.Round(0) {
		t.Errorf("Now = %#v keeps a monotonic reading", now)
	}
	// A "forever" timer must not wrap around into the past.
	c.AfterFunc(math.MaxInt64, func() { t.Error("forever timer ran") })
	c.AfterFunc(time.Second, func() {})
	c.AfterFunc(math.MaxInt64, func() { t.Error("forever timer ran") })
	if n := c.RunFor(24 * time.Hour); n != 1 {
		t.Errorf("RunFor ran %d events, want 1", n)
	}
}

func TestVirtualNilFunc(t *testing.T) {
	for name, c := range map[string]clock.Clock{"virtual": clock.NewVirtual(epoch), "wall": clock.Wall()} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("AfterFunc(nil) did not panic")
				}
			}()
			c.AfterFunc(time.Second, nil)
		})
	}
}

// Running the loop from a callback would break the ordering guarantees.
func TestVirtualReentryPanics(t *testing.T) {
	c := clock.NewVirtual(epoch)
	var recovered any
	c.AfterFunc(0, func() {
		defer func() { recovered = recover() }()
		c.Step()
	})
	c.AfterFunc(time.Second, func() {})
	c.Step()
	if recovered == nil {
		t.Fatal("Step from a callback did not panic")
	}
	// The loop is usable again afterwards.
	if !c.Step() {
		t.Error("Step after the recovered panic found no event")
	}
}

// Other goroutines schedule work and read the time while the loop runs.
// Run with -race.
func TestVirtualConcurrentUse(t *testing.T) {
	const goroutines, perG = 4, 500
	c := clock.NewVirtual(epoch)
	var fired atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			last := c.Now()
			for range perG {
				now := c.Now()
				if now.Before(last) {
					t.Errorf("goroutine %d: Now went back from %v to %v", g, last, now)
					return
				}
				last = now
				tm := c.AfterFunc(time.Duration(r.IntN(1000))*time.Millisecond, func() { fired.Add(1) })
				if r.IntN(10) == 0 && tm.Stop() {
					fired.Add(1) // prevented, count it as done
				}
				c.Pending()
				c.Next()
			}
		})
	}

	// The loop: callbacks must see time in non-decreasing order.
	deadline := time.Now().Add(30 * time.Second)
	last := c.Now()
	c.AfterFunc(0, func() {}) // make sure the loop has work before the goroutines start
	for fired.Load() < goroutines*perG {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events fired", fired.Load(), goroutines*perG)
		}
		if !c.Step() {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		now := c.Now()
		if now.Before(last) {
			t.Fatalf("loop: Now went back from %v to %v", last, now)
		}
		last = now
	}
	wg.Wait()
	if n, err := c.RunUntilIdle(0); err != nil || n != 0 {
		t.Errorf("RunUntilIdle after all fired = %d, %v", n, err)
	}
}

// A callback makes a synchronous call to another goroutine (as the simulated
// network does when it calls the engine over gRPC); that goroutine reads the
// clock and schedules work. Nothing deadlocks, and the work runs at the same
// instant, after the callback.
func TestVirtualSynchronousCallFromCallback(t *testing.T) {
	c := clock.NewVirtual(epoch)
	tr := &trace{c: c}
	type request struct{ reply chan time.Time }
	server := make(chan request)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case req := <-server:
				now := c.Now()
				c.AfterFunc(0, tr.add("handler-work"))
				c.Pending()
				req.reply <- now
			case <-done:
				return
			}
		}
	}()

	call := func() time.Time {
		req := request{reply: make(chan time.Time)}
		server <- req
		select {
		case now := <-req.reply:
			return now
		case <-time.After(10 * time.Second):
			t.Fatal("synchronous call from a callback deadlocked")
			return time.Time{}
		}
	}
	c.AfterFunc(time.Second, func() {
		tr.add("call")()
		if got := call(); !got.Equal(epoch.Add(time.Second)) {
			t.Errorf("handler saw Now = %v, want epoch+1s", got)
		}
		tr.add("returned")()
	})
	c.AfterFunc(2*time.Second, tr.add("next"))
	if _, err := c.RunUntilIdle(10); err != nil {
		t.Fatal(err)
	}
	if got, want := tr.String(), "call@1s returned@1s handler-work@1s next@2s"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestWall(t *testing.T) {
	c := clock.Wall()
	before := time.Now()
	if now := c.Now(); now.Before(before) {
		t.Errorf("Wall().Now() = %v, before time.Now() %v", now, before)
	}
	fired := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(fired) })
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("Wall AfterFunc did not fire")
	}
	tm := c.AfterFunc(time.Hour, func() { t.Error("stopped wall timer ran") })
	if !tm.Stop() || tm.Stop() {
		t.Error("Stop on a pending wall timer: want true then false")
	}
}
