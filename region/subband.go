package region

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// DutyCycle is a transmit duty-cycle limit in parts per thousand. Every limit
// in use is a whole number of per mille (0.1 %, 1 %, 2 %, 10 %, 100 %), which
// keeps the spacing arithmetic exact.
type DutyCycle uint16

// Duty-cycle limits that occur in the tables.
const (
	DutyCycle0_1pct DutyCycle = 1    // ETSI bands K and N; Basic Station MILLI
	DutyCycle1pct   DutyCycle = 10   // ETSI bands L, M and R; Basic Station CENTI
	DutyCycle2pct   DutyCycle = 20   // Basic Station KR920, per channel
	DutyCycle10pct  DutyCycle = 100  // ETSI band P; Basic Station DECI and AS923-1
	NoDutyCycle     DutyCycle = 1000 // no limit
)

// Fraction returns the limit as a fraction of time, 0..1.
func (d DutyCycle) Fraction() float64 { return float64(d) / 1000 }

// Unlimited reports whether the limit allows continuous transmission.
func (d DutyCycle) Unlimited() bool { return d >= NoDutyCycle }

// MinSpacing returns airtime/d: the shortest start-to-start spacing of frames of
// this airtime under the per-frame off-time rule (Basic Station, end devices),
// e.g. 27.935 s for a 2.793 s frame at 10 %. It returns airtime itself when the
// limit is unlimited, and the longest Duration for a zero limit (nothing may be
// sent).
func (d DutyCycle) MinSpacing(airtime time.Duration) time.Duration {
	if d == 0 {
		return math.MaxInt64
	}
	if d.Unlimited() {
		return airtime
	}
	return airtime * 1000 / time.Duration(d)
}

// Budget returns the airtime the limit allows within a window, e.g. 360 s per
// hour at 10 %.
func (d DutyCycle) Budget(window time.Duration) time.Duration {
	if d.Unlimited() {
		return window
	}
	return window * time.Duration(d) / 1000
}

func (d DutyCycle) String() string {
	if d.Unlimited() {
		return "none"
	}
	return strconv.FormatFloat(float64(d)/10, 'f', -1, 64) + "%"
}

// SubBand is a frequency range with one duty-cycle limit.
type SubBand struct {
	// Name identifies the duty-cycle budget. Entries with the same Name share one
	// budget: Basic Station's CENTI covers two ranges with one tracker.
	Name string
	// MinHz ≤ f < MaxHz, or f ≤ MaxHz when MaxInclusive.
	MinHz, MaxHz uint32
	MaxInclusive bool
	DutyCycle    DutyCycle
	// MaxERPmW is the power limit under which DutyCycle applies, in mW ERP; 0
	// means the table sets no power condition.
	MaxERPmW int
	// PerChannel means the budget is kept per channel frequency inside the range
	// rather than once for the whole range.
	PerChannel bool
}

// Contains reports whether freqHz lies in the band.
func (s SubBand) Contains(freqHz uint32) bool {
	if freqHz < s.MinHz {
		return false
	}
	return freqHz < s.MaxHz || (s.MaxInclusive && freqHz == s.MaxHz)
}

// MaxEIRPdBm returns MaxERPmW as EIRP in dBm (ERP + 2.15 dB), or +Inf when the
// band has no power condition. 25 mW ERP is 16.1 dBm EIRP, 500 mW is 29.1 dBm.
func (s SubBand) MaxEIRPdBm() float64 {
	if s.MaxERPmW <= 0 {
		return math.Inf(1)
	}
	return 10*math.Log10(float64(s.MaxERPmW)) + 2.15
}

func (s SubBand) String() string {
	hi := ")"
	if s.MaxInclusive {
		hi = "]"
	}
	pc := ""
	if s.PerChannel {
		pc = " per channel"
	}
	return fmt.Sprintf("%s [%.3f, %.3f%s MHz %v%s", s.Name,
		float64(s.MinHz)/1e6, float64(s.MaxHz)/1e6, hi, s.DutyCycle, pc)
}

// SubBands is a table of sub-bands. Entries may overlap: a low-power entry may
// share its range with a full-power one, and a catch-all entry may underlie
// specific ones.
type SubBands []SubBand

// Lookup returns the entry containing freqHz that governs a transmission at the
// band's full permitted power: among the entries containing freqHz, the one with
// the highest power limit (none counts as highest), then the highest duty cycle.
// So 869.8 MHz is band R at 1 % rather than its 5 mW, 100 % variant, and Basic
// Station's 869.525 MHz is DECI rather than the MILLI catch-all.
func (t SubBands) Lookup(freqHz uint32) (SubBand, error) {
	best := -1
	for i, s := range t {
		if !s.Contains(freqHz) {
			continue
		}
		if best < 0 || better(s.MaxEIRPdBm(), s.DutyCycle, t[best].MaxEIRPdBm(), t[best].DutyCycle) {
			best = i
		}
	}
	if best < 0 {
		return SubBand{}, fmt.Errorf("%.6f MHz is outside every sub-band: %w", float64(freqHz)/1e6, ErrNoSubBand)
	}
	return t[best], nil
}

func better(pow float64, dc DutyCycle, bestPow float64, bestDC DutyCycle) bool {
	if pow != bestPow {
		return pow > bestPow
	}
	return dc > bestDC
}

// LookupEIRP returns the entry that governs a transmission at freqHz with
// eirpDBm: among the entries containing freqHz whose power limit admits eirpDBm,
// the one with the highest duty cycle. This is how Concentratord picks a band
// (lowest-power entry first): 869.8 MHz at ≤ 9 dBm EIRP counts as 100 %, at
// 14 dBm as 1 %.
func (t SubBands) LookupEIRP(freqHz uint32, eirpDBm float64) (SubBand, error) {
	best, inRange := -1, false
	for i, s := range t {
		if !s.Contains(freqHz) {
			continue
		}
		inRange = true
		if eirpDBm > s.MaxEIRPdBm() {
			continue
		}
		if best < 0 || s.DutyCycle > t[best].DutyCycle {
			best = i
		}
	}
	switch {
	case best >= 0:
		return t[best], nil
	case inRange:
		return SubBand{}, fmt.Errorf("%.6f MHz at %.1f dBm EIRP exceeds every sub-band's power limit: %w",
			float64(freqHz)/1e6, eirpDBm, ErrNoSubBand)
	}
	return SubBand{}, fmt.Errorf("%.6f MHz is outside every sub-band: %w", float64(freqHz)/1e6, ErrNoSubBand)
}

// Enforcement selects whose view of the duty-cycle sub-bands a table gives.
type Enforcement uint8

const (
	// Regulatory is the regulation's own band plan (ETSI EN 300 220 in EU868),
	// which ChirpStack Concentratord and TTS apply.
	Regulatory Enforcement = iota
	// BasicStation is LoRa Basics Station's mapping, which differs in EU868
	// (865–868 MHz at 0.1 %, lorabasics/basicstation#189) and adds per-channel
	// limits in AS923-1 and KR920.
	BasicStation
)

func (e Enforcement) String() string {
	switch e {
	case Regulatory:
		return "regulatory"
	case BasicStation:
		return "basic-station"
	}
	return fmt.Sprintf("Enforcement(%d)", uint8(e))
}

// EU868 band edges in Hz.
const (
	mhz863    = 863_000_000
	mhz865    = 865_000_000
	mhz868    = 868_000_000
	mhz868_6  = 868_600_000
	mhz868_7  = 868_700_000
	mhz869_2  = 869_200_000
	mhz869_4  = 869_400_000
	mhz869_65 = 869_650_000
	mhz869_7  = 869_700_000
	mhz870    = 870_000_000
)

// eu868Regulatory is ETSI EN 300 220-2 V3.1.1/V3.2.1 Table B.1 as implemented by
// EC Decision 2017/1483 (RADIO.md §4.1). Letters are the ETSI band names;
// Concentratord labels R "P" and its low-power variant "Q".
func eu868Regulatory() SubBands {
	return SubBands{
		{Name: "K", MinHz: mhz863, MaxHz: mhz865, DutyCycle: DutyCycle0_1pct, MaxERPmW: 25},
		// Older EN 300 220 versions put all of 863–868 MHz ("g") at 0.1 %.
		{Name: "L", MinHz: mhz865, MaxHz: mhz868, DutyCycle: DutyCycle1pct, MaxERPmW: 25},
		{Name: "M", MinHz: mhz868, MaxHz: mhz868_6, DutyCycle: DutyCycle1pct, MaxERPmW: 25},
		{Name: "N", MinHz: mhz868_7, MaxHz: mhz869_2, DutyCycle: DutyCycle0_1pct, MaxERPmW: 25},
		// P holds the RX2/Class B/multicast channel 869.525 MHz.
		{Name: "P", MinHz: mhz869_4, MaxHz: mhz869_65, DutyCycle: DutyCycle10pct, MaxERPmW: 500},
		{Name: "R", MinHz: mhz869_7, MaxHz: mhz870, DutyCycle: DutyCycle1pct, MaxERPmW: 25},
		// At ≤ 5 mW ERP (Concentratord: ≤ 9 dBm EIRP) R has no duty-cycle limit.
		{Name: "R-5mW", MinHz: mhz869_7, MaxHz: mhz870, DutyCycle: NoDutyCycle, MaxERPmW: 5},
	}
}

// eu868BasicStation is freq2band of LoRa Basics Station src/s2e.c (2.0.6), which
// blocks a band for airtime × {10, 100, 1000} after each frame. Its bounds are
// inclusive, and every frequency outside DECI and CENTI falls into MILLI. Basic
// Station also books EU868 airtime per channel at 1/36 but never checks it
// (s2e_canTxEU868 looks at the band only), so that limit is left out.
func eu868BasicStation() SubBands {
	return SubBands{
		{Name: "DECI", MinHz: mhz869_4, MaxHz: mhz869_65, MaxInclusive: true, DutyCycle: DutyCycle10pct},
		{Name: "CENTI", MinHz: mhz868, MaxHz: mhz868_6, MaxInclusive: true, DutyCycle: DutyCycle1pct},
		{Name: "CENTI", MinHz: mhz869_7, MaxHz: mhz870, MaxInclusive: true, DutyCycle: DutyCycle1pct},
		{Name: "MILLI", MinHz: mhz863, MaxHz: mhz870, MaxInclusive: true, DutyCycle: DutyCycle0_1pct},
	}
}

// wholeBand is a region-wide entry for regions whose regulation sets no duty
// cycle (FCC Part 15.247 for US915, and AU915, AS923, IN865, KR920 as RP002 and
// brocaar/TTS model them; LBT rules are not modelled). The top edge is inclusive
// so that edge channels such as KR920 923.3 MHz are found.
func wholeBand(name Name, minHz, maxHz uint32, dc DutyCycle, perChannel bool) SubBands {
	return SubBands{{Name: string(name), MinHz: minHz, MaxHz: maxHz, MaxInclusive: true, DutyCycle: dc, PerChannel: perChannel}}
}
