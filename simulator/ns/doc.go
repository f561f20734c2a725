// Package ns is the simulator's ChirpStack v4 network server: the part of
// ChirpStack's gRPC API a FUOTA server uses, served with ChirpStack's own
// generated stubs (github.com/chirpstack/chirpstack/api/go/v4), over the state
// of a simulated fleet, with ChirpStack's multicast scheduler behind it
// (ARCHITECTURE.md, "The simulator"; CHIRPSTACK.md §1–§3). A client cannot
// tell it from ChirpStack, down to the error codes, unless told to: every
// silent or odd behaviour of ChirpStack is reproduced and can be switched off
// one by one (Quirks).
//
// # Use
//
// New makes a Server from a Config, a clock.Clock (the only source of time)
// and options: WithRand for replayable ids, WithTransmitter for the radio
// side, WithEventSink for integration events, WithLogger. The simulator loads
// the fleet with AddTenant, AddApplication, AddDeviceProfile, AddDevice and
// AddGateway; Serve serves the API on a listener (TCP, or
// google.golang.org/grpc/test/bufconn in process), or RegisterGRPC and
// ServerOptions set up a grpc.Server of the caller's. StartScheduler runs the
// multicast scheduler on the clock; Tick runs it once.
//
// The radio side (gateways, channel, devices) plugs in through:
//
//   - Transmitter: Tick hands it every due multicast frame (Downlink: gateway,
//     region, frequency, DR, power, GPS or immediate timing, the PHYPayload
//     encrypted and MIC'd with the group's session keys, and the same frame
//     in clear) and gets the gateway's tx ack back.
//   - NextDownlink, AckDownlink, ConfirmDownlink: the device queues. When a
//     device may receive (its class is the radio side's business), the radio
//     side takes the head item, reports the tx ack, and for a confirmed item
//     the device's ACK.
//   - RecordUplink and MarkGatewaySeen: which gateways hear which device
//     (ChirpStack's fallback gateway set for a group without gateways) and
//     liveness for GatewayService.List.
//
// # Served
//
// MulticastGroupService: Create, Get, Update, Delete, List, AddDevice,
// RemoveDevice, AddGateway, RemoveGateway, Enqueue, FlushQueue, ListQueue.
// DeviceService: Get, List, GetKeys, Enqueue, FlushQueue, GetQueue,
// GetNextFCntDown. DeviceProfileService, GatewayService, ApplicationService,
// TenantService: Get, List. Every other method answers Unimplemented. Every
// method of the "api." services needs "authorization: Bearer <key>" with a
// key of Config.APIKeys, else Unauthenticated with ChirpStack's messages.
//
// # Mirrored from ChirpStack
//
// From chirpstack/chirpstack (api/*.rs, storage/multicast.rs,
// storage/device_queue.rs, downlink/multicast.rs, downlink/classb.rs, at
// d77207cd, the same as v4.16.1 in these respects):
//
//   - Multicast enqueue: one row per gateway with the group's FCnt, which is
//     then incremented even with no gateway. Class C: run-after is the latest
//     run-after of the group's rows plus the class C margin, or now;
//     GPS_TIME adds the margin once more and emits all gateways at that GPS
//     instant (so frames are 2 × margin apart, and each row is due at its own
//     emit time); DELAY adds a margin per further gateway. Class B: the first
//     ping slot of the McAddr (LoRaWAN 1.0.4 §12 ping offset) after the
//     latest queued emit time, or after now + class B margin; due two
//     scheduler intervals earlier.
//   - The gateway set: the gateways added to the group, else from the
//     devices' reception history, as ChirpStack's spanning tree picks them.
//   - Scheduling: due rows in creation order, up to the batch size, locked
//     for the lock duration; expired rows and rows longer than N(DR) (RP002,
//     latest tables) deleted with a log line only; a row deleted on any tx
//     ack, OK or not, with no integration event; a row without tx ack picked
//     again after the lock.
//   - Device queue: FPort 1–255 (the request's uint32 cast to u8 first),
//     flush_queue keeps pending items, count_only is ignored, GetQueue and
//     FlushQueue of an unknown device succeed, GetNextFCntDown is
//     max(session FCntDown, largest queued FCntDown + 1), so at least 1;
//     unicast tx errors leave the item queued with a DOWNLINK_GATEWAY
//     LogEvent, expired items give an EXPIRED LogEvent.
//   - Errors, codes and messages: "Object does not exist (id: …)" NotFound;
//     "Validation error: …" InvalidArgument; uuid-crate messages for bad
//     UUIDs (InvalidArgument); hex-crate messages for bad EUIs, DevAddrs and
//     keys, and an empty one read as zeros; and ChirpStack's Internal answers:
//     everything from the multicast Enqueue path (unknown group, FPort 0),
//     malformed hex, a member added twice (PostgreSQL's duplicate key), an
//     unknown application or device on create or enqueue (foreign key).
//     AddDevice of another application's device and AddGateway of another
//     tenant's gateway are NotFound; List is ordered by name, search is a
//     case-insensitive substring, limit 0 returns no rows; ListDevices needs
//     application_id and ListApplications tenant_id.
//
// # Simplified
//
//   - Tenants, applications, device profiles, devices and gateways come from
//     the loader; their Create/Update/Delete calls are Unimplemented. Any
//     configured key acts as an admin key; there are no users.
//   - Auth runs in an interceptor before the handler, so a missing key wins
//     over a malformed id, where ChirpStack parses ids first.
//   - Groups in regions without tables in package region (EU433, CN470,
//     CN779, RU864, ISM2400) are refused at Create and Update; the payload
//     limit uses the group's region, where ChirpStack uses the gateway's
//     region configuration. ChirpStack checks no region against anything
//     else, nor does this.
//   - No gateway-online check (PostgreSQL builds skip rows of gateways not
//     seen for two stats intervals); the reception history is the last
//     uplink's gateways; ties in the gateway set go to the lowest id.
//   - No payload codecs (an object in a device queue item is refused); no
//     class A/B/C lock or RX-window logic, which belongs to the radio side.
package ns
