package region

// The tables below follow LoRaWAN Regional Parameters RP002-1.0.3 (data rates,
// RX2, maximum payload) as encoded in brocaar/lorawan/band's "latest" entries, with
// the changes RADIO.md §3 asks for, each marked where it is made. Downlink powers
// are brocaar/lorawan/band's GetDownlinkTXPower.

// drDir says in which directions RP002 allows a data rate.
type drDir uint8

const (
	up drDir = 1 << iota
	down
	both = up | down
)

func lora(index, sf, bandwidthHz int, dir drDir) DataRate {
	return DataRate{Index: index, Modulation: LoRa, SF: sf, BandwidthHz: bandwidthHz,
		Uplink: dir&up != 0, Downlink: dir&down != 0}
}

func fsk(index, bitRate int) DataRate {
	return DataRate{Index: index, Modulation: FSK, BitRate: bitRate, Uplink: true, Downlink: true}
}

// lrfhss is an uplink-only LR-FHSS data rate (RP002-1.0.3).
func lrfhss(index int, codingRate string, occupiedHz int) DataRate {
	return DataRate{Index: index, Modulation: LRFHSS, CodingRate: codingRate, BandwidthHz: occupiedHz, Uplink: true}
}

// mp is the limit for a MACPayload of m bytes: N = M − 8 (FHDR 7 + FPort 1).
// The zero MaxPayload{} in a table marks a data rate without payload under that
// variant (undefined data rates, DR0/DR1 with dwell time).
func mp(m int) MaxPayload { return MaxPayload{M: m, N: m - 8} }

// eu868 follows RP002-1.0.3. DR8–DR11 are LR-FHSS uplinks.
func eu868() *Region {
	return &Region{
		name: EU868,
		dataRates: []DataRate{
			lora(0, 12, 125000, both),
			lora(1, 11, 125000, both),
			lora(2, 10, 125000, both),
			lora(3, 9, 125000, both),
			lora(4, 8, 125000, both),
			lora(5, 7, 125000, both),
			lora(6, 7, 250000, both),
			fsk(7, 50000),
			lrfhss(8, "1/3", 137000),
			lrfhss(9, "2/3", 137000),
			lrfhss(10, "1/3", 336000),
			lrfhss(11, "2/3", 336000),
		},
		payloads: payloadTables{
			// RADIO.md §3.1.
			plain: []MaxPayload{mp(59), mp(59), mp(59), mp(123), mp(250), mp(250), mp(250), mp(250),
				mp(58), mp(123), mp(58), mp(123)},
			repeater: []MaxPayload{mp(59), mp(59), mp(59), mp(123), mp(230), mp(230), mp(230), mp(230),
				mp(58), mp(123), mp(58), mp(123)},
		},
		rx2:          RX2{FrequencyHz: 869_525_000, DataRate: 0},
		dlPowerDBm:   14,                                      // 25 mW
		dlPowerBands: []powerRange{{mhz869_4, mhz869_65, 27}}, // band P, 500 mW
		regulatory:   eu868Regulatory(),
		basicStation: eu868BasicStation(),
	}
}

// usDownlinkDataRates is DR8–DR13 of US915 and AU915.
func usDownlinkDataRates() []DataRate {
	return []DataRate{
		lora(8, 12, 500000, down),
		lora(9, 11, 500000, down),
		lora(10, 10, 500000, down),
		lora(11, 9, 500000, down),
		lora(12, 8, 500000, down),
		lora(13, 7, 500000, down),
	}
}

// usDownlinkPayloads returns the US915 and AU915 downlink limits, DR8–DR13
// (RADIO.md §3.2).
func usDownlinkPayloads(repeater bool) []MaxPayload {
	if repeater {
		// RADIO.md §3.2 gives 41/33 and 117/109 for DR8/DR9. brocaar's
		// RP002-1.0.2/1.0.3 entries have 61/53 and 137/129 (its RP002-1.0.0/1.0.1
		// and LoRaWAN 1.0.x entries have 41 and 117). The smaller values are kept:
		// they are what RADIO.md states, and a smaller limit is always accepted.
		return []MaxPayload{mp(41), mp(117), mp(230), mp(230), mp(230), mp(230)}
	}
	return []MaxPayload{mp(61), mp(137), mp(250), mp(250), mp(250), mp(250)}
}

// us915 follows RP002-1.0.3. Uplink DR0–DR4 LoRa (the 125 kHz sizes already keep
// frames under the FCC 400 ms dwell time), DR5–DR6 LR-FHSS, DR7 undefined,
// downlink DR8–DR13 at 500 kHz.
func us915() *Region {
	return &Region{
		name: US915,
		dataRates: append([]DataRate{
			lora(0, 10, 125000, up),
			lora(1, 9, 125000, up),
			lora(2, 8, 125000, up),
			lora(3, 7, 125000, up),
			lora(4, 8, 500000, up),
			lrfhss(5, "1/3", 1523000),
			lrfhss(6, "2/3", 1523000),
			{Index: 7},
		}, usDownlinkDataRates()...),
		payloads: payloadTables{
			plain: append([]MaxPayload{mp(19), mp(61), mp(133), mp(250), mp(250), mp(58), mp(133), {}},
				usDownlinkPayloads(false)...),
			repeater: append([]MaxPayload{mp(19), mp(61), mp(133), mp(230), mp(230), mp(58), mp(133), {}},
				usDownlinkPayloads(true)...),
		},
		rx2:          RX2{FrequencyHz: 923_300_000, DataRate: 8},
		dlPowerDBm:   20,
		regulatory:   wholeBand(US915, 902_000_000, 928_000_000, NoDutyCycle, false),
		basicStation: wholeBand(US915, 902_000_000, 928_000_000, NoDutyCycle, false),
	}
}

// au915 follows RP002-1.0.3: US915's downlink structure, EU-like uplink DR0–DR5,
// DR6 SF8/500 kHz, DR7 LR-FHSS. Dwell time (TxParamSetupReq) limits the uplink
// data rates; the 500 kHz downlinks keep their sizes.
func au915() *Region {
	return &Region{
		name: AU915,
		dataRates: append([]DataRate{
			lora(0, 12, 125000, up),
			lora(1, 11, 125000, up),
			lora(2, 10, 125000, up),
			lora(3, 9, 125000, up),
			lora(4, 8, 125000, up),
			lora(5, 7, 125000, up),
			lora(6, 8, 500000, up),
			lrfhss(7, "1/3", 1523000),
		}, usDownlinkDataRates()...),
		payloads: payloadTables{
			plain: append([]MaxPayload{mp(59), mp(59), mp(59), mp(123), mp(250), mp(250), mp(250), mp(58)},
				usDownlinkPayloads(false)...),
			repeater: append([]MaxPayload{mp(59), mp(59), mp(59), mp(123), mp(230), mp(230), mp(230), mp(58)},
				usDownlinkPayloads(true)...),
			dwell: append([]MaxPayload{{}, {}, mp(19), mp(61), mp(133), mp(250), mp(250), mp(58)},
				usDownlinkPayloads(false)...),
			dwellRepeater: append([]MaxPayload{{}, {}, mp(19), mp(61), mp(133), mp(230), mp(230), mp(58)},
				usDownlinkPayloads(true)...),
		},
		rx2:          RX2{FrequencyHz: 923_300_000, DataRate: 8},
		dlPowerDBm:   27,
		regulatory:   wholeBand(AU915, 915_000_000, 928_000_000, NoDutyCycle, false),
		basicStation: wholeBand(AU915, 915_000_000, 928_000_000, NoDutyCycle, false),
	}
}

// as923 follows RP002-1.0.3 for group 1 shifted by offsetHz for groups 2–4.
func as923(name Name, offsetHz int32) *Region {
	// Basic Station 2.0.6 knows only AS923-1 (and the old AS923JP): it adds CCA
	// and a 10 % limit per downlink channel. Other groups are "unrecognized
	// region" there, without any duty-cycle limit.
	bs := wholeBand(name, 915_000_000, 928_000_000, NoDutyCycle, false)
	if name == AS923_1 {
		bs = wholeBand(name, 915_000_000, 928_000_000, DutyCycle10pct, true)
	}
	return &Region{
		name: name,
		dataRates: []DataRate{
			lora(0, 12, 125000, both),
			lora(1, 11, 125000, both),
			lora(2, 10, 125000, both),
			lora(3, 9, 125000, both),
			lora(4, 8, 125000, both),
			lora(5, 7, 125000, both),
			lora(6, 7, 250000, both),
			fsk(7, 50000),
		},
		payloads: payloadTables{
			// RADIO.md §3.3 (RP002-1.0.5 Table 73; RP002-1.0.4 in TTS). DR2 without
			// dwell time is 123/115. brocaar's RP002 ("latest") entry agrees; only its
			// LoRaWAN 1.0.2B/1.0.3A/1.1 entries still say 59/51, which older devices
			// may enforce.
			plain:    []MaxPayload{mp(59), mp(59), mp(123), mp(123), mp(250), mp(250), mp(250), mp(250)},
			repeater: []MaxPayload{mp(59), mp(59), mp(123), mp(123), mp(230), mp(230), mp(230), mp(230)},
			// RP002-1.0.5: devices enforce the DwellTime = 0 sizes on downlinks
			// whatever DownlinkDwellTime says; the dwell table is what keeps a
			// gateway inside a 400 ms regulatory dwell limit.
			dwell:         []MaxPayload{{}, {}, mp(19), mp(61), mp(133), mp(250), mp(250), mp(250)},
			dwellRepeater: []MaxPayload{{}, {}, mp(19), mp(61), mp(133), mp(230), mp(230), mp(230)},
		},
		rx2:          RX2{FrequencyHz: uint32(923_200_000 + offsetHz), DataRate: 2},
		dlPowerDBm:   14,
		regulatory:   wholeBand(name, 915_000_000, 928_000_000, NoDutyCycle, false),
		basicStation: bs,
	}
}

// in865 follows RP002-1.0.3. DR6 is reserved. No duty cycle is modelled (none
// in brocaar or TTS; RADIO.md §4.4 marks it unverified); Basic Station does not
// know the region and so applies none either.
func in865() *Region {
	return &Region{
		name: IN865,
		dataRates: []DataRate{
			lora(0, 12, 125000, both),
			lora(1, 11, 125000, both),
			lora(2, 10, 125000, both),
			lora(3, 9, 125000, both),
			lora(4, 8, 125000, both),
			lora(5, 7, 125000, both),
			{Index: 6},
			fsk(7, 50000),
		},
		payloads: payloadTables{
			plain:    []MaxPayload{mp(59), mp(59), mp(59), mp(123), mp(250), mp(250), {}, mp(250)},
			repeater: []MaxPayload{mp(59), mp(59), mp(59), mp(123), mp(230), mp(230), {}, mp(230)},
		},
		rx2:          RX2{FrequencyHz: 866_550_000, DataRate: 2},
		dlPowerDBm:   27,
		regulatory:   wholeBand(IN865, 865_000_000, 867_000_000, NoDutyCycle, false),
		basicStation: wholeBand(IN865, 865_000_000, 867_000_000, NoDutyCycle, false),
	}
}

// kr920 follows RP002-1.0.3 (920.9–923.3 MHz). Korea requires LBT, not a duty
// cycle; Basic Station adds CCA and a 2 % limit per downlink channel.
func kr920() *Region {
	return &Region{
		name: KR920,
		dataRates: []DataRate{
			lora(0, 12, 125000, both),
			lora(1, 11, 125000, both),
			lora(2, 10, 125000, both),
			lora(3, 9, 125000, both),
			lora(4, 8, 125000, both),
			lora(5, 7, 125000, both),
		},
		payloads: payloadTables{
			plain:    []MaxPayload{mp(59), mp(59), mp(59), mp(123), mp(250), mp(250)},
			repeater: []MaxPayload{mp(59), mp(59), mp(59), mp(123), mp(230), mp(230)},
		},
		rx2:          RX2{FrequencyHz: 921_900_000, DataRate: 0},
		dlPowerDBm:   23,
		regulatory:   wholeBand(KR920, 920_900_000, 923_300_000, NoDutyCycle, false),
		basicStation: wholeBand(KR920, 920_900_000, 923_300_000, DutyCycle2pct, true),
	}
}
