package region

import (
	"fmt"
	"testing"

	"github.com/brocaar/lorawan"
	"github.com/brocaar/lorawan/airtime"
	"github.com/brocaar/lorawan/band"
)

// TestTimeOnAirMatchesBrocaar compares TimeOnAir with CRC on against
// brocaar/lorawan/airtime, which always counts the CRC and takes LDRO as given,
// over the whole LoRaWAN parameter space.
func TestTimeOnAirMatchesBrocaar(t *testing.T) {
	n := 0
	for sf := 7; sf <= 12; sf++ {
		for _, bw := range []int{125000, 250000, 500000} {
			for cr := 1; cr <= 4; cr++ {
				for _, pre := range []int{6, 8, 10} {
					for _, implicit := range []bool{false, true} {
						for _, ldro := range []LDRO{LDROOff, LDROOn} {
							for pl := 0; pl <= 255; pl++ {
								p := LoRaParams{PayloadLen: pl, SF: sf, BandwidthHz: bw, CodingRate: cr,
									Preamble: pre, ImplicitHeader: implicit, CRC: true, LDRO: ldro}
								got, err := TimeOnAir(p)
								if err != nil {
									t.Fatal(err)
								}
								want, err := airtime.CalculateLoRaAirtime(pl, sf, bw/1000, pre,
									airtime.CodingRate(cr), !implicit, ldro == LDROOn)
								if err != nil {
									t.Fatal(err)
								}
								if got != want {
									t.Fatalf("%+v: TimeOnAir = %v, brocaar %v", p, got, want)
								}
								n++
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d parameter sets agree", n)
}

func brocaarName(n Name) band.Name {
	if n == AS923_1 {
		return band.AS923
	}
	return band.Name(n)
}

// brocaarDeviations lists where the tables differ from brocaar's RP002 "latest"
// entries on purpose (see tables.go): key region/repeater/DR.
func brocaarDeviations() map[string]MaxPayload {
	return map[string]MaxPayload{
		"US915/true/8": mp(41), "US915/true/9": mp(117),
		"AU915/true/8": mp(41), "AU915/true/9": mp(117),
	}
}

// TestTablesMatchBrocaar cross-checks data rates, payload limits, RX2 and
// downlink power with brocaar/lorawan/band.
func TestTablesMatchBrocaar(t *testing.T) {
	deviations := brocaarDeviations()
	used := map[string]bool{}
	for _, name := range Names() {
		r := mustGet(t, name)
		for _, repeater := range []bool{false, true} {
			for _, dwell := range []bool{false, true} {
				if dwell && !r.SupportsDwellTime() {
					continue
				}
				dt := lorawan.DwellTimeNoLimit
				if dwell {
					dt = lorawan.DwellTime400ms
				}
				b, err := band.GetConfig(brocaarName(name), repeater, dt)
				if err != nil {
					t.Fatal(err)
				}
				variant := fmt.Sprintf("%s repeater=%v dwell=%v", name, repeater, dwell)
				opts := PayloadOptions{RepeaterCompatible: repeater, DwellTime: dwell}
				for dr := 0; dr < 16; dr++ {
					checkDataRate(t, variant, r, b, dr)
					d, err := r.DataRate(dr)
					if err != nil {
						continue
					}
					dir := Downlink
					if !d.Downlink {
						dir = Uplink
					}
					got, err := r.MaxPayload(dr, dir, opts)
					if err != nil {
						got = MaxPayload{} // brocaar's "N/A" is {0, 0}
					}
					want, err := b.GetMaxPayloadSizeForDataRateIndex("", "", dr)
					if err != nil {
						t.Errorf("%s DR%d: brocaar: %v", variant, dr, err)
						continue
					}
					key := fmt.Sprintf("%s/%v/%d", name, repeater, dr)
					if dev, ok := deviations[key]; ok {
						used[key] = true
						if got != dev || got == (MaxPayload{M: want.M, N: want.N}) {
							t.Errorf("%s DR%d: %+v, want the documented deviation %+v from brocaar %+v", variant, dr, got, dev, want)
						}
						continue
					}
					if got != (MaxPayload{M: want.M, N: want.N}) {
						t.Errorf("%s DR%d: MaxPayload %+v, brocaar %+v", variant, dr, got, want)
					}
				}
				if d := b.GetDefaults(); r.RX2() != (RX2{d.RX2Frequency, d.RX2DataRate}) {
					t.Errorf("%s: RX2 %+v, brocaar %d Hz DR%d", variant, r.RX2(), d.RX2Frequency, d.RX2DataRate)
				}
				for _, f := range []uint32{r.RX2().FrequencyHz, 868_100_000, 869_300_000, 869_400_000, 869_649_999, 869_650_000, 923_300_000} {
					if got, want := r.DownlinkTXPowerDBm(f), b.GetDownlinkTXPower(f); got != want {
						t.Errorf("%s: downlink power at %d Hz = %d, brocaar %d", variant, f, got, want)
					}
				}
			}
		}
	}
	for key := range deviations {
		if !used[key] {
			t.Errorf("deviation %s never checked", key)
		}
	}
}

func checkDataRate(t *testing.T, variant string, r *Region, b band.Band, dr int) {
	t.Helper()
	d, err := r.DataRate(dr)
	bd, berr := b.GetDataRate(dr)
	switch {
	case err != nil && berr != nil:
		return
	case err != nil:
		t.Errorf("%s DR%d: undefined here, brocaar has %+v", variant, dr, bd)
		return
	case berr != nil:
		t.Errorf("%s DR%d: %v here, undefined in brocaar", variant, dr, d)
		return
	}
	var want DataRate
	switch bd.Modulation {
	case band.LoRaModulation:
		want = DataRate{Modulation: LoRa, SF: bd.SpreadFactor, BandwidthHz: bd.Bandwidth * 1000}
	case band.FSKModulation:
		want = DataRate{Modulation: FSK, BitRate: bd.BitRate}
	case band.LRFHSSModulation:
		cr := bd.CodingRate
		if cr == "4/6" {
			cr = "2/3"
		}
		want = DataRate{Modulation: LRFHSS, CodingRate: cr, BandwidthHz: bd.OccupiedChannelWidth}
	}
	got := d
	got.Index, got.Uplink, got.Downlink = 0, false, false
	if got != want {
		t.Errorf("%s DR%d: %+v, brocaar %+v", variant, dr, d, bd)
	}
	// brocaar keeps its direction flags unexported; GetDataRateIndex reveals them.
	for _, c := range []struct {
		uplink, allowed bool
	}{{true, d.Uplink}, {false, d.Downlink}} {
		idx, err := b.GetDataRateIndex(c.uplink, bd)
		if found := err == nil && idx == dr; found != c.allowed {
			t.Errorf("%s DR%d: allowed for uplink=%v is %v here, brocaar finds DR%d (%v)", variant, dr, c.uplink, c.allowed, idx, err)
		}
	}
}

// TestBrocaarAS923DR2 records where RADIO.md's "brocaar still has DR2 = 59/51"
// comes from: brocaar's per-MAC-version entries (LoRaWAN 1.0.2B, 1.0.3A, 1.1)
// have 59/51, while its RP002 "latest" entry already has 123/115, as RP002-1.0.5
// and this package do.
func TestBrocaarAS923DR2(t *testing.T) {
	b, err := band.GetConfig(band.AS923, false, lorawan.DwellTimeNoLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mac  string
		want int
	}{{band.LoRaWAN_1_0_3, 59}, {band.LoRaWAN_1_1_0, 59}, {"", 123}} {
		got, err := b.GetMaxPayloadSizeForDataRateIndex(c.mac, "", 2)
		if err != nil || got.M != c.want {
			t.Errorf("brocaar AS923 DR2 for MAC %q: %+v, %v; want M %d", c.mac, got, err, c.want)
		}
	}
}
