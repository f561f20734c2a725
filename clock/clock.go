package clock

import "time"

// Clock is the source of time and timers a component is given.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc arranges for f to run once d has elapsed; d < 0 is taken
	// as 0. Where f runs depends on the clock: on its own goroutine for
	// Wall, on the loop goroutine for Virtual.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by Clock.AfterFunc. *time.Timer satisfies it.
type Timer interface {
	// Stop prevents the call from happening. It returns true if it did so,
	// and false if the call had already started or the timer was stopped.
	Stop() bool
	// Reset schedules the call for d from now, whether or not it has
	// already run. It returns true if the call was still pending, in which
	// case it is moved rather than added.
	Reset(d time.Duration) bool
}

// Since returns the time elapsed on c since t.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// Until returns the time on c until t.
func Until(c Clock, t time.Time) time.Duration { return t.Sub(c.Now()) }
