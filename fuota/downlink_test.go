package fuota

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/region"
)

// TestDownlinksWithinDutyCycle runs a campaign whose unicasts alone exceed the
// RX2 sub-band's hourly budget and replays every downlink the engine handed
// over, unicasts and fragments, into fresh ledgers of both gateway models: the
// network server sends each at its scheduler's next run, whose phase is
// drawn at random, and no gateway may refuse one or have two on air at once.
func TestDownlinksWithinDutyCycle(t *testing.T) {
	var devs []*fakeDev
	for i := range 30 {
		devs = append(devs, newFakeDev(i, v2))
	}
	n := newNet(t, devs)
	d := n.run(testDeployment(t, devs, nil), nil)
	for eui, v := range n.verdicts {
		if v.Outcome != Updated {
			t.Errorf("%s: %+v", eui, v)
		}
	}
	reg, err := region.Get(region.EU868)
	if err != nil {
		t.Fatal(err)
	}
	type frame struct {
		at time.Time
		a  time.Duration
	}
	var frames []frame
	uni, mc := 0, 0
	for i, a := range n.actions {
		switch a := a.(type) {
		case EnqueueUnicast:
			toa, err := reg.DownlinkToA(reg.RX2().DataRate, macOverhead+len(a.Data))
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, frame{n.actionAt[i], toa})
			uni++
		case EnqueueMulticast:
			frames = append(frames, frame{n.actionAt[i], d.plan.FrameAirtime})
			mc++
		}
	}
	var total time.Duration
	for _, f := range frames {
		total += f.a
	}
	if total < 3600*time.Second/10 {
		t.Fatalf("%v on air in all: the test must exceed the hour's budget of 360 s", total)
	}
	if uni == 0 || mc == 0 {
		t.Fatalf("%d unicasts, %d fragments", uni, mc)
	}
	// The network server's scheduler runs every SchedulerLatency at a phase
	// of its own: a frame handed over at t goes on air at the first run at or
	// after it.
	lat := d.st.Cfg.SchedulerLatency
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		phase := n.start.Add(time.Duration(rnd.Int64N(int64(lat))))
		sent := make([]frame, len(frames))
		for i, f := range frames {
			runs := (f.at.Sub(phase) + lat - 1) / lat
			sent[i] = frame{phase.Add(runs * lat), f.a}
		}
		slices.SortFunc(sent, func(a, b frame) int { return a.at.Compare(b.at) })
		for _, model := range []dutycycle.Model{dutycycle.SlidingWindow, dutycycle.OffTime} {
			l, err := dutycycle.New(model, 0.1, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range sent {
				if err := l.Add(f.at, f.a); err != nil {
					t.Fatalf("seed %d, %v: downlink %d of %d at %v: %v", seed, model, i, len(sent), f.at.Sub(n.start), err)
				}
				if i > 0 && f.at.Before(sent[i-1].at.Add(sent[i-1].a)) {
					t.Fatalf("seed %d: downlink %d at %v overlaps the one before", seed, i, f.at.Sub(n.start))
				}
			}
		}
	}
	t.Logf("%d unicasts and %d fragments, %v on air, campaign %v", uni, mc, total, n.now.Sub(n.start))
}

// TestUnicastsWaitForTheMulticast checks that no unicast is handed over
// between the first and the last fragment.
func TestUnicastsWaitForTheMulticast(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2), newFakeDev(1, v2)}
	n := newNet(t, devs)
	n.run(testDeployment(t, devs, nil), nil)
	first, last := n.enqAt[0], n.enqAt[len(n.enqAt)-1]
	for i, a := range n.actions {
		if _, ok := a.(EnqueueUnicast); ok && n.actionAt[i].After(first) && n.actionAt[i].Before(last) {
			t.Errorf("unicast at %v, during the multicast (%v to %v)", n.actionAt[i], first, last)
		}
	}
}

// TestEraseAllowance checks that the unicast after a FragSessionSetupReq
// waits for the device to erase its staging area and answer.
func TestEraseAllowance(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2), newFakeDev(1, v2)}
	n := newNet(t, devs)
	// US915 has no duty cycle, so only the spacing and the allowance keep
	// the unicasts apart.
	d := n.run(testDeployment(t, devs, func(c *DeploymentConfig) {
		p, err := NewPlan(PlanRequest{ImageSize: len(c.Image), Region: region.US915, DR: 10, FragmentSize: 50, Redundancy: 4})
		if err != nil {
			t.Fatal(err)
		}
		c.Plan, c.Gateways = p, nil
	}), nil)
	least := d.st.Cfg.UnicastSpacing + eraseAllowance(d.plan.Blocks[0].Size)
	checked := 0
	var prev time.Time
	setup := false
	for i, a := range n.actions {
		u, ok := a.(EnqueueUnicast)
		if !ok {
			continue
		}
		if setup {
			if gap := n.actionAt[i].Sub(prev); gap < least {
				t.Errorf("unicast %v after a FragSessionSetupReq, want ≥ %v", gap, least)
			}
			checked++
		}
		prev = n.actionAt[i]
		setup = u.FPort == fragmentation.DefaultFPort && len(u.Data) > 0 && u.Data[0] == fragmentation.CIDFragSessionSetup
	}
	if checked == 0 {
		t.Fatal("no unicast followed a FragSessionSetupReq")
	}
}
