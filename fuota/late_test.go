package fuota

import (
	"testing"
	"time"
)

// TestLateTimers runs a campaign whose timers are all handled 50 ms after
// their instant, as on the wall clock: the verdicts must be those of a run on
// time, every fragment must go out, and the pace timers must not multiply.
func TestLateTimers(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2), newFakeDev(1, v2)}
	n := newNet(t, devs)
	n.late = 50 * time.Millisecond
	d := n.run(testDeployment(t, devs, nil), nil)
	for _, dev := range devs {
		if v := n.verdicts[dev.eui]; v.Outcome != Updated {
			t.Errorf("%s: %+v", dev.eui, v)
		}
	}
	if len(n.enqueues) != d.plan.Frames {
		t.Errorf("%d fragments sent, %d planned", len(n.enqueues), d.plan.Frames)
	}
}
