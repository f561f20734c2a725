package clock_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/clock"
)

// At this scale one virtual second takes one wall millisecond.
const fast = 1000

// runRealtime starts c.RunRealtime in a goroutine and returns a function that
// cancels it and returns its error.
func runRealtime(t *testing.T, c *clock.Virtual, scale float64) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- c.RunRealtime(ctx, scale) }()
	return func() error {
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("RunRealtime did not return after cancel")
			return nil
		}
	}
}

// wait fails the test if ch is not closed within a generous bound.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestRunRealtimeScale(t *testing.T) {
	for _, scale := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		c := clock.NewVirtual(epoch)
		ran := false
		c.AfterFunc(0, func() { ran = true })
		if err := c.RunRealtime(t.Context(), scale); err == nil {
			t.Errorf("RunRealtime(scale %v) returned nil", scale)
		} else {
			t.Log(err)
		}
		if ran {
			t.Errorf("RunRealtime(scale %v) ran an event", scale)
		}
	}
}

// Events run in (time, scheduling) order, each at its own virtual time, and
// no sooner than the wall clock allows.
func TestRunRealtimeOrder(t *testing.T) {
	c := clock.NewVirtual(epoch)
	tr := &trace{c: c}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type run struct {
		name    string
		at, now time.Duration
	}
	var runs []run
	add := func(name string, d time.Duration) {
		c.AfterFunc(d, func() {
			runs = append(runs, run{name, d, clock.Since(c, epoch)})
			tr.add(name)()
		})
	}
	add("c", 30*time.Second)
	add("a1", 10*time.Second)
	add("b", 20*time.Second)
	add("a2", 10*time.Second)
	c.AfterFunc(40*time.Second, cancel)

	start := time.Now()
	err := c.RunRealtime(ctx, fast)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RunRealtime = %v, want context.Canceled", err)
	}
	var names []string
	for _, r := range runs {
		names = append(names, r.name)
		if r.now < r.at {
			t.Errorf("%s scheduled at %v ran with Now = %v", r.name, r.at, r.now)
		}
	}
	if got, want := len(names), 4; got != want {
		t.Fatalf("ran %v, want 4 events", names)
	}
	if got, want := names[0]+names[1]+names[2]+names[3], "a1a2bc"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}
	// 40 virtual seconds at 1000× is 40 ms of wall time at least.
	if elapsed < 40*time.Millisecond || elapsed > 10*time.Second {
		t.Errorf("run took %v of wall time, want about 40ms", elapsed)
	}
	if now := clock.Since(c, epoch); now < 40*time.Second {
		t.Errorf("Now after the run = epoch+%v, want at least epoch+40s", now)
	}
}

func TestRunRealtimeCancel(t *testing.T) {
	c := clock.NewVirtual(epoch)
	c.AfterFunc(time.Hour, func() { t.Error("event an hour away ran") })
	started := make(chan struct{})
	c.AfterFunc(0, func() { close(started) })
	stop := runRealtime(t, c, 1)
	wait(t, started, "the loop to start")
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("RunRealtime = %v, want context.Canceled", err)
	}
	// Stopped: time stands still and the loop can be run by hand again.
	a := c.Now()
	time.Sleep(2 * time.Millisecond)
	if b := c.Now(); !b.Equal(a) {
		t.Errorf("Now moved from %v to %v after RunRealtime returned", a, b)
	}
	if got := clock.Since(c, epoch); got < 0 || got > 10*time.Second {
		t.Errorf("Now = epoch+%v, want a little past epoch", got)
	}
	if n := c.RunUntil(epoch.Add(time.Hour - 1)); n != 0 {
		t.Errorf("RunUntil after the real-time run ran %d events, want 0", n)
	}
	if n := c.RunFor(0); n != 0 || clock.Since(c, epoch) != time.Hour-1 {
		t.Errorf("RunFor(0) ran %d events at epoch+%v, want none at epoch+1h-1ns", n, clock.Since(c, epoch))
	}
	if got := c.Pending(); got != 1 {
		t.Errorf("Pending = %d, want 1", got)
	}

	// Already cancelled: returns at once, running nothing.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c2 := clock.NewVirtual(epoch)
	c2.AfterFunc(0, func() { t.Error("event ran under a cancelled context") })
	if err := c2.RunRealtime(ctx, fast); !errors.Is(err, context.Canceled) {
		t.Errorf("RunRealtime = %v, want context.Canceled", err)
	}
}

// Work enqueued by another goroutine wakes the loop at once, whether the
// loop is idle or waiting for an event far away.
func TestRunRealtimeWake(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *clock.Virtual)
	}{
		{"empty queue", func(c *clock.Virtual) {}},
		{"waiting an hour", func(c *clock.Virtual) { c.AfterFunc(time.Hour, func() {}) }},
		{"waiting forever", func(c *clock.Virtual) {
			c.AfterFunc(math.MaxInt64, func() { panic("a timer set forever away ran") })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewVirtual(epoch)
			tt.setup(c)
			started := make(chan struct{})
			c.AfterFunc(0, func() { close(started) })
			stop := runRealtime(t, c, 1)
			wait(t, started, "the loop to start")
			time.Sleep(time.Millisecond) // let the loop go to sleep

			ran := make(chan struct{})
			before := c.Now()
			var at time.Time
			c.AfterFunc(0, func() {
				at = c.Now()
				close(ran)
			})
			wait(t, ran, "the enqueued event")
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Errorf("RunRealtime = %v, want context.Canceled", err)
			}
			if at.Before(before) {
				t.Errorf("event ran at %v, before it was scheduled at %v", at, before)
			}
		})
	}
}

// Between events Now follows the wall clock, scaled; it stops at an event
// that is due but that the loop has not run yet.
func TestRunRealtimeNow(t *testing.T) {
	c := clock.NewVirtual(epoch)
	started, release, released := make(chan struct{}), make(chan struct{}), make(chan struct{})
	c.AfterFunc(0, func() { close(started) })
	c.AfterFunc(time.Hour, func() {})
	stop := runRealtime(t, c, fast)
	defer stop()
	wait(t, started, "the loop to start")

	w0 := time.Now()
	time.Sleep(20 * time.Millisecond)
	got := clock.Since(c, epoch)
	wall := time.Since(w0)
	// The loop started before w0, so at least 20 ms · 1000 of virtual time
	// has passed; loosely bound it from above too.
	if got < 20*time.Second || got > 1000*(wall+time.Second) {
		t.Errorf("after %v of wall time Now = epoch+%v, want about epoch+%v", wall, got, 1000*wall)
	}

	// Block the loop in a callback while an event 1 virtual second later
	// falls due: Now must hold there until it has run.
	blocked := clock.Since(c, epoch)
	c.AfterFunc(0, func() {
		<-release
	})
	c.AfterFunc(time.Second, func() { close(released) })
	due := clock.Since(c, epoch) + time.Second // the event is due at or before this
	time.Sleep(20 * time.Millisecond)          // 20 virtual seconds
	if got, want := clock.Since(c, epoch), due; got > want || got < blocked {
		t.Errorf("with an overdue event Now = epoch+%v, want at most epoch+%v", got, want)
	}
	close(release)
	wait(t, released, "the overdue event")
	if got := clock.Since(c, epoch); got < blocked+20*time.Second {
		t.Errorf("after the overdue event ran Now = epoch+%v, want it to catch up to about epoch+%v", got, blocked+20*time.Second)
	}
}

// Two loops at once are refused.
func TestRunRealtimeExclusive(t *testing.T) {
	c := clock.NewVirtual(epoch)
	started := make(chan struct{})
	c.AfterFunc(0, func() { close(started) })
	stop := runRealtime(t, c, fast)
	wait(t, started, "the loop to start")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Step during RunRealtime did not panic")
			}
		}()
		c.Step()
	}()
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("RunRealtime = %v, want context.Canceled", err)
	}
}
