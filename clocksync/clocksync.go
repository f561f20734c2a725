// Package clocksync implements LoRa Alliance TS003, Application Layer Clock
// Synchronization, versions 1 and 2, on FPort 202.
//
// A device sends AppTimeReq with its GPS time; the server answers AppTimeAns with
// the number of seconds to add to the device clock. Multicast sessions of TS004 and
// TS005 start at an absolute GPS second, so a device whose clock is off opens its
// receive window at the wrong time; this package is how the server puts it right.
//
// Versions 1 and 2 are identical on the wire. Only one name differs: the downlink
// CID 0x03 is ForceDeviceResyncReq in v1 and ForceDeviceResyncCmd in v2.
package clocksync

import "github.com/lorafuota/lorafuota/applayer"

// PackageID is the PackageIdentifier of TS003 in PackageVersionAns.
const PackageID = 1

// FPort is the FPort TS003 recommends.
const FPort = 202

// Command identifiers. A Req and its Ans share the CID; the direction tells them
// apart.
const (
	CIDAppTime                  = 0x01
	CIDDeviceAppTimePeriodicity = 0x02
	CIDForceDeviceResync        = 0x03
)

// Package returns the TS003 command table, both directions, versions 1 and 2.
func Package() *applayer.Package {
	return &applayer.Package{
		Name:     "clocksync",
		Spec:     "TS003",
		ID:       PackageID,
		FPort:    FPort,
		Versions: []uint8{1, 2},
		Commands: append(applayer.VersionSpecs(1, 2),
			spec(CIDAppTime, applayer.Uplink, "AppTimeReq", 1, 2,
				func(uint8) applayer.Command { return &AppTimeReq{} }),
			spec(CIDAppTime, applayer.Downlink, "AppTimeAns", 1, 2,
				func(uint8) applayer.Command { return &AppTimeAns{} }),
			spec(CIDDeviceAppTimePeriodicity, applayer.Downlink, "DeviceAppTimePeriodicityReq", 1, 2,
				func(uint8) applayer.Command { return &DeviceAppTimePeriodicityReq{} }),
			spec(CIDDeviceAppTimePeriodicity, applayer.Uplink, "DeviceAppTimePeriodicityAns", 1, 2,
				func(uint8) applayer.Command { return &DeviceAppTimePeriodicityAns{} }),
			// One Go type, two entries, so that each version's table carries the
			// name its specification uses.
			spec(CIDForceDeviceResync, applayer.Downlink, "ForceDeviceResyncReq", 1, 1, newForceDeviceResync),
			spec(CIDForceDeviceResync, applayer.Downlink, "ForceDeviceResyncCmd", 2, 2, newForceDeviceResync),
		),
	}
}

func spec(cid byte, dir applayer.Direction, name string, min, max uint8, newCmd func(uint8) applayer.Command) applayer.CommandSpec {
	return applayer.CommandSpec{CID: cid, Dir: dir, Name: name, MinVersion: min, MaxVersion: max, New: newCmd}
}

func newForceDeviceResync(v uint8) applayer.Command { return &ForceDeviceResync{Version: v} }

// DecodeFrame parses a TS003 frame travelling in direction dir for package
// version 1 or 2 into its commands, in order.
func DecodeFrame(frame []byte, dir applayer.Direction, version uint8) ([]applayer.Command, error) {
	return Package().Decode(frame, dir, version)
}

// EncodeFrame marshals TS003 commands into one frame.
func EncodeFrame(cmds ...applayer.Command) ([]byte, error) {
	return Package().Encode(cmds...)
}
