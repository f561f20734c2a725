// Package region holds the LoRaWAN regional parameters lorafuota plans with: per
// region the data rates, the maximum payload per data rate, the default RX2
// channel and downlink power, the duty-cycle sub-bands, and an exact LoRa
// time-on-air calculator.
//
// The figures follow shared/RADIO.md (§1–§4), which in turn follows LoRaWAN
// Regional Parameters RP002 and ETSI EN 300 220. The data-rate and payload tables
// agree with github.com/brocaar/lorawan/band (RP002-1.0.2/1.0.3 "latest" entries)
// except where a comment says otherwise; the tests cross-check every entry.
//
// Tables are built afresh for every Get, and every accessor returns a copy, so a
// caller can never change what another caller sees.
//
// Time on air is computed in integer nanoseconds and is exact: every LoRa symbol
// time at 125, 250 and 500 kHz is a whole number of nanoseconds divisible by four,
// so the 4.25-symbol preamble tail needs no rounding. Downlinks carry no payload
// CRC (LoRaWAN 1.0.3 §3.2), uplinks do; DownlinkToA and UplinkToA apply that rule.
package region
