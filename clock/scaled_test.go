package clock_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/clock"
)

func TestScaledRefusesSlowOrInvalidScales(t *testing.T) {
	for _, scale := range []float64{0, 0.5, -1, math.NaN(), math.Inf(1)} {
		if _, err := clock.Scaled(time.Now(), scale); err == nil {
			t.Errorf("Scaled(scale %v) returned no error", scale)
		}
	}
	c, err := clock.Scaled(time.Now().Add(-time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(c.Now()); d < -time.Second || d > time.Second {
		t.Errorf("Scaled at scale 1 is %v off the wall clock, want the wall clock", d)
	}
}

// Now runs scale times as fast as the wall clock from the origin, and
// timers wait their duration divided by the scale.
func TestScaledNowAndTimers(t *testing.T) {
	const k = 100
	origin := time.Now().Add(-time.Second)
	c, err := clock.Scaled(origin, k)
	if err != nil {
		t.Fatal(err)
	}
	w0 := time.Now()
	v0 := c.Now()
	// One wall second since the origin is k virtual seconds.
	if got := v0.Sub(origin); got < k*time.Second || got > k*(time.Since(origin)+time.Millisecond) {
		t.Errorf("Now = origin+%v one second after the origin, want about origin+%v", got, k*time.Second)
	}

	fired := make(chan time.Time, 2)
	tm := c.AfterFunc(2*time.Second, func() { fired <- time.Now() }) // 20 ms of wall time
	var at time.Time
	select {
	case at = <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("timer of 2 virtual seconds did not fire")
	}
	if wall := at.Sub(w0); wall < 20*time.Millisecond {
		t.Errorf("timer of 2 virtual seconds fired after %v of wall time, want at least 20ms", wall)
	}
	if got := c.Now().Sub(v0); got < 2*time.Second {
		t.Errorf("Now moved %v by the time the timer fired, want at least 2s", got)
	}

	// Reset takes the clock's time too.
	w1 := time.Now()
	if tm.Reset(time.Second) {
		t.Error("Reset of a timer that fired reported it pending")
	}
	select {
	case at = <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("reset timer did not fire")
	}
	if wall := at.Sub(w1); wall < 10*time.Millisecond || wall > 5*time.Second {
		t.Errorf("timer reset to 1 virtual second fired after %v of wall time, want about 10ms", wall)
	}
	stopped := c.AfterFunc(time.Hour, func() { t.Error("stopped timer fired") })
	if !stopped.Stop() {
		t.Error("Stop of a pending timer returned false")
	}
}

// A Virtual run from an origin keeps the time of a Scaled clock with the
// same origin and scale, whenever each was started.
func TestRunRealtimeFromAgreesWithScaled(t *testing.T) {
	const k = 50
	origin := time.Now().Add(-200 * time.Millisecond)
	sc, err := clock.Scaled(origin, k)
	if err != nil {
		t.Fatal(err)
	}
	// Start the virtual clock behind the mapping, as a process does that
	// reads the time before building its simulation.
	v := clock.NewVirtual(sc.Now().Add(-3 * time.Second))
	overdue := make(chan time.Time, 1)
	v.AfterFunc(time.Second, func() { overdue <- v.Now() })
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- v.RunRealtimeFrom(ctx, k, origin) }()
	defer func() {
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("RunRealtimeFrom = %v, want context.Canceled", err)
		}
	}()
	select {
	case <-overdue:
	case <-time.After(10 * time.Second):
		t.Fatal("the overdue event did not run")
	}
	time.Sleep(20 * time.Millisecond)
	for range 5 {
		// Read the scaled clock on either side of the virtual one: the
		// virtual reading must fall between, give or take a millisecond of
		// wall time (k ms of virtual time) of scheduling.
		before := sc.Now()
		got := v.Now()
		after := sc.Now()
		if got.Before(before.Add(-k*time.Millisecond)) || got.After(after.Add(k*time.Millisecond)) {
			t.Errorf("virtual Now %v, scaled Now between %v and %v", got, before, after)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunRealtimeFromRefuses(t *testing.T) {
	origin := time.Now()
	// A clock already past the mapped time would have to go back.
	v := clock.NewVirtual(origin.Add(time.Hour))
	if err := v.RunRealtimeFrom(t.Context(), 10, origin); err == nil {
		t.Error("RunRealtimeFrom with Now past the mapped time returned nil")
	} else {
		t.Log(err)
	}
	for _, scale := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if err := clock.NewVirtual(origin).RunRealtimeFrom(t.Context(), scale, origin); err == nil {
			t.Errorf("RunRealtimeFrom(scale %v) returned nil", scale)
		}
	}
}
