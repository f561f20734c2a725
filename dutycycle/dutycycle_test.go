package dutycycle

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func mustNew(t *testing.T, m Model, d float64) *Ledger {
	t.Helper()
	l, err := New(m, d, 0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewRefusesBadInput(t *testing.T) {
	tests := []struct {
		name   string
		model  Model
		limit  float64
		window time.Duration
	}{
		{"no model", 0, 0.1, 0},
		{"zero limit", OffTime, 0, 0},
		{"limit above 1", OffTime, 1.5, 0},
		{"NaN limit", OffTime, nanValue(), 0},
		{"negative window", SlidingWindow, 0.1, -time.Second},
	}
	for _, tt := range tests {
		if _, err := New(tt.model, tt.limit, tt.window); err == nil {
			t.Errorf("%s: New accepted it", tt.name)
		}
	}
}

func nanValue() float64 { z := 0.0; return z / z }

func TestOffTime(t *testing.T) {
	l := mustNew(t, OffTime, 0.1)
	if err := l.Add(at(0), time.Second); err != nil {
		t.Fatal(err)
	}
	// A 1 s frame at 10 % blocks the band for 10 s from its start.
	tests := []struct {
		start time.Duration
		ok    bool
	}{
		{time.Second, false},
		{10*time.Second - time.Nanosecond, false},
		{10 * time.Second, true},
	}
	for _, tt := range tests {
		err := l.Check(at(tt.start), 100*time.Millisecond)
		if (err == nil) != tt.ok {
			t.Errorf("Check at %v: %v, want ok=%v", tt.start, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrOverflow) {
			t.Errorf("error %v does not wrap ErrOverflow", err)
		}
	}
	// A frame before a scheduled one must not block the band into it.
	if err := l.Check(at(-5*time.Second), time.Second); err == nil {
		t.Error("a frame whose off-time runs into a later frame was accepted")
	}
	got, err := l.Earliest(at(2*time.Second), 300*time.Millisecond)
	if err != nil || !got.Equal(at(10*time.Second)) {
		t.Errorf("Earliest = %v, %v; want +10s", got.Sub(t0), err)
	}
}

func TestSlidingWindowBurstThenWait(t *testing.T) {
	l := mustNew(t, SlidingWindow, 0.1)
	// 360 s of budget: 360 frames of 1 s back to back pass, the 361st does not.
	for i := range 360 {
		if err := l.Add(at(time.Duration(i)*time.Second), time.Second); err != nil {
			t.Fatalf("frame %d refused: %v", i, err)
		}
	}
	if err := l.Check(at(360*time.Second), time.Second); !errors.Is(err, ErrOverflow) {
		t.Fatalf("frame 361: %v, want overflow", err)
	}
	// It fits once the first frame has slid out of the window ending at its end.
	got, err := l.Earliest(at(360*time.Second), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := at(3600 * time.Second); !got.Equal(want) {
		t.Fatalf("Earliest = %v, want %v", got.Sub(t0), want.Sub(t0))
	}
	if err := l.Add(got, time.Second); err != nil {
		t.Fatalf("frame at Earliest refused: %v", err)
	}
	if u := l.Used(at(3601 * time.Second)); u != 360*time.Second {
		t.Errorf("Used = %v, want 360s", u)
	}
	if h := l.Headroom(at(3601 * time.Second)); h != 0 {
		t.Errorf("Headroom = %v, want 0", h)
	}
}

func TestSlidingWindowFutureItems(t *testing.T) {
	l := mustNew(t, SlidingWindow, 0.1)
	// 300 s of airtime now, and a 50 s frame scheduled 30 minutes ahead.
	if err := l.Add(at(0), 300*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(at(30*time.Minute), 50*time.Second); err != nil {
		t.Fatal(err)
	}
	// 20 s at +10 min fits its own window (320 s) but pushes the future frame's
	// window to 370 s: refused, as Concentratord refuses it.
	if err := l.Check(at(10*time.Minute), 20*time.Second); !errors.Is(err, ErrOverflow) {
		t.Fatalf("got %v, want overflow caused by the future frame", err)
	}
	if err := l.Check(at(10*time.Minute), 10*time.Second); err != nil {
		t.Fatalf("10 s frame: %v", err)
	}
}

// TestEarliestIsEarliest checks on random ledgers that Earliest returns a start
// the ledger accepts and that no earlier start (on a 1 ms grid) is accepted.
func TestEarliestIsEarliest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, m := range []Model{SlidingWindow, OffTime} {
		for trial := range 50 {
			l, err := New(m, 0.1, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			now := t0
			for range 1 + rng.IntN(20) {
				a := time.Duration(50+rng.IntN(2000)) * time.Millisecond
				s, err := l.Earliest(now.Add(time.Duration(rng.IntN(3000))*time.Millisecond), a)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Add(s, a); err != nil {
					t.Fatalf("%v trial %d: Add at Earliest: %v", m, trial, err)
				}
				now = s.Add(a)
			}
			a := time.Duration(100+rng.IntN(3000)) * time.Millisecond
			s, err := l.Earliest(now, a)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Check(s, a); err != nil {
				t.Fatalf("%v trial %d: Earliest %v refused: %v", m, trial, s.Sub(t0), err)
			}
			if prev := s.Add(-time.Millisecond); !prev.Before(now) {
				if err := l.Check(prev, a); err == nil {
					t.Fatalf("%v trial %d: %v accepted, 1 ms before Earliest %v", m, trial, prev.Sub(t0), s.Sub(t0))
				}
			}
		}
	}
}

func TestMinDuration(t *testing.T) {
	toa := 394496 * time.Microsecond // EU868 DR5, 239-byte fragment (RADIO.md §2.1)
	tests := []struct {
		name    string
		model   Model
		n       int
		spacing time.Duration
		want    time.Duration
	}{
		// RADIO.md §5.2, 256 KiB at DR5: A = 1207·ToA = 476.16 s; sliding window
		// k = 1 → 3600 + 116.16 s.
		{"window 256KiB DR5", SlidingWindow, 1207, 0, 3600*time.Second + 1207*toa - 360*time.Second},
		// Off-time: (N−1)·ToA/d + ToA.
		{"off-time 256KiB DR5", OffTime, 1207, 0, 1206*10*toa + toa},
		// Below the budget a window burst is just the airtime.
		{"window small burst", SlidingWindow, 100, 0, 100 * toa},
		// ChirpStack's 5 s margin binds at DR5 under off-time (3.945 s < 5 s).
		{"margin binds", OffTime, 303, 5 * time.Second, 302*5*time.Second + toa},
		{"no frames", OffTime, 0, 0, 0},
	}
	for _, tt := range tests {
		got, err := MinDuration(tt.model, 0.1, 0, tt.n, toa, tt.spacing)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: MinDuration = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestPacingMeetsBound paces equal frames with Earliest and compares the result
// with MinDuration: the ledger's own pacing must come within 1 % of the bound.
// A spacing well above the airtime (ChirpStack's 5 s margin at DR3) keeps the
// frames apart in every window, not only in the first: the bound must count it.
func TestPacingMeetsBound(t *testing.T) {
	for _, m := range []Model{SlidingWindow, OffTime} {
		for _, tc := range []struct{ toa, spacing time.Duration }{
			{394496 * time.Microsecond, 0}, {2793472 * time.Microsecond, 0},
			{676864 * time.Microsecond, 5 * time.Second}, {394496 * time.Microsecond, 5 * time.Second},
		} {
			toa := tc.toa
			l := mustNew(t, m, 0.1)
			n := 1500
			s := t0
			var end time.Time
			for range n {
				var err error
				if s, err = l.Earliest(s, toa); err != nil {
					t.Fatal(err)
				}
				if err := l.Add(s, toa); err != nil {
					t.Fatal(err)
				}
				end = s.Add(toa)
				s = s.Add(max(toa, tc.spacing))
			}
			bound, err := MinDuration(m, 0.1, 0, n, toa, tc.spacing)
			if err != nil {
				t.Fatal(err)
			}
			got := end.Sub(t0)
			if ratio := float64(got) / float64(bound); ratio < 1 || ratio > 1.01 {
				t.Errorf("%v ToA %v spacing %v: paced %v, bound %v, ratio %.4f", m, toa, tc.spacing, got, bound, ratio)
			}
		}
	}
}

func TestParseModel(t *testing.T) {
	for in, want := range map[string]Model{"concentratord": SlidingWindow, "sliding-window": SlidingWindow, "basic-station": OffTime, "off-time": OffTime} {
		if got, err := ParseModel(in); err != nil || got != want {
			t.Errorf("ParseModel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseModel("etsi"); err == nil {
		t.Error("ParseModel accepted an unknown name")
	}
}

func TestPrune(t *testing.T) {
	l := mustNew(t, SlidingWindow, 0.1)
	for i := range 10 {
		if err := l.Add(at(time.Duration(i)*time.Minute), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	before := l.Used(at(10 * time.Minute))
	l.Prune(at(10 * time.Minute))
	if after := l.Used(at(10 * time.Minute)); after != before {
		t.Errorf("Prune changed Used: %v → %v", before, after)
	}
	l.Prune(at(3 * time.Hour))
	if n := len(l.Frames()); n != 0 {
		t.Errorf("%d frames left after pruning past every window", n)
	}
}

func TestMinDurationRefusesOverflow(t *testing.T) {
	// 5 000 000 DR0 frames in a 0.1 % band: 443 years of off-time, which
	// overflows int64 nanoseconds (292 years).
	if d, err := MinDuration(OffTime, 0.001, 0, 5_000_000, 2793472*time.Microsecond, 0); err == nil {
		t.Errorf("MinDuration = %v, want an overflow error", d)
	}
	if _, err := MinDuration(OffTime, 0.1, 0, 10, 0, 0); err == nil {
		t.Error("zero airtime accepted")
	}
}

func TestCloneIsIndependent(t *testing.T) {
	l, err := New(OffTime, 0.1, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := l.Add(t0, time.Second); err != nil {
		t.Fatal(err)
	}
	c := l.Clone()
	if err := c.Add(t0.Add(10*time.Second), time.Second); err != nil {
		t.Fatal(err)
	}
	if len(l.Frames()) != 1 || len(c.Frames()) != 2 {
		t.Fatalf("frames: original %d, clone %d; want 1 and 2", len(l.Frames()), len(c.Frames()))
	}
	if err := c.Check(t0.Add(15*time.Second), time.Second); err == nil {
		t.Error("the clone admits a frame its own second frame blocks")
	}
	if err := l.Check(t0.Add(15*time.Second), time.Second); err != nil {
		t.Errorf("the original sees the clone's frame: %v", err)
	}
}
