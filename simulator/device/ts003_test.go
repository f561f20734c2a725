package device_test

import (
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/simulator/device"
)

// appTimeReqs returns the AppTimeReq uplinks sent so far, with their times.
func (r *rig) appTimeReqs() ([]*clocksync.AppTimeReq, []time.Time) {
	r.t.Helper()
	var reqs []*clocksync.AppTimeReq
	var at []time.Time
	for _, u := range r.take(clocksync.FPort) {
		var q clocksync.AppTimeReq
		must(r.t, q.UnmarshalBinary(u.payload))
		reqs, at = append(reqs, &q), append(at, u.at)
	}
	return reqs, at
}

func TestClockDrift(t *testing.T) {
	const (
		offset = -7 * time.Second
		ppm    = 100
		span   = 100_000 * time.Second
	)
	r := newRig(t, rigOptions{tweak: func(c *device.Config) { c.ClockOffset, c.ClockDriftPPM = offset, ppm }})
	start := r.clk.Now()
	r.run(span)
	want := offset + time.Duration(float64(r.clk.Now().Sub(start)+r.dev.LastBoot().Busy)*ppm/1e6)
	if got := r.dev.ClockError(); (got - want).Abs() > time.Millisecond {
		t.Fatalf("clock error %v after %v at %v ppm, want %v", got, span, ppm, want)
	}
}

// TestAppTimeCorrection: periodic AppTimeReq carries the device's drifting
// time; an AppTimeAns is applied only for the current token.
func TestAppTimeCorrection(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(c *device.Config) {
		c.ClockOffset, c.ClockDriftPPM, c.AppTimePeriod = -7*time.Second, 50, 10*time.Minute
	}})
	r.run(25 * time.Minute)
	reqs, at := r.appTimeReqs()
	if len(reqs) < 2 {
		t.Fatalf("%d AppTimeReq in 25 minutes with a 10-minute period", len(reqs))
	}
	for i, q := range reqs {
		lag := int64(clocksync.GPSSeconds(at[i])) - int64(q.DeviceTime)
		if lag < 6 || lag > 7 {
			t.Fatalf("AppTimeReq %d: DeviceTime %d s behind, want about 7", i, lag)
		}
		if q.TokenReq != 0 {
			t.Fatalf("unanswered requests changed the token: %d", q.TokenReq)
		}
	}
	last := reqs[len(reqs)-1]
	corr := int32(clocksync.GPSSeconds(at[len(at)-1]) - uint64(last.DeviceTime)) // at its reception
	must(t, r.down(clocksync.FPort, &clocksync.AppTimeAns{TimeCorrection: corr, TokenAns: last.TokenReq + 1}))
	if r.dev.Stats().ClockCorrections != 0 || r.dev.ClockError() > -6*time.Second {
		t.Fatal("applied an answer with the wrong token")
	}
	must(t, r.down(clocksync.FPort, &clocksync.AppTimeAns{TimeCorrection: corr, TokenAns: last.TokenReq}))
	if r.dev.Stats().ClockCorrections != 1 || r.dev.ClockError().Abs() >= time.Second {
		t.Fatalf("after the correction the clock is %v off", r.dev.ClockError())
	}
	// A duplicate of the same answer is not applied twice.
	must(t, r.down(clocksync.FPort, &clocksync.AppTimeAns{TimeCorrection: corr, TokenAns: last.TokenReq}))
	if r.dev.Stats().ClockCorrections != 1 {
		t.Fatal("duplicate answer applied")
	}
	r.run(10 * time.Minute)
	reqs, at = r.appTimeReqs()
	if len(reqs) == 0 || reqs[0].TokenReq != 1 {
		t.Fatalf("next requests %+v, want token 1", reqs)
	}
	if lag := int64(clocksync.GPSSeconds(at[0])) - int64(reqs[0].DeviceTime); lag < -1 || lag > 1 {
		t.Fatalf("after the correction DeviceTime is %d s behind", lag)
	}
}

func TestAppTimePeriodicity(t *testing.T) {
	r := newRig(t, rigOptions{})
	t0 := r.clk.Now()
	must(t, r.down(clocksync.FPort, &clocksync.DeviceAppTimePeriodicityReq{Period: 0}))
	r.run(time.Second)
	var ans clocksync.DeviceAppTimePeriodicityAns
	ups := r.take(clocksync.FPort)
	if len(ups) != 1 {
		t.Fatalf("%d answers", len(ups))
	}
	must(t, ans.UnmarshalBinary(ups[0].payload))
	if ans.NotSupported || ans.DeviceTime != clocksync.SessionTime32(t0) {
		t.Fatalf("DeviceAppTimePeriodicityAns %+v", ans)
	}
	r.run(400 * time.Second)
	_, at := r.appTimeReqs()
	if len(at) < 2 {
		t.Fatalf("%d AppTimeReq in 400 s with a 128 s period", len(at))
	}
	if first := at[0].Sub(t0); first < 98*time.Second || first > 158*time.Second {
		t.Fatalf("first AppTimeReq after %v, want 128 s ± 30 s", first)
	}
	if d := at[1].Sub(at[0]); d != 128*time.Second {
		t.Fatalf("period %v", d)
	}
}

func TestForceDeviceResync(t *testing.T) {
	r := newRig(t, rigOptions{})
	must(t, r.down(clocksync.FPort, &clocksync.ForceDeviceResync{Version: 2, NbTransmissions: 3}))
	r.run(time.Minute)
	if reqs, _ := r.appTimeReqs(); len(reqs) != 3 {
		t.Fatalf("%d AppTimeReq after ForceDeviceResync of 3", len(reqs))
	}
}
