// Package fragmentation implements the LoRa Alliance Fragmented Data Block
// Transport package (TS004), versions 1.0.0 and 2.0.0, on FPort 201.
//
// The command codecs follow the shape shared by every protocol package of this
// module (docs/CODEC.md): one struct per command and direction, a command table
// returned by [Package], and [DecodeFrame] / [EncodeFrame] to walk a frame of
// several commands. Commands whose layout differs between versions
// ([FragSessionStatusAns], [FragSessionSetupReq], [FragSessionSetupAns]) carry
// the package version they are encoded for.
//
// Version 2 adds a per-block integrity check: [DataBlockIntKey] derives the key
// from the device's root key, [FragSessionSetupReq.SetMIC] fills the MIC the
// device verifies after reconstruction.
//
// Deployed devices do not all follow the specifications; the decoders accept
// what the server must tolerate (shared/PROTOCOLS.md §5.5):
//
//   - a version 2 FragSessionStatusAns of 1 byte (the spec's form when the
//     session does not exist) or of 4 bytes (LoRa Basics Modem);
//   - a FragSessionStatusAns in version 1 byte order from a device that announced
//     version 2 (STM32CubeWL), through [DecodeStatusAnsAuto] or
//     [DecodeStatusAnsLayout];
//   - the uplink CID 0x05 [FragDataBlockAuthReq] of the LoRaMac-node FUOTA sample,
//     which is in neither version of the specification.
//
// Encoders are strict instead: they refuse values the wire cannot carry, and
// values no device can accept (NbFrag 0, Padding ≥ FragSize, fragment counter
// N = 0 or above 16383). The decoders refuse the same values, so that whatever
// decodes also encodes again.
package fragmentation
