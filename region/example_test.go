package region_test

import (
	"fmt"
	"log"

	"github.com/lorafuota/lorafuota/region"
)

// A full-size EU868 DR5 fragment on the RX2 channel: its size, airtime, and the
// spacing band P's 10 % duty cycle imposes.
func Example() {
	eu, err := region.Get(region.EU868)
	if err != nil {
		log.Fatal(err)
	}
	rx2 := eu.RX2()
	f, err := eu.MaxFragmentSize(5, region.PayloadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	toa, err := eu.DownlinkToA(5, region.DataFragmentPHYLen(f))
	if err != nil {
		log.Fatal(err)
	}
	sb, err := eu.SubBand(rx2.FrequencyHz)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("fragment:", f, "B, PHY", region.DataFragmentPHYLen(f), "B")
	fmt.Println("airtime:", toa)
	fmt.Println("sub-band:", sb)
	fmt.Println("min spacing:", sb.DutyCycle.MinSpacing(toa))
	// Output:
	// fragment: 239 B, PHY 255 B
	// airtime: 394.496ms
	// sub-band: P [869.400, 869.650) MHz 10%
	// min spacing: 3.94496s
}

func ExampleTimeOnAir() {
	// A Class B beacon: 17 B at SF9, implicit header, 10-symbol preamble, no CRC.
	toa, err := region.TimeOnAir(region.LoRaParams{
		PayloadLen:     17,
		SF:             9,
		BandwidthHz:    125000,
		CodingRate:     1,
		Preamble:       10,
		ImplicitHeader: true,
	})
	fmt.Println(toa, err)
	// Output: 152.576ms <nil>
}

func ExampleSubBands_Lookup() {
	eu, _ := region.Get("EU868")
	for _, e := range []region.Enforcement{region.Regulatory, region.BasicStation} {
		sbs, _ := eu.SubBands(e)
		sb, _ := sbs.Lookup(866_000_000)
		fmt.Printf("%v: %s %v\n", e, sb.Name, sb.DutyCycle)
	}
	// Output:
	// regulatory: L 1%
	// basic-station: MILLI 0.1%
}
