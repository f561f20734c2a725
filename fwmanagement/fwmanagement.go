// Package fwmanagement implements LoRa Alliance TS006, the Firmware Management
// Protocol v1.0.0, on FPort 203.
//
// After a fragmented transfer (TS004) has put an upgrade image on a device, the
// server uses this package to ask which firmware runs (DevVersionReq), whether the
// stored image is valid (DevUpgradeImageReq), to schedule the reboot that installs
// it (DevRebootTimeReq, DevRebootCountdownReq) and to discard it
// (DevDeleteImageReq). Every command is unicast only.
package fwmanagement

import "github.com/lorafuota/lorafuota/applayer"

// PackageID is the PackageIdentifier of TS006 in PackageVersionAns.
const PackageID = 4

// FPort is the FPort TS006 uses.
const FPort = 203

// Command identifiers. A Req and its Ans share the CID; the direction tells them
// apart.
const (
	CIDDevVersion         = 0x01
	CIDDevRebootTime      = 0x02
	CIDDevRebootCountdown = 0x03
	CIDDevUpgradeImage    = 0x04
	CIDDevDeleteImage     = 0x05
)

// Package returns the TS006 command table, both directions, version 1.
func Package() *applayer.Package {
	return &applayer.Package{
		Name:     "fwmanagement",
		Spec:     "TS006",
		ID:       PackageID,
		FPort:    FPort,
		Versions: []uint8{1},
		Commands: append(applayer.VersionSpecs(1, 1),
			spec(CIDDevVersion, applayer.Downlink, "DevVersionReq", func() applayer.Command { return &DevVersionReq{} }),
			spec(CIDDevVersion, applayer.Uplink, "DevVersionAns", func() applayer.Command { return &DevVersionAns{} }),
			spec(CIDDevRebootTime, applayer.Downlink, "DevRebootTimeReq", func() applayer.Command { return &DevRebootTimeReq{} }),
			spec(CIDDevRebootTime, applayer.Uplink, "DevRebootTimeAns", func() applayer.Command { return &DevRebootTimeAns{} }),
			spec(CIDDevRebootCountdown, applayer.Downlink, "DevRebootCountdownReq", func() applayer.Command { return &DevRebootCountdownReq{} }),
			spec(CIDDevRebootCountdown, applayer.Uplink, "DevRebootCountdownAns", func() applayer.Command { return &DevRebootCountdownAns{} }),
			spec(CIDDevUpgradeImage, applayer.Downlink, "DevUpgradeImageReq", func() applayer.Command { return &DevUpgradeImageReq{} }),
			spec(CIDDevUpgradeImage, applayer.Uplink, "DevUpgradeImageAns", func() applayer.Command { return &DevUpgradeImageAns{} }),
			spec(CIDDevDeleteImage, applayer.Downlink, "DevDeleteImageReq", func() applayer.Command { return &DevDeleteImageReq{} }),
			spec(CIDDevDeleteImage, applayer.Uplink, "DevDeleteImageAns", func() applayer.Command { return &DevDeleteImageAns{} }),
		),
	}
}

func spec(cid byte, dir applayer.Direction, name string, newCmd func() applayer.Command) applayer.CommandSpec {
	return applayer.CommandSpec{CID: cid, Dir: dir, Name: name, MinVersion: 1, MaxVersion: 1,
		New: func(uint8) applayer.Command { return newCmd() }}
}

// DecodeFrame parses a TS006 frame travelling in direction dir into its commands,
// in order. version must be 1.
func DecodeFrame(frame []byte, dir applayer.Direction, version uint8) ([]applayer.Command, error) {
	return Package().Decode(frame, dir, version)
}

// EncodeFrame marshals TS006 commands into one frame.
func EncodeFrame(cmds ...applayer.Command) ([]byte, error) {
	return Package().Encode(cmds...)
}
