package region

import (
	"errors"
	"math"
	"testing"
	"time"
)

// TestEU868SubBands checks RADIO.md §4.1 including every band edge: bands are
// half-open [min, max), the gaps 868.6–868.7, 869.2–869.4 and 869.65–869.7 MHz
// belong to no band.
func TestEU868SubBands(t *testing.T) {
	r := mustGet(t, EU868)
	tests := []struct {
		freq uint32
		band string // "" = outside every band
		dc   DutyCycle
		mW   int
	}{
		{862_999_999, "", 0, 0},
		{863_000_000, "K", DutyCycle0_1pct, 25},
		{864_999_999, "K", DutyCycle0_1pct, 25},
		{865_000_000, "L", DutyCycle1pct, 25},
		{867_900_000, "L", DutyCycle1pct, 25},
		{867_999_999, "L", DutyCycle1pct, 25},
		{868_000_000, "M", DutyCycle1pct, 25},
		{868_100_000, "M", DutyCycle1pct, 25},
		{868_500_000, "M", DutyCycle1pct, 25},
		{868_599_999, "M", DutyCycle1pct, 25},
		{868_600_000, "", 0, 0},
		{868_650_000, "", 0, 0},
		{868_700_000, "N", DutyCycle0_1pct, 25},
		{869_100_000, "N", DutyCycle0_1pct, 25},
		{869_200_000, "", 0, 0},
		{869_399_999, "", 0, 0},
		{869_400_000, "P", DutyCycle10pct, 500},
		{869_525_000, "P", DutyCycle10pct, 500},
		{869_649_999, "P", DutyCycle10pct, 500},
		{869_650_000, "", 0, 0},
		{869_700_000, "R", DutyCycle1pct, 25},
		{869_850_000, "R", DutyCycle1pct, 25},
		{869_999_999, "R", DutyCycle1pct, 25},
		{870_000_000, "", 0, 0},
	}
	for _, tt := range tests {
		sb, err := r.SubBand(tt.freq)
		if tt.band == "" {
			if !errors.Is(err, ErrNoSubBand) {
				t.Errorf("%d Hz: %v, %v; want ErrNoSubBand", tt.freq, sb, err)
			}
			continue
		}
		if err != nil || sb.Name != tt.band || sb.DutyCycle != tt.dc || sb.MaxERPmW != tt.mW {
			t.Errorf("%d Hz: %v, %v; want %s %v %d mW", tt.freq, sb, err, tt.band, tt.dc, tt.mW)
		}
	}
}

// TestEU868LookupEIRP checks the power-conditioned entries: R at ≤ 5 mW ERP
// (Concentratord: ≤ 9 dBm EIRP) has no duty cycle, up to 25 mW (16 dBm) it is 1 %.
func TestEU868LookupEIRP(t *testing.T) {
	sbs, err := mustGet(t, EU868).SubBands(Regulatory)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		freq uint32
		eirp float64
		band string // "" = refused
		dc   DutyCycle
	}{
		{869_800_000, 9, "R-5mW", NoDutyCycle},
		{869_800_000, 14, "R", DutyCycle1pct},
		{869_800_000, 16, "R", DutyCycle1pct},
		{869_800_000, 17, "", 0},
		{869_525_000, 27, "P", DutyCycle10pct},
		{869_525_000, 29, "P", DutyCycle10pct},
		{869_525_000, 30, "", 0},
		{868_100_000, 14, "M", DutyCycle1pct},
		{868_100_000, 27, "", 0},
		{868_650_000, 0, "", 0},
	}
	for _, tt := range tests {
		sb, err := sbs.LookupEIRP(tt.freq, tt.eirp)
		if tt.band == "" {
			if !errors.Is(err, ErrNoSubBand) {
				t.Errorf("%d Hz at %v dBm: %v, %v; want ErrNoSubBand", tt.freq, tt.eirp, sb, err)
			}
			continue
		}
		if err != nil || sb.Name != tt.band || sb.DutyCycle != tt.dc {
			t.Errorf("%d Hz at %v dBm: %v, %v; want %s %v", tt.freq, tt.eirp, sb, err, tt.band, tt.dc)
		}
	}
	for _, c := range []struct {
		mW   int
		eirp float64
	}{{25, 16.1}, {500, 29.1}, {5, 9.1}, {0, math.Inf(1)}} {
		if got := (SubBand{MaxERPmW: c.mW}).MaxEIRPdBm(); math.Round(got*10)/10 != c.eirp {
			t.Errorf("%d mW ERP = %.2f dBm EIRP, want %.1f", c.mW, got, c.eirp)
		}
	}
}

// TestEU868BasicStation checks Basic Station's freq2band (RADIO.md §4.2):
// inclusive bounds, 865–868 MHz at 0.1 %, one CENTI budget for two ranges.
func TestEU868BasicStation(t *testing.T) {
	sbs, err := mustGet(t, EU868).SubBands(BasicStation)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		freq uint32
		band string
		dc   DutyCycle
	}{
		{862_999_999, "", 0},
		{863_000_000, "MILLI", DutyCycle0_1pct},
		{866_000_000, "MILLI", DutyCycle0_1pct}, // regulatory L is 1 % (basicstation#189)
		{867_999_999, "MILLI", DutyCycle0_1pct},
		{868_000_000, "CENTI", DutyCycle1pct},
		{868_100_000, "CENTI", DutyCycle1pct},
		{868_600_000, "CENTI", DutyCycle1pct}, // inclusive
		{868_600_001, "MILLI", DutyCycle0_1pct},
		{868_800_000, "MILLI", DutyCycle0_1pct},
		{869_399_999, "MILLI", DutyCycle0_1pct},
		{869_400_000, "DECI", DutyCycle10pct},
		{869_525_000, "DECI", DutyCycle10pct},
		{869_650_000, "DECI", DutyCycle10pct}, // inclusive
		{869_650_001, "MILLI", DutyCycle0_1pct},
		{869_700_000, "CENTI", DutyCycle1pct},
		{870_000_000, "CENTI", DutyCycle1pct}, // inclusive
		{870_000_001, "", 0},
	}
	for _, tt := range tests {
		sb, err := sbs.Lookup(tt.freq)
		if tt.band == "" {
			if !errors.Is(err, ErrNoSubBand) {
				t.Errorf("%d Hz: %v, %v; want ErrNoSubBand", tt.freq, sb, err)
			}
			continue
		}
		if err != nil || sb.Name != tt.band || sb.DutyCycle != tt.dc || sb.PerChannel {
			t.Errorf("%d Hz: %v, %v; want %s %v", tt.freq, sb, err, tt.band, tt.dc)
		}
		// Without power conditions, LookupEIRP agrees with Lookup at any power.
		if sb2, err := sbs.LookupEIRP(tt.freq, 27); err != nil || sb2 != sb {
			t.Errorf("%d Hz: LookupEIRP = %v, %v; want %v", tt.freq, sb2, err, sb)
		}
	}
}

// TestOtherRegionsSubBands checks that regions without a regulatory duty cycle
// report one unlimited band over their range, and Basic Station's per-channel
// limits (RADIO.md §4.4).
func TestOtherRegionsSubBands(t *testing.T) {
	tests := []struct {
		region       Name
		in, out      []uint32
		bsDC         DutyCycle
		bsPerChannel bool
	}{
		{US915, []uint32{902_000_000, 902_300_000, 923_300_000, 927_500_000, 928_000_000}, []uint32{901_999_999, 928_000_001}, NoDutyCycle, false},
		{AU915, []uint32{915_200_000, 923_300_000}, []uint32{914_000_000, 929_000_000}, NoDutyCycle, false},
		{AS923_1, []uint32{923_200_000, 923_400_000}, []uint32{914_999_999, 930_000_000}, DutyCycle10pct, true},
		{AS923_2, []uint32{921_400_000}, []uint32{910_000_000}, NoDutyCycle, false},
		{AS923_3, []uint32{916_600_000}, []uint32{868_100_000}, NoDutyCycle, false},
		{AS923_4, []uint32{917_300_000}, []uint32{928_100_000}, NoDutyCycle, false},
		{IN865, []uint32{865_062_500, 866_550_000, 867_000_000}, []uint32{864_900_000, 867_100_000}, NoDutyCycle, false},
		{KR920, []uint32{920_900_000, 921_900_000, 923_300_000}, []uint32{920_899_999, 923_300_001}, DutyCycle2pct, true},
	}
	for _, tt := range tests {
		r := mustGet(t, tt.region)
		bs, err := r.SubBands(BasicStation)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range tt.in {
			sb, err := r.SubBand(f)
			if err != nil || sb.DutyCycle != NoDutyCycle || !sb.DutyCycle.Unlimited() || sb.DutyCycle.Fraction() != 1 {
				t.Errorf("%s %d Hz: %v, %v; want no duty cycle", tt.region, f, sb, err)
			}
			sb, err = bs.Lookup(f)
			if err != nil || sb.DutyCycle != tt.bsDC || sb.PerChannel != tt.bsPerChannel {
				t.Errorf("%s %d Hz Basic Station: %v, %v; want %v per channel %v", tt.region, f, sb, err, tt.bsDC, tt.bsPerChannel)
			}
		}
		for _, f := range tt.out {
			if sb, err := r.SubBand(f); !errors.Is(err, ErrNoSubBand) {
				t.Errorf("%s %d Hz: %v, %v; want ErrNoSubBand", tt.region, f, sb, err)
			}
		}
	}
	if _, err := mustGet(t, EU868).SubBands(Enforcement(7)); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("unknown enforcement: err = %v", err)
	}
}

func TestDutyCycle(t *testing.T) {
	tests := []struct {
		d       DutyCycle
		frac    float64
		airtime time.Duration
		spacing time.Duration
		budget  time.Duration // per hour
	}{
		{DutyCycle0_1pct, 0.001, time.Second, 1000 * time.Second, 3600 * time.Millisecond},
		{DutyCycle1pct, 0.01, time.Second, 100 * time.Second, 36 * time.Second},
		{DutyCycle2pct, 0.02, time.Second, 50 * time.Second, 72 * time.Second},
		{DutyCycle10pct, 0.1, 2793472 * us, 27934720 * us, 360 * time.Second},
		{NoDutyCycle, 1, time.Second, time.Second, time.Hour},
	}
	for _, tt := range tests {
		if got := tt.d.Fraction(); got != tt.frac {
			t.Errorf("%v.Fraction() = %v, want %v", tt.d, got, tt.frac)
		}
		if got := tt.d.MinSpacing(tt.airtime); got != tt.spacing {
			t.Errorf("%v.MinSpacing(%v) = %v, want %v", tt.d, tt.airtime, got, tt.spacing)
		}
		if got := tt.d.Budget(time.Hour); got != tt.budget {
			t.Errorf("%v.Budget(1h) = %v, want %v", tt.d, got, tt.budget)
		}
	}
	if got := DutyCycle(0).MinSpacing(time.Second); got != math.MaxInt64 {
		t.Errorf("zero duty cycle spacing = %v", got)
	}
}
