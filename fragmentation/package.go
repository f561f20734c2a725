package fragmentation

import "github.com/lorafuota/lorafuota/applayer"

const (
	// PackageID is the PackageIdentifier of TS004 in PackageVersionAns.
	PackageID uint8 = 3
	// DefaultFPort is the FPort TS004 recommends.
	DefaultFPort uint8 = 201
)

// CIDs of TS004. A Req and its Ans share the CID; the direction tells them apart.
const (
	CIDPackageVersion        byte = applayer.CIDPackageVersion
	CIDFragSessionStatus     byte = 0x01
	CIDFragSessionSetup      byte = 0x02
	CIDFragSessionDelete     byte = 0x03
	CIDFragDataBlockReceived byte = 0x04 // version 2 only
	CIDFragDataBlockAuth     byte = 0x05 // LoRaMac-node sample only, not in TS004
	CIDDataFragment          byte = 0x08
)

// MaxFragmentCounter is the largest DataFragment counter N: the field has 14 bits,
// so NbFrag plus the number of parity fragments of one data block cannot exceed
// it.
const MaxFragmentCounter = 1<<14 - 1

// Package returns the TS004 command table, versions 1 and 2, both directions.
func Package() *applayer.Package {
	cmds := applayer.VersionSpecs(1, 2)
	cmds = append(cmds,
		applayer.CommandSpec{CID: CIDFragSessionStatus, Dir: applayer.Downlink, Name: "FragSessionStatusReq",
			MinVersion: 1, MaxVersion: 2,
			New: func(uint8) applayer.Command { return &FragSessionStatusReq{} }},
		applayer.CommandSpec{CID: CIDFragSessionStatus, Dir: applayer.Uplink, Name: "FragSessionStatusAns",
			MinVersion: 1, MaxVersion: 2,
			New: func(v uint8) applayer.Command { return &FragSessionStatusAns{Version: v} }},
		applayer.CommandSpec{CID: CIDFragSessionSetup, Dir: applayer.Downlink, Name: "FragSessionSetupReq",
			MinVersion: 1, MaxVersion: 2,
			New: func(v uint8) applayer.Command { return &FragSessionSetupReq{Version: v} }},
		applayer.CommandSpec{CID: CIDFragSessionSetup, Dir: applayer.Uplink, Name: "FragSessionSetupAns",
			MinVersion: 1, MaxVersion: 2,
			New: func(v uint8) applayer.Command { return &FragSessionSetupAns{Version: v} }},
		applayer.CommandSpec{CID: CIDFragSessionDelete, Dir: applayer.Downlink, Name: "FragSessionDeleteReq",
			MinVersion: 1, MaxVersion: 2,
			New: func(uint8) applayer.Command { return &FragSessionDeleteReq{} }},
		applayer.CommandSpec{CID: CIDFragSessionDelete, Dir: applayer.Uplink, Name: "FragSessionDeleteAns",
			MinVersion: 1, MaxVersion: 2,
			New: func(uint8) applayer.Command { return &FragSessionDeleteAns{} }},
		applayer.CommandSpec{CID: CIDFragDataBlockReceived, Dir: applayer.Uplink, Name: "FragDataBlockReceivedReq",
			MinVersion: 2, MaxVersion: 2,
			New: func(uint8) applayer.Command { return &FragDataBlockReceivedReq{} }},
		applayer.CommandSpec{CID: CIDFragDataBlockReceived, Dir: applayer.Downlink, Name: "FragDataBlockReceivedAns",
			MinVersion: 2, MaxVersion: 2,
			New: func(uint8) applayer.Command { return &FragDataBlockReceivedAns{} }},
		// Not in TS004; accepted because LoRaMac-node's FUOTA sample sends it
		// (PROTOCOLS.md §1.1). LoRaMac-node speaks version 1 only, but a stack
		// built on it may announce version 2, so both versions accept it.
		applayer.CommandSpec{CID: CIDFragDataBlockAuth, Dir: applayer.Uplink, Name: "FragDataBlockAuthReq",
			MinVersion: 1, MaxVersion: 2,
			New: func(uint8) applayer.Command { return &FragDataBlockAuthReq{} }},
		applayer.CommandSpec{CID: CIDDataFragment, Dir: applayer.Downlink, Name: "DataFragment",
			MinVersion: 1, MaxVersion: 2, Alone: true,
			New: func(uint8) applayer.Command { return &DataFragment{} }},
	)
	return &applayer.Package{
		Name:     "fragmentation",
		Spec:     "TS004",
		ID:       PackageID,
		FPort:    DefaultFPort,
		Versions: []uint8{1, 2},
		Commands: cmds,
	}
}

// DecodeFrame parses a TS004 frame (an FRMPayload on FPort 201) travelling in dir
// under package version 1 or 2. See [applayer.Package.Decode].
func DecodeFrame(frame []byte, dir applayer.Direction, version uint8) ([]applayer.Command, error) {
	return Package().Decode(frame, dir, version)
}

// EncodeFrame marshals TS004 commands into one frame, in order. See
// [applayer.Package.Encode].
func EncodeFrame(cmds ...applayer.Command) ([]byte, error) {
	return Package().Encode(cmds...)
}
