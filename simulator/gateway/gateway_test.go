package gateway_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/gateway"
	"github.com/lorafuota/lorafuota/simulator/radio"
	"github.com/lorafuota/lorafuota/simulator/rng"
)

// t0 is the virtual start time: a whole second, so that scheduler ticks of
// the simulated network server fall on whole seconds.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

var gwID = lorawan.EUI64{0, 0, 0, 0, 0, 0, 0, 0xa1}

const (
	freqP = 869_525_000 // ETSI band P, 10 %; Basic Station DECI
	freqM = 868_100_000 // ETSI band M, 1 %; Basic Station CENTI
)

// Full TS004 fragments: DR5 F = 239 (PHYPayload 255), DR0 F = 48 (64).
const (
	toaDR5Full = 394496 * time.Microsecond
	toaDR0Full = 2793472 * time.Microsecond
)

func eu868(t *testing.T) *region.Region {
	t.Helper()
	r, err := region.Get(region.EU868)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// recorder is a device that listens to everything and keeps what it hears.
type recorder struct{ frames []radio.Frame }

func (*recorder) Listening(uint32, int, time.Time) bool { return true }
func (r *recorder) Receive(f radio.Frame, _ radio.Signal) {
	r.frames = append(r.frames, f)
}

// setup returns a gateway on a medium with one device listening to it.
func setup(t *testing.T, cfg gateway.Config) (*gateway.Gateway, *clock.Virtual, *recorder) {
	t.Helper()
	clk := clock.NewVirtual(t0)
	m, err := radio.New(radio.Config{Region: region.EU868, Source: rng.New(1)}, clk)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ID, cfg.Region = gwID, region.EU868
	g, err := gateway.New(cfg, clk, m)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	dev := lorawan.EUI64{1}
	if err := m.AddDevice(dev, nil, rec); err != nil {
		t.Fatal(err)
	}
	if err := m.SetLink(dev, gwID, radio.Link{PathLossDB: 100}); err != nil {
		t.Fatal(err)
	}
	return g, clk, rec
}

func TestDutyCycleBurst(t *testing.T) {
	tests := []struct {
		name    string
		model   dutycycle.Model
		enforce bool
		freq    uint32
		power   int
		dr      int
		phyLen  int
		spacing time.Duration // start to start; 0: 100 ms after the previous end
		n       int
		first   int // index of the first refused frame; −1: none
		refused int // frames refused in all
		band    string
	}{
		// 360 s of budget / 394.496 ms = 912.56: frame 913 (index 912)
		// would make 360.17 s.
		{name: "Concentratord P DR5", model: gateway.Concentratord, enforce: true, freq: freqP, power: 27,
			dr: 5, phyLen: 255, n: 915, first: 912, refused: 3, band: "P"},
		// 360 s / 2.793472 s = 128.87.
		{name: "Concentratord P DR0", model: gateway.Concentratord, enforce: true, freq: freqP, power: 27,
			dr: 0, phyLen: 64, n: 131, first: 128, refused: 3, band: "P"},
		// 36 s / 394.496 ms = 91.26.
		{name: "Concentratord M DR5", model: gateway.Concentratord, enforce: true, freq: freqM, power: 14,
			dr: 5, phyLen: 255, n: 94, first: 91, refused: 3, band: "M"},
		// 36 s / 2.793472 s = 12.89.
		{name: "Concentratord M DR0", model: gateway.Concentratord, enforce: true, freq: freqM, power: 14,
			dr: 0, phyLen: 64, n: 15, first: 12, refused: 3, band: "M"},
		{name: "Concentratord without ENFORCE_DC", model: gateway.Concentratord, freq: freqP, power: 27,
			dr: 5, phyLen: 255, n: 1000, first: -1, band: "P"},
		// Off time A/d = 3.94496 s at 10 %, 39.4496 s at 1 %.
		{name: "Basic Station DECI DR5 back to back", model: gateway.BasicStation, enforce: true, freq: freqP, power: 27,
			dr: 5, phyLen: 255, n: 3, first: 1, refused: 2, band: "DECI"},
		{name: "Basic Station DECI DR5 at 1 s", model: gateway.BasicStation, enforce: true, freq: freqP, power: 27,
			dr: 5, phyLen: 255, spacing: time.Second, n: 5, first: 1, refused: 3, band: "DECI"},
		{name: "Basic Station DECI DR5 at the off time", model: gateway.BasicStation, enforce: true, freq: freqP, power: 27,
			dr: 5, phyLen: 255, spacing: 3944960 * time.Microsecond, n: 800, first: -1, band: "DECI"},
		{name: "Basic Station DECI DR5 1 µs short", model: gateway.BasicStation, enforce: true, freq: freqP, power: 27,
			dr: 5, phyLen: 255, spacing: 3944959 * time.Microsecond, n: 2, first: 1, refused: 1, band: "DECI"},
		{name: "Basic Station CENTI DR5 at the off time", model: gateway.BasicStation, enforce: true, freq: freqM, power: 14,
			dr: 5, phyLen: 255, spacing: 39449600 * time.Microsecond, n: 80, first: -1, band: "CENTI"},
		{name: "Basic Station CENTI DR5 at 10 × the 10 % off time", model: gateway.BasicStation, enforce: true, freq: freqM, power: 14,
			dr: 5, phyLen: 255, spacing: 39449599 * time.Microsecond, n: 2, first: 1, refused: 1, band: "CENTI"},
		{name: "Basic Station without duty cycle", model: gateway.BasicStation, freq: freqP, power: 27,
			dr: 5, phyLen: 255, n: 1000, first: -1, band: "DECI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, clk, rec := setup(t, gateway.Config{Model: tt.model, EnforceDC: tt.enforce})
			toa, err := eu868(t).DownlinkToA(tt.dr, tt.phyLen)
			if err != nil {
				t.Fatal(err)
			}
			refusal := gw.TxAckStatus_DUTY_CYCLE_OVERFLOW
			if tt.model == gateway.BasicStation {
				refusal = gateway.NoAck
			}
			first, refused := -1, 0
			start := t0.Add(time.Second)
			for i := range tt.n {
				clk.RunUntil(start.Add(-100 * time.Millisecond))
				st := g.Schedule(gateway.TxRequest{
					Frequency: tt.freq, DR: tt.dr, PowerDBm: tt.power,
					PHYPayload: make([]byte, tt.phyLen), Timing: gateway.AtTime, At: start,
				})
				switch st {
				case gw.TxAckStatus_OK:
				case refusal:
					refused++
					if first < 0 {
						first = i
					}
				default:
					t.Fatalf("frame %d: status %v", i, st)
				}
				step := tt.spacing
				if step == 0 {
					step = toa + 100*time.Millisecond
				}
				start = start.Add(step)
			}
			if first != tt.first || refused != tt.refused {
				t.Errorf("first refused frame #%d, %d refused; want #%d, %d", first, refused, tt.first, tt.refused)
			}
			clk.RunFor(time.Minute)
			now := clk.Now()
			accepted := tt.n - tt.refused
			st := g.Stats()
			wantRejected := map[gw.TxAckStatus]int{}
			if tt.refused > 0 {
				wantRejected[gw.TxAckStatus_DUTY_CYCLE_OVERFLOW] = tt.refused
			}
			if st.Accepted != accepted || st.Sent != accepted || !maps.Equal(st.Rejected, wantRejected) ||
				st.Airtime != time.Duration(accepted)*toa || len(rec.frames) != accepted {
				t.Errorf("stats %+v, %d frames heard; want %d sent, rejected %v", st, len(rec.frames), accepted, wantRejected)
			}
			if got, want := g.Airtime(tt.band), time.Duration(accepted)*toa; got != want {
				t.Errorf("ledger %s airtime %v, want %v", tt.band, got, want)
			}
			// Every frame of the burst lies within the hour before now.
			rep := g.DutyCycle(now)
			if len(rep) != 1 || rep[0].SubBand != tt.band || rep[0].Used != time.Duration(accepted)*toa || rep[0].Frames != accepted {
				t.Fatalf("report %+v", rep)
			}
			budget := rep[0].DutyCycle.Budget(time.Hour)
			if rep[0].Budget != budget || rep[0].Headroom != max(budget-rep[0].Used, 0) ||
				g.Headroom(tt.band, now) != rep[0].Headroom {
				t.Errorf("report %+v: budget or headroom wrong", rep[0])
			}
			if tt.model == gateway.Concentratord && tt.enforce && rep[0].Headroom >= toa {
				t.Errorf("headroom %v after the refusal, not below one frame's %v", rep[0].Headroom, toa)
			}
		})
	}
}

func TestTimeOnAirPerFrame(t *testing.T) {
	reg := eu868(t)
	frames := []struct{ dr, phyLen int }{
		{0, 13}, {0, 64}, {1, 64}, {2, 64}, {3, 126}, {4, 255}, {5, 13}, {5, 255}, {6, 100},
	}
	for _, model := range []dutycycle.Model{gateway.Concentratord, gateway.BasicStation} {
		t.Run(model.String(), func(t *testing.T) {
			g, clk, rec := setup(t, gateway.Config{Model: model})
			var want []time.Duration
			var total time.Duration
			for i, f := range frames {
				st := g.Schedule(gateway.TxRequest{
					Frequency: freqP, DR: f.dr, PowerDBm: 27, PHYPayload: make([]byte, f.phyLen),
					Timing: gateway.AtTime, At: clk.Now().Add(time.Duration(i+1) * 10 * time.Second),
				})
				if st != gw.TxAckStatus_OK {
					t.Fatalf("DR%d %d B: %v", f.dr, f.phyLen, st)
				}
				toa, err := reg.DownlinkToA(f.dr, f.phyLen)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, toa)
				total += toa
			}
			band, _ := g.SubBand(freqP, 27)
			if got := g.Airtime(band); got != total {
				t.Errorf("ledger airtime %v, want %v", got, total)
			}
			clk.RunFor(5 * time.Minute)
			if len(rec.frames) != len(frames) {
				t.Fatalf("%d frames on air, want %d", len(rec.frames), len(frames))
			}
			for i, f := range rec.frames {
				if f.Airtime != want[i] || f.DR != frames[i].dr || len(f.PHYPayload) != frames[i].phyLen {
					t.Errorf("frame %d: DR%d %d B airtime %v, want DR%d %d B %v",
						i, f.DR, len(f.PHYPayload), f.Airtime, frames[i].dr, frames[i].phyLen, want[i])
				}
			}
		})
	}
	// The figures of RADIO.md §1.1.
	if a, _ := reg.DownlinkToA(5, 255); a != toaDR5Full {
		t.Errorf("DR5 255 B = %v, want %v", a, toaDR5Full)
	}
	if a, _ := reg.DownlinkToA(0, 64); a != toaDR0Full {
		t.Errorf("DR0 64 B = %v, want %v", a, toaDR0Full)
	}
}

// step is one request in a JIT-queue scenario, made after running the clock
// for run.
type step struct {
	run    time.Duration
	timing gateway.Timing // 0: AtTime
	at     time.Duration  // from now
	dr     int
	phyLen int // 0: DR5, 255 bytes
	freq   uint32
	power  int
	want   gw.TxAckStatus
	start  time.Duration // of an accepted frame, from now; 0: at
}

func (s step) request(now time.Time) gateway.TxRequest {
	r := gateway.TxRequest{Frequency: freqP, DR: 5, PowerDBm: 27, PHYPayload: make([]byte, 255),
		Timing: gateway.AtTime, At: now.Add(s.at)}
	if s.timing != 0 {
		r.Timing = s.timing
	}
	if s.phyLen != 0 {
		r.DR, r.PHYPayload = s.dr, make([]byte, s.phyLen)
	}
	if s.freq != 0 {
		r.Frequency, r.PowerDBm = s.freq, s.power
	}
	return r
}

func queueFull(model dutycycle.Model) []step {
	refused := gw.TxAckStatus_QUEUE_FULL
	if model == gateway.BasicStation {
		refused = gateway.NoAck
	}
	var steps []step
	for i := range 32 {
		steps = append(steps, step{at: time.Duration(10*i+10) * time.Second, want: gw.TxAckStatus_OK})
	}
	return append(steps,
		step{at: 330 * time.Second, want: refused},
		// Once the first frame is on air the queue has room again.
		step{run: 10 * time.Second, at: 320 * time.Second, want: gw.TxAckStatus_OK})
}

func TestJITQueue(t *testing.T) {
	const (
		ms   = time.Millisecond
		s    = time.Second
		a    = toaDR5Full
		gap  = gateway.DefaultTxGap
		lead = gateway.DefaultMinLead
	)
	tests := []struct {
		name     string
		cfg      gateway.Config
		steps    []step
		rejected map[gw.TxAckStatus]int
		lateGPS  int
	}{
		{
			name: "too late",
			steps: []step{
				{at: lead - 1, want: gw.TxAckStatus_TOO_LATE},
				{at: -s, want: gw.TxAckStatus_TOO_LATE},
				{at: lead, want: gw.TxAckStatus_OK},
			},
			rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_TOO_LATE: 2},
		},
		{
			name: "too early",
			steps: []step{
				{at: 512*s + 1, want: gw.TxAckStatus_TOO_EARLY},
				{at: 512 * s, want: gw.TxAckStatus_OK},
			},
			rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_TOO_EARLY: 1},
		},
		{
			name: "collision",
			steps: []step{
				{at: 10 * s, want: gw.TxAckStatus_OK},
				{at: 10*s + 200*ms, want: gw.TxAckStatus_COLLISION_PACKET},
				{at: 10*s + a + gap - 1, want: gw.TxAckStatus_COLLISION_PACKET},
				{at: 10*s + a + gap, want: gw.TxAckStatus_OK},
				{at: 10*s - gap - a + 1, want: gw.TxAckStatus_COLLISION_PACKET},
				{at: 10*s - gap - a, want: gw.TxAckStatus_OK},
				// The transmitter is busy while a frame is on air.
				{run: 10*s + 100*ms, at: 200 * ms, want: gw.TxAckStatus_COLLISION_PACKET},
			},
			rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_COLLISION_PACKET: 4},
		},
		{
			name:     "queue full",
			steps:    queueFull(gateway.Concentratord),
			rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_QUEUE_FULL: 1},
		},
		{
			// 80 ms from now, then behind the first with the least gap,
			// then behind a timed frame in the way.
			name: "immediately",
			steps: []step{
				{timing: gateway.Immediately, want: gw.TxAckStatus_OK, start: 80 * ms},
				{timing: gateway.Immediately, want: gw.TxAckStatus_OK, start: 80*ms + a + gap},
				{at: 80*ms + 2*(a+gap) + 10*ms, want: gw.TxAckStatus_OK},
				{timing: gateway.Immediately, want: gw.TxAckStatus_OK, start: 80*ms + 3*(a+gap) + 10*ms},
			},
		},
		{
			name: "GPS time late within the tolerance",
			steps: []step{
				{timing: gateway.AtGPSTime, at: 0, want: gw.TxAckStatus_OK, start: lead},
				{run: 10 * s, timing: gateway.AtGPSTime, at: -1999 * ms, want: gw.TxAckStatus_OK, start: lead},
				{run: 10 * s, timing: gateway.AtGPSTime, at: 30 * ms, want: gw.TxAckStatus_OK, start: lead},
				{run: 10 * s, timing: gateway.AtGPSTime, at: -2001 * ms, want: gw.TxAckStatus_TOO_LATE},
				// A timed frame without GPS gets no such grace.
				{at: 0, want: gw.TxAckStatus_TOO_LATE},
			},
			rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_TOO_LATE: 2},
			lateGPS:  3,
		},
		{
			name: "GPS time strict",
			cfg:  gateway.Config{StrictGPSTiming: true},
			steps: []step{
				{timing: gateway.AtGPSTime, at: 0, want: gw.TxAckStatus_TOO_LATE},
				{timing: gateway.AtGPSTime, at: lead, want: gw.TxAckStatus_OK},
			},
			rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_TOO_LATE: 1},
		},
		{
			name: "no band",
			steps: []step{
				{at: s, freq: 868_650_000, power: 14, want: gw.TxAckStatus_DUTY_CYCLE_OVERFLOW}, // between M and N
				{at: s, freq: freqM, power: 27, want: gw.TxAckStatus_DUTY_CYCLE_OVERFLOW},       // over M's 25 mW
				{at: s, freq: freqM, power: 14, want: gw.TxAckStatus_OK},
			},
			rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_DUTY_CYCLE_OVERFLOW: 2},
		},
		{
			name: "bad request",
			steps: []step{
				{at: s, dr: 15, phyLen: 20, want: gw.TxAckStatus_INTERNAL_ERROR},
				{at: s, dr: 5, phyLen: 256, want: gw.TxAckStatus_INTERNAL_ERROR},
				{timing: 9, at: s, want: gw.TxAckStatus_INTERNAL_ERROR},
			},
			rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_INTERNAL_ERROR: 3},
		},
		{
			name: "Basic Station refuses silently",
			cfg:  gateway.Config{Model: gateway.BasicStation},
			steps: []step{
				{at: 10 * s, want: gw.TxAckStatus_OK},
				{at: 10*s + 200*ms, want: gateway.NoAck},
				{at: 600*s + 1, want: gateway.NoAck},
				{at: 600 * s, want: gw.TxAckStatus_OK},
				{at: 0, want: gateway.NoAck},
			},
			rejected: map[gw.TxAckStatus]int{
				gw.TxAckStatus_COLLISION_PACKET: 1, gw.TxAckStatus_TOO_EARLY: 1, gw.TxAckStatus_TOO_LATE: 1,
			},
		},
		{
			name:     "Basic Station queue full",
			cfg:      gateway.Config{Model: gateway.BasicStation},
			steps:    queueFull(gateway.BasicStation),
			rejected: map[gw.TxAckStatus]int{gw.TxAckStatus_QUEUE_FULL: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, clk, rec := setup(t, tt.cfg)
			var starts []time.Time
			for i, s := range tt.steps {
				clk.RunFor(s.run)
				now := clk.Now()
				if got := g.Schedule(s.request(now)); got != s.want {
					t.Errorf("step %d: %v, want %v", i, got, s.want)
				}
				if s.want == gw.TxAckStatus_OK {
					d := s.start
					if d == 0 {
						d = s.at
					}
					starts = append(starts, now.Add(d))
				}
			}
			clk.RunFor(20 * time.Minute)
			slices.SortFunc(starts, time.Time.Compare)
			var got []time.Time
			for _, f := range rec.frames {
				got = append(got, f.Start)
			}
			if !slices.EqualFunc(got, starts, time.Time.Equal) {
				t.Errorf("frames on air at %v, want %v", got, starts)
			}
			st := g.Stats()
			if tt.rejected == nil {
				tt.rejected = map[gw.TxAckStatus]int{}
			}
			if !maps.Equal(st.Rejected, tt.rejected) || st.LateGPS != tt.lateGPS || st.Accepted != len(starts) {
				t.Errorf("stats %+v, want rejected %v, %d late GPS, %d accepted", st, tt.rejected, tt.lateGPS, len(starts))
			}
			unacked := 0
			if tt.cfg.Model == gateway.BasicStation {
				for _, n := range tt.rejected {
					unacked += n
				}
			}
			if st.Unacked != unacked {
				t.Errorf("%d refusals unacked, want %d", st.Unacked, unacked)
			}
		})
	}
}

func TestBasicStationClassCBackoff(t *testing.T) {
	// A DR5 frame at 10 s blocks DECI until 13.94496 s. An "immediately"
	// frame asked for at `at` is tried at at + 80 ms, then pushed back 100 ms
	// at a time, at most 10 times.
	const ms = time.Millisecond
	tests := []struct {
		name     string
		at       time.Duration // from the first frame's start
		want     gw.TxAckStatus
		start    time.Duration // from the first frame's start
		backoffs int
	}{
		{name: "blocked 1 s after", at: 1000 * ms, want: gateway.NoAck, backoffs: 10},
		{name: "block ends just after the last try", at: 2800 * ms, want: gateway.NoAck, backoffs: 10},
		{name: "block ends at the last try", at: 2900 * ms, want: gw.TxAckStatus_OK, start: 3980 * ms, backoffs: 10},
		{name: "block ends after three tries", at: 3600 * ms, want: gw.TxAckStatus_OK, start: 3980 * ms, backoffs: 3},
		{name: "not blocked", at: 3900 * ms, want: gw.TxAckStatus_OK, start: 3980 * ms},
		// The transmitter is still busy with the first frame: pushed back
		// until 42.5 ms after its end.
		{name: "transmitter busy", at: 100 * ms, want: gateway.NoAck, backoffs: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, clk, rec := setup(t, gateway.Config{Model: gateway.BasicStation, EnforceDC: true})
			first := t0.Add(10 * time.Second)
			req := gateway.TxRequest{Frequency: freqP, DR: 5, PowerDBm: 27, PHYPayload: make([]byte, 255), Timing: gateway.AtTime, At: first}
			if st := g.Schedule(req); st != gw.TxAckStatus_OK {
				t.Fatalf("first frame: %v", st)
			}
			clk.RunUntil(first.Add(tt.at))
			req.Timing, req.At = gateway.Immediately, time.Time{}
			if st := g.Schedule(req); st != tt.want {
				t.Errorf("status %v, want %v", st, tt.want)
			}
			clk.RunFor(time.Minute)
			st := g.Stats()
			if st.Backoffs != tt.backoffs {
				t.Errorf("%d push-backs, want %d", st.Backoffs, tt.backoffs)
			}
			if tt.want != gw.TxAckStatus_OK {
				if len(rec.frames) != 1 || st.Unacked != 1 {
					t.Errorf("%d frames on air, %d unacked; want 1, 1", len(rec.frames), st.Unacked)
				}
				return
			}
			if len(rec.frames) != 2 || !rec.frames[1].Start.Equal(first.Add(tt.start)) {
				t.Errorf("frames %v, want the second at %v", rec.frames, first.Add(tt.start))
			}
		})
	}
	// With Concentratord's sliding window the same frame goes at once.
	g, clk, _ := setup(t, gateway.Config{Model: gateway.Concentratord, EnforceDC: true})
	req := gateway.TxRequest{Frequency: freqP, DR: 5, PowerDBm: 27, PHYPayload: make([]byte, 255), Timing: gateway.AtTime, At: t0.Add(10 * time.Second)}
	g.Schedule(req)
	clk.RunFor(11 * time.Second)
	req.Timing = gateway.Immediately
	if st := g.Schedule(req); st != gw.TxAckStatus_OK {
		t.Errorf("Concentratord: %v", st)
	}
}

func TestSubBandNames(t *testing.T) {
	tests := []struct {
		model dutycycle.Model
		freq  uint32
		power int
		want  string
	}{
		{gateway.Concentratord, freqP, 27, "P"},
		{gateway.Concentratord, freqM, 14, "M"},
		{gateway.Concentratord, 865_100_000, 14, "L"},
		{gateway.Concentratord, 869_800_000, 14, "R"},
		{gateway.Concentratord, 869_800_000, 9, "R-5mW"},
		{gateway.BasicStation, freqP, 27, "DECI"},
		{gateway.BasicStation, freqM, 14, "CENTI"},
		{gateway.BasicStation, 869_800_000, 14, "CENTI"},
		{gateway.BasicStation, 865_100_000, 14, "MILLI"}, // lorabasics/basicstation#189
	}
	for _, tt := range tests {
		g, _, _ := setup(t, gateway.Config{Model: tt.model})
		if got, err := g.SubBand(tt.freq, tt.power); err != nil || got != tt.want {
			t.Errorf("%v %d Hz %d dBm: %q, %v; want %q", tt.model, tt.freq, tt.power, got, err, tt.want)
		}
	}
	g, _, _ := setup(t, gateway.Config{})
	for band, want := range map[string]time.Duration{"P": 360 * time.Second, "M": 36 * time.Second, "K": 3600 * time.Millisecond, "DECI": 0} {
		if got := g.Headroom(band, t0); got != want {
			t.Errorf("headroom of unused %s = %v, want %v", band, got, want)
		}
	}
}

func TestConfig(t *testing.T) {
	clk := clock.NewVirtual(t0)
	for name, cfg := range map[string]gateway.Config{
		"unknown region":   {Region: "EU999"},
		"unknown model":    {Region: region.EU868, Model: 9},
		"negative lead":    {Region: region.EU868, MinLead: -1},
		"negative queue":   {Region: region.EU868, QueueCapacity: -1},
		"negative backoff": {Region: region.EU868, ClassCBackoff: -time.Second},
	} {
		if _, err := gateway.New(cfg, clk, nil); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	g, err := gateway.New(gateway.Config{ID: gwID, Region: region.EU868, Model: gateway.BasicStation}, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := g.Config()
	if c.MaxAdvance != 600*time.Second || c.QueueCapacity != 32 || c.ClassCBackoffMax != 10 || c.Window != time.Hour {
		t.Errorf("defaults %+v", c)
	}
	// Without a medium frames go nowhere, but are counted.
	if st := g.Schedule(gateway.TxRequest{Frequency: freqP, DR: 5, PowerDBm: 27, PHYPayload: make([]byte, 20),
		Timing: gateway.AtTime, At: t0.Add(time.Second)}); st != gw.TxAckStatus_OK {
		t.Fatal(st)
	}
	clk.RunFor(time.Minute)
	if st := g.Stats(); st.Sent != 1 {
		t.Errorf("stats %+v", st)
	}
}
