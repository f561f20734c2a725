// Package radio is the simulator's air interface: the medium between the
// simulated gateways and devices. It decides, frame by frame, which
// receivers hear what, with which RSSI and SNR, and which frames the
// channel loses (shared/RADIO.md §7; issue 5, "Links").
//
// # Use
//
// New makes a Medium for one region on a clock.Clock, with an rng.Source
// from which every random draw comes. Gateways join with AddGateway, which
// returns the Port through which the gateway puts its frames on air;
// devices join with AddDevice and a Receiver. SetLink gives a device ×
// gateway pair an explicit loss model (RemoveLink takes a pair out of
// range); a pair without one whose two ends both have a position gets a
// link from the path-loss model; any other pair is out of range.
//
//   - Downlink: when a gateway's frame goes on air (Port.Transmit, at its
//     start time) the medium asks every device with a link to that gateway
//     whether it is Listening on that frequency and data rate at that
//     instant, draws the link's fate, and hands the frame to Receive at the
//     frame's end.
//   - Uplink: Medium.Uplink starts a device's frame now. At its end every
//     gateway with a link hears it unless the link loses it or the gateway
//     was transmitting at some time during it (gateways are half-duplex);
//     the UplinkHandler, the network server's side, gets the frame once
//     with one RxInfo per gateway that heard it: RSSI, SNR, frequency, DR,
//     reception time and time since the GPS epoch.
//
// Everything runs on the clock: deliveries are clock callbacks, and nothing
// here reads the wall clock or starts a goroutine. The Medium is safe for
// concurrent use, and calls receivers and handlers without its lock held.
//
// # Randomness
//
// Each link draws from its own stream, named "radio/link/<gateway>/<device>"
// after the pair (simulator/rng), shared by both directions. A run replays
// from the seed, and adding a device or a link does not change what the
// others draw.
//
// # Loss models
//
//   - Bernoulli{P}: each frame is lost with probability P, independently.
//   - GilbertElliott{PGoodToBad, PBadToGood, LossGood, LossBad}: a two-state
//     Markov chain stepped once per frame on the link, starting Good; a frame
//     is lost with LossGood or LossBad by the state it meets, then the state
//     moves on. The bad state lasts 1/PBadToGood frames on average, so with
//     LossBad = 1 that is the mean loss-burst length; the long-run share of
//     bad frames is PGoodToBad/(PGoodToBad+PBadToGood).
//   - LinkBudget{SigmaDB}: the frame is heard if its SNR clears the LoRa
//     demodulation floor of its spreading factor. The mean SNR follows from
//     the transmit power (EIRP), the path loss and the noise floor; each
//     frame adds a zero-mean Gaussian fade of SigmaDB, so a link with mean
//     margin m loses a frame with probability Φ(−m/σ). The fade is also in
//     the RSSI and SNR reported. Bernoulli and Gilbert–Elliott links report
//     the mean figures and ignore the margin.
//
// # Link-budget constants
//
//   - Path loss, PathLoss: log-distance, PL(d) = RefDB + 10·n·log10(d/RefDistance),
//     never below free space 20·log10(d/m) + 20·log10(f/MHz) − 27.55, d at
//     least 1 m. The default is Okumura–Hata for an urban small/medium city
//     at 868 MHz with a 30 m gateway antenna and a 1.5 m device:
//     PL(d) = 126.0 + 35.2·log10(d/1 km) dB (HataRefDB, HataRefDistance,
//     HataExponent), used for every region.
//   - Noise floor: −174 dBm/Hz + 10·log10(bandwidth) + noise figure; with the
//     default 6 dB noise figure, −117.0 dBm at 125 kHz and −111.0 dBm at
//     500 kHz.
//   - Demodulation floor (SNR needed to demodulate, Semtech SX1276/SX1302
//     datasheets): SF7 −7.5 dB, SF8 −10, SF9 −12.5, SF10 −15, SF11 −17.5,
//     SF12 −20 (−2.5 dB per SF step; SF5 −2.5, SF6 −5 on SX126x). With the
//     defaults a 14 dBm uplink has a mean margin of zero at 2.3 km on SF7 and
//     5.1 km on SF12.
//   - Default SigmaDB for links made from positions: 4 dB.
//
// # Not modelled
//
// Collisions between uplinks of different devices, capture, and the
// combination of time-aligned downlinks from several gateways (GPS
// simulcast, RADIO.md §7 ❓) are not modelled: every frame is judged on its
// own link. Gateways hear every frequency and data rate of the region.
// Positions do not change after registration.
package radio
