package clock

import (
	"fmt"
	"math"
	"time"
)

// Scaled returns the wall clock sped up scale times from origin: Now is
// origin + (time.Now() − origin)·scale, and AfterFunc(d) calls f after
// d/scale of wall time, on its own goroutine as Wall does. Now depends on
// the wall clock alone, so processes given the same origin and scale agree
// on it; a Virtual run with RunRealtimeFrom(ctx, scale, origin) follows the
// same time. It is for tests that run a server against `lorafuota sim serve
// --time-scale`: with scale 1 it is the wall clock itself.
//
// It returns an error if scale is not a finite number of at least 1.
func Scaled(origin time.Time, scale float64) (Clock, error) {
	if !(scale >= 1) || math.IsInf(scale, 1) {
		return nil, fmt.Errorf("clock: scale %v: must be a finite number of at least 1", scale)
	}
	if scale == 1 {
		return Wall(), nil
	}
	return scaled{origin: origin.Round(0), k: scale}, nil
}

type scaled struct {
	origin time.Time // without a monotonic reading: the wall clock's instant
	k      float64
}

func (s scaled) Now() time.Time {
	return s.origin.Add(time.Duration(scaleDuration(time.Since(s.origin), s.k)))
}

func (s scaled) AfterFunc(d time.Duration, f func()) Timer {
	if f == nil {
		panic("clock: AfterFunc with nil func")
	}
	return scaledTimer{time.AfterFunc(s.wall(d), f), s}
}

// wall is the wall time d of this clock's time takes.
func (s scaled) wall(d time.Duration) time.Duration { return unscale(int64(max(d, 0)), s.k) }

// scaledTimer takes Reset's duration in the clock's time.
type scaledTimer struct {
	t *time.Timer
	s scaled
}

func (t scaledTimer) Stop() bool { return t.t.Stop() }

func (t scaledTimer) Reset(d time.Duration) bool { return t.t.Reset(t.s.wall(d)) }
