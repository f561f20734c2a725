package device

import (
	"time"

	"github.com/lorafuota/lorafuota/clocksync"
)

// devClock is the device's own time: a free-running local clock that is off
// by an initial offset and drifts by ppm against the simulation clock, plus
// the TS003 corrections applied to it. Everything the device schedules by
// its own idea of time (session windows, reboot times) goes through it.
type devClock struct {
	t0     time.Time     // simulation time at which local − t0 = offset
	offset time.Duration // local − simulation time at t0
	ppm    float64       // local seconds gained per million simulation seconds
	sync   clocksync.DeviceClock
}

// local is the free-running clock at simulation time t.
func (c *devClock) local(t time.Time) time.Time {
	d := t.Sub(c.t0)
	return t.Add(c.offset + time.Duration(float64(d)*c.ppm/1e6))
}

// now is the device's idea of the time at simulation time t.
func (c *devClock) now(t time.Time) time.Time { return c.sync.Now(c.local(t)) }

// simTime is the simulation time at which the device's clock reads dev; it
// inverts now.
func (c *devClock) simTime(dev time.Time) time.Time {
	l := dev.Add(-c.sync.Offset)
	x := l.Sub(c.t0) - c.offset
	return c.t0.Add(time.Duration(float64(x) / (1 + c.ppm/1e6)))
}

// simDuration is how long d measured on the device's clock takes in
// simulation time.
func (c *devClock) simDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) / (1 + c.ppm/1e6))
}

// gps is the device's GPS second at simulation time t, not wrapped.
func (c *devClock) gps(t time.Time) uint64 { return clocksync.GPSSeconds(c.now(t)) }

// unwrapGPS returns the full GPS second whose low 32 bits are s, nearest to
// the device's current GPS second ref: wire times are GPS seconds mod 2^32.
func unwrapGPS(s uint32, ref uint64) uint64 {
	return uint64(int64(ref) + int64(int32(s-uint32(ref))))
}
