package server_test

import (
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/server"
)

// lateClock fires every timer a millisecond after its instant, as the wall
// clock does (by microseconds to milliseconds) under serve.
type lateClock struct{ *clock.Virtual }

func (c lateClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return c.Virtual.AfterFunc(d+time.Millisecond, f)
}

// TestManagerLateTimers runs a campaign whose timers fire late, as they do
// on the wall clock: it must end as it does on time.
func TestManagerLateTimers(t *testing.T) {
	// The pacer takes a slot passed by less than its tolerance; before it
	// did, a late pace timer chased the next scheduler tick for ever and
	// the session ended with no fragment sent.
	r := newRig(t, scenario(2), 7)
	r.mgrClock = lateClock{r.clk}
	m := r.manager("a")
	r.hear()
	st, err := m.Create(r.ctx, server.Request{Image: r.firmware(4096), Devices: r.devices(2)})
	if err != nil {
		t.Fatal(err)
	}
	r.checkUpdated(r.finish(m, st.ID, 2*time.Hour))
}

// TestManagerClassBSession runs a deployment whose multicast is a class B
// session, asked for through the options as the API does.
func TestManagerClassBSession(t *testing.T) {
	sc := scenario(2)
	for i := range sc.DeviceProfiles {
		sc.DeviceProfiles[i].SupportsClassB = true
	}
	r := newRig(t, sc, 7)
	m := r.manager("a")
	r.hear()
	devs := r.devices(2)
	for i := range devs {
		devs[i].Class, devs[i].MACVersion = fuota.ClassC, fuota.MAC10x
	}
	st, err := m.Create(r.ctx, server.Request{Image: r.firmware(4096), Devices: devs,
		Options: server.Options{SessionClass: fuota.ClassB}})
	if err != nil {
		t.Fatal(err)
	}
	r.checkUpdated(r.finish(m, st.ID, 6*time.Hour))
}
