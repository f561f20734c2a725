package region

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Name is a LoRaWAN region as RP002 and the network servers spell it.
type Name string

// The regions lorafuota knows. AS923-2, -3 and -4 are AS923-1 shifted by
// −1.8, −6.6 and −5.9 MHz.
const (
	EU868   Name = "EU868"
	US915   Name = "US915"
	AU915   Name = "AU915"
	AS923_1 Name = "AS923-1"
	AS923_2 Name = "AS923-2"
	AS923_3 Name = "AS923-3"
	AS923_4 Name = "AS923-4"
	IN865   Name = "IN865"
	KR920   Name = "KR920"
)

// Names returns the known regions in a fixed order.
func Names() []Name {
	return []Name{EU868, US915, AU915, AS923_1, AS923_2, AS923_3, AS923_4, IN865, KR920}
}

// Errors wrapped by this package's lookups.
var (
	ErrUnknownRegion   = errors.New("unknown region")
	ErrUnknownDataRate = errors.New("data rate not defined")
	// ErrNotAvailable is wrapped when a data rate exists but cannot be used as
	// asked: wrong direction, not LoRa, or no payload under the given options.
	ErrNotAvailable = errors.New("not available")
	ErrNoSubBand    = errors.New("no sub-band")
)

// ParseName maps s to a known region, ignoring case. "AS923" is accepted for
// AS923-1, as brocaar/lorawan and older configurations name it.
func ParseName(s string) (Name, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if u == "AS923" {
		return AS923_1, nil
	}
	for _, n := range Names() {
		if u == string(n) {
			return n, nil
		}
	}
	known := make([]string, 0, len(Names()))
	for _, n := range Names() {
		known = append(known, string(n))
	}
	return "", fmt.Errorf("region %q (known: %s): %w", s, strings.Join(known, ", "), ErrUnknownRegion)
}

// Get returns the parameters of a region. The name is parsed as ParseName does.
// Every call builds a new Region.
func Get(name Name) (*Region, error) {
	n, err := ParseName(string(name))
	if err != nil {
		return nil, err
	}
	switch n {
	case EU868:
		return eu868(), nil
	case US915:
		return us915(), nil
	case AU915:
		return au915(), nil
	case AS923_1:
		return as923(AS923_1, 0), nil
	case AS923_2:
		return as923(AS923_2, -1_800_000), nil
	case AS923_3:
		return as923(AS923_3, -6_600_000), nil
	case AS923_4:
		return as923(AS923_4, -5_900_000), nil
	case IN865:
		return in865(), nil
	case KR920:
		return kr920(), nil
	}
	// Unreachable while Names and this switch agree; TestGetAll checks they do.
	return nil, fmt.Errorf("region %s: no table: %w", n, ErrUnknownRegion)
}

// Direction is the direction a frame travels.
type Direction uint8

const (
	Uplink Direction = iota + 1
	Downlink
)

func (d Direction) String() string {
	switch d {
	case Uplink:
		return "uplink"
	case Downlink:
		return "downlink"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Modulation is the modulation of a data rate.
type Modulation uint8

const (
	LoRa Modulation = iota + 1
	FSK
	LRFHSS
)

func (m Modulation) String() string {
	switch m {
	case LoRa:
		return "LoRa"
	case FSK:
		return "FSK"
	case LRFHSS:
		return "LR-FHSS"
	}
	return fmt.Sprintf("Modulation(%d)", uint8(m))
}

// DataRate is one entry of a region's data-rate table.
type DataRate struct {
	Index      int
	Modulation Modulation
	// SF is the spreading factor (LoRa only).
	SF int
	// BandwidthHz is the channel bandwidth for LoRa and the occupied channel
	// width for LR-FHSS.
	BandwidthHz int
	// BitRate is the bit rate in bit/s (FSK only).
	BitRate int
	// CodingRate is "1/3" or "2/3" (LR-FHSS only; LoRaWAN LoRa is always 4/5).
	CodingRate string
	// Uplink and Downlink tell in which directions RP002 allows the data rate.
	Uplink, Downlink bool
}

// IsLoRa reports whether the data rate uses LoRa modulation, the only one
// TimeOnAir models.
func (d DataRate) IsLoRa() bool { return d.Modulation == LoRa }

func (d DataRate) String() string {
	switch d.Modulation {
	case LoRa:
		return fmt.Sprintf("DR%d SF%dBW%d", d.Index, d.SF, d.BandwidthHz/1000)
	case FSK:
		return fmt.Sprintf("DR%d FSK %d kbit/s", d.Index, d.BitRate/1000)
	case LRFHSS:
		return fmt.Sprintf("DR%d LR-FHSS CR%s OCW %d kHz", d.Index, d.CodingRate, d.BandwidthHz/1000)
	}
	return fmt.Sprintf("DR%d undefined", d.Index)
}

// usable reports whether the data rate may be used in direction dir.
func (d DataRate) usable(dir Direction) bool {
	switch dir {
	case Uplink:
		return d.Uplink
	case Downlink:
		return d.Downlink
	}
	return false
}

// MaxPayload is the RP002 payload limit of one data rate: M is the largest
// MACPayload, N the largest FRMPayload when FOpts is empty (N = M − 8).
type MaxPayload struct {
	M, N int
}

// MaxFragmentSize returns the largest TS004 fragment this limit allows,
// min(N − 3, 255): the DataFragment header takes 3 bytes of FRMPayload and the
// fragment size field is one byte. It is 0 if no fragment fits.
func (p MaxPayload) MaxFragmentSize() int {
	return min(max(p.N-dataFragmentHeader, 0), 255)
}

// PayloadOptions selects the variant of the maximum-payload table.
type PayloadOptions struct {
	// RepeaterCompatible selects the smaller sizes RP002 gives for devices that
	// may be reached through a repeater.
	RepeaterCompatible bool
	// DwellTime selects the 400 ms dwell-time table (TxParamSetupReq
	// UplinkDwellTime or DownlinkDwellTime = 1; AS923 and AU915 only).
	DwellTime bool
}

// payloadTables holds one maximum-payload table per variant, indexed by data
// rate; a zero entry means the data rate has no payload under that variant.
// dwell and dwellRepeater are nil for regions without dwell-time tables.
type payloadTables struct {
	plain, repeater      []MaxPayload
	dwell, dwellRepeater []MaxPayload
}

// RX2 is a region's default second receive window, also the usual Class C and
// multicast channel.
type RX2 struct {
	FrequencyHz uint32
	DataRate    int
}

// powerRange overrides the default downlink power inside [minHz, maxHz).
type powerRange struct {
	minHz, maxHz uint32
	dBm          int
}

// Region holds the parameters of one region. Use Get to obtain one.
type Region struct {
	name         Name
	dataRates    []DataRate // index = data rate; zero Modulation = undefined
	payloads     payloadTables
	rx2          RX2
	dlPowerDBm   int
	dlPowerBands []powerRange
	regulatory   SubBands
	basicStation SubBands
}

// Name returns the region's name.
func (r *Region) Name() Name { return r.name }

func (r *Region) String() string { return string(r.name) }

// DataRate returns the definition of data rate dr.
func (r *Region) DataRate(dr int) (DataRate, error) {
	if dr < 0 || dr >= len(r.dataRates) || r.dataRates[dr].Modulation == 0 {
		return DataRate{}, fmt.Errorf("%s DR%d: %w", r.name, dr, ErrUnknownDataRate)
	}
	return r.dataRates[dr], nil
}

// DataRates returns the defined data rates in index order.
func (r *Region) DataRates() []DataRate {
	out := make([]DataRate, 0, len(r.dataRates))
	for _, d := range r.dataRates {
		if d.Modulation != 0 {
			out = append(out, d)
		}
	}
	return out
}

// SupportsDwellTime reports whether the region has 400 ms dwell-time payload
// tables (PayloadOptions.DwellTime).
func (r *Region) SupportsDwellTime() bool { return r.payloads.dwell != nil }

// MaxPayload returns the payload limit of data rate dr in direction dir under
// the given table variant. It fails if the data rate is undefined, not allowed in
// that direction, or has no payload in that variant (AS923/AU915 DR0–DR1 with
// dwell time).
func (r *Region) MaxPayload(dr int, dir Direction, opts PayloadOptions) (MaxPayload, error) {
	d, err := r.DataRate(dr)
	if err != nil {
		return MaxPayload{}, err
	}
	if !d.usable(dir) {
		return MaxPayload{}, fmt.Errorf("%s %v not allowed for %v: %w", r.name, d, dir, ErrNotAvailable)
	}
	var table []MaxPayload
	switch {
	case opts.DwellTime && r.payloads.dwell == nil:
		return MaxPayload{}, fmt.Errorf("%s has no dwell-time payload table: %w", r.name, ErrNotAvailable)
	case opts.DwellTime && opts.RepeaterCompatible:
		table = r.payloads.dwellRepeater
	case opts.DwellTime:
		table = r.payloads.dwell
	case opts.RepeaterCompatible:
		table = r.payloads.repeater
	default:
		table = r.payloads.plain
	}
	if dr >= len(table) || table[dr].M == 0 {
		return MaxPayload{}, fmt.Errorf("%s %v has no payload with %+v: %w", r.name, d, opts, ErrNotAvailable)
	}
	return table[dr], nil
}

// MaxFragmentSize returns the largest TS004 fragment a multicast downlink at
// data rate dr can carry: min(N − 3, 255), as ChirpStack's get_max_fragment_size.
func (r *Region) MaxFragmentSize(dr int, opts PayloadOptions) (int, error) {
	p, err := r.MaxPayload(dr, Downlink, opts)
	if err != nil {
		return 0, err
	}
	f := p.MaxFragmentSize()
	if f == 0 {
		return 0, fmt.Errorf("%s DR%d: N = %d leaves no room for a fragment: %w", r.name, dr, p.N, ErrNotAvailable)
	}
	return f, nil
}

// RX2 returns the region's default RX2 frequency and data rate.
func (r *Region) RX2() RX2 { return r.rx2 }

// DownlinkTXPowerDBm returns the default gateway downlink power at freqHz, in
// dBm as brocaar/lorawan/band (and so ChirpStack) uses it. Gateways may use other
// defaults; LoRa Basics Station for instance sends 26 dBm in US915.
func (r *Region) DownlinkTXPowerDBm(freqHz uint32) int {
	for _, p := range r.dlPowerBands {
		if freqHz >= p.minHz && freqHz < p.maxHz {
			return p.dBm
		}
	}
	return r.dlPowerDBm
}

// SubBands returns the duty-cycle sub-bands of the region as enforcement model e
// sees them.
func (r *Region) SubBands(e Enforcement) (SubBands, error) {
	var t SubBands
	switch e {
	case Regulatory:
		t = r.regulatory
	case BasicStation:
		t = r.basicStation
	default:
		return nil, fmt.Errorf("%s: enforcement model %v: %w", r.name, e, ErrNotAvailable)
	}
	return append(SubBands(nil), t...), nil
}

// SubBand returns the regulatory sub-band containing freqHz, taken at the
// band's full permitted power (see SubBands.Lookup). Regions without a
// regulatory duty cycle return a single band covering the region with
// DutyCycle NoDutyCycle.
func (r *Region) SubBand(freqHz uint32) (SubBand, error) {
	sb, err := r.regulatory.Lookup(freqHz)
	if err != nil {
		return SubBand{}, fmt.Errorf("%s: %w", r.name, err)
	}
	return sb, nil
}

// LoRaWAN PHY settings common to all data frames (RP002 §2: CR 4/5, 8-symbol
// preamble, explicit header).
const (
	lorawanCodingRate = 1
	lorawanPreamble   = 8
)

// LoRaParams returns the PHY parameters of a LoRaWAN frame of phyLen bytes at
// data rate dr: 8-symbol preamble, explicit header, CR 4/5, automatic LDRO, and
// the payload CRC on uplinks only.
func (r *Region) LoRaParams(dr int, dir Direction, phyLen int) (LoRaParams, error) {
	d, err := r.DataRate(dr)
	if err != nil {
		return LoRaParams{}, err
	}
	if !d.IsLoRa() {
		return LoRaParams{}, fmt.Errorf("%s %v is not LoRa: %w", r.name, d, ErrNotAvailable)
	}
	if !d.usable(dir) {
		return LoRaParams{}, fmt.Errorf("%s %v not allowed for %v: %w", r.name, d, dir, ErrNotAvailable)
	}
	return LoRaParams{
		PayloadLen:  phyLen,
		SF:          d.SF,
		BandwidthHz: d.BandwidthHz,
		CodingRate:  lorawanCodingRate,
		Preamble:    lorawanPreamble,
		CRC:         dir == Uplink,
	}, nil
}

// DownlinkToA returns the airtime of a downlink PHYPayload of phyLen bytes at
// data rate dr, without payload CRC.
func (r *Region) DownlinkToA(dr, phyLen int) (time.Duration, error) {
	return r.toa(dr, Downlink, phyLen)
}

// UplinkToA returns the airtime of an uplink PHYPayload of phyLen bytes at data
// rate dr, with payload CRC.
func (r *Region) UplinkToA(dr, phyLen int) (time.Duration, error) {
	return r.toa(dr, Uplink, phyLen)
}

func (r *Region) toa(dr int, dir Direction, phyLen int) (time.Duration, error) {
	p, err := r.LoRaParams(dr, dir, phyLen)
	if err != nil {
		return 0, err
	}
	t, err := TimeOnAir(p)
	if err != nil {
		return 0, fmt.Errorf("%s DR%d %v: %w", r.name, dr, dir, err)
	}
	return t, nil
}
