// Package simulator is the simulated field behind a simulated ChirpStack v4:
// the network server (simulator/ns) with its ChirpStack gRPC API, gateways
// (simulator/gateway), the radio channel (simulator/radio) and end devices,
// each a LoRaWAN MAC layer of this package over a simulator/device
// application layer with its own flash and bootloader (ARCHITECTURE.md,
// "The simulator"; issue 5).
//
// # Scenario
//
// A Scenario (TOML, see examples/ in the repository, or DefaultScenario)
// names tenants, applications, device profiles, gateways and groups of alike
// devices. Validate names the offending field of every error, as
// `devices[1].class: "D" is not A, B or C`.
//
// # Frames
//
// Frames on the air are real LoRaWAN 1.0.x or 1.1 data frames, built and
// checked with brocaar/lorawan: FRMPayload encrypted with the AppSKey, MIC
// with the network session keys, 16-bit frame counters on the air. Devices
// are activated at start without join traffic, with the session keys a join
// would derive from their root keys with JoinNonce 1, DevNonce 1, NetID
// 000000 and JoinEUI 0 (LoRaWAN 1.0.4 §6.2.5, 1.1 §6.2.2), and a random
// DevAddr of NetID 000000 drawn from the seed. Root keys not given in the
// scenario are drawn from the seed as well, and ChirpStack's GetKeys answers
// them (for 1.0.x: nwk_key = AppKey, gen_app_key = GenAppKey).
//
// # Downlinks as ChirpStack delivers them
//
//   - Uplink: the network side decodes the frame, checks MIC and frame
//     counter, decrypts it, records the gateways that heard it
//     (ns.RecordUplink, MarkGatewaySeen) and publishes the `up` integration
//     event with rx_info and tx_info.
//   - Class A (and B: ping slots are not modelled): after each uplink the
//     head of the device queue (ns.NextDownlink) goes in RX1 (uplink end +
//     1 s, same channel and DR) through the gateway with the best SNR, or in
//     RX2 if that gateway refuses; the tx ack goes back with AckDownlink.
//     One item per uplink, confirmed or not; the next uplink's ACK bit
//     settles a confirmed item (ConfirmDownlink).
//   - Class C: every scheduler interval, the head of each class C device's
//     queue goes out at once on RX2 through the gateway that last heard the
//     device best; a device never heard cannot be reached, as in ChirpStack.
//   - Multicast: ns schedules the group queues as ChirpStack does and hands
//     the frames to the gateways; a device hears them when its application
//     listens (a TS005 class C or B session) and decodes them with the
//     group keys its McGroupSetupReq gave it.
//
// The tx ack, ack and log events of the device queues go to the same
// events.Publisher through events.NSSink.
//
// # Time
//
// Everything runs on one clock.Virtual: RunFor and Run in virtual time,
// RunRealtime against the wall clock (`lorafuota sim serve`). Only gRPC
// handlers run on other goroutines, and they only touch ns state, which is
// safe for concurrent use.
//
// # Not modelled
//
// OTAA joins (devices are ABP-activated with join-derived keys), MAC
// commands (FOpts, FPort 0), ADR, confirmed uplinks, class B ping slots for
// unicast, device-side duty cycle, uplink collisions.
package simulator
