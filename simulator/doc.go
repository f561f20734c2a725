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
// Frames on the air are real LoRaWAN 1.0.x or 1.1 frames, built and
// checked with brocaar/lorawan: FRMPayload encrypted with the AppSKey, MIC
// with the network session keys, 16-bit frame counters on the air.
//
// # Activation
//
// A group with `activation = "otaa"` joins: at power-on, and at its
// application's first uplink after a reset, the device sends a JoinRequest
// (JoinEUI 0, DevNonce from the device's NVM, nvm.Store.NextDevNonce, so
// never repeated across resets; MIC with NwkKey for 1.1, AppKey for 1.0.x)
// and holds its application's uplinks until it has a session. The network
// refuses a DevNonce it has seen (a `log` event, "DevNonce has already been
// used", as ChirpStack) and otherwise answers in RX1 (5 s) or RX2 (6 s) with
// a JoinAccept encrypted and signed as the spec says (JoinNonce counting
// per device, NetID 000000, a DevAddr drawn from the seed, RX2 DR, RxDelay
// 1 s, OptNeg for 1.1), publishes the `join` event, and both ends derive the
// session keys (1.0.4 §6.2.5, 1.1 §6.2.2). A device without an answer
// tries again after 20–40 s. ABP groups (the default) start with the keys
// a join would derive with JoinNonce 1, DevNonce 1, NetID 000000 and
// JoinEUI 0, and a DevAddr drawn from the seed. Root keys not given in the
// scenario are drawn from the seed as well, and ChirpStack's GetKeys
// answers them (for 1.0.x: nwk_key = AppKey, gen_app_key = GenAppKey).
//
// # Device status
//
// The network asks each device for its status with DevStatusReq in the
// FOpts of a class A downlink after the first uplink of a session, then
// every network.status_interval (24 h by default): in the FOpts of a queue
// item if one goes out, else of a MAC-only frame (no FPort). MAC-only
// frames count on a frame counter of their own, as 1.1's NFCntDown, for
// 1.0.x devices too, since the simulated ChirpStack's queue owns the
// counter of the items. The device answers DevStatusAns (its battery, drawn
// from the seed, and the request's SNR as margin) in the FOpts of its next
// uplink, and the network publishes the `status` event.
//
// # Downlinks as ChirpStack delivers them
//
//   - Uplink: the network side decodes the frame, checks MIC and frame
//     counter, decrypts it, records the gateways that heard it
//     (ns.RecordUplink, MarkGatewaySeen) and publishes the `up` integration
//     event with rx_info and tx_info.
//   - Class A: after each uplink the head of the device queue
//     (ns.NextDownlink) goes in RX1 (uplink end + 1 s, same channel and DR)
//     through the gateway with the best SNR, or in RX2 if that gateway
//     refuses; the tx ack goes back with AckDownlink. One item per uplink,
//     confirmed or not; the next uplink's ACK bit settles a confirmed item
//     (ConfirmDownlink).
//   - Class B: the head of the queue goes in the device's next ping slot
//     (ns.PingSlotAfter, with the profile's class_b_ping_slot_periodicity),
//     on the ping-slot channel (EU868: 869.525 MHz, DR3), through the
//     gateway that last heard the device best; its class A windows carry
//     MAC commands only. The device listens in every ping slot; beacons are
//     not modelled, so it is taken to be locked on them all along.
//   - Class C: every scheduler interval, the head of each class C device's
//     queue goes out at once on RX2 through the gateway that last heard the
//     device best; a device never heard cannot be reached, as in ChirpStack.
//   - Multicast: ns schedules the group queues as ChirpStack does and hands
//     the frames to the gateways; a device hears them when its application
//     listens (a TS005 class C or B session) and decodes them with the
//     group keys its McGroupSetupReq gave it.
//
// The tx ack, ack and log events of the device queues go to the same
// events.Publisher through events.NSSink; up, join, status and the join's
// log events are published by the network side itself.
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
// Rejoin requests, JoinEUI other than 0, MAC commands other than
// DevStatusReq/Ans (no ADR, no LinkCheck, no DeviceTime, nothing on
// FPort 0), class B beacons and PingSlotInfoReq, confirmed uplinks,
// device-side duty cycle, uplink collisions.
package simulator
