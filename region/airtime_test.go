package region

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

const us = time.Microsecond

// roundMs rounds d to the given number of decimals of a millisecond, the way
// RADIO.md prints its figures.
func roundMs(d time.Duration, decimals int) float64 {
	scale := math.Pow(10, float64(decimals))
	return math.Round(float64(d)/float64(time.Millisecond)*scale) / scale
}

func mustGet(t testing.TB, n Name) *Region {
	t.Helper()
	r, err := Get(n)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// lorawanDL is a LoRaWAN downlink frame of pl bytes: CR 4/5, preamble 8, explicit
// header, no CRC, automatic LDRO.
func lorawanDL(pl, sf, bw int) LoRaParams {
	return LoRaParams{PayloadLen: pl, SF: sf, BandwidthHz: bw, CodingRate: 1, Preamble: 8}
}

func withCRC(p LoRaParams) LoRaParams { p.CRC = true; return p }

// TestTimeOnAirWorkedExamples covers the worked examples of RADIO.md §1.1.
func TestTimeOnAirWorkedExamples(t *testing.T) {
	tests := []struct {
		name    string
		p       LoRaParams
		symbols int
		want    time.Duration
	}{
		{"EU868 DR5 F=239 PL=255", lorawanDL(255, 7, 125000), 373, 394496 * us},
		{"EU868 DR5 PL=255 with CRC", withCRC(lorawanDL(255, 7, 125000)), 378, 399616 * us},
		{"EU868 DR0 F=48 PL=64 (LDRO auto on)", lorawanDL(64, 12, 125000), 73, 2793472 * us},
		{"brocaar vector 13 B SF12 CRC no LDRO", LoRaParams{
			PayloadLen: 13, SF: 12, BandwidthHz: 125000, CodingRate: 1, Preamble: 8, CRC: true, LDRO: LDROOff,
		}, 23, 1155072 * us},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TimeOnAir(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("TimeOnAir = %v, want %v", got, tt.want)
			}
			n, err := PayloadSymbols(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.symbols {
				t.Errorf("PayloadSymbols = %d, want %d", n, tt.symbols)
			}
		})
	}
}

// TestEU868FragmentToA checks every column of RADIO.md §2.1 and the
// repeater-compatible line under it.
func TestEU868FragmentToA(t *testing.T) {
	r := mustGet(t, EU868)
	tests := []struct {
		dr, sf, n, f, phy int
		tsym              time.Duration
		ldro              bool
		symbols, symCRC   int
		noCRC, crc        time.Duration
	}{
		{0, 12, 51, 48, 64, 32768 * us, true, 73, 73, 2793472 * us, 2793472 * us},
		{1, 11, 51, 48, 64, 16384 * us, true, 78, 83, 1478656 * us, 1560576 * us},
		{2, 10, 51, 48, 64, 8192 * us, false, 73, 73, 698368 * us, 698368 * us},
		{3, 9, 115, 112, 128, 4096 * us, false, 153, 153, 676864 * us, 676864 * us},
		{4, 8, 242, 239, 255, 2048 * us, false, 328, 333, 696832 * us, 707072 * us},
		{5, 7, 242, 239, 255, 1024 * us, false, 373, 378, 394496 * us, 399616 * us},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("DR%d", tt.dr), func(t *testing.T) {
			d, err := r.DataRate(tt.dr)
			if err != nil {
				t.Fatal(err)
			}
			if d.SF != tt.sf || d.BandwidthHz != 125000 {
				t.Errorf("DR%d = %v, want SF%d/125", tt.dr, d, tt.sf)
			}
			mp, err := r.MaxPayload(tt.dr, Downlink, PayloadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if mp.N != tt.n {
				t.Errorf("N = %d, want %d", mp.N, tt.n)
			}
			f, err := r.MaxFragmentSize(tt.dr, PayloadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if f != tt.f {
				t.Errorf("MaxFragmentSize = %d, want %d", f, tt.f)
			}
			if got := DataFragmentPHYLen(f); got != tt.phy {
				t.Errorf("DataFragmentPHYLen(%d) = %d, want %d", f, got, tt.phy)
			}
			if got, _ := SymbolDuration(tt.sf, 125000); got != tt.tsym {
				t.Errorf("SymbolDuration = %v, want %v", got, tt.tsym)
			}
			p, err := r.LoRaParams(tt.dr, Downlink, tt.phy)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := p.LowDataRateOptimize(); got != tt.ldro {
				t.Errorf("LDRO = %v, want %v", got, tt.ldro)
			}
			if got, _ := PayloadSymbols(p); got != tt.symbols {
				t.Errorf("payload symbols = %d, want %d", got, tt.symbols)
			}
			if got, _ := PayloadSymbols(withCRC(p)); got != tt.symCRC {
				t.Errorf("payload symbols with CRC = %d, want %d", got, tt.symCRC)
			}
			if got, err := r.DownlinkToA(tt.dr, tt.phy); err != nil || got != tt.noCRC {
				t.Errorf("DownlinkToA = %v, %v; want %v", got, err, tt.noCRC)
			}
			// An uplink of the same length is the CRC-on figure.
			if got, err := r.UplinkToA(tt.dr, tt.phy); err != nil || got != tt.crc {
				t.Errorf("UplinkToA = %v, %v; want %v", got, err, tt.crc)
			}
		})
	}

	repeater := []struct {
		dr   int
		want time.Duration
	}{{4, 645632 * us}, {5, 368896 * us}}
	for _, tt := range repeater {
		t.Run(fmt.Sprintf("DR%d repeater-compatible", tt.dr), func(t *testing.T) {
			f, err := r.MaxFragmentSize(tt.dr, PayloadOptions{RepeaterCompatible: true})
			if err != nil {
				t.Fatal(err)
			}
			if f != 219 || DataFragmentPHYLen(f) != 235 {
				t.Fatalf("F = %d (PHY %d), want 219 (235)", f, DataFragmentPHYLen(f))
			}
			if got, err := r.DownlinkToA(tt.dr, 235); err != nil || got != tt.want {
				t.Errorf("DownlinkToA = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestEU868Budget checks the band-P budget table of RADIO.md §2.1 and the
// spacings of §0.4, which follow from the ToA and the 10 % duty cycle.
func TestEU868Budget(t *testing.T) {
	r := mustGet(t, EU868)
	sb, err := r.SubBand(r.RX2().FrequencyHz)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Name != "P" || sb.DutyCycle != DutyCycle10pct {
		t.Fatalf("RX2 sub-band = %v, want P at 10 %%", sb)
	}
	budget := sb.DutyCycle.Budget(time.Hour)
	if budget != 360*time.Second {
		t.Fatalf("band P budget = %v, want 360s", budget)
	}
	tests := []struct {
		dr          int
		msPerByte   float64 // 2 decimals
		spacing     float64 // s, 3 decimals
		spacing0_4  float64 // s, 2 decimals (§0.4)
		fragsPerH   float64 // 1 decimal
		bytesPerH   float64 // whole bytes
		kibPerHour  float64 // 1 decimal
		occupancy5s float64 // % at ChirpStack's 5 s margin, 1 decimal (§5.2)
	}{
		{0, 58.20, 27.935, 27.94, 128.9, 6186, 6.0, 55.9},
		{1, 30.81, 14.787, 14.79, 243.5, 11686, 11.4, 29.6},
		{2, 14.55, 6.984, 6.98, 515.5, 24743, 24.2, 14.0},
		{3, 6.04, 6.769, 6.77, 531.9, 59569, 58.2, 13.5},
		{4, 2.92, 6.968, 6.97, 516.6, 123473, 120.6, 13.9},
		{5, 1.65, 3.945, 3.95, 912.6, 218101, 213.0, 7.9},
	}
	round := func(x float64, decimals int) float64 {
		s := math.Pow(10, float64(decimals))
		return math.Round(x*s) / s
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("DR%d", tt.dr), func(t *testing.T) {
			f, _ := r.MaxFragmentSize(tt.dr, PayloadOptions{})
			toa, err := r.DownlinkToA(tt.dr, DataFragmentPHYLen(f))
			if err != nil {
				t.Fatal(err)
			}
			ms := float64(toa) / float64(time.Millisecond)
			if got := round(ms/float64(f), 2); got != tt.msPerByte {
				t.Errorf("ms per byte = %v, want %v", got, tt.msPerByte)
			}
			sp := sb.DutyCycle.MinSpacing(toa)
			if got := round(sp.Seconds(), 3); got != tt.spacing {
				t.Errorf("MinSpacing = %v, want %v s", sp, tt.spacing)
			}
			// §0.4 rounds the 3-decimal figures once more: DR0 27.93472 s is printed
			// 27.94 (via 27.935) and DR5 3.94496 s as 3.95 (via 3.945).
			if got := round(round(sp.Seconds(), 3), 2); got != tt.spacing0_4 {
				t.Errorf("MinSpacing = %v, want %v s (§0.4)", sp, tt.spacing0_4)
			}
			frags := float64(budget) / float64(toa)
			if got := round(frags, 1); got != tt.fragsPerH {
				t.Errorf("fragments/h = %v, want %v", got, tt.fragsPerH)
			}
			if got := round(frags*float64(f), 0); got != tt.bytesPerH {
				t.Errorf("bytes/h = %v, want %v", got, tt.bytesPerH)
			}
			if got := round(frags*float64(f)/1024, 1); got != tt.kibPerHour {
				t.Errorf("KiB/h = %v, want %v", got, tt.kibPerHour)
			}
			if got := round(100*float64(toa)/float64(5*time.Second), 1); got != tt.occupancy5s {
				t.Errorf("occupancy at 5 s = %v %%, want %v %%", got, tt.occupancy5s)
			}
		})
	}

	// §2.1: airtime per byte falls with F (DR5): 222, 462 and 606 B/s.
	for _, c := range []struct {
		f    int
		bps  float64
		want time.Duration
	}{{16, 222, 71936 * us}, {64, 462, 138496 * us}, {239, 606, 394496 * us}} {
		toa, err := r.DownlinkToA(5, DataFragmentPHYLen(c.f))
		if err != nil {
			t.Fatal(err)
		}
		if toa != c.want || math.Round(float64(c.f)/toa.Seconds()) != c.bps {
			t.Errorf("DR5 F=%d: ToA %v (%.1f B/s), want %v (%v B/s)", c.f, toa, float64(c.f)/toa.Seconds(), c.want, c.bps)
		}
	}
}

// TestUS915DownlinkToA checks RADIO.md §2.2 and the 100 % occupancy line under it.
func TestUS915DownlinkToA(t *testing.T) {
	r := mustGet(t, US915)
	tests := []struct {
		dr, sf, n, f, phy int
		tsym              time.Duration
		symbols           int
		noCRC, crc        time.Duration
	}{
		{8, 12, 53, 50, 66, 8192 * us, 63, 616448 * us, 616448 * us},
		{9, 11, 129, 126, 142, 4096 * us, 138, 615424 * us, 615424 * us},
		{10, 10, 242, 239, 255, 2048 * us, 263, 563712 * us, 573952 * us},
		{11, 9, 242, 239, 255, 1024 * us, 293, 312576 * us, 312576 * us},
		{12, 8, 242, 239, 255, 512 * us, 328, 174208 * us, 176768 * us},
		{13, 7, 242, 239, 255, 256 * us, 373, 98624 * us, 99904 * us},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("DR%d", tt.dr), func(t *testing.T) {
			mp, err := r.MaxPayload(tt.dr, Downlink, PayloadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := r.MaxFragmentSize(tt.dr, PayloadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if mp.N != tt.n || f != tt.f || DataFragmentPHYLen(f) != tt.phy {
				t.Errorf("N/F/PHY = %d/%d/%d, want %d/%d/%d", mp.N, f, DataFragmentPHYLen(f), tt.n, tt.f, tt.phy)
			}
			if got, _ := SymbolDuration(tt.sf, 500000); got != tt.tsym {
				t.Errorf("SymbolDuration = %v, want %v", got, tt.tsym)
			}
			p, err := r.LoRaParams(tt.dr, Downlink, tt.phy)
			if err != nil {
				t.Fatal(err)
			}
			if ldro, _ := p.LowDataRateOptimize(); ldro {
				t.Error("LDRO on at 500 kHz")
			}
			if got, _ := PayloadSymbols(p); got != tt.symbols {
				t.Errorf("payload symbols = %d, want %d", got, tt.symbols)
			}
			if got, err := r.DownlinkToA(tt.dr, tt.phy); err != nil || got != tt.noCRC {
				t.Errorf("DownlinkToA = %v, %v; want %v", got, err, tt.noCRC)
			}
			if got, err := TimeOnAir(withCRC(p)); err != nil || got != tt.crc {
				t.Errorf("ToA with CRC = %v, %v; want %v", got, err, tt.crc)
			}
		})
	}

	// "At 100 % TX occupancy: DR8 = 5 840 frames/h (285 KiB/h); DR13 = 36 502
	// frames/h (8 520 KiB/h)."
	for _, c := range []struct {
		dr, f       int
		frames, kib float64
	}{{8, 50, 5840, 285}, {13, 239, 36502, 8520}} {
		toa, _ := r.DownlinkToA(c.dr, DataFragmentPHYLen(c.f))
		frames := float64(time.Hour) / float64(toa)
		if math.Round(frames) != c.frames || math.Round(frames*float64(c.f)/1024) != c.kib {
			t.Errorf("DR%d: %.1f frames/h, %.1f KiB/h; want %v, %v", c.dr, frames, frames*float64(c.f)/1024, c.frames, c.kib)
		}
	}
}

// TestDwellTimeToA checks the 400 ms checks of RADIO.md §3.2 (US915 uplink) and
// §3.3 (AS923 dwell-time rows). The largest frame is M + 5 bytes (MHDR, MIC).
// The figures are rounded to 0.1 ms; DR2–DR4 are the same with and without CRC,
// the AS923 DR5 row (394.5 ms) is the downlink (no CRC) value, and with CRC it is
// 399.6 ms, still under 400 ms.
func TestDwellTimeToA(t *testing.T) {
	const dwell = 400 * time.Millisecond
	t.Run("US915 uplink", func(t *testing.T) {
		r := mustGet(t, US915)
		for _, c := range []struct {
			dr, phy int
			want    time.Duration
			rounded float64
		}{
			{0, 24, 370688 * us, 370.7},
			{1, 66, 390144 * us, 390.1},
			{2, 138, 399872 * us, 399.9},
		} {
			mp, err := r.MaxPayload(c.dr, Uplink, PayloadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if mp.M+5 != c.phy {
				t.Errorf("DR%d: M+5 = %d, want %d", c.dr, mp.M+5, c.phy)
			}
			got, err := r.UplinkToA(c.dr, c.phy)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want || roundMs(got, 1) != c.rounded || got >= dwell {
				t.Errorf("DR%d %d B: %v, want %v (%.1f ms) < 400 ms", c.dr, c.phy, got, c.want, c.rounded)
			}
		}
		// The largest DR8 downlink exceeds 400 ms: no downlink dwell limit in US915.
		got, err := r.DownlinkToA(8, 66)
		if err != nil {
			t.Fatal(err)
		}
		if roundMs(got, 1) != 616.4 || got <= dwell {
			t.Errorf("DR8 66 B downlink = %v, want 616.4 ms", got)
		}
	})
	t.Run("AS923 dwell rows", func(t *testing.T) {
		r := mustGet(t, AS923_1)
		for _, c := range []struct {
			dr, phy       int
			down, up      time.Duration
			roundedRADIO  float64
			upRoundedNote float64
		}{
			{2, 24, 370688 * us, 370688 * us, 370.7, 370.7},
			{3, 66, 390144 * us, 390144 * us, 390.1, 390.1},
			{4, 138, 399872 * us, 399872 * us, 399.9, 399.9},
			{5, 255, 394496 * us, 399616 * us, 394.5, 399.6},
		} {
			mp, err := r.MaxPayload(c.dr, Downlink, PayloadOptions{DwellTime: true})
			if err != nil {
				t.Fatal(err)
			}
			if mp.M+5 != c.phy {
				t.Errorf("DR%d: M+5 = %d, want %d", c.dr, mp.M+5, c.phy)
			}
			down, err := r.DownlinkToA(c.dr, c.phy)
			if err != nil {
				t.Fatal(err)
			}
			up, err := r.UplinkToA(c.dr, c.phy)
			if err != nil {
				t.Fatal(err)
			}
			if down != c.down || roundMs(down, 1) != c.roundedRADIO || down >= dwell {
				t.Errorf("DR%d downlink = %v, want %v (%.1f ms)", c.dr, down, c.down, c.roundedRADIO)
			}
			if up != c.up || roundMs(up, 1) != c.upRoundedNote || up >= dwell {
				t.Errorf("DR%d uplink = %v, want %v (%.1f ms)", c.dr, up, c.up, c.upRoundedNote)
			}
		}
	})
}

// TestBeaconToA reproduces the Class B beacon of RADIO.md §4.1: 17 B, SF9,
// implicit header, 10-symbol preamble = 152.6 ms. Only the CRC-off variant gives
// that figure; Basic Station indeed sends beacons with addcrc = false (the beacon
// payload carries its own CRC-16 fields). With a PHY CRC it would be 173.1 ms.
func TestBeaconToA(t *testing.T) {
	beacon := LoRaParams{PayloadLen: 17, SF: 9, BandwidthHz: 125000, CodingRate: 1, Preamble: 10, ImplicitHeader: true}
	got, err := TimeOnAir(beacon)
	if err != nil {
		t.Fatal(err)
	}
	if got != 152576*us || roundMs(got, 1) != 152.6 {
		t.Errorf("beacon without CRC = %v, want 152.576ms", got)
	}
	withCRC, err := TimeOnAir(withCRC(beacon))
	if err != nil {
		t.Fatal(err)
	}
	if withCRC != 173056*us {
		t.Errorf("beacon with CRC = %v, want 173.056ms", withCRC)
	}
	// "every 128 s = 0.12 % airtime = 1.2 % of the band-P budget"
	share := float64(got) / float64(128*time.Second)
	if math.Round(share*1e4)/1e2 != 0.12 || math.Round(share/DutyCycle10pct.Fraction()*1e3)/10 != 1.2 {
		t.Errorf("beacon share = %.4f %%, %.2f %% of band P", 100*share, 100*share/0.1)
	}
}

// TestSetupFrameToA checks RADIO.md §6: McGroupSetupReq (PL 43),
// FragSessionSetupReq and McClassCSessionReq (PL 24 each), and the packed
// McGroupSetup + McClassCSession frame (41 B FRMPayload, PL 54).
// RADIO.md's three-frame totals add the rounded terms: the exact totals 5103.616,
// 699.392 and 200.448 ms round to 0.1 ms away from the printed 5103.7, 699.3 and
// 200.5 ms.
func TestSetupFrameToA(t *testing.T) {
	r := mustGet(t, EU868)
	if PHYLenForFRMPayload(30, 0) != 43 || PHYLenForFRMPayload(11, 0) != 24 || PHYLenForFRMPayload(41, 0) != 54 {
		t.Fatal("setup frame lengths")
	}
	for _, c := range []struct {
		dr                   int
		pl43, pl24, pl54     float64 // rounded to 0.1 ms as printed
		threeExact, packed   time.Duration
		threePrinted, packPr float64
	}{
		{0, 2138.1, 1482.8, 2465.8, 5103616 * us, 3948544 * us, 5103.7, 3948.5},
		{3, 287.7, 205.8, 328.7, 699392 * us, 534528 * us, 699.3, 534.5},
		{5, 87.3, 56.6, 102.7, 200448 * us, 159232 * us, 200.5, 159.2},
	} {
		t.Run(fmt.Sprintf("DR%d", c.dr), func(t *testing.T) {
			a, _ := r.DownlinkToA(c.dr, 43)
			b, _ := r.DownlinkToA(c.dr, 24)
			p, _ := r.DownlinkToA(c.dr, 54)
			if roundMs(a, 1) != c.pl43 || roundMs(b, 1) != c.pl24 || roundMs(p, 1) != c.pl54 {
				t.Errorf("PL43/24/54 = %v/%v/%v, want %v/%v/%v ms", a, b, p, c.pl43, c.pl24, c.pl54)
			}
			if got := a + 2*b; got != c.threeExact {
				t.Errorf("three frames = %v, want %v", got, c.threeExact)
			}
			if got := roundMs(a, 1) + 2*roundMs(b, 1); math.Abs(got-c.threePrinted) > 1e-9 {
				t.Errorf("sum of rounded terms = %v, want RADIO.md's %v", got, c.threePrinted)
			}
			if got := p + b; got != c.packed || roundMs(got, 1) != c.packPr {
				t.Errorf("packed = %v, want %v (%v ms)", got, c.packed, c.packPr)
			}
		})
	}
}

// TestArmDemoToA checks RADIO.md §10: SF9, PL 220 → 1.0865 s per frame, 491
// frames → 533.5 s → at least 1.48 h at 10 %. Only the CRC-off value matches.
func TestArmDemoToA(t *testing.T) {
	r := mustGet(t, EU868)
	toa, err := r.DownlinkToA(3, 220)
	if err != nil {
		t.Fatal(err)
	}
	if toa != 1086464*us {
		t.Fatalf("SF9 PL220 = %v, want 1.086464s", toa)
	}
	total := 491 * toa
	if math.Round(total.Seconds()*10)/10 != 533.5 {
		t.Errorf("491 frames = %v, want 533.5 s", total)
	}
	if h := DutyCycle10pct.MinSpacing(total).Hours(); math.Round(h*100)/100 != 1.48 {
		t.Errorf("at 10 %% = %.3f h, want 1.48 h", h)
	}
}

func TestLDROAuto(t *testing.T) {
	tests := []struct {
		sf, bw int
		want   bool
	}{
		{12, 125000, true},  // 32.768 ms
		{11, 125000, true},  // 16.384 ms
		{10, 125000, false}, // 8.192 ms
		{12, 250000, true},  // 16.384 ms
		{11, 250000, false},
		{12, 500000, false}, // 8.192 ms: US915 DR8 has no LDRO
	}
	for _, tt := range tests {
		p := lorawanDL(20, tt.sf, tt.bw)
		got, err := p.LowDataRateOptimize()
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("SF%d/%d: LDRO = %v, want %v", tt.sf, tt.bw, got, tt.want)
		}
		for _, forced := range []LDRO{LDROOn, LDROOff} {
			p.LDRO = forced
			if got, _ := p.LowDataRateOptimize(); got != (forced == LDROOn) {
				t.Errorf("SF%d/%d %v: LDRO = %v", tt.sf, tt.bw, forced, got)
			}
		}
	}
	// Forcing LDRO on where auto leaves it off costs symbols.
	p := lorawanDL(255, 7, 125000)
	p.LDRO = LDROOn
	if n, _ := PayloadSymbols(p); n != 8+ceilDiv(8*255-28+28, 4*5)*5 {
		t.Errorf("SF7 with LDRO: %d symbols", n)
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// TestTimeOnAirSF5SF6 checks the SX126x formula for SF5/SF6 on a hand-worked
// case: SF5/125 kHz, 10 B, CRC, explicit header: ceil((80+16−20+20)/20) = 5 →
// 8 + 25 = 33 payload symbols, + 8 + 6.25 preamble = 47.25 × 256 µs = 12.096 ms.
func TestTimeOnAirSF5SF6(t *testing.T) {
	p := LoRaParams{PayloadLen: 10, SF: 5, BandwidthHz: 125000, CodingRate: 1, Preamble: 8, CRC: true}
	if n, _ := PayloadSymbols(p); n != 33 {
		t.Errorf("payload symbols = %d, want 33", n)
	}
	if got, err := TimeOnAir(p); err != nil || got != 12096*us {
		t.Errorf("TimeOnAir = %v, %v; want 12.096ms", got, err)
	}
	// SF6, implicit header, empty payload: numerator 0−24 < 0 → 8 symbols.
	p = LoRaParams{SF: 6, BandwidthHz: 500000, CodingRate: 4, Preamble: 12, ImplicitHeader: true}
	if got, err := TimeOnAir(p); err != nil || got != time.Duration((12+6.25+8)*128*1000) {
		t.Errorf("SF6 empty = %v, %v", got, err)
	}
}

func TestTimeOnAirRejects(t *testing.T) {
	ok := lorawanDL(20, 7, 125000)
	tests := []struct {
		field  string
		modify func(*LoRaParams)
	}{
		{"PayloadLen", func(p *LoRaParams) { p.PayloadLen = -1 }},
		{"PayloadLen", func(p *LoRaParams) { p.PayloadLen = 256 }},
		{"SF", func(p *LoRaParams) { p.SF = 4 }},
		{"SF", func(p *LoRaParams) { p.SF = 13 }},
		{"BandwidthHz", func(p *LoRaParams) { p.BandwidthHz = 125 }},
		{"BandwidthHz", func(p *LoRaParams) { p.BandwidthHz = 62500 }},
		{"BandwidthHz", func(p *LoRaParams) { p.BandwidthHz = 0 }},
		{"CodingRate", func(p *LoRaParams) { p.CodingRate = 0 }},
		{"CodingRate", func(p *LoRaParams) { p.CodingRate = 5 }},
		{"Preamble", func(p *LoRaParams) { p.Preamble = 0 }},
		{"Preamble", func(p *LoRaParams) { p.Preamble = 65536 }},
		{"LDRO", func(p *LoRaParams) { p.LDRO = 3 }},
	}
	for _, tt := range tests {
		p := ok
		tt.modify(&p)
		_, err := TimeOnAir(p)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Field != tt.field {
			t.Errorf("%+v: err = %v, want a ParamError on %s", p, err, tt.field)
		}
		if _, err := PayloadSymbols(p); err == nil {
			t.Errorf("%+v: PayloadSymbols accepted it", p)
		}
	}
	if _, err := SymbolDuration(13, 125000); err == nil {
		t.Error("SymbolDuration accepted SF13")
	}
	if _, err := SymbolDuration(7, 100000); err == nil {
		t.Error("SymbolDuration accepted 100 kHz")
	}
}

func TestFrameLengths(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"full FRMPayload N=242", PHYLenForFRMPayload(242, 0), 255},
		{"with 15 B FOpts", PHYLenForFRMPayload(10, 15), 38},
		{"DataFragment F=239", DataFragmentPHYLen(239), 255},
		{"DataFragment F=112", DataFragmentPHYLen(112), 128},
		{"DataFragment F=48", DataFragmentPHYLen(48), 64},
		{"DataFragment F=50", DataFragmentPHYLen(50), 66},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

func BenchmarkTimeOnAir(b *testing.B) {
	p := lorawanDL(255, 12, 125000)
	for b.Loop() {
		if _, err := TimeOnAir(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDownlinkToA(b *testing.B) {
	r := mustGet(b, EU868)
	for b.Loop() {
		if _, err := r.DownlinkToA(5, 255); err != nil {
			b.Fatal(err)
		}
	}
}
