// Package events is the simulated ChirpStack's integration-event publisher:
// it hands the events ChirpStack v4 publishes (CHIRPSTACK.md §2) — up, join,
// ack, txack, log, status and location, as the official messages of
// github.com/chirpstack/chirpstack/api/go/v4/integration — to in-process
// subscribers, to an MQTT broker and to HTTP endpoints, encoded as ChirpStack
// encodes them.
//
// # Delivery
//
// A Publisher is made by New from a Config. Publish takes one event message
// with the application id and DevEUI it belongs to and:
//
//   - calls every Subscriber synchronously, in subscription order, before it
//     returns, so a virtual-time run sees its events at the instant they are
//     raised and in the order they were raised;
//   - queues the encoded event for every network sink and returns without
//     waiting. Each MQTT or HTTP sink has a bounded queue drained by a worker
//     goroutine of its own; when a queue is full the event is dropped for
//     that sink, counted in Stats and logged. The simulation loop therefore
//     never waits on the network, and a slow or dead endpoint costs events,
//     not time. ChirpStack itself does not retry either: a failed POST or a
//     QoS 0 publish is lost.
//
// MQTT events go to a topic made from MQTTConfig.TopicTemplate, by default
// ChirpStack's application/{{application_id}}/device/{{dev_eui}}/event/{{event}},
// at QoS 0 unless configured. HTTP events are POSTed to every URL of an
// HTTPConfig with "?event=<type>" appended, Content-Type application/json or
// application/octet-stream, and the configured headers. Close stops accepting
// events and flushes the queues until its context is done.
//
// # Encoding
//
// Protobuf is proto.Marshal (deterministic). JSON is what ChirpStack emits,
// not what protojson emits: ChirpStack serialises with the Rust pbjson crate,
// its integration package generated with emit_fields (api/rust/build.rs), and
// that form is reproduced here by MarshalJSON:
//
//   - lowerCamelCase names, in declaration order, oneof members last;
//   - in messages of package integration (the events, DeviceInfo,
//     UplinkRelayRxInfo) every scalar, enum, repeated and map field is present
//     even at its default ("fPort":0, "adr":false, "tags":{}, "rxInfo":[]);
//     in nested gw and common messages defaults are left out; a message field
//     is present only when set (never null);
//   - 64-bit integers as strings, bytes as padded base64, enums by name;
//   - Timestamp as chrono's to_rfc3339: "2024-05-01T12:00:00.250+00:00"
//     (0, 3, 6 or 9 fraction digits, "+00:00" rather than "Z"); Duration as
//     "1.500s";
//   - floats as serde_json prints them (Ryū: 7.0, 0.25, 1e-7), non-finite
//     ones as null; strings escaped as serde_json escapes them; compact, no
//     whitespace; map keys sorted (ChirpStack's order is a HashMap's, so any
//     order is as faithful, and sorted is reproducible).
//
// Both forms decode with the official types: protojson.Unmarshal (which
// accepts "+00:00") and proto.Unmarshal.
//
// # The simulated network server
//
// NSSink adapts package ns's EventSink to a Publisher: the tx acks, acks and
// log events of unicast device queues become TxAckEvent, AckEvent and
// LogEvent, with the DeviceInfo a DeviceInfoFunc looks up. Events of
// multicast groups (ns raises them only under Quirks) have no ChirpStack
// counterpart and are not published.
package events
