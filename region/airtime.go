package region

import (
	"fmt"
	"time"
)

// LDRO selects the LoRa low-data-rate optimisation (the DE term of the time-on-air
// formula).
type LDRO uint8

const (
	// LDROAuto turns the optimisation on iff the symbol time is at least 16 ms,
	// the rule of the Semtech datasheets, TTS and LoRaWAN practice (SF11 and SF12
	// at 125 kHz, SF12 at 250 kHz).
	LDROAuto LDRO = iota
	// LDROOn forces the optimisation on.
	LDROOn
	// LDROOff forces it off, as brocaar/lorawan/airtime does unless told otherwise.
	LDROOff
)

func (l LDRO) String() string {
	switch l {
	case LDROAuto:
		return "auto"
	case LDROOn:
		return "on"
	case LDROOff:
		return "off"
	}
	return fmt.Sprintf("LDRO(%d)", uint8(l))
}

// ldroThreshold is the symbol time from which LDROAuto turns the optimisation on.
const ldroThreshold = 16 * time.Millisecond

// LoRaParams describes one LoRa frame for TimeOnAir.
type LoRaParams struct {
	// PayloadLen is the PHY payload in bytes (for LoRaWAN the whole PHYPayload:
	// MHDR, FHDR, FPort, FRMPayload, MIC), 0..255.
	PayloadLen int
	// SF is the spreading factor, 5..12. SF5 and SF6 exist only on SX126x-class
	// radios and use that datasheet's formula (6.25-symbol preamble tail, no +8).
	SF int
	// BandwidthHz is 125000, 250000 or 500000. The narrow bandwidths (7.8 to
	// 62.5 kHz) are not accepted: no LoRaWAN sub-GHz data rate uses them, and most
	// are not whole numbers of hertz, which would break the exact arithmetic.
	BandwidthHz int
	// CodingRate is 1..4 for 4/5..4/8. LoRaWAN uses 1.
	CodingRate int
	// Preamble is the programmed preamble length in symbols, 1..65535. LoRaWAN
	// frames use 8, Class B beacons 10. The radio adds 4.25 symbols of sync word
	// and start-frame delimiter (6.25 at SF5/SF6).
	Preamble int
	// ImplicitHeader omits the PHY header, as Class B beacons do.
	ImplicitHeader bool
	// CRC adds the 16-bit payload CRC. LoRaWAN uplinks have it, downlinks and
	// beacons do not.
	CRC bool
	// LDRO selects the low-data-rate optimisation; the zero value is LDROAuto.
	LDRO LDRO
}

// ParamError reports a LoRaParams field outside the range TimeOnAir supports.
type ParamError struct {
	Field string // the LoRaParams field name
	Value int
	Want  string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("region: LoRa parameter %s = %d, want %s", e.Field, e.Value, e.Want)
}

// nsPerChip returns 10⁹/bw: the nanoseconds one chip lasts, a whole number for
// every accepted bandwidth.
func nsPerChip(bandwidthHz int) (int64, bool) {
	switch bandwidthHz {
	case 125000, 250000, 500000:
		return int64(time.Second) / int64(bandwidthHz), true
	}
	return 0, false
}

func (p LoRaParams) validate() error {
	switch {
	case p.PayloadLen < 0 || p.PayloadLen > 255:
		return &ParamError{"PayloadLen", p.PayloadLen, "0..255"}
	case p.SF < 5 || p.SF > 12:
		return &ParamError{"SF", p.SF, "5..12"}
	case p.CodingRate < 1 || p.CodingRate > 4:
		return &ParamError{"CodingRate", p.CodingRate, "1..4 (4/5..4/8)"}
	case p.Preamble < 1 || p.Preamble > 65535:
		return &ParamError{"Preamble", p.Preamble, "1..65535"}
	case p.LDRO > LDROOff:
		return &ParamError{"LDRO", int(p.LDRO), "LDROAuto, LDROOn or LDROOff"}
	}
	if _, ok := nsPerChip(p.BandwidthHz); !ok {
		return &ParamError{"BandwidthHz", p.BandwidthHz, "125000, 250000 or 500000"}
	}
	return nil
}

// SymbolDuration returns 2^SF/BW, exact in nanoseconds.
func SymbolDuration(sf, bandwidthHz int) (time.Duration, error) {
	if sf < 5 || sf > 12 {
		return 0, &ParamError{"SF", sf, "5..12"}
	}
	ns, ok := nsPerChip(bandwidthHz)
	if !ok {
		return 0, &ParamError{"BandwidthHz", bandwidthHz, "125000, 250000 or 500000"}
	}
	return time.Duration(int64(1)<<sf) * time.Duration(ns), nil
}

// LowDataRateOptimize reports whether the frame is sent with the low-data-rate
// optimisation, resolving LDROAuto.
func (p LoRaParams) LowDataRateOptimize() (bool, error) {
	if err := p.validate(); err != nil {
		return false, err
	}
	return p.ldro(), nil
}

// ldro resolves LDROAuto; p must be valid.
func (p LoRaParams) ldro() bool {
	switch p.LDRO {
	case LDROOn:
		return true
	case LDROOff:
		return false
	}
	tsym, _ := SymbolDuration(p.SF, p.BandwidthHz)
	return tsym >= ldroThreshold
}

// PayloadSymbols returns n_payload of the Semtech formula: the symbols after the
// preamble, that is the 8 symbols sent at the reduced rate (PHY header, or the
// first payload bits) plus the coded remainder.
func PayloadSymbols(p LoRaParams) (int, error) {
	if err := p.validate(); err != nil {
		return 0, err
	}
	return p.payloadSymbols(), nil
}

// payloadSymbols implements SX1276 datasheet §4.1.1.6 / AN1200.13 for SF7..12:
//
//	8 + max(ceil((8·PL − 4·SF + 28 + 16·CRC − 20·IH) / (4·(SF − 2·DE))) · (CR+4), 0)
//
// and SX126x datasheet §6.1.4 for SF5/SF6, where the header costs 20 bits only
// when present and there is no +8 term:
//
//	8 + ceil(max(8·PL + 16·CRC − 4·SF + 20·(1−IH), 0) / (4·(SF − 2·DE))) · (CR+4)
//
// Both are the same expression with a different constant. p must be valid.
func (p LoRaParams) payloadSymbols() int {
	num := 8*p.PayloadLen - 4*p.SF
	if p.SF >= 7 {
		num += 8
	}
	if !p.ImplicitHeader {
		num += 20
	}
	if p.CRC {
		num += 16
	}
	den := 4 * p.SF
	if p.ldro() {
		den = 4 * (p.SF - 2)
	}
	if num <= 0 {
		return 8
	}
	return 8 + (num+den-1)/den*(p.CodingRate+4)
}

// TimeOnAir returns the exact airtime of one LoRa frame:
//
//	(Preamble + 4.25 + n_payload) · 2^SF / BW
//
// (6.25 instead of 4.25 at SF5/SF6). It is computed in quarter symbols, so the
// result is exact to the nanosecond, and it matches brocaar/lorawan/airtime when
// CRC is on and LDRO is given explicitly.
func TimeOnAir(p LoRaParams) (time.Duration, error) {
	if err := p.validate(); err != nil {
		return 0, err
	}
	tsym, _ := SymbolDuration(p.SF, p.BandwidthHz)
	tail := int64(17) // 4.25 symbols
	if p.SF < 7 {
		tail = 25 // 6.25 symbols
	}
	quarters := 4*int64(p.Preamble) + tail + 4*int64(p.payloadSymbols())
	// tsym is 2^SF·{8000,4000,2000} ns, always divisible by 4.
	return time.Duration(quarters) * (tsym / 4), nil
}

// LoRaWAN frame layout constants (LoRaWAN 1.0.3 §4).
const (
	mhdrLen  = 1
	fhdrLen  = 7 // DevAddr 4, FCtrl 1, FCnt 2; FOpts come on top
	fportLen = 1
	micLen   = 4
	// dataFragmentHeader is the DataFragment CID and Index&N (TS004 §3.6).
	dataFragmentHeader = 3
)

// PHYLenForFRMPayload returns the PHYPayload length of a LoRaWAN data frame with
// an n-byte FRMPayload and foptsLen bytes of FOpts:
// MHDR(1) + FHDR(7 + foptsLen) + FPort(1) + n + MIC(4). FPort is counted even for
// n = 0, as every application-layer frame carries it. Out-of-range inputs give
// lengths that TimeOnAir refuses.
func PHYLenForFRMPayload(n, foptsLen int) int {
	return mhdrLen + fhdrLen + foptsLen + fportLen + n + micLen
}

// DataFragmentPHYLen returns the PHYPayload length of a TS004 DataFragment
// carrying a fragment of f bytes in a multicast frame (no FOpts): f + 16.
func DataFragmentPHYLen(f int) int {
	return PHYLenForFRMPayload(dataFragmentHeader+f, 0)
}
