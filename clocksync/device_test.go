package clocksync

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/applayer"
)

func TestDeviceClockTokens(t *testing.T) {
	var c DeviceClock
	local := time.Unix(1_700_000_000, 0)
	steps := []struct {
		ans        AppTimeAns
		applied    bool
		wantToken  uint8
		wantOffset time.Duration
	}{
		{AppTimeAns{TimeCorrection: 10, TokenAns: 1}, false, 0, 0}, // not the current token
		{AppTimeAns{TimeCorrection: 10, TokenAns: 0}, true, 1, 10 * time.Second},
		{AppTimeAns{TimeCorrection: 10, TokenAns: 0}, false, 1, 10 * time.Second}, // late duplicate
		{AppTimeAns{TimeCorrection: -4, TokenAns: 1}, true, 2, 6 * time.Second},
	}
	for i, s := range steps {
		if req := c.Request(local, false); req.TokenReq != c.TokenReq {
			t.Fatalf("step %d: request token %d, state %d", i, req.TokenReq, c.TokenReq)
		}
		if got := c.Apply(&s.ans); got != s.applied {
			t.Errorf("step %d: Apply = %v, want %v", i, got, s.applied)
		}
		if c.TokenReq != s.wantToken || c.Offset != s.wantOffset {
			t.Errorf("step %d: token %d offset %v, want %d %v", i, c.TokenReq, c.Offset, s.wantToken, s.wantOffset)
		}
	}

	// The token wraps mod 16.
	c = DeviceClock{TokenReq: 15}
	if !c.Apply(&AppTimeAns{TokenAns: 15}) || c.TokenReq != 0 {
		t.Errorf("after token 15: applied token %d, want 0", c.TokenReq)
	}
}

// TestDeviceServerRoundTrip runs a device whose clock is 100 s slow through a
// request, the server's answer and the device's correction.
func TestDeviceServerRoundTrip(t *testing.T) {
	trueTime := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	local := trueTime.Add(-100 * time.Second)
	dev := DeviceClock{TokenReq: 7}

	req := dev.Request(local, false)
	frame, err := EncodeFrame(req)
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := DecodeFrame(frame, applayer.Uplink, 2)
	if err != nil {
		t.Fatal(err)
	}
	ans := Answer(cmds[0].(*AppTimeReq), trueTime)
	if ans == nil || ans.TimeCorrection != 100 || ans.TokenAns != 7 {
		t.Fatalf("Answer = %+v, want correction 100 token 7", ans)
	}
	if !dev.Apply(ans) {
		t.Fatal("device refused the answer")
	}
	if got := dev.Now(local); !got.Equal(trueTime) {
		t.Errorf("device time after correction %v, want %v", got, trueTime)
	}
	if ans := Answer(dev.Request(local, false), trueTime); ans != nil {
		t.Errorf("synchronised device still answered: %+v", ans)
	}
}

func TestResyncPeriod(t *testing.T) {
	tests := []struct {
		period uint8
		want   time.Duration
	}{
		{0, 128 * time.Second},
		{1, 256 * time.Second},
		{10, 131072 * time.Second},
		{15, 4194304 * time.Second}, // about 48.5 days
	}
	for _, tt := range tests {
		if got, err := ResyncPeriod(tt.period); err != nil || got != tt.want {
			t.Errorf("ResyncPeriod(%d) = %v, %v; want %v", tt.period, got, err, tt.want)
		}
	}
	var fe *applayer.FieldError
	if _, err := ResyncPeriod(16); !errors.As(err, &fe) || fe.Field != "period" {
		t.Errorf("ResyncPeriod(16): error %v, want FieldError for period", err)
	}
	if _, err := ResyncDelay(16, rand.New(rand.NewPCG(1, 1))); !errors.As(err, &fe) {
		t.Errorf("ResyncDelay(16): error %v, want FieldError", err)
	}
}

func TestResyncDelay(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, period := range []uint8{0, 4, 15} {
		base, _ := ResyncPeriod(period)
		lo, hi := base+ResyncJitter, base-ResyncJitter
		for range 2000 {
			d, err := ResyncDelay(period, rng)
			if err != nil {
				t.Fatal(err)
			}
			if d < base-ResyncJitter || d > base+ResyncJitter {
				t.Fatalf("period %d: delay %v outside %v ± %v", period, d, base, ResyncJitter)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Uniform over 60 s: 2000 draws come within 1 s of both ends.
		if lo > base-ResyncJitter+time.Second || hi < base+ResyncJitter-time.Second {
			t.Errorf("period %d: delays span only [%v, %v] around %v", period, lo-base, hi-base, base)
		}
	}
	// The same seed gives the same delays.
	a, _ := ResyncDelay(3, rand.New(rand.NewPCG(9, 9)))
	b, _ := ResyncDelay(3, rand.New(rand.NewPCG(9, 9)))
	if a != b {
		t.Errorf("same seed, delays %v and %v", a, b)
	}
}
