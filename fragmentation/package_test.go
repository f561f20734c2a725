package fragmentation_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/applayer/applayertest"
	"github.com/lorafuota/lorafuota/fragmentation"
)

const (
	up   = applayer.Uplink
	down = applayer.Downlink
)

// codecVectors are the TS004 vectors of shared/PROTOCOLS.md §1.2, plus vectors
// derived from its layout tables, each checked both ways.
func codecVectors() []applayertest.Vector {
	desc := applayer.Bytes4{1, 2, 3, 4}
	setupV1 := &fragmentation.FragSessionSetupReq{Version: 1, FragIndex: 3, McGroupBitMask: 0b0101,
		NbFrag: 513, FragSize: 255, FragAlgo: 5, BlockAckDelay: 4, Padding: 129, Descriptor: desc}
	setupV2 := &fragmentation.FragSessionSetupReq{Version: 2, FragIndex: 3, McGroupBitMask: 0b0001,
		NbFrag: 1024, FragSize: 128, BlockAckDelay: 5, FragAlgo: 1, Padding: 64, Descriptor: desc,
		SessionCnt: 128, MIC: applayer.Bytes4{1, 2, 3, 4}}
	return []applayertest.Vector{
		// PROTOCOLS.md §1.2 vectors.
		{Name: "SetupReq/v1", Dir: down, Version: 1, Hex: "02350102ff2c8101020304", Cmds: []applayer.Command{setupV1}},
		{Name: "SetupReq/v2", Dir: down, Version: 2, Hex: "0231000480" + "0d4001020304" + "800001020304",
			Cmds: []applayer.Command{setupV2}},
		{Name: "SetupAns/v1", Dir: up, Version: 1, Hex: "02cf", Cmds: []applayer.Command{
			&fragmentation.FragSessionSetupAns{Version: 1, FragIndex: 3, FragAlgoUnsupported: true,
				NotEnoughMemory: true, FragIndexUnsupported: true, WrongDescriptor: true}}},
		{Name: "SetupAns/v2", Dir: up, Version: 2, Hex: "02cf", Cmds: []applayer.Command{
			&fragmentation.FragSessionSetupAns{Version: 2, FragIndex: 3, FragAlgoUnsupported: true,
				NotEnoughMemory: true, FragIndexUnsupported: true, WrongDescriptor: true}}},
		{Name: "DeleteAns/v1", Dir: up, Version: 1, Hex: "0307", Cmds: []applayer.Command{
			&fragmentation.FragSessionDeleteAns{FragIndex: 3, SessionDoesNotExist: true}}},
		{Name: "DeleteAns/v2", Dir: up, Version: 2, Hex: "0307", Cmds: []applayer.Command{
			&fragmentation.FragSessionDeleteAns{FragIndex: 3, SessionDoesNotExist: true}}},
		{Name: "DataBlockReceivedReq", Dir: up, Version: 2, Hex: "0406", Cmds: []applayer.Command{
			&fragmentation.FragDataBlockReceivedReq{FragIndex: 2, MICError: true}}},
		{Name: "DataBlockReceivedAns", Dir: down, Version: 2, Hex: "0402", Cmds: []applayer.Command{
			&fragmentation.FragDataBlockReceivedAns{FragIndex: 2}}},
		{Name: "DataFragment/v1", Dir: down, Version: 1, Hex: "0801c2010203040506", Cmds: []applayer.Command{
			&fragmentation.DataFragment{FragIndex: 3, N: 513, Payload: applayer.HexBytes{1, 2, 3, 4, 5, 6}}}},
		{Name: "DataFragment/v2", Dir: down, Version: 2, Hex: "0801c2010203040506", Cmds: []applayer.Command{
			&fragmentation.DataFragment{FragIndex: 3, N: 513, Payload: applayer.HexBytes{1, 2, 3, 4, 5, 6}}}},

		// Derived from the layout tables.
		{Name: "PackageVersionReq", Dir: down, Version: 1, Hex: "00", Cmds: []applayer.Command{
			&applayer.PackageVersionReq{}}},
		{Name: "PackageVersionAns/v2", Dir: up, Version: 2, Hex: "000302", Cmds: []applayer.Command{
			&applayer.PackageVersionAns{PackageIdentifier: 3, PackageVersion: 2}}},
		{Name: "StatusReq/participants", Dir: down, Version: 1, Hex: "0105", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusReq{Participants: true, FragIndex: 2}}},
		{Name: "StatusReq/missing-only", Dir: down, Version: 2, Hex: "0106", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusReq{FragIndex: 3}}},
		// v1: Received&Index 0xc201 (N 513, FragIndex 3), MissingFrag 7, Status bit 0.
		{Name: "StatusAns/v1", Dir: up, Version: 1, Hex: "0101c20701", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 1, FragIndex: 3, NbFragReceived: 513,
				MissingFrag: 7, NotEnoughMatrixMemory: true}}},
		{Name: "StatusAns/v1/max-counter", Dir: up, Version: 1, Hex: "01ff3fff00", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 1, NbFragReceived: 16383, MissingFrag: 255}}},
		// v2: Status first (MICError), then Received&Index 0xc201, MissingFrag 0.
		{Name: "StatusAns/v2", Dir: up, Version: 2, Hex: "010201c200", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 3, NbFragReceived: 513, MICError: true}}},
		{Name: "StatusAns/v2/memory-error", Dir: up, Version: 2, Hex: "01010a4005", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 1, NbFragReceived: 10,
				MissingFrag: 5, MemoryError: true}}},
		{Name: "StatusAns/v2/short", Dir: up, Version: 2, Hex: "0104", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true}}},
		// LoRa Basics Modem's 4-byte answer for a missing session.
		{Name: "StatusAns/v2/zero-filled", Dir: up, Version: 2, Hex: "0104000000", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, ZeroFilled: true}}},
		{Name: "SetupAns/v2/replay", Dir: up, Version: 2, Hex: "02d0", Cmds: []applayer.Command{
			&fragmentation.FragSessionSetupAns{Version: 2, FragIndex: 3, SessionCntReplay: true}}},
		{Name: "DeleteReq", Dir: down, Version: 1, Hex: "0302", Cmds: []applayer.Command{
			&fragmentation.FragSessionDeleteReq{FragIndex: 2}}},
		{Name: "SetupReq/v2/ack-reception", Dir: down, Version: 2, Hex: "02100a0032470000000000ffff00000000",
			Cmds: []applayer.Command{&fragmentation.FragSessionSetupReq{Version: 2, FragIndex: 1,
				NbFrag: 10, FragSize: 50, BlockAckDelay: 7, AckReception: true, SessionCnt: 0xffff}}},
		{Name: "DataBlockAuthReq/v1", Dir: up, Version: 1, Hex: "0578563412", Cmds: []applayer.Command{
			&fragmentation.FragDataBlockAuthReq{CRC32: 0x12345678}}},
		{Name: "DataBlockAuthReq/v2", Dir: up, Version: 2, Hex: "0578563412", Cmds: []applayer.Command{
			&fragmentation.FragDataBlockAuthReq{CRC32: 0x12345678}}},
		{Name: "DataFragment/max-counter", Dir: down, Version: 2, Hex: "08ff3faa", Cmds: []applayer.Command{
			&fragmentation.DataFragment{N: 16383, Payload: applayer.HexBytes{0xaa}}}},

		// Several commands in one frame.
		{Name: "frame/StatusReq+DeleteReq", Dir: down, Version: 1, Hex: "01050302", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusReq{Participants: true, FragIndex: 2},
			&fragmentation.FragSessionDeleteReq{FragIndex: 2}}},
		{Name: "frame/PackageVersionAns+SetupAns", Dir: up, Version: 1, Hex: "00030102cf", Cmds: []applayer.Command{
			&applayer.PackageVersionAns{PackageIdentifier: 3, PackageVersion: 1},
			&fragmentation.FragSessionSetupAns{Version: 1, FragIndex: 3, FragAlgoUnsupported: true,
				NotEnoughMemory: true, FragIndexUnsupported: true, WrongDescriptor: true}}},
		{Name: "frame/StatusAnsShort+DeleteAns", Dir: up, Version: 2, Hex: "01040307", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true},
			&fragmentation.FragSessionDeleteAns{FragIndex: 3, SessionDoesNotExist: true}}},
		{Name: "frame/StatusAnsShort+PackageVersionAns", Dir: up, Version: 2, Hex: "0104000302", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true},
			&applayer.PackageVersionAns{PackageIdentifier: 3, PackageVersion: 2}}},
		{Name: "frame/StatusAnsZeroFilled+DeleteAns", Dir: up, Version: 2, Hex: "01040000000307", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, ZeroFilled: true},
			&fragmentation.FragSessionDeleteAns{FragIndex: 3, SessionDoesNotExist: true}}},
		// Found by FuzzDecodeFrame: the zero-filled answer followed by a
		// PackageVersionAns of zeros must not re-encode as a 1-byte answer, which
		// would read back as one zero-filled answer.
		{Name: "frame/StatusAnsZeroFilled+PackageVersionAns", Dir: up, Version: 2, Hex: "0107000000000000",
			Cmds: []applayer.Command{
				&fragmentation.FragSessionStatusAns{Version: 2, MemoryError: true, MICError: true,
					SessionDoesNotExist: true, ZeroFilled: true},
				&applayer.PackageVersionAns{}}},
		{Name: "frame/StatusAns+DataBlockReceivedReq", Dir: up, Version: 2, Hex: "01000a40000401", Cmds: []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 1, NbFragReceived: 10},
			&fragmentation.FragDataBlockReceivedReq{FragIndex: 1}}},
		{Name: "frame/three-requests/v2", Dir: down, Version: 2, Hex: "00" + "0107" + "0231000480" + "0d4001020304" + "800001020304",
			Cmds: []applayer.Command{&applayer.PackageVersionReq{},
				&fragmentation.FragSessionStatusReq{Participants: true, FragIndex: 3}, setupV2}},
	}
}

func assertCommands(t *testing.T, got, want []applayer.Command) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %s\nwant %s", commandsString(got), commandsString(want))
	}
}

func commandsString(cmds []applayer.Command) string {
	s := "["
	for i, c := range cmds {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s%+v", c.Name(), c)
	}
	return s + "]"
}

func TestCodecVectors(t *testing.T) {
	applayertest.RunVectors(t, fragmentation.Package(), codecVectors())
}

// TestCodecDecodeOnly covers bytes that decode but are not what the encoder
// writes: RFU bits set.
func TestCodecDecodeOnly(t *testing.T) {
	tests := []struct {
		name    string
		dir     applayer.Direction
		version uint8
		hex     string
		want    []applayer.Command
		reenc   string
	}{
		{"StatusReq/RFU", down, 1, "01fd", []applayer.Command{
			&fragmentation.FragSessionStatusReq{Participants: true, FragIndex: 2}}, "0105"},
		{"StatusAns/v1/RFU status bits", up, 1, "0101c207ff", []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 1, FragIndex: 3, NbFragReceived: 513,
				MissingFrag: 7, NotEnoughMatrixMemory: true}}, "0101c20701"},
		{"StatusAns/v2/all status bits", up, 2, "01ff", []applayer.Command{
			&fragmentation.FragSessionStatusAns{Version: 2, MemoryError: true, MICError: true,
				SessionDoesNotExist: true}}, "0107"},
		{"SetupReq/v1/RFU", down, 1, "02f501020dec0c01020304", []applayer.Command{
			&fragmentation.FragSessionSetupReq{Version: 1, FragIndex: 3, McGroupBitMask: 5, NbFrag: 513,
				FragSize: 13, BlockAckDelay: 4, FragAlgo: 5, Padding: 12, Descriptor: applayer.Bytes4{1, 2, 3, 4}}},
			"023501020d2c0c01020304"},
		{"SetupAns/v1/replay bit is RFU", up, 1, "02f0", []applayer.Command{
			&fragmentation.FragSessionSetupAns{Version: 1, FragIndex: 3}}, "02c0"},
		{"DeleteReq/RFU", down, 2, "03fd", []applayer.Command{
			&fragmentation.FragSessionDeleteReq{FragIndex: 1}}, "0301"},
		{"DeleteAns/RFU", up, 2, "03f9", []applayer.Command{
			&fragmentation.FragSessionDeleteAns{FragIndex: 1}}, "0301"},
		{"DataBlockReceivedReq/RFU", up, 2, "04fb", []applayer.Command{
			&fragmentation.FragDataBlockReceivedReq{FragIndex: 3}}, "0403"},
		{"DataBlockReceivedAns/RFU", down, 2, "04fe", []applayer.Command{
			&fragmentation.FragDataBlockReceivedAns{FragIndex: 2}}, "0402"},
	}
	p := fragmentation.Package()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, _ := hex.DecodeString(tt.hex)
			got, err := fragmentation.DecodeFrame(frame, tt.dir, tt.version)
			if err != nil {
				t.Fatalf("DecodeFrame(%s): %v", tt.hex, err)
			}
			assertCommands(t, got, tt.want)
			b, err := fragmentation.EncodeFrame(got...)
			if err != nil {
				t.Fatalf("EncodeFrame: %v", err)
			}
			if hex.EncodeToString(b) != tt.reenc {
				t.Errorf("re-encoded %x, want %s", b, tt.reenc)
			}
			applayertest.CheckStable(t, p, frame, tt.dir, tt.version)
		})
	}
}

func TestCodecUnknownCommand(t *testing.T) {
	tests := []struct {
		name    string
		dir     applayer.Direction
		version uint8
		hex     string
		cid     byte
		offset  int
		before  int // commands decoded before the unknown one
	}{
		{"0x04 uplink in v1", up, 1, "0406", 0x04, 0, 0},
		{"0x04 downlink in v1", down, 1, "0402", 0x04, 0, 0},
		{"0x05 downlink", down, 2, "0500000000", 0x05, 0, 0},
		{"0x06 uplink", up, 2, "06", 0x06, 0, 0},
		{"DataFragment uplink", up, 1, "0801c20102", 0x08, 0, 0},
		{"after a known command", down, 1, "0105ff", 0xff, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, _ := hex.DecodeString(tt.hex)
			cmds, err := fragmentation.DecodeFrame(frame, tt.dir, tt.version)
			var ue *applayer.UnknownCommandError
			if !errors.As(err, &ue) {
				t.Fatalf("DecodeFrame(%s) error %v, want *applayer.UnknownCommandError", tt.hex, err)
			}
			if ue.CID != tt.cid || ue.Offset != tt.offset || ue.Version != tt.version || ue.Dir != tt.dir {
				t.Errorf("got %+v, want CID 0x%02x at %d", ue, tt.cid, tt.offset)
			}
			if len(cmds) != tt.before {
				t.Errorf("got %d commands before the error, want %d", len(cmds), tt.before)
			}
		})
	}
}

func TestCodecDataFragmentAlone(t *testing.T) {
	frame, _ := hex.DecodeString("0105" + "0801c2010203")
	_, err := fragmentation.DecodeFrame(frame, down, 1)
	var de *applayer.DecodeError
	if !errors.As(err, &de) || de.Command != "DataFragment" || de.Offset != 2 {
		t.Errorf("DecodeFrame(DataFragment after StatusReq) = %v, want DecodeError on DataFragment at byte 2", err)
	}
	_, err = fragmentation.EncodeFrame(&fragmentation.FragSessionStatusReq{},
		&fragmentation.DataFragment{N: 1, Payload: applayer.HexBytes{1}})
	if err == nil {
		t.Error("EncodeFrame(StatusReq, DataFragment) succeeded, want an error")
	}
}

func TestCodecPackage(t *testing.T) {
	p := fragmentation.Package()
	if p.ID != 3 || p.FPort != 201 || p.Spec != "TS004" || p.Name != "fragmentation" {
		t.Errorf("package = %s %s ID %d FPort %d", p.Name, p.Spec, p.ID, p.FPort)
	}
	// Every spec's constructor returns a command with the spec's CID and name,
	// and a versioned command knows its version.
	for _, s := range p.Commands {
		for v := s.MinVersion; v <= s.MaxVersion; v++ {
			c := s.New(v)
			if c.CID() != s.CID || c.Name() != s.Name {
				t.Errorf("%s v%d: constructor gives %s CID 0x%02x", s.Name, v, c.Name(), c.CID())
			}
		}
	}
	for _, name := range []string{"FragDataBlockReceivedReq", "FragDataBlockReceivedAns"} {
		if _, ok := p.LookupName(name, 1); ok {
			t.Errorf("%s defined in version 1", name)
		}
		if _, ok := p.LookupName(name, 2); !ok {
			t.Errorf("%s missing in version 2", name)
		}
	}
	if _, err := fragmentation.DecodeFrame([]byte{0x00}, down, 3); err == nil {
		t.Error("DecodeFrame in version 3 succeeded")
	}
}

// FuzzDecodeFrame checks that no input makes decoding panic and that whatever
// decodes re-encodes stably, in both directions and both versions.
func FuzzDecodeFrame(f *testing.F) {
	for _, v := range codecVectors() {
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			f.Fatalf("%s: %v", v.Name, err)
		}
		f.Add(b)
	}
	for _, s := range []string{"0104000000", "01040000000307", "01ff", "02f0", "0801c2", "080000ff", "020000"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	p := fragmentation.Package()
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, dir := range []applayer.Direction{applayer.Uplink, applayer.Downlink} {
			for _, version := range []uint8{1, 2} {
				applayertest.CheckStable(t, p, frame, dir, version)
			}
		}
	})
}
