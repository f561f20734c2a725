package region

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestGetAll(t *testing.T) {
	for _, n := range Names() {
		r, err := Get(n)
		if err != nil {
			t.Fatalf("Get(%s): %v", n, err)
		}
		if r.Name() != n || r.String() != string(n) {
			t.Errorf("Get(%s).Name() = %s", n, r.Name())
		}
		if len(r.DataRates()) == 0 {
			t.Errorf("%s: no data rates", n)
		}
		for _, d := range r.DataRates() {
			if got, err := r.DataRate(d.Index); err != nil || got != d {
				t.Errorf("%s: DataRate(%d) = %v, %v; want %v", n, d.Index, got, err, d)
			}
		}
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		in   string
		want Name
	}{
		{"EU868", EU868},
		{"eu868", EU868},
		{" us915 ", US915},
		{"AS923", AS923_1},
		{"as923-1", AS923_1},
		{"AS923-4", AS923_4},
		{"KR920", KR920},
	}
	for _, tt := range tests {
		got, err := ParseName(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestGetUnknown(t *testing.T) {
	for _, in := range []Name{"", "EU433", "AS923-5", "EU_863_870"} {
		r, err := Get(in)
		if r != nil || !errors.Is(err, ErrUnknownRegion) {
			t.Fatalf("Get(%q) = %v, %v; want ErrUnknownRegion", in, r, err)
		}
		for _, n := range Names() {
			if !strings.Contains(err.Error(), string(n)) {
				t.Errorf("error %q does not list %s", err, n)
			}
		}
	}
}

// TestNoSharedState checks that what one caller changes never reaches another.
func TestNoSharedState(t *testing.T) {
	r := mustGet(t, EU868)
	drs := r.DataRates()
	drs[0].SF = 99
	sbs, err := r.SubBands(Regulatory)
	if err != nil {
		t.Fatal(err)
	}
	sbs[0].DutyCycle = NoDutyCycle
	if d, _ := r.DataRate(0); d.SF != 12 {
		t.Errorf("DataRates() aliases the region: DR0 SF = %d", d.SF)
	}
	if sb, _ := r.SubBand(863_500_000); sb.DutyCycle != DutyCycle0_1pct {
		t.Errorf("SubBands() aliases the region: K = %v", sb.DutyCycle)
	}
	r2 := mustGet(t, EU868)
	if r2 == r {
		t.Error("Get returned the same Region twice")
	}
}

func TestDataRateTables(t *testing.T) {
	type dr struct {
		mod      Modulation
		sf, bwHz int
		up, down bool
	}
	lora125 := func(sf int) dr { return dr{LoRa, sf, 125000, true, true} }
	tests := []struct {
		region Name
		want   map[int]dr
		absent []int
	}{
		{EU868, map[int]dr{
			0: lora125(12), 5: lora125(7), 6: {LoRa, 7, 250000, true, true},
			7: {FSK, 0, 0, true, true}, 8: {LRFHSS, 0, 137000, true, false}, 11: {LRFHSS, 0, 336000, true, false},
		}, []int{-1, 12, 15}},
		{US915, map[int]dr{
			0: {LoRa, 10, 125000, true, false}, 3: {LoRa, 7, 125000, true, false}, 4: {LoRa, 8, 500000, true, false},
			5: {LRFHSS, 0, 1523000, true, false}, 8: {LoRa, 12, 500000, false, true}, 13: {LoRa, 7, 500000, false, true},
		}, []int{7, 14}},
		{AU915, map[int]dr{
			0: {LoRa, 12, 125000, true, false}, 5: {LoRa, 7, 125000, true, false}, 6: {LoRa, 8, 500000, true, false},
			7: {LRFHSS, 0, 1523000, true, false}, 8: {LoRa, 12, 500000, false, true}, 13: {LoRa, 7, 500000, false, true},
		}, []int{14}},
		{AS923_2, map[int]dr{0: lora125(12), 2: lora125(10), 6: {LoRa, 7, 250000, true, true}, 7: {FSK, 0, 0, true, true}}, []int{8}},
		{IN865, map[int]dr{0: lora125(12), 5: lora125(7), 7: {FSK, 0, 0, true, true}}, []int{6, 8}},
		{KR920, map[int]dr{0: lora125(12), 5: lora125(7)}, []int{6, 7}},
	}
	for _, tt := range tests {
		r := mustGet(t, tt.region)
		for i, w := range tt.want {
			d, err := r.DataRate(i)
			if err != nil {
				t.Errorf("%s DR%d: %v", tt.region, i, err)
				continue
			}
			got := dr{d.Modulation, d.SF, d.BandwidthHz, d.Uplink, d.Downlink}
			if got != w || d.Index != i || d.IsLoRa() != (w.mod == LoRa) {
				t.Errorf("%s DR%d = %+v, want %+v", tt.region, i, got, w)
			}
		}
		for _, i := range tt.absent {
			if _, err := r.DataRate(i); !errors.Is(err, ErrUnknownDataRate) {
				t.Errorf("%s DR%d: err = %v, want ErrUnknownDataRate", tt.region, i, err)
			}
		}
	}
}

// TestMaxPayload checks RADIO.md §3.1–§3.3 and the other regions' RP002 tables.
func TestMaxPayload(t *testing.T) {
	plain := PayloadOptions{}
	rep := PayloadOptions{RepeaterCompatible: true}
	dwell := PayloadOptions{DwellTime: true}
	dwellRep := PayloadOptions{DwellTime: true, RepeaterCompatible: true}
	// -1 marks "not available".
	tests := []struct {
		region Name
		dir    Direction
		opts   PayloadOptions
		m      []int // by data rate from 0; nil entries of the region are skipped
		from   int
	}{
		// §3.1
		{EU868, Downlink, plain, []int{59, 59, 59, 123, 250, 250, 250, 250}, 0},
		{EU868, Downlink, rep, []int{59, 59, 59, 123, 230, 230, 230, 230}, 0},
		{EU868, Uplink, plain, []int{59, 59, 59, 123, 250, 250, 250, 250, 58, 123, 58, 123}, 0},
		{EU868, Uplink, rep, []int{59, 59, 59, 123, 230, 230, 230, 230, 58, 123, 58, 123}, 0},
		// §3.2
		{US915, Downlink, plain, []int{61, 137, 250, 250, 250, 250}, 8},
		{US915, Downlink, rep, []int{41, 117, 230, 230, 230, 230}, 8},
		{US915, Uplink, plain, []int{19, 61, 133, 250, 250, 58, 133}, 0},
		{US915, Uplink, rep, []int{19, 61, 133, 230, 230, 58, 133}, 0},
		{AU915, Downlink, plain, []int{61, 137, 250, 250, 250, 250}, 8},
		{AU915, Downlink, dwell, []int{61, 137, 250, 250, 250, 250}, 8},
		{AU915, Downlink, rep, []int{41, 117, 230, 230, 230, 230}, 8},
		{AU915, Uplink, plain, []int{59, 59, 59, 123, 250, 250, 250, 58}, 0},
		{AU915, Uplink, dwell, []int{-1, -1, 19, 61, 133, 250, 250, 58}, 0},
		{AU915, Uplink, dwellRep, []int{-1, -1, 19, 61, 133, 230, 230, 58}, 0},
		// §3.3 (RP002-1.0.5: DR2 123 without dwell time)
		{AS923_1, Downlink, plain, []int{59, 59, 123, 123, 250, 250, 250, 250}, 0},
		{AS923_1, Downlink, dwell, []int{-1, -1, 19, 61, 133, 250, 250, 250}, 0},
		{AS923_3, Uplink, dwell, []int{-1, -1, 19, 61, 133, 250, 250, 250}, 0},
		{AS923_4, Downlink, rep, []int{59, 59, 123, 123, 230, 230, 230, 230}, 0},
		{AS923_2, Downlink, dwellRep, []int{-1, -1, 19, 61, 133, 230, 230, 230}, 0},
		{IN865, Downlink, plain, []int{59, 59, 59, 123, 250, 250, -1, 250}, 0},
		{IN865, Downlink, rep, []int{59, 59, 59, 123, 230, 230, -1, 230}, 0},
		{KR920, Downlink, plain, []int{59, 59, 59, 123, 250, 250}, 0},
		{KR920, Uplink, rep, []int{59, 59, 59, 123, 230, 230}, 0},
	}
	for _, tt := range tests {
		r := mustGet(t, tt.region)
		for i, m := range tt.m {
			dr := tt.from + i
			name := fmt.Sprintf("%s DR%d %v %+v", tt.region, dr, tt.dir, tt.opts)
			got, err := r.MaxPayload(dr, tt.dir, tt.opts)
			if m < 0 {
				if err == nil {
					t.Errorf("%s = %+v, want an error", name, got)
				}
				continue
			}
			if err != nil || got != (MaxPayload{M: m, N: m - 8}) {
				t.Errorf("%s = %+v, %v; want M %d N %d", name, got, err, m, m-8)
			}
		}
	}
}

func TestMaxPayloadRefuses(t *testing.T) {
	tests := []struct {
		region Name
		dr     int
		dir    Direction
		opts   PayloadOptions
		want   error
	}{
		{EU868, 12, Downlink, PayloadOptions{}, ErrUnknownDataRate},
		{EU868, 8, Downlink, PayloadOptions{}, ErrNotAvailable}, // LR-FHSS is uplink only
		{EU868, 5, Downlink, PayloadOptions{DwellTime: true}, ErrNotAvailable},
		{EU868, 5, 0, PayloadOptions{}, ErrNotAvailable},
		{US915, 8, Uplink, PayloadOptions{}, ErrNotAvailable},
		{US915, 0, Downlink, PayloadOptions{}, ErrNotAvailable},
		{US915, 7, Uplink, PayloadOptions{}, ErrUnknownDataRate},
		{US915, 3, Uplink, PayloadOptions{DwellTime: true}, ErrNotAvailable},
		{AS923_1, 0, Downlink, PayloadOptions{DwellTime: true}, ErrNotAvailable},
		{AU915, 1, Uplink, PayloadOptions{DwellTime: true, RepeaterCompatible: true}, ErrNotAvailable},
		{IN865, 6, Downlink, PayloadOptions{}, ErrUnknownDataRate},
	}
	for _, tt := range tests {
		r := mustGet(t, tt.region)
		if _, err := r.MaxPayload(tt.dr, tt.dir, tt.opts); !errors.Is(err, tt.want) {
			t.Errorf("%s DR%d %v %+v: err = %v, want %v", tt.region, tt.dr, tt.dir, tt.opts, err, tt.want)
		}
	}
}

func TestMaxFragmentSize(t *testing.T) {
	tests := []struct {
		region Name
		opts   PayloadOptions
		f      map[int]int
	}{
		{EU868, PayloadOptions{}, map[int]int{0: 48, 1: 48, 2: 48, 3: 112, 4: 239, 5: 239, 6: 239, 7: 239}},
		{EU868, PayloadOptions{RepeaterCompatible: true}, map[int]int{3: 112, 4: 219, 5: 219}},
		{US915, PayloadOptions{}, map[int]int{8: 50, 9: 126, 10: 239, 13: 239}},
		{AS923_1, PayloadOptions{}, map[int]int{2: 112, 5: 239}},
		{AS923_1, PayloadOptions{DwellTime: true}, map[int]int{2: 8, 3: 50, 4: 122, 5: 239}},
		{KR920, PayloadOptions{}, map[int]int{0: 48, 5: 239}},
	}
	for _, tt := range tests {
		r := mustGet(t, tt.region)
		for dr, want := range tt.f {
			got, err := r.MaxFragmentSize(dr, tt.opts)
			if err != nil || got != want {
				t.Errorf("%s DR%d %+v: MaxFragmentSize = %d, %v; want %d", tt.region, dr, tt.opts, got, err, want)
			}
		}
	}
	// US915 DR0 is uplink only: no multicast fragment.
	if _, err := mustGet(t, US915).MaxFragmentSize(0, PayloadOptions{}); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("US915 DR0: err = %v, want ErrNotAvailable", err)
	}
	capTests := []struct {
		p    MaxPayload
		want int
	}{{MaxPayload{N: 242}, 239}, {MaxPayload{N: 300}, 255}, {MaxPayload{N: 3}, 0}, {MaxPayload{}, 0}}
	for _, c := range capTests {
		if got := c.p.MaxFragmentSize(); got != c.want {
			t.Errorf("%+v.MaxFragmentSize() = %d, want %d", c.p, got, c.want)
		}
	}
}

func TestRX2Defaults(t *testing.T) {
	tests := []struct {
		region Name
		freq   uint32
		dr     int
		sf, bw int
	}{
		{EU868, 869_525_000, 0, 12, 125000},
		{US915, 923_300_000, 8, 12, 500000},
		{AU915, 923_300_000, 8, 12, 500000},
		{AS923_1, 923_200_000, 2, 10, 125000},
		{AS923_2, 921_400_000, 2, 10, 125000}, // −1.8 MHz
		{AS923_3, 916_600_000, 2, 10, 125000}, // −6.6 MHz
		{AS923_4, 917_300_000, 2, 10, 125000}, // −5.9 MHz
		{IN865, 866_550_000, 2, 10, 125000},
		{KR920, 921_900_000, 0, 12, 125000},
	}
	for _, tt := range tests {
		r := mustGet(t, tt.region)
		if got := r.RX2(); got != (RX2{tt.freq, tt.dr}) {
			t.Errorf("%s RX2 = %+v, want %d Hz DR%d", tt.region, got, tt.freq, tt.dr)
		}
		d, err := r.DataRate(tt.dr)
		if err != nil || !d.Downlink || d.SF != tt.sf || d.BandwidthHz != tt.bw {
			t.Errorf("%s RX2 data rate = %v, %v", tt.region, d, err)
		}
		if _, err := r.SubBand(tt.freq); err != nil {
			t.Errorf("%s RX2 frequency: %v", tt.region, err)
		}
	}
}

func TestDownlinkTXPower(t *testing.T) {
	tests := []struct {
		region Name
		freq   uint32
		want   int
	}{
		{EU868, 868_100_000, 14},
		{EU868, 869_399_999, 14},
		{EU868, 869_400_000, 27},
		{EU868, 869_525_000, 27},
		{EU868, 869_650_000, 14},
		{US915, 923_300_000, 20},
		{AU915, 923_300_000, 27},
		{AS923_1, 923_200_000, 14},
		{IN865, 866_550_000, 27},
		{KR920, 921_900_000, 23},
	}
	for _, tt := range tests {
		if got := mustGet(t, tt.region).DownlinkTXPowerDBm(tt.freq); got != tt.want {
			t.Errorf("%s at %d Hz: %d dBm, want %d", tt.region, tt.freq, got, tt.want)
		}
	}
}

func TestToARefuses(t *testing.T) {
	eu := mustGet(t, EU868)
	us := mustGet(t, US915)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"FSK", second(eu.DownlinkToA(7, 20)), ErrNotAvailable},
		{"LR-FHSS downlink", second(eu.DownlinkToA(8, 20)), ErrNotAvailable},
		{"undefined DR", second(eu.DownlinkToA(12, 20)), ErrUnknownDataRate},
		{"US915 DR8 uplink", second(us.UplinkToA(8, 20)), ErrNotAvailable},
		{"US915 DR0 downlink", second(us.DownlinkToA(0, 20)), ErrNotAvailable},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	_, err := eu.DownlinkToA(5, 256)
	var pe *ParamError
	if !errors.As(err, &pe) || pe.Field != "PayloadLen" || !strings.Contains(err.Error(), "EU868 DR5") {
		t.Errorf("PHY 256: err = %v, want a ParamError on PayloadLen naming EU868 DR5", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestStrings(t *testing.T) {
	eu := mustGet(t, EU868)
	tests := []struct{ got, want string }{
		{Uplink.String(), "uplink"},
		{Downlink.String(), "downlink"},
		{Direction(9).String(), "Direction(9)"},
		{LRFHSS.String(), "LR-FHSS"},
		{Modulation(0).String(), "Modulation(0)"},
		{must(eu.DataRate(0)).String(), "DR0 SF12BW125"},
		{must(eu.DataRate(7)).String(), "DR7 FSK 50 kbit/s"},
		{must(eu.DataRate(10)).String(), "DR10 LR-FHSS CR1/3 OCW 336 kHz"},
		{LDROAuto.String(), "auto"},
		{LDRO(7).String(), "LDRO(7)"},
		{BasicStation.String(), "basic-station"},
		{DutyCycle0_1pct.String(), "0.1%"},
		{DutyCycle10pct.String(), "10%"},
		{NoDutyCycle.String(), "none"},
		{must(eu.SubBand(869_525_000)).String(), "P [869.400, 869.650) MHz 10%"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
