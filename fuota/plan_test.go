package fuota

import (
	"strings"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/region"
)

func TestNewPlanDefaults(t *testing.T) {
	p, err := NewPlan(PlanRequest{ImageSize: 64 << 10, Region: region.EU868, DR: 5, ExpectedLoss: 0.1, Devices: 100})
	if err != nil {
		t.Fatal(err)
	}
	if p.FragmentSize != 239 {
		t.Errorf("FragmentSize %d, want 239 (N − 3 at EU868 DR5)", p.FragmentSize)
	}
	if len(p.Blocks) != 1 {
		t.Fatalf("%d blocks, want 1", len(p.Blocks))
	}
	b := p.Blocks[0]
	if b.NbFrag != 275 || b.Padding != 275*239-65536 {
		t.Errorf("nb_frag %d padding %d, want 275 and %d", b.NbFrag, b.Padding, 275*239-65536)
	}
	// One block, 100 devices, 99 %: per-device failure 1e-4, half of it for the
	// reception, half for the code's overhead.
	want, err := SizeRedundancy(275, 0.1, 1-0.5e-4, DecodeOverheadFor(0.5e-4), fragmentation.MaxFragmentCounter)
	if err != nil {
		t.Fatal(err)
	}
	if b.Redundancy != want || b.Frames != 275+want {
		t.Errorf("redundancy %d frames %d, want %d and %d", b.Redundancy, b.Frames, want, 275+want)
	}
	if p.FrequencyHz != 869525000 || p.SubBand.Name != "P" || p.DutyCycle != 0.1 {
		t.Errorf("frequency %d sub-band %q d %v, want 869525000, P, 0.1", p.FrequencyHz, p.SubBand.Name, p.DutyCycle)
	}
	if p.FrameAirtime != 394496*time.Microsecond {
		t.Errorf("frame airtime %v, want 394.496ms", p.FrameAirtime)
	}
	if !strings.Contains(p.String(), "nb_frag 275") {
		t.Errorf("String() lacks the block line:\n%s", p)
	}
}

// TestNewPlanRadioFigures checks the planner against shared/RADIO.md §5.2:
// 256 KiB at EU868 DR5, 10 % redundancy (R = 110): 1207 frames, 476.16 s of
// airtime, (N−1)·ToA/d + ToA under off-time. Under a sliding window RADIO.md
// gives 3716.16 s, W + A − B, the best case with the frames after the first
// hour back to back; with the gateway's 42.5 ms gap between them the bound is
// (W − ToA) + 294·(ToA + gap) + ToA: the 913th frame cannot start within
// W − ToA of the first, and the 294 after it are spaced.
func TestNewPlanRadioFigures(t *testing.T) {
	toa := 394496 * time.Microsecond
	tests := []struct {
		model dutycycle.Model
		want  time.Duration
	}{
		{dutycycle.SlidingWindow, time.Hour + 294*(toa+DefaultFrameGap)},
		{dutycycle.OffTime, 1206*10*toa + toa},
	}
	for _, tt := range tests {
		p, err := NewPlan(PlanRequest{ImageSize: 256 << 10, Region: region.EU868, DR: 5, Redundancy: 110, DutyCycleModel: tt.model})
		if err != nil {
			t.Fatal(err)
		}
		if p.Frames != 1207 || p.Airtime != 1207*toa {
			t.Errorf("%v: %d frames, airtime %v; want 1207 and %v", tt.model, p.Frames, p.Airtime, 1207*toa)
		}
		if p.LowerBound != tt.want {
			t.Errorf("%v: lower bound %v, want %v", tt.model, p.LowerBound, tt.want)
		}
		if p.Binding != "duty cycle" {
			t.Errorf("%v: binding %q, want duty cycle", tt.model, p.Binding)
		}
		// 1207 frames at the steady 10 % rate take 4758 s: 2^13 s covers it.
		if got := p.Blocks[0].TimeOut; got != 13 {
			t.Errorf("%v: TimeOut %d, want 13", tt.model, got)
		}
	}
}

func TestNewPlanSplitsBlocksAndSessions(t *testing.T) {
	// 1 MiB at DR0: 21846 fragments of 48 bytes overflow the 14-bit counter
	// (two blocks), and at 27.9 s per frame one class C session (2^15 s)
	// carries at most ~1170 of them (about 20 sessions).
	p, err := NewPlan(PlanRequest{ImageSize: 1 << 20, Region: region.EU868, DR: 0, ExpectedLoss: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Blocks) != 2 {
		t.Errorf("%d blocks, want 2", len(p.Blocks))
	}
	if len(p.Sessions) < 19 {
		t.Errorf("%d sessions, want ≥ 19", len(p.Sessions))
	}
	next := 0
	for i, se := range p.Sessions {
		if se.FirstFrame != next || se.Frames <= 0 {
			t.Errorf("session %d: frames %d+%d, want from %d", i, se.FirstFrame, se.Frames, next)
		}
		next = se.FirstFrame + se.Frames
		if time.Duration(1<<se.TimeOut)*time.Second < se.Duration+sessionSlack || se.TimeOut > 15 {
			t.Errorf("session %d: 2^%d s does not cover %v", i, se.TimeOut, se.Duration)
		}
	}
	if next != p.Frames {
		t.Errorf("sessions carry %d frames, the plan has %d", next, p.Frames)
	}
	covered := 0
	for i, b := range p.Blocks {
		if b.Offset != covered {
			t.Errorf("block %d at offset %d, want %d", i, b.Offset, covered)
		}
		covered += b.Size
		if b.Frames > fragmentation.MaxFragmentCounter {
			t.Errorf("block %d: %d frames", i, b.Frames)
		}
		if i < len(p.Blocks)-1 && b.Padding != 0 {
			t.Errorf("block %d: padding %d in a block that is not the last", i, b.Padding)
		}
	}
	if covered != 1<<20 {
		t.Errorf("blocks cover %d bytes, want %d", covered, 1<<20)
	}
}

func TestNewPlanMarginBinds(t *testing.T) {
	// ChirpStack's 5 s margin is slower than 10 % at DR5 (3.945 s).
	p, err := NewPlan(PlanRequest{ImageSize: 64 << 10, Region: region.EU868, DR: 5, Redundancy: 28, Margin: 5 * time.Second, DutyCycleModel: dutycycle.OffTime})
	if err != nil {
		t.Fatal(err)
	}
	if p.Binding != "margin" {
		t.Errorf("binding %q, want margin", p.Binding)
	}
	// US915 has no duty cycle: frames back to back.
	p, err = NewPlan(PlanRequest{ImageSize: 64 << 10, Region: region.US915, DR: 13, Redundancy: 28})
	if err != nil {
		t.Fatal(err)
	}
	// No duty cycle: frames back to back, each followed by the gateway's gap.
	wantBound := time.Duration(p.Frames-1)*(p.FrameAirtime+DefaultFrameGap) + p.FrameAirtime
	if p.DutyCycle != 1 || p.Binding != "airtime" || p.LowerBound != wantBound {
		t.Errorf("US915: d %v binding %q bound %v, want 1, airtime, %v", p.DutyCycle, p.Binding, p.LowerBound, wantBound)
	}
}

func TestNewPlanRefuses(t *testing.T) {
	base := PlanRequest{ImageSize: 64 << 10, Region: region.EU868, DR: 5}
	tests := []struct {
		name  string
		edit  func(*PlanRequest)
		field string
	}{
		{"no image", func(r *PlanRequest) { r.ImageSize = 0 }, "image_size"},
		{"fragment too large", func(r *PlanRequest) { r.FragmentSize = 240 }, "fragment_size 240"},
		{"fragment too large DR0", func(r *PlanRequest) { r.DR = 0; r.FragmentSize = 49 }, "at most 48"},
		{"unknown region", func(r *PlanRequest) { r.Region = "EU433X" }, "region"},
		{"unknown DR", func(r *PlanRequest) { r.DR = 15 }, "dr 15"},
		{"loss 1", func(r *PlanRequest) { r.ExpectedLoss = 1 }, "expected_loss"},
		{"target", func(r *PlanRequest) { r.Target = 1.5 }, "target"},
		{"negative redundancy", func(r *PlanRequest) { r.Redundancy = -1 }, "redundancy"},
		{"frequency outside bands", func(r *PlanRequest) { r.FrequencyHz = 915_000_000 }, "frequency 915000000"},
		{"frequency not in 100 Hz steps", func(r *PlanRequest) { r.FrequencyHz = 869_525_050 }, "dl_frequency"},
		{"one fragment with parity", func(r *PlanRequest) { r.ImageSize = 100; r.ExpectedLoss = 0.3 }, "one fragment"},
		{"too many blocks", func(r *PlanRequest) { r.ImageSize = 64 << 20; r.DR = 0; r.ExpectedLoss = 0.1 }, "at most 64 blocks"},
		{"negative gap", func(r *PlanRequest) { r.FrameGap = -time.Millisecond }, "frame_gap"},
	}
	for _, tt := range tests {
		req := base
		tt.edit(&req)
		_, err := NewPlan(req)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: error %q does not name %q", tt.name, err, tt.field)
		}
	}
}

func TestNewPlanWarnings(t *testing.T) {
	p, err := NewPlan(PlanRequest{ImageSize: 2000, Region: region.EU868, DR: 5, Redundancy: 1, ExpectedLoss: 0.2, MaxLost: 1})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(p.Warnings, "\n")
	for _, want := range []string{"below 20", "Lmax 1", "redundancy 1 is below"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q:\n%s", want, joined)
		}
	}
}

// TestNewPlanTargetCoversAllBlocks checks that the success target is shared out
// over the blocks: a device must decode every block, so each block gets a
// smaller failure budget the more blocks there are.
func TestNewPlanTargetCoversAllBlocks(t *testing.T) {
	p, err := NewPlan(PlanRequest{ImageSize: 1 << 20, Region: region.EU868, DR: 0, ExpectedLoss: 0.1, Target: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	k := len(p.Blocks)
	if k < 2 {
		t.Fatalf("%d blocks, want several", k)
	}
	b := p.Blocks[0]
	eps := 0.1 / float64(k)
	want, err := SizeRedundancy(b.NbFrag, 0.1, 1-eps/2, DecodeOverheadFor(eps/2), fragmentation.MaxFragmentCounter)
	if err != nil {
		t.Fatal(err)
	}
	if b.Redundancy != want {
		t.Errorf("block 0 redundancy %d, want %d (failure budget split over %d blocks)", b.Redundancy, want, k)
	}
	single, err := SizeRedundancy(b.NbFrag, 0.1, 0.95, DecodeOverheadFor(0.05), fragmentation.MaxFragmentCounter)
	if err != nil {
		t.Fatal(err)
	}
	if b.Redundancy <= single {
		t.Errorf("block 0 redundancy %d is not above the single-block %d", b.Redundancy, single)
	}
}

// TestNewPlanGatewaysSpaceFrames checks that G gateways in ChirpStack's
// DELAY mode space the frames G margins apart, in the spacing and the bound.
func TestNewPlanGatewaysSpaceFrames(t *testing.T) {
	one, err := NewPlan(PlanRequest{ImageSize: 16 << 10, Region: region.EU868, DR: 5, Redundancy: 10, Margin: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	two, err := NewPlan(PlanRequest{ImageSize: 16 << 10, Region: region.EU868, DR: 5, Redundancy: 10, Margin: 5 * time.Second, Gateways: 2})
	if err != nil {
		t.Fatal(err)
	}
	if one.FrameSpacing != 5*time.Second || two.FrameSpacing != 10*time.Second || two.Binding != "margin" {
		t.Errorf("spacing %v and %v (%s), want 5s and 10s (margin)", one.FrameSpacing, two.FrameSpacing, two.Binding)
	}
	if want := time.Duration(two.Frames-1)*10*time.Second + two.FrameAirtime; two.LowerBound != want {
		t.Errorf("bound with two gateways %v, want %v", two.LowerBound, want)
	}
	if _, err := NewPlan(PlanRequest{ImageSize: 1024, Region: region.EU868, DR: 5, Gateways: -1}); err == nil || !strings.Contains(err.Error(), "gateways") {
		t.Errorf("negative gateways: %v", err)
	}
}
