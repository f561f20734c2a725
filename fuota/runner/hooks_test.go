package runner_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/fuota/runner"
	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/boot"
)

// seen records what a runner's hooks are told.
type seen struct {
	mu       sync.Mutex
	logs     []fuota.Log
	verdicts []fuota.Verdict
	phases   []fuota.Phase // each phase once, in the order the steps reached it
	steps    int
	done     bool
	errs     []error
}

func (s *seen) hooks() runner.Hooks {
	return runner.Hooks{
		Log: func(_ context.Context, l fuota.Log) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.logs = append(s.logs, l)
		},
		Verdict: func(_ context.Context, v fuota.Verdict) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.verdicts = append(s.verdicts, v)
		},
		Step: func(_ context.Context, p fuota.Phase, done bool) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.steps++
			if !slices.Contains(s.phases, p) {
				s.phases = append(s.phases, p)
			}
			if s.done && !done {
				s.errs = append(s.errs, errors.New("a step after the end is not done"))
			}
			s.done = done
		},
		Error: func(_ context.Context, err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.errs = append(s.errs, err)
		},
	}
}

// hooked replaces the rig's runner with one that has hooks.
func (r *rig) hooked(h runner.Hooks) {
	r.t.Helper()
	rn, err := runner.New(runner.Config{
		Clock: r.clk, Executor: r.client, Store: r.store, Logger: r.logger,
		ApplicationID: r.applicationID(), Region: r.region,
		McAddrPool: store.McAddrPool{Min: lorawan.DevAddr{0xfc, 0, 0, 0}, Max: lorawan.DevAddr{0xfc, 0, 0, 0xff}},
		Hooks:      h,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	hook, err := integration.NewHTTPHandler(integration.HTTPConfig{Secret: hookSecret, Now: r.clk.Now}, rn)
	if err != nil {
		r.t.Fatal(err)
	}
	r.runner, r.hook = rn, hook
}

func hookScenario() *simulator.Scenario {
	sc := simulator.DefaultScenario()
	g := &sc.Devices[0]
	g.Count, g.Stack = 3, "spec"
	g.Versions = simulator.VersionsSpec{ClockSync: 2, Multicast: 2, Fragmentation: 2, FirmwareManagement: 1}
	return sc
}

// TestHooksAndStatus runs a campaign with hooks and checks what they were
// told against the runner's Status.
func TestHooksAndStatus(t *testing.T) {
	r := newRig(t, hookScenario(), 7)
	var s seen
	r.hooked(s.hooks())
	if st := r.runner.Status(); st.Started {
		t.Fatalf("status before the start: %+v", st)
	}
	img := r.firmware(image.Version{Major: 2}, boot.Good, 4096)
	r.start(r.deployment(img, 0))
	st := r.runner.Status()
	if !st.Started || st.ID != deploymentID || st.Done || len(st.Devices) != 3 || st.Progress.Devices != 3 {
		t.Fatalf("status after the start: %+v", st)
	}
	verdicts := r.finish(6 * time.Hour)

	st = r.runner.Status()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !st.Done || st.Phase != fuota.PhaseDone || st.Err != nil || st.Progress.Outcomes[fuota.Updated] != 3 {
		t.Errorf("status at the end: %+v", st)
	}
	if !slices.Equal(st.Verdicts, s.verdicts) || len(s.verdicts) != len(verdicts) {
		t.Errorf("verdict hook told %v, the runner has %v", s.verdicts, st.Verdicts)
	}
	for _, d := range st.Devices {
		if d.Outcome != fuota.Updated {
			t.Errorf("device %+v", d)
		}
	}
	want := []fuota.Phase{fuota.PhaseSetup, fuota.PhaseSession, fuota.PhaseMulticast, fuota.PhaseStatus, fuota.PhaseDone}
	if !slices.Equal(s.phases, want) || !s.done || s.steps < 10 {
		t.Errorf("step hook: phases %v (want %v), done %t, %d steps", s.phases, want, s.done, s.steps)
	}
	if len(s.logs) == 0 || len(s.errs) != 0 {
		t.Errorf("log hook: %d lines; errors %v", len(s.logs), s.errs)
	}
}

// TestCancel cancels a campaign in its multicast: every device gets a
// cancelled verdict and the deployment ends.
func TestCancel(t *testing.T) {
	r := newRig(t, hookScenario(), 7)
	var s seen
	r.hooked(s.hooks())
	if err := r.runner.Cancel(r.ctx, "too early"); !errors.Is(err, runner.ErrNotStarted) {
		t.Fatalf("cancel before the start: %v", err)
	}
	r.start(r.deployment(r.firmware(image.Version{Major: 2}, boot.Good, 4096), 0))
	for start := r.clk.Now(); r.runner.Status().Phase != fuota.PhaseMulticast; r.runFor(time.Second) {
		if r.clk.Now().Sub(start) > 6*time.Hour {
			t.Fatal("no multicast")
		}
	}
	if err := r.runner.Cancel(r.ctx, "operator says stop"); err != nil {
		t.Fatal(err)
	}
	verdicts := r.finish(time.Hour)
	for eui, v := range verdicts {
		if v.Outcome != fuota.Canceled || v.Reason != "operator says stop" {
			t.Errorf("%s: %+v, want cancelled by the operator", eui, v)
		}
	}
	if st := r.runner.Status(); st.Phase != fuota.PhaseCanceled || !st.Done {
		t.Errorf("after the cancel: phase %s, done %t", st.Phase, st.Done)
	}
	// Cancelling again changes nothing.
	n := len(r.runner.Verdicts())
	if err := r.runner.Cancel(r.ctx, "again"); err != nil || len(r.runner.Verdicts()) != n {
		t.Errorf("second cancel: %v, %d verdicts (had %d)", err, len(r.runner.Verdicts()), n)
	}
}
