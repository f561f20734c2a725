package clock_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/clock"
)

const benchPending = 10_000

// benchDelays are random delays up to a minute, drawn once so that the
// benchmark measures the queue rather than the random source.
func benchDelays() []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	d := make([]time.Duration, 4096)
	for i := range d {
		d[i] = time.Duration(r.Int64N(int64(time.Minute)))
	}
	return d
}

// One op is one event run by Step, whose callback schedules a replacement,
// so the queue stays at 10k pending timers.
func BenchmarkStep10kPending(b *testing.B) {
	c := clock.NewVirtual(epoch)
	delays := benchDelays()
	i := 0
	var f func()
	f = func() {
		i++
		c.AfterFunc(delays[i%len(delays)], f)
	}
	for j := range benchPending {
		c.AfterFunc(delays[j%len(delays)], f)
	}
	for b.Loop() {
		c.Step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// One op moves one of 10k pending timers with Reset.
func BenchmarkReset10kPending(b *testing.B) {
	c := clock.NewVirtual(epoch)
	delays := benchDelays()
	timers := make([]clock.Timer, benchPending)
	for j := range timers {
		timers[j] = c.AfterFunc(delays[j%len(delays)], func() {})
	}
	i := 0
	for b.Loop() {
		timers[i%len(timers)].Reset(delays[i%len(delays)])
		i++
	}
}
