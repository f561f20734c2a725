// Package multicast implements TS005 Remote Multicast Setup, versions 1 and 2:
// the command codecs, the derivation of the multicast keys, and the arithmetic of
// class B and class C session windows.
//
// Every command is unicast; a device drops them when they arrive on a multicast
// address. The codecs follow docs/CODEC.md: DecodeFrame and EncodeFrame walk a
// whole FRMPayload through Package's command table.
//
// Decoding tolerates the device stacks' known deviations (shared/PROTOCOLS.md §2.5,
// §5.5): a class B/C session answer carries TimeToStart only when none of its
// status bits 2..7 is set, so 1-byte StartMissed answers and answers with bits
// reserved for future errors are read correctly; LoRaMac-node's 0x1C|id answer
// for an undefined group reads as McGroupUndefined; McGroupStatusAns entries are
// read in any order. Reserved status bits of session answers are kept, not
// dropped, because they decide the answer's length.
package multicast

import (
	"fmt"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
)

const (
	// PackageID is the PackageIdentifier a device answers in PackageVersionAns.
	PackageID = 2
	// DefaultFPort is the FPort TS005 recommends.
	DefaultFPort = 200
	// MaxGroups is the number of multicast groups a device can hold: McGroupID has
	// two bits.
	MaxGroups = 4
)

// Command identifiers. A request and its answer share the CID.
const (
	CIDPackageVersion  = applayer.CIDPackageVersion
	CIDMcGroupStatus   = 0x01
	CIDMcGroupSetup    = 0x02
	CIDMcGroupDelete   = 0x03
	CIDMcClassCSession = 0x04
	CIDMcClassBSession = 0x05
)

// Package returns the TS005 command table, both directions, versions 1 and 2.
func Package() *applayer.Package {
	cmds := applayer.VersionSpecs(1, 2)
	add := func(cid byte, dir applayer.Direction, name string, newCmd func(version uint8) applayer.Command) {
		cmds = append(cmds, applayer.CommandSpec{CID: cid, Dir: dir, Name: name,
			MinVersion: 1, MaxVersion: 2, New: newCmd})
	}
	add(CIDMcGroupStatus, applayer.Downlink, "McGroupStatusReq",
		func(uint8) applayer.Command { return &McGroupStatusReq{} })
	add(CIDMcGroupStatus, applayer.Uplink, "McGroupStatusAns",
		func(uint8) applayer.Command { return &McGroupStatusAns{} })
	add(CIDMcGroupSetup, applayer.Downlink, "McGroupSetupReq",
		func(uint8) applayer.Command { return &McGroupSetupReq{} })
	add(CIDMcGroupSetup, applayer.Uplink, "McGroupSetupAns",
		func(uint8) applayer.Command { return &McGroupSetupAns{} })
	add(CIDMcGroupDelete, applayer.Downlink, "McGroupDeleteReq",
		func(uint8) applayer.Command { return &McGroupDeleteReq{} })
	add(CIDMcGroupDelete, applayer.Uplink, "McGroupDeleteAns",
		func(uint8) applayer.Command { return &McGroupDeleteAns{} })
	add(CIDMcClassCSession, applayer.Downlink, "McClassCSessionReq",
		func(uint8) applayer.Command { return &McClassCSessionReq{} })
	add(CIDMcClassCSession, applayer.Uplink, "McClassCSessionAns",
		func(v uint8) applayer.Command { return &McClassCSessionAns{SessionAns{Version: v}} })
	add(CIDMcClassBSession, applayer.Downlink, "McClassBSessionReq",
		func(v uint8) applayer.Command { return &McClassBSessionReq{Version: v} })
	add(CIDMcClassBSession, applayer.Uplink, "McClassBSessionAns",
		func(v uint8) applayer.Command { return &McClassBSessionAns{SessionAns{Version: v}} })
	return &applayer.Package{
		Name:     "multicast",
		Spec:     "TS005",
		ID:       PackageID,
		FPort:    DefaultFPort,
		Versions: []uint8{1, 2},
		Commands: cmds,
	}
}

// DecodeFrame parses a TS005 FRMPayload travelling in dir, for the package version
// the device speaks. On error it returns the commands before the failing one.
func DecodeFrame(frame []byte, dir applayer.Direction, version uint8) ([]applayer.Command, error) {
	return Package().Decode(frame, dir, version)
}

// EncodeFrame marshals commands, in order, into one FRMPayload.
func EncodeFrame(cmds ...applayer.Command) ([]byte, error) {
	return Package().Encode(cmds...)
}

// putMcAddr writes a DevAddr, held big-endian as LoRaWAN prints it, in wire
// (little-endian) order.
func putMcAddr(b []byte, a lorawan.DevAddr) {
	b[0], b[1], b[2], b[3] = a[3], a[2], a[1], a[0]
}

// readMcAddr reads a little-endian DevAddr from the wire.
func readMcAddr(b []byte) lorawan.DevAddr {
	return lorawan.DevAddr{b[3], b[2], b[1], b[0]}
}

func checkGroupID(command string, id uint8) error {
	return applayer.CheckMax(command, "mc_group_id", uint64(id), MaxGroups-1)
}

// checkVersion refuses a version-dependent command built without a version: its
// layout or meaning would be guessed otherwise.
func checkVersion(command string, v uint8) error {
	if v != 1 && v != 2 {
		return &applayer.FieldError{Command: command, Field: "version",
			Reason: fmt.Sprintf("package version %d not supported (want 1 or 2)", v)}
	}
	return nil
}
