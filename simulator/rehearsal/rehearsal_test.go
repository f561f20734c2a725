package rehearsal

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/rng"
)

var start = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, req fuota.PlanRequest, seed uint64) (Config, []byte) {
	t.Helper()
	p, err := fuota.NewPlan(req)
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, req.ImageSize)
	src := rng.New(seed)
	r := src.Stream("image")
	for i := range img {
		img[i] = byte(r.UintN(256))
	}
	return Config{Plan: p, Image: img, Matrix: fragmentation.MatrixV1, Start: start, Rand: src.Stream}, img
}

func TestRunAllDevicesComplete(t *testing.T) {
	for _, m := range []dutycycle.Model{dutycycle.SlidingWindow, dutycycle.OffTime} {
		for _, matrix := range []fragmentation.Matrix{fragmentation.MatrixV1, fragmentation.MatrixV2} {
			cfg, _ := setup(t, fuota.PlanRequest{ImageSize: 16 << 10, Region: region.EU868, DR: 5, ExpectedLoss: 0.1, Devices: 30, DutyCycleModel: m}, 1)
			cfg.Loss, cfg.Matrix = 0.1, matrix
			res, err := Run(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range res.Devices {
				if !d.Completed {
					t.Errorf("%v %v: device %d did not complete: %v", m, matrix, i, d.Err)
				}
			}
			if res.Rejections != 0 || res.SessionOverruns != 0 {
				t.Errorf("%v: %d gateway rejections %v, %d frames past their session", m, res.Rejections, res.RejectionsByStatus, res.SessionOverruns)
			}
			if res.FramesNeeded == 0 || res.FramesNeeded > res.FramesSent {
				t.Errorf("%v: frames needed %d of %d sent", m, res.FramesNeeded, res.FramesSent)
			}
			if ratio := float64(res.Duration) / float64(cfg.Plan.LowerBound); ratio < 1 || ratio > 1.01 {
				t.Errorf("%v: transfer %v vs lower bound %v: ratio %.4f", m, res.Duration, cfg.Plan.LowerBound, ratio)
			}
			if res.Airtime != time.Duration(res.FramesSent)*cfg.Plan.FrameAirtime {
				t.Errorf("airtime %v for %d frames", res.Airtime, res.FramesSent)
			}
		}
	}
}

func TestRunDeterministic(t *testing.T) {
	req := fuota.PlanRequest{ImageSize: 8 << 10, Region: region.EU868, DR: 3, ExpectedLoss: 0.2, Devices: 10}
	run := func(seed uint64) *Result {
		cfg, _ := setup(t, req, seed)
		cfg.Loss = 0.2
		res, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(7), run(7), run(8)
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs with seed 7 differ")
	}
	if reflect.DeepEqual(a.Devices, c.Devices) {
		t.Error("seeds 7 and 8 gave identical devices")
	}
}

func TestRunFailures(t *testing.T) {
	// Planned for no loss, run at 30 %: no parity, so devices cannot finish.
	cfg, _ := setup(t, fuota.PlanRequest{ImageSize: 4 << 10, Region: region.EU868, DR: 5, Devices: 5}, 1)
	cfg.Loss = 0.3
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range res.Devices {
		if d.Completed || d.Err == nil {
			t.Errorf("device %d completed without parity at 30 %% loss", i)
		}
	}
	// A device whose verification fails does not count as completed.
	cfg, _ = setup(t, fuota.PlanRequest{ImageSize: 4 << 10, Region: region.EU868, DR: 5, Devices: 2}, 1)
	bad := errors.New("bad signature")
	cfg.Verify = func([]byte) error { return bad }
	res, err = Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Devices[0]; d.Completed || !errors.Is(d.Err, bad) {
		t.Errorf("device with failed verification: completed %v, err %v", d.Completed, d.Err)
	}
	// Lmax below the losses: the decoder refuses rather than growing.
	cfg, _ = setup(t, fuota.PlanRequest{ImageSize: 8 << 10, Region: region.EU868, DR: 5, ExpectedLoss: 0.3, Devices: 3}, 1)
	cfg.Loss, cfg.MaxLost = 0.3, 1
	res, err = Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range res.Devices {
		if d.Completed || !errors.Is(d.Err, fragmentation.ErrTooManyLost) {
			t.Errorf("device %d with Lmax 1 at 30 %% loss: completed %v err %v", i, d.Completed, d.Err)
		}
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	cfg, _ := setup(t, fuota.PlanRequest{ImageSize: 1024, Region: region.EU868, DR: 5}, 1)
	tests := map[string]func(*Config){
		"no plan":    func(c *Config) { c.Plan = nil },
		"short":      func(c *Config) { c.Image = c.Image[:10] },
		"loss":       func(c *Config) { c.Loss = 2 },
		"no rand":    func(c *Config) { c.Rand = nil },
		"bad matrix": func(c *Config) { c.Matrix = 9 },
	}
	for name, edit := range tests {
		c := cfg
		edit(&c)
		if _, err := Run(c); err == nil {
			t.Errorf("%s: Run accepted it", name)
		}
	}
}

// TestRunGatewayCatchesBadPacing shows the checks can fail: a plan that believes
// in a 50 % duty cycle is paced too fast for the gateway's 10 % band, and a
// session too short for its block leaves frames outside it.
func TestRunGatewayCatchesBadPacing(t *testing.T) {
	for _, m := range []dutycycle.Model{dutycycle.SlidingWindow, dutycycle.OffTime} {
		// 400 KiB at DR5: 1700 frames, 680 s of airtime, past the 360 s budget.
		cfg, _ := setup(t, fuota.PlanRequest{ImageSize: 400 << 10, Region: region.EU868, DR: 5, Redundancy: 10, DutyCycleModel: m}, 1)
		cfg.Plan.DutyCycle = 0.5
		cfg.Plan.Blocks[0].TimeOut = 6
		res, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Concentratord refuses with DUTY_CYCLE_OVERFLOW; Basic Station drops
		// without an answer.
		want := map[dutycycle.Model]string{dutycycle.SlidingWindow: "DUTY_CYCLE_OVERFLOW", dutycycle.OffTime: "NO_ACK"}[m]
		if res.RejectionsByStatus[want] == 0 {
			t.Errorf("%v: pacing at 50 %% in a 10 %% band drew no %s: %v", m, want, res.RejectionsByStatus)
		}
		if res.SessionOverruns == 0 {
			t.Errorf("%v: a 64 s session for %d frames had no overrun", m, res.FramesSent)
		}
	}
}
