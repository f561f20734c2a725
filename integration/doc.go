// Package integration is the FUOTA server's side of ChirpStack v4
// (CHIRPSTACK.md §1, §2): a client of its gRPC API, and the intake of its
// integration events over MQTT and HTTP.
//
// # API
//
// Dial connects a Client with a bearer API key, over TLS or not. The Client
// exposes the official stubs' service clients and typed helpers for what the
// campaign engine asks of ChirpStack: device root keys (GetDeviceKeys),
// unicast enqueue, multicast group life cycle and enqueue, and the device
// profile flags that matter for FUOTA (class B/C support, and whether
// ChirpStack's own application-layer handlers would answer the FUOTA ports,
// CHIRPSTACK.md §0.5). Errors say which call and which device or group, and
// wrap the gRPC status, so status.Code still works on them.
//
// # Events
//
// MQTTSource subscribes to ChirpStack's MQTT integration and HTTPHandler
// serves its HTTP integration. Both decode the official integration messages
// (ChirpStack's JSON or protobuf, detected or configured), map them to the
// plain types of this package (Uplink, TxAck, Ack, Log) and call a Handler.
// The engine implements Handler and imports nothing else of this package's
// transports.
//
// A Filter decides what reaches the Handler: uplinks on the FUOTA ports
// (200–203 unless configured) of managed devices, and the tx acks, acks and
// log events of managed devices. Everything else (other ports, other devices,
// join, status and location events, unknown event types) is ignored and
// counted; malformed events are logged and dropped and counted (Stats).
//
// Handler methods are called synchronously, one event at a time per source,
// in the order the transport delivers them; a Handler should hand events on
// (to a channel, say) rather than do slow work in the call, since MQTT
// keep-alives and HTTP answers wait for it.
package integration
