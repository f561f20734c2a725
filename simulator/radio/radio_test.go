package radio_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/radio"
	"github.com/lorafuota/lorafuota/simulator/rng"
)

// t0 is the virtual start time.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func eui(b ...byte) lorawan.EUI64 {
	var e lorawan.EUI64
	copy(e[8-len(b):], b)
	return e
}

var (
	gw1, gw2, gw3 = eui(0xa1), eui(0xa2), eui(0xa3)
	dev1, dev2    = eui(1), eui(2)
)

func newMedium(t *testing.T, seed uint64) (*radio.Medium, *clock.Virtual) {
	t.Helper()
	clk := clock.NewVirtual(t0)
	m, err := radio.New(radio.Config{Region: region.EU868, Source: rng.New(seed)}, clk)
	if err != nil {
		t.Fatal(err)
	}
	return m, clk
}

func pos(x, y float64) *radio.Position { return &radio.Position{X: x, Y: y} }

// uplinks collects what the network server side is handed.
type uplinks struct {
	frames []radio.Frame
	rx     [][]radio.RxInfo
}

func (u *uplinks) HandleUplink(f radio.Frame, rx []radio.RxInfo) {
	u.frames = append(u.frames, f)
	u.rx = append(u.rx, rx)
}

// heardBy reports, per uplink sent, whether gateway id heard it.
func (u *uplinks) heardBy(id lorawan.EUI64, sent []time.Time) []bool {
	index := make(map[time.Time]int, len(sent))
	for i, t := range sent {
		index[t] = i
	}
	out := make([]bool, len(sent))
	for i, f := range u.frames {
		j, ok := index[f.Start]
		if !ok {
			continue
		}
		for _, r := range u.rx[i] {
			if r.GatewayID == id {
				out[j] = true
			}
		}
	}
	return out
}

// sendUplinks sends n uplinks from dev one after another (SF7, 20 bytes)
// and returns their start times.
func sendUplinks(t *testing.T, m *radio.Medium, clk *clock.Virtual, dev lorawan.EUI64, n int) []time.Time {
	t.Helper()
	starts := make([]time.Time, n)
	for i := range n {
		starts[i] = clk.Now()
		if err := m.Uplink(dev, radio.Frame{Frequency: 868_100_000, DR: 5, PowerDBm: 14, PHYPayload: make([]byte, 20)}); err != nil {
			t.Fatal(err)
		}
		clk.RunFor(time.Second)
	}
	return starts
}

// lossPattern runs n uplinks over one link with the loss model and returns
// which were lost.
func lossPattern(t *testing.T, seed uint64, loss radio.Loss, n int) []bool {
	t.Helper()
	m, clk := newMedium(t, seed)
	if _, err := m.AddGateway(gw1, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.AddDevice(dev1, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.SetLink(dev1, gw1, radio.Link{Loss: loss, PathLossDB: 100}); err != nil {
		t.Fatal(err)
	}
	var u uplinks
	m.SetUplinkHandler(&u)
	heard := u.heardBy(gw1, sendUplinks(t, m, clk, dev1, n))
	lost := make([]bool, n)
	for i, h := range heard {
		lost[i] = !h
	}
	return lost
}

func rate(lost []bool) float64 {
	n := 0
	for _, l := range lost {
		if l {
			n++
		}
	}
	return float64(n) / float64(len(lost))
}

// meanBurst returns the mean length of runs of consecutive losses.
func meanBurst(lost []bool) float64 {
	runs, total, in := 0, 0, false
	for _, l := range lost {
		if l {
			total++
			if !in {
				runs++
			}
		}
		in = l
	}
	if runs == 0 {
		return 0
	}
	return float64(total) / float64(runs)
}

func TestLossModels(t *testing.T) {
	const n = 20000
	tests := []struct {
		name      string
		loss      radio.Loss
		rate, tol float64 // expected loss rate and tolerance
		burst     float64 // expected mean loss-burst length
		burstTol  float64
	}{
		// σ of the rate over 20000 frames: 0.0021 (Bernoulli).
		{name: "none", loss: nil, rate: 0, tol: 0, burst: 0, burstTol: 0},
		{name: "Bernoulli 0.1", loss: radio.Bernoulli{P: 0.1}, rate: 0.1, tol: 0.01, burst: 1 / 0.9, burstTol: 0.05},
		{name: "Bernoulli 0.5", loss: radio.Bernoulli{P: 0.5}, rate: 0.5, tol: 0.015, burst: 2, burstTol: 0.1},
		{name: "Bernoulli 1", loss: radio.Bernoulli{P: 1}, rate: 1, tol: 0, burst: n, burstTol: 0},
		// Stationary bad share 0.05/0.30 = 1/6; bad runs last 1/0.25 = 4
		// frames on average.
		{
			name: "Gilbert-Elliott", loss: radio.GilbertElliott{PGoodToBad: 0.05, PBadToGood: 0.25, LossGood: 0, LossBad: 1},
			rate: 1.0 / 6, tol: 0.025, burst: 4, burstTol: 0.4,
		},
		{
			name: "Gilbert-Elliott long bursts", loss: radio.GilbertElliott{PGoodToBad: 0.01, PBadToGood: 0.1, LossGood: 0, LossBad: 1},
			rate: 1.0 / 11, tol: 0.03, burst: 10, burstTol: 1.5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lost := lossPattern(t, 7, tt.loss, n)
			if got := rate(lost); math.Abs(got-tt.rate) > tt.tol {
				t.Errorf("loss rate %.4f, want %.4f ± %.4f", got, tt.rate, tt.tol)
			}
			if got := meanBurst(lost); math.Abs(got-tt.burst) > tt.burstTol {
				t.Errorf("mean loss burst %.3f frames, want %.3f ± %.3f", got, tt.burst, tt.burstTol)
			}
		})
	}
}

func TestLossDeterminism(t *testing.T) {
	ge := radio.GilbertElliott{PGoodToBad: 0.1, PBadToGood: 0.3, LossGood: 0.02, LossBad: 0.9}
	a := lossPattern(t, 42, ge, 2000)
	if b := lossPattern(t, 42, ge, 2000); !slices.Equal(a, b) {
		t.Error("same seed gave a different loss pattern")
	}
	if c := lossPattern(t, 43, ge, 2000); slices.Equal(a, c) {
		t.Error("another seed gave the same loss pattern")
	}

	// Another device and its link draw from their own stream: the first
	// link's pattern does not change when it joins.
	m, clk := newMedium(t, 42)
	if _, err := m.AddGateway(gw1, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []lorawan.EUI64{dev1, dev2} {
		if err := m.AddDevice(d, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := m.SetLink(d, gw1, radio.Link{Loss: ge, PathLossDB: 100}); err != nil {
			t.Fatal(err)
		}
	}
	var u uplinks
	m.SetUplinkHandler(&u)
	var sent []time.Time
	for range 2000 {
		sent = append(sent, clk.Now())
		for _, d := range []lorawan.EUI64{dev2, dev1} {
			if err := m.Uplink(d, radio.Frame{Frequency: 868_100_000, DR: 5, PowerDBm: 14, PHYPayload: make([]byte, 20)}); err != nil {
				t.Fatal(err)
			}
		}
		clk.RunFor(time.Second)
	}
	got := slices.Repeat([]bool{true}, len(sent)) // lost unless heard
	for _, f := range u.frames {
		if f.Device == dev1 {
			got[slices.IndexFunc(sent, f.Start.Equal)] = false
		}
	}
	if !slices.Equal(a, got) {
		t.Error("adding a second device changed the first link's losses")
	}
}

func TestLinkModelConstants(t *testing.T) {
	const f = 868_100_000
	hata := radio.HataUrban()
	if got := hata.DB(1000, f); got != 126.0 {
		t.Errorf("Hata at 1 km = %v dB, want 126.0", got)
	}
	if got := hata.DB(10_000, f); math.Abs(got-161.2) > 1e-9 {
		t.Errorf("Hata at 10 km = %v dB, want 161.2", got)
	}
	// Free space wins close in.
	if got, fs := hata.DB(1, f), radio.FreeSpaceDB(1, f); got != fs || math.Abs(fs-31.22) > 0.01 {
		t.Errorf("loss at 1 m = %v dB, free space %v, want free space ≈ 31.22", got, fs)
	}
	if got := radio.NoiseFloorDBm(125_000, radio.DefaultNoiseFigureDB); math.Abs(got-(-117.03)) > 0.01 {
		t.Errorf("noise floor at 125 kHz = %v dBm, want −117.03", got)
	}
	for sf, want := range map[int]float64{7: -7.5, 8: -10, 9: -12.5, 10: -15, 11: -17.5, 12: -20} {
		if got := radio.DemodFloorDB(sf); got != want {
			t.Errorf("demodulation floor SF%d = %v dB, want %v", sf, got, want)
		}
	}
	prev := 0.0
	for d := 1.0; d < 50_000; d *= 1.5 {
		pl := hata.DB(d, f)
		if pl <= prev {
			t.Errorf("path loss %v dB at %v m not above %v dB nearer", pl, d, prev)
		}
		prev = pl
	}
}

func TestLinkBudgetMonotone(t *testing.T) {
	const frames = 4000
	m, clk := newMedium(t, 3)
	if _, err := m.AddGateway(gw1, pos(0, 0)); err != nil {
		t.Fatal(err)
	}
	// Mean SF7 margins of a 14 dBm uplink: +23.1, +3.6, −0.2, −4.3, −14.9 dB.
	dists := []float64{500, 1800, 2300, 3000, 6000}
	devs := make([]lorawan.EUI64, len(dists))
	for i, d := range dists {
		devs[i] = eui(0x10 + byte(i))
		if err := m.AddDevice(devs[i], pos(d, 0), nil); err != nil {
			t.Fatal(err)
		}
	}
	var u uplinks
	m.SetUplinkHandler(&u)
	for range frames {
		for _, d := range devs {
			if err := m.Uplink(d, radio.Frame{Frequency: 868_100_000, DR: 5, PowerDBm: 14, PHYPayload: make([]byte, 20)}); err != nil {
				t.Fatal(err)
			}
		}
		clk.RunFor(time.Second)
	}
	prevMargin, prevRate := math.Inf(1), -1.0
	for i, d := range devs {
		b, err := m.Budget(d, gw1, 868_100_000, 5, 14)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := m.LinkStats(d, gw1)
		got := float64(st.UplinksLost) / frames
		want := radio.LossProbability(b.MarginDB, radio.DefaultSigmaDB)
		t.Logf("%5.0f m: margin %+5.1f dB, loss %.3f (model %.3f)", dists[i], b.MarginDB, got, want)
		if b.MarginDB >= prevMargin {
			t.Errorf("%v m: margin %v dB not below %v dB nearer", dists[i], b.MarginDB, prevMargin)
		}
		if got < prevRate {
			t.Errorf("%v m: loss rate %v below %v nearer", dists[i], got, prevRate)
		}
		if math.Abs(got-want) > 0.03 {
			t.Errorf("%v m: loss rate %v, model %v", dists[i], got, want)
		}
		prevMargin, prevRate = b.MarginDB, got
	}
}

func TestUplinkRxInfo(t *testing.T) {
	m, clk := newMedium(t, 1)
	for _, g := range []struct {
		id  lorawan.EUI64
		pos *radio.Position
	}{{gw1, pos(0, 0)}, {gw2, pos(3000, 4000)}, {gw3, nil}} {
		if _, err := m.AddGateway(g.id, g.pos); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddDevice(dev1, pos(600, 800), nil); err != nil { // 1 km from gw1, 4 km from gw2
		t.Fatal(err)
	}
	// Hard thresholds, so that the figures are the means.
	for _, g := range []lorawan.EUI64{gw1, gw2} {
		if err := m.SetLink(dev1, g, radio.Link{Loss: radio.LinkBudget{}}); err != nil {
			t.Fatal(err)
		}
	}
	var u uplinks
	m.SetUplinkHandler(&u)
	phy := []byte{0x40, 1, 2, 3, 4, 0, 1, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd}
	start := clk.Now()
	if err := m.Uplink(dev1, radio.Frame{Frequency: 868_300_000, DR: 0, PowerDBm: 14, PHYPayload: phy}); err != nil {
		t.Fatal(err)
	}
	phy[0] = 0 // the medium keeps its own copy
	clk.RunFor(5 * time.Second)

	if len(u.frames) != 1 {
		t.Fatalf("%d uplinks handed over, want 1", len(u.frames))
	}
	reg, _ := region.Get(region.EU868)
	toa, _ := reg.UplinkToA(0, len(phy))
	f := u.frames[0]
	if f.Device != dev1 || !f.Start.Equal(start) || f.Airtime != toa || f.PHYPayload[0] != 0x40 {
		t.Errorf("frame = %+v, want from %s at %v for %v", f, dev1, start, toa)
	}
	end := start.Add(toa)
	// GPS time computed independently: Unix − 315964800 s + 18 leap seconds.
	gps := time.Duration(end.Unix()-315964800+18)*time.Second + time.Duration(end.Nanosecond())
	// SF12 at 1 km: 14 − 126.0 = −112.0 dBm, SNR −112.0 + 117.03 = 5.03 dB.
	// At 4 km: 14 − (126.0 + 35.2·log10 4) = −133.19 dBm, SNR −16.16 dB
	// (margin 3.84 dB); gw3 has no position and no link.
	want := []radio.RxInfo{
		{GatewayID: gw1, Frequency: 868_300_000, DR: 0, RSSI: -112.0, SNR: 5.03, Time: end, TimeSinceGPSEpoch: gps},
		{GatewayID: gw2, Frequency: 868_300_000, DR: 0, RSSI: -133.19, SNR: -16.16, Time: end, TimeSinceGPSEpoch: gps},
	}
	got := u.rx[0]
	if len(got) != len(want) {
		t.Fatalf("rx info = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if math.Abs(g.RSSI-w.RSSI) > 0.01 || math.Abs(g.SNR-w.SNR) > 0.01 {
			t.Errorf("rx[%d] RSSI %.2f SNR %.2f, want %.2f, %.2f", i, g.RSSI, g.SNR, w.RSSI, w.SNR)
		}
		g.RSSI, g.SNR, w.RSSI, w.SNR = 0, 0, 0, 0
		if g != w {
			t.Errorf("rx[%d] = %+v, want %+v", i, g, w)
		}
	}
	p := got[0].Proto()
	if p.GatewayId != gw1.String() || p.Rssi != -112 || math.Abs(float64(p.Snr)-5.03) > 0.01 ||
		p.TimeSinceGpsEpoch.AsDuration() != gps || !p.GwTime.AsTime().Equal(end) {
		t.Errorf("Proto() = %v", p)
	}
}

func TestHalfDuplex(t *testing.T) {
	reg, _ := region.Get(region.EU868)
	upToA, _ := reg.UplinkToA(5, 20) // 61.696 ms
	tests := []struct {
		name   string
		txAt   time.Duration // gw1's transmission start, from the uplink's start
		txLen  time.Duration
		missed bool
	}{
		{name: "transmitting throughout", txAt: -time.Second, txLen: 2 * time.Second, missed: true},
		{name: "starts during the uplink", txAt: 30 * time.Millisecond, txLen: time.Second, missed: true},
		{name: "ends during the uplink", txAt: -time.Second, txLen: time.Second + time.Millisecond, missed: true},
		{name: "ends as the uplink starts", txAt: -time.Second, txLen: time.Second},
		{name: "starts as the uplink ends", txAt: upToA, txLen: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := newMedium(t, 1)
			port, err := m.AddGateway(gw1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.AddGateway(gw2, nil); err != nil {
				t.Fatal(err)
			}
			if err := m.AddDevice(dev1, nil, nil); err != nil {
				t.Fatal(err)
			}
			for _, g := range []lorawan.EUI64{gw1, gw2} {
				if err := m.SetLink(dev1, g, radio.Link{PathLossDB: 110}); err != nil {
					t.Fatal(err)
				}
			}
			var u uplinks
			m.SetUplinkHandler(&u)
			upAt := t0.Add(10 * time.Second)
			clk.AfterFunc(upAt.Add(tt.txAt).Sub(t0), func() {
				if err := port.Transmit(radio.Frame{Frequency: 869_525_000, DR: 0, PowerDBm: 27, Airtime: tt.txLen}); err != nil {
					t.Error(err)
				}
			})
			clk.AfterFunc(upAt.Sub(t0), func() {
				if err := m.Uplink(dev1, radio.Frame{Frequency: 868_100_000, DR: 5, PowerDBm: 14, PHYPayload: make([]byte, 20)}); err != nil {
					t.Error(err)
				}
			})
			clk.RunFor(time.Minute)
			if len(u.rx) != 1 {
				t.Fatalf("%d uplinks handed over, want 1", len(u.rx))
			}
			var ids []lorawan.EUI64
			for _, r := range u.rx[0] {
				ids = append(ids, r.GatewayID)
			}
			want := []lorawan.EUI64{gw1, gw2}
			if tt.missed {
				want = want[1:]
			}
			if !slices.Equal(ids, want) {
				t.Errorf("heard by %v, want %v", ids, want)
			}
			st, _ := m.GatewayStats(gw1)
			if got := st.HalfDuplexDrops == 1; got != tt.missed {
				t.Errorf("gw1 half-duplex drops = %d", st.HalfDuplexDrops)
			}
		})
	}
}

// listener is a device receiver open on one frequency and DR.
type listener struct {
	freq uint32
	dr   int
	from time.Time // deaf before
	got  []radio.Frame
	sig  []radio.Signal
	at   []time.Time
	clk  clock.Clock
}

func (l *listener) Listening(freq uint32, dr int, at time.Time) bool {
	return freq == l.freq && dr == l.dr && !at.Before(l.from)
}

func (l *listener) Receive(f radio.Frame, s radio.Signal) {
	l.got = append(l.got, f)
	l.sig = append(l.sig, s)
	l.at = append(l.at, l.clk.Now())
}

func TestDownlinkDelivery(t *testing.T) {
	m, clk := newMedium(t, 1)
	port, err := m.AddGateway(gw1, pos(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	near := &listener{freq: 869_525_000, dr: 0, clk: clk}
	other := &listener{freq: 868_100_000, dr: 0, clk: clk} // another channel
	late := &listener{freq: 869_525_000, dr: 0, from: t0.Add(30 * time.Second), clk: clk}
	lossy := &listener{freq: 869_525_000, dr: 0, clk: clk}
	devs := []struct {
		id  lorawan.EUI64
		pos *radio.Position
		rx  radio.Receiver
	}{
		{eui(1), pos(1000, 0), near},
		{eui(2), pos(1000, 0), other},
		{eui(3), pos(1000, 0), late},
		{eui(4), nil, lossy},
		{eui(5), nil, &listener{freq: 869_525_000, dr: 0, clk: clk}}, // no link
	}
	for _, d := range devs {
		if err := m.AddDevice(d.id, d.pos, d.rx); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.SetLink(eui(4), gw1, radio.Link{Loss: radio.Bernoulli{P: 1}, PathLossDB: 100}); err != nil {
		t.Fatal(err)
	}
	const airtime = 2793472 * time.Microsecond
	var starts []time.Time
	for i := range 3 {
		at := time.Duration(i) * time.Minute
		clk.AfterFunc(at, func() {
			starts = append(starts, clk.Now())
			if err := port.Transmit(radio.Frame{Frequency: 869_525_000, DR: 0, PowerDBm: 27, Airtime: airtime, PHYPayload: []byte{byte(i)}}); err != nil {
				t.Error(err)
			}
		})
	}
	clk.RunFor(5 * time.Minute)

	if len(near.got) != 3 {
		t.Fatalf("near device got %d frames, want 3", len(near.got))
	}
	for i, f := range near.got {
		if f.Gateway != gw1 || !f.Start.Equal(starts[i]) || f.Airtime != airtime || f.PHYPayload[0] != byte(i) {
			t.Errorf("frame %d = %+v", i, f)
		}
		if !near.at[i].Equal(f.End()) {
			t.Errorf("frame %d received at %v, want its end %v", i, near.at[i], f.End())
		}
		// 27 dBm over 126.0 dB: −99.0 dBm mean, faded by σ = 4 dB.
		if s := near.sig[i]; math.Abs(s.RSSI-(-99)) > 20 || math.Abs(s.SNR-s.RSSI-117.03) > 0.01 {
			t.Errorf("frame %d signal %+v", i, s)
		}
	}
	if len(other.got) != 0 {
		t.Errorf("device on another channel got %d frames", len(other.got))
	}
	if len(late.got) != 2 {
		t.Errorf("device listening from 30 s got %d frames, want 2", len(late.got))
	}
	if len(lossy.got) != 0 {
		t.Errorf("device behind a lossy link got %d frames", len(lossy.got))
	}
	st := m.Stats()
	want := radio.Stats{Downlinks: 3, Deliveries: 5, DownlinksLost: 3}
	if st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
}

func TestErrors(t *testing.T) {
	clk := clock.NewVirtual(t0)
	if _, err := radio.New(radio.Config{Region: region.EU868}, clk); err == nil {
		t.Error("New without a Source succeeded")
	}
	if _, err := radio.New(radio.Config{Region: "EU999", Source: rng.New(1)}, clk); err == nil {
		t.Error("New with an unknown region succeeded")
	}
	m, _ := newMedium(t, 1)
	if _, err := m.AddGateway(gw1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddGateway(gw1, nil); err == nil {
		t.Error("gateway added twice")
	}
	if err := m.AddDevice(dev1, nil, nil); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]radio.Link{
		"no path loss":     {Loss: radio.Bernoulli{P: 0.1}},
		"bad probability":  {Loss: radio.Bernoulli{P: 1.5}, PathLossDB: 100},
		"bad GE":           {Loss: radio.GilbertElliott{PGoodToBad: -1}, PathLossDB: 100},
		"negative sigma":   {Loss: radio.LinkBudget{SigmaDB: -1}, PathLossDB: 100},
		"negative loss dB": {PathLossDB: -3},
	} {
		if err := m.SetLink(dev1, gw1, l); err == nil {
			t.Errorf("SetLink %s succeeded", name)
		}
	}
	if err := m.Uplink(dev2, radio.Frame{DR: 5, PHYPayload: make([]byte, 10)}); err == nil {
		t.Error("uplink from an unknown device succeeded")
	}
	if err := m.Uplink(dev1, radio.Frame{DR: 7, PHYPayload: make([]byte, 10)}); err == nil {
		t.Error("uplink at FSK DR7 succeeded")
	}
	if _, err := m.Budget(dev1, gw1, 868_100_000, 5, 14); err == nil {
		t.Error("budget of a pair without positions or link succeeded")
	}
}
