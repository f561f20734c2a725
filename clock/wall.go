package clock

import "time"

// Wall returns the real clock: time.Now and time.AfterFunc, whose callbacks
// run on their own goroutines.
func Wall() Clock { return wall{} }

type wall struct{}

var _ Timer = (*time.Timer)(nil)

func (wall) Now() time.Time { return time.Now() }

func (wall) AfterFunc(d time.Duration, f func()) Timer {
	if f == nil {
		// time.AfterFunc would only fail when the timer fires, far from
		// the mistake; Virtual rejects it at once too.
		panic("clock: AfterFunc with nil func")
	}
	return time.AfterFunc(d, f)
}
