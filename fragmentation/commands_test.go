package fragmentation_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"reflect"
	"slices"
	"strings"
	"testing"

	brocaar "github.com/brocaar/lorawan/applayer/fragmentation"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/fragmentation"
)

// validSetup returns a valid setup of the given version to break one field at a
// time.
func validSetup(version uint8) *fragmentation.FragSessionSetupReq {
	return &fragmentation.FragSessionSetupReq{Version: version, NbFrag: 20, FragSize: 50, Padding: 5}
}

func TestCodecFieldRanges(t *testing.T) {
	setup := func(version uint8, f func(*fragmentation.FragSessionSetupReq)) applayer.Command {
		c := validSetup(version)
		f(c)
		return c
	}
	tests := []struct {
		name  string
		cmd   applayer.Command
		field string
	}{
		{"StatusReq frag_index", &fragmentation.FragSessionStatusReq{FragIndex: 4}, "frag_index"},
		{"StatusAns frag_index", &fragmentation.FragSessionStatusAns{Version: 1, FragIndex: 4}, "frag_index"},
		{"StatusAns nb_frag_received", &fragmentation.FragSessionStatusAns{Version: 2, NbFragReceived: 16384}, "nb_frag_received"},
		{"StatusAns v1 memory_error", &fragmentation.FragSessionStatusAns{Version: 1, MemoryError: true}, "memory_error"},
		{"StatusAns v1 mic_error", &fragmentation.FragSessionStatusAns{Version: 1, MICError: true}, "mic_error"},
		{"StatusAns v1 session_does_not_exist", &fragmentation.FragSessionStatusAns{Version: 1, SessionDoesNotExist: true}, "session_does_not_exist"},
		{"StatusAns v2 not_enough_matrix_memory", &fragmentation.FragSessionStatusAns{Version: 2, NotEnoughMatrixMemory: true}, "not_enough_matrix_memory"},
		{"StatusAns v2 no session with frag_index", &fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, FragIndex: 1}, "frag_index"},
		{"StatusAns v2 no session with nb_frag_received", &fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, NbFragReceived: 1}, "nb_frag_received"},
		{"StatusAns v2 no session with missing_frag", &fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, MissingFrag: 1}, "missing_frag"},
		{"StatusAns v2 zero-filled with nb_frag_received", &fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, ZeroFilled: true, NbFragReceived: 1}, "nb_frag_received"},
		{"SetupReq frag_index", setup(2, func(c *fragmentation.FragSessionSetupReq) { c.FragIndex = 4 }), "frag_index"},
		{"SetupReq mc_group_bit_mask", setup(1, func(c *fragmentation.FragSessionSetupReq) { c.McGroupBitMask = 16 }), "mc_group_bit_mask"},
		{"SetupReq nb_frag 0", setup(1, func(c *fragmentation.FragSessionSetupReq) { c.NbFrag = 0 }), "nb_frag"},
		{"SetupReq nb_frag 16384", setup(2, func(c *fragmentation.FragSessionSetupReq) { c.NbFrag = 16384 }), "nb_frag"},
		{"SetupReq frag_size 0", setup(1, func(c *fragmentation.FragSessionSetupReq) { c.FragSize, c.Padding = 0, 0 }), "frag_size"},
		{"SetupReq block_ack_delay", setup(2, func(c *fragmentation.FragSessionSetupReq) { c.BlockAckDelay = 8 }), "block_ack_delay"},
		{"SetupReq frag_algo", setup(1, func(c *fragmentation.FragSessionSetupReq) { c.FragAlgo = 8 }), "frag_algo"},
		{"SetupReq padding = frag_size", setup(2, func(c *fragmentation.FragSessionSetupReq) { c.Padding = 50 }), "padding"},
		{"SetupReq padding > frag_size", setup(1, func(c *fragmentation.FragSessionSetupReq) { c.Padding = 200 }), "padding"},
		{"SetupReq v1 ack_reception", setup(1, func(c *fragmentation.FragSessionSetupReq) { c.AckReception = true }), "ack_reception"},
		{"SetupReq v1 session_cnt", setup(1, func(c *fragmentation.FragSessionSetupReq) { c.SessionCnt = 1 }), "session_cnt"},
		{"SetupReq v1 mic", setup(1, func(c *fragmentation.FragSessionSetupReq) { c.MIC[3] = 1 }), "mic"},
		{"SetupAns frag_index", &fragmentation.FragSessionSetupAns{Version: 2, FragIndex: 4}, "frag_index"},
		{"SetupAns v1 session_cnt_replay", &fragmentation.FragSessionSetupAns{Version: 1, SessionCntReplay: true}, "session_cnt_replay"},
		{"DeleteReq frag_index", &fragmentation.FragSessionDeleteReq{FragIndex: 4}, "frag_index"},
		{"DeleteAns frag_index", &fragmentation.FragSessionDeleteAns{FragIndex: 255}, "frag_index"},
		{"DataBlockReceivedReq frag_index", &fragmentation.FragDataBlockReceivedReq{FragIndex: 4}, "frag_index"},
		{"DataBlockReceivedAns frag_index", &fragmentation.FragDataBlockReceivedAns{FragIndex: 4}, "frag_index"},
		{"DataFragment frag_index", &fragmentation.DataFragment{FragIndex: 4, N: 1, Payload: applayer.HexBytes{0}}, "frag_index"},
		{"DataFragment n 0", &fragmentation.DataFragment{N: 0, Payload: applayer.HexBytes{0}}, "n"},
		{"DataFragment n 16384", &fragmentation.DataFragment{N: 16384, Payload: applayer.HexBytes{0}}, "n"},
		{"DataFragment n 65535", &fragmentation.DataFragment{N: 65535, Payload: applayer.HexBytes{0}}, "n"},
		{"DataFragment empty payload", &fragmentation.DataFragment{N: 1}, "payload"},
		{"DataFragment 256-byte payload", &fragmentation.DataFragment{N: 1, Payload: make(applayer.HexBytes, 256)}, "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.cmd.MarshalBinary()
			var fe *applayer.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("MarshalBinary = %x, %v; want *applayer.FieldError", b, err)
			}
			if fe.Field != tt.field || fe.Command != tt.cmd.Name() {
				t.Errorf("FieldError names %s.%s, want %s.%s", fe.Command, fe.Field, tt.cmd.Name(), tt.field)
			}
			// The frame encoder passes the field error through.
			if _, err := fragmentation.EncodeFrame(tt.cmd); !errors.As(err, &fe) {
				t.Errorf("EncodeFrame error %v does not wrap the FieldError", err)
			}
		})
	}
}

func TestCodecFieldLimitsAccepted(t *testing.T) {
	cmds := []applayer.Command{
		&fragmentation.FragSessionSetupReq{Version: 2, FragIndex: 3, McGroupBitMask: 15, NbFrag: 16383,
			FragSize: 255, BlockAckDelay: 7, FragAlgo: 7, Padding: 254, SessionCnt: 65535, AckReception: true},
		&fragmentation.FragSessionSetupReq{Version: 1, NbFrag: 1, FragSize: 1},
		&fragmentation.FragSessionStatusAns{Version: 1, FragIndex: 3, NbFragReceived: 16383, MissingFrag: 255},
		&fragmentation.DataFragment{FragIndex: 3, N: 16383, Payload: make(applayer.HexBytes, 255)},
		&fragmentation.DataFragment{N: 1, Payload: applayer.HexBytes{0}},
	}
	for _, c := range cmds {
		b, err := c.MarshalBinary()
		if err != nil {
			t.Errorf("%s %+v: %v", c.Name(), c, err)
			continue
		}
		dir := down
		if c.Name() == "FragSessionStatusAns" {
			dir = up
		}
		version := uint8(2)
		if v := reflect.ValueOf(c).Elem().FieldByName("Version"); v.IsValid() {
			version = uint8(v.Uint())
		}
		got, err := fragmentation.DecodeFrame(b, dir, version)
		if err != nil {
			t.Errorf("%s: decode %x: %v", c.Name(), b, err)
			continue
		}
		assertCommands(t, got, []applayer.Command{c})
	}
}

func TestCodecVersionUnset(t *testing.T) {
	for _, c := range []applayer.Command{
		&fragmentation.FragSessionStatusAns{},
		&fragmentation.FragSessionSetupReq{NbFrag: 1, FragSize: 1},
		&fragmentation.FragSessionSetupAns{},
	} {
		if b, err := c.MarshalBinary(); err == nil {
			t.Errorf("%s without Version marshals to %x", c.Name(), b)
		}
		if _, err := c.DecodePayload(make([]byte, 16)); err == nil {
			t.Errorf("%s without Version decodes", c.Name())
		}
	}
}

// TestCodecDecodeRefusesInvalid checks that the decoders refuse the values the
// encoders refuse, with the field named and the frame walker's context.
func TestCodecDecodeRefusesInvalid(t *testing.T) {
	tests := []struct {
		name    string
		version uint8
		hex     string
		command string
		field   string
		offset  int
	}{
		{"SetupReq nb_frag 0", 1, "0200000032000001020304", "FragSessionSetupReq", "nb_frag", 0},
		{"SetupReq nb_frag 16384", 2, "02" + "000040320000" + strings.Repeat("00", 10), "FragSessionSetupReq", "nb_frag", 0},
		{"SetupReq frag_size 0", 1, "0200140000000001020304", "FragSessionSetupReq", "frag_size", 0},
		{"SetupReq padding = frag_size", 1, "0200140032003201020304", "FragSessionSetupReq", "padding", 0},
		{"SetupReq after StatusReq", 1, "0105" + "0200140032003201020304", "FragSessionSetupReq", "padding", 2},
		{"DataFragment n 0", 2, "080000ff", "DataFragment", "n", 0},
		{"DataFragment n 0 FragIndex 3", 1, "0800c0ff", "DataFragment", "n", 0},
		{"DataFragment 256 bytes", 1, "080100" + strings.Repeat("00", 256), "DataFragment", "payload", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			_, err = fragmentation.DecodeFrame(frame, down, tt.version)
			var de *applayer.DecodeError
			var fe *applayer.FieldError
			if !errors.As(err, &de) || !errors.As(err, &fe) {
				t.Fatalf("DecodeFrame error %v, want a DecodeError wrapping a FieldError", err)
			}
			if de.Command != tt.command || de.Offset != tt.offset || fe.Field != tt.field {
				t.Errorf("got %s at byte %d field %s, want %s at %d field %s",
					de.Command, de.Offset, fe.Field, tt.command, tt.offset, tt.field)
			}
		})
	}
}

func TestCodecTruncated(t *testing.T) {
	tests := []struct {
		name    string
		dir     applayer.Direction
		version uint8
		hex     string // a complete command; every shorter prefix with a payload byte missing fails
		command string
	}{
		{"PackageVersionAns", up, 1, "000302", "PackageVersionAns"},
		{"StatusReq", down, 1, "0105", "FragSessionStatusReq"},
		{"StatusAns/v1", up, 1, "0101c20701", "FragSessionStatusAns"},
		{"StatusAns/v2", up, 2, "010001c200", "FragSessionStatusAns"},
		{"SetupReq/v1", down, 1, "02350102ff2c8101020304", "FragSessionSetupReq"},
		{"SetupReq/v2", down, 2, "02310004800d4001020304800001020304", "FragSessionSetupReq"},
		{"SetupAns", up, 2, "02cf", "FragSessionSetupAns"},
		{"DeleteReq", down, 1, "0302", "FragSessionDeleteReq"},
		{"DeleteAns", up, 1, "0307", "FragSessionDeleteAns"},
		{"DataBlockReceivedReq", up, 2, "0406", "FragDataBlockReceivedReq"},
		{"DataBlockReceivedAns", down, 2, "0402", "FragDataBlockReceivedAns"},
		{"DataBlockAuthReq", up, 1, "0578563412", "FragDataBlockAuthReq"},
		{"DataFragment", down, 1, "0801c2aa", "DataFragment"},
	}
	for _, tt := range tests {
		full, _ := hex.DecodeString(tt.hex)
		for n := 1; n < len(full); n++ {
			// After one command of 2 bytes, so that the offset is checked;
			// DataFragment must be alone.
			prefix := []byte{0x03, 0x01} // FragSessionDeleteReq
			if tt.dir == up {
				prefix[0] = 0x02 // FragSessionSetupAns
			}
			if full[0] == fragmentation.CIDDataFragment {
				prefix = nil
			}
			frame := append(prefix, full[:n]...)
			_, err := fragmentation.DecodeFrame(frame, tt.dir, tt.version)
			var de *applayer.DecodeError
			if !errors.Is(err, applayer.ErrTruncated) || !errors.As(err, &de) {
				t.Errorf("%s cut to %d bytes: error %v, want a truncated DecodeError", tt.name, n, err)
				continue
			}
			if de.Command != tt.command || de.Offset != len(prefix) || de.CID != full[0] {
				t.Errorf("%s cut to %d bytes: error names %s CID 0x%02x at %d", tt.name, n, de.Command, de.CID, de.Offset)
			}
		}
		// The whole command on its own, through UnmarshalBinary.
		c, _ := fragmentation.Package().Lookup(full[0], tt.dir, tt.version)
		cmd := c.New(tt.version)
		if err := cmd.(interface{ UnmarshalBinary([]byte) error }).UnmarshalBinary(full); err != nil {
			t.Errorf("%s: UnmarshalBinary(%x): %v", tt.name, full, err)
		}
	}
}

func TestCodecUnmarshalBinary(t *testing.T) {
	var c fragmentation.FragSessionDeleteAns
	if err := c.UnmarshalBinary([]byte{0x03, 0x07}); err != nil || c != (fragmentation.FragSessionDeleteAns{FragIndex: 3, SessionDoesNotExist: true}) {
		t.Errorf("UnmarshalBinary(0307) = %+v, %v", c, err)
	}
	if err := c.UnmarshalBinary([]byte{0x03, 0x07, 0x00}); err == nil {
		t.Error("UnmarshalBinary accepted a trailing byte")
	}
	if err := c.UnmarshalBinary([]byte{0x02, 0x07}); err == nil {
		t.Error("UnmarshalBinary accepted CID 0x02")
	}
	// The 1-byte v2 StatusAns followed by zeros is the 4-byte form, not trailing
	// bytes; anything else after it is.
	ans := fragmentation.FragSessionStatusAns{Version: 2}
	if err := ans.UnmarshalBinary([]byte{0x01, 0x04, 0, 0, 0}); err != nil || !ans.SessionDoesNotExist {
		t.Errorf("UnmarshalBinary(0104000000) = %+v, %v", ans, err)
	}
	if err := ans.UnmarshalBinary([]byte{0x01, 0x04, 0, 1, 0}); err == nil {
		t.Error("UnmarshalBinary(0104000100) succeeded, want trailing bytes")
	}
}

func TestCodecStatusAnsDone(t *testing.T) {
	tests := []struct {
		ans  fragmentation.FragSessionStatusAns
		done bool
	}{
		{fragmentation.FragSessionStatusAns{Version: 2, NbFragReceived: 30}, true},
		{fragmentation.FragSessionStatusAns{Version: 2, NbFragReceived: 30, MissingFrag: 1}, false},
		{fragmentation.FragSessionStatusAns{Version: 2, MICError: true}, false},
		{fragmentation.FragSessionStatusAns{Version: 2, MemoryError: true}, false},
		{fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true}, false},
		{fragmentation.FragSessionStatusAns{Version: 1, NotEnoughMatrixMemory: true}, false},
	}
	for _, tt := range tests {
		if got := tt.ans.Done(); got != tt.done {
			t.Errorf("%+v.Done() = %v, want %v", tt.ans, got, tt.done)
		}
	}
}

func TestCodecSetupAnsAccepted(t *testing.T) {
	for bit := range 6 {
		var a fragmentation.FragSessionSetupAns
		a.Version = 2
		if err := a.UnmarshalBinary([]byte{0x02, 1<<bit | 0x40}); err != nil {
			t.Fatal(err)
		}
		if want := bit == 5; a.Accepted() != want { // bit 5 is RFU
			t.Errorf("status bit %d: Accepted() = %v, want %v", bit, a.Accepted(), want)
		}
	}
}

func TestCodecDataBlockAuthReqMatches(t *testing.T) {
	small := []byte("lorafuota")
	c := fragmentation.FragDataBlockAuthReq{CRC32: crc32.ChecksumIEEE(small)}
	if !c.Matches(small) || c.Matches(small[1:]) {
		t.Error("Matches on a small block")
	}
	// LoRaMac-node checksums len mod 65536 bytes of a bigger block.
	big := make([]byte, 70000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	lmn := fragmentation.FragDataBlockAuthReq{CRC32: crc32.ChecksumIEEE(big[:70000-65536])}
	full := fragmentation.FragDataBlockAuthReq{CRC32: crc32.ChecksumIEEE(big)}
	if !lmn.Matches(big) || !full.Matches(big) {
		t.Error("Matches on a block above 65535 bytes")
	}
}

func TestCodecJSON(t *testing.T) {
	tests := []struct {
		cmd  applayer.Command
		keys []string
	}{
		{&fragmentation.FragSessionStatusReq{}, []string{"participants", "frag_index"}},
		{&fragmentation.FragSessionStatusAns{Version: 1, NotEnoughMatrixMemory: true},
			[]string{"frag_index", "nb_frag_received", "missing_frag", "not_enough_matrix_memory"}},
		{&fragmentation.FragSessionStatusAns{Version: 2, MemoryError: true, MICError: true, SessionDoesNotExist: true},
			[]string{"frag_index", "nb_frag_received", "missing_frag", "memory_error", "mic_error", "session_does_not_exist"}},
		{&fragmentation.FragSessionSetupReq{Version: 1},
			[]string{"frag_index", "mc_group_bit_mask", "nb_frag", "frag_size", "block_ack_delay", "frag_algo", "padding", "descriptor"}},
		{&fragmentation.FragSessionSetupReq{Version: 2, AckReception: true, SessionCnt: 1, MIC: applayer.Bytes4{1}},
			[]string{"frag_index", "mc_group_bit_mask", "nb_frag", "frag_size", "block_ack_delay", "frag_algo",
				"ack_reception", "padding", "descriptor", "session_cnt", "mic"}},
		{&fragmentation.FragSessionSetupAns{Version: 2, SessionCntReplay: true},
			[]string{"frag_index", "frag_algo_unsupported", "not_enough_memory", "frag_index_unsupported",
				"wrong_descriptor", "session_cnt_replay"}},
		{&fragmentation.FragSessionDeleteReq{}, []string{"frag_index"}},
		{&fragmentation.FragSessionDeleteAns{}, []string{"frag_index", "session_does_not_exist"}},
		{&fragmentation.FragDataBlockReceivedReq{}, []string{"frag_index", "mic_error"}},
		{&fragmentation.FragDataBlockReceivedAns{}, []string{"frag_index"}},
		{&fragmentation.FragDataBlockAuthReq{}, []string{"crc32"}},
		{&fragmentation.DataFragment{}, []string{"frag_index", "n", "payload"}},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.cmd)
		if err != nil {
			t.Fatalf("%s: %v", tt.cmd.Name(), err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := slices.Sorted(slices.Values(tt.keys))
		if !slices.Equal(keys, want) {
			t.Errorf("%s JSON %s: keys %v, want %v", tt.cmd.Name(), b, keys, want)
		}
	}

	// Byte strings read and write as hex; the mask is a number.
	setup := &fragmentation.FragSessionSetupReq{Version: 2, McGroupBitMask: 5, NbFrag: 3, FragSize: 10,
		Descriptor: applayer.Bytes4{1, 2, 3, 4}, SessionCnt: 7, MIC: applayer.Bytes4{0xde, 0xad, 0xbe, 0xef}}
	b, _ := json.Marshal(setup)
	for _, want := range []string{`"mc_group_bit_mask":5`, `"descriptor":"01020304"`, `"mic":"deadbeef"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	back := &fragmentation.FragSessionSetupReq{Version: 2}
	if err := json.Unmarshal(b, back); err != nil || *back != *setup {
		t.Errorf("JSON round trip: %+v, %v", back, err)
	}
	frag := &fragmentation.DataFragment{N: 2, Payload: applayer.HexBytes{0xca, 0xfe}}
	if b, _ := json.Marshal(frag); string(b) != `{"frag_index":0,"n":2,"payload":"cafe"}` {
		t.Errorf("DataFragment JSON %s", b)
	}
}

func TestCodecStatusAnsV2Encode(t *testing.T) {
	// The spec's 1-byte form whenever the session does not exist.
	b, err := (&fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, MICError: true}).MarshalBinary()
	if err != nil || hex.EncodeToString(b) != "0106" {
		t.Errorf("MarshalBinary = %x, %v; want 0106", b, err)
	}
	// Or zero-filled to 4 bytes, as LoRa Basics Modem does, when asked.
	b, err = (&fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, ZeroFilled: true}).MarshalBinary()
	if err != nil || hex.EncodeToString(b) != "0104000000" {
		t.Errorf("MarshalBinary = %x, %v; want 0104000000", b, err)
	}
	// Otherwise 4 bytes, also when every field is zero.
	b, err = (&fragmentation.FragSessionStatusAns{Version: 2}).MarshalBinary()
	if err != nil || hex.EncodeToString(b) != "0100000000" {
		t.Errorf("MarshalBinary = %x, %v; want 0100000000", b, err)
	}
}

func TestCodecDecodeStatusAnsAuto(t *testing.T) {
	tests := []struct {
		name      string
		hex       string // payload after the CID
		want      uint8  // FragIndex asked for
		layout    fragmentation.StatusAnsLayout
		ambiguous bool
		n         int
		ans       fragmentation.FragSessionStatusAns
	}{
		// v1 order, NbFragReceived 300 (low byte 0x2c: RFU bits in a v2 reading).
		{"STM v1 order", "2c410300", 1, fragmentation.StatusAnsV1Order, false, 4,
			fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 1, NbFragReceived: 300, MissingFrag: 3}},
		{"STM v1 order memory error", "2cc10001", 3, fragmentation.StatusAnsV1Order, false, 4,
			fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 3, NbFragReceived: 300, MemoryError: true}},
		// v2 order, MissingFrag 9 (RFU bits in a v1 reading of the status byte).
		{"spec v2 order", "002c4109", 1, fragmentation.StatusAnsV2, false, 4,
			fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 1, NbFragReceived: 300, MissingFrag: 9}},
		// Both plausible, the FragIndex decides: v1 NbFragReceived 0x4003 (low byte 3).
		{"v1 order decided by FragIndex", "03400000", 1, fragmentation.StatusAnsV1Order, false, 4,
			fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 1, NbFragReceived: 3}},
		// Both plausible: v2 reading FragIndex 2 = asked, v1 reading FragIndex 0.
		{"v2 order decided by FragIndex", "02058000", 2, fragmentation.StatusAnsV2, false, 4,
			fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 2, NbFragReceived: 5, MICError: true}},
		// Both plausible, both FragIndex 0: cannot tell, read in spec order.
		{"ambiguous", "01000000", 0, fragmentation.StatusAnsV2, true, 4,
			fragmentation.FragSessionStatusAns{Version: 2, MemoryError: true}},
		// Both plausible, neither FragIndex matches.
		{"ambiguous no match", "00000000", 3, fragmentation.StatusAnsV2, true, 4,
			fragmentation.FragSessionStatusAns{Version: 2}},
		// RFU bits set either way: spec order, RFU ignored.
		{"implausible both ways", "fb0000ff", 0, fragmentation.StatusAnsV2, true, 4,
			fragmentation.FragSessionStatusAns{Version: 2, MemoryError: true, MICError: true, MissingFrag: 255}},
		// LBM's 4-byte "no session" never becomes a v1 "received 4, complete".
		{"LBM no session, FragIndex 0", "04000000", 0, fragmentation.StatusAnsV2, true, 4,
			fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, ZeroFilled: true}},
		{"LBM no session, FragIndex 2", "04000000", 2, fragmentation.StatusAnsV2, false, 4,
			fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true, ZeroFilled: true}},
		{"spec 1-byte", "04", 1, fragmentation.StatusAnsV2Short, false, 1,
			fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true}},
		{"spec 1-byte then DeleteAns", "040307", 1, fragmentation.StatusAnsV2Short, false, 1,
			fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true}},
		// v1 order with NbFragReceived low byte 4..7 looks like a v2 1-byte answer.
		{"v1 order like short form", "05810100", 2, fragmentation.StatusAnsV1Order, false, 4,
			fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 2, NbFragReceived: 0x105, MissingFrag: 1}},
		{"short form like v1 order", "04000300", 1, fragmentation.StatusAnsV2Short, true, 1,
			fragmentation.FragSessionStatusAns{Version: 2, SessionDoesNotExist: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := hex.DecodeString(tt.hex)
			r, err := fragmentation.DecodeStatusAnsAuto(p, tt.want)
			if err != nil {
				t.Fatalf("DecodeStatusAnsAuto(%s, %d): %v", tt.hex, tt.want, err)
			}
			if r.Layout != tt.layout || r.Ambiguous != tt.ambiguous || r.N != tt.n {
				t.Errorf("layout %v ambiguous %v n %d, want %v %v %d", r.Layout, r.Ambiguous, r.N, tt.layout, tt.ambiguous, tt.n)
			}
			if *r.Ans != tt.ans {
				t.Errorf("answer %+v\nwant   %+v", *r.Ans, tt.ans)
			}
			// The answer is a valid version 2 answer.
			if _, err := r.Ans.MarshalBinary(); err != nil {
				t.Errorf("re-encoding the answer: %v", err)
			}
		})
	}

	for _, bad := range []struct {
		hex  string
		want uint8
	}{{"", 0}, {"00", 0}, {"0000", 0}, {"000000", 0}, {"00000000", 4}} {
		p, _ := hex.DecodeString(bad.hex)
		if r, err := fragmentation.DecodeStatusAnsAuto(p, bad.want); err == nil {
			t.Errorf("DecodeStatusAnsAuto(%q, %d) = %+v, want an error", bad.hex, bad.want, r)
		}
	}
}

func TestCodecDecodeStatusAnsLayout(t *testing.T) {
	p, _ := hex.DecodeString("c8c10301")
	ans, n, err := fragmentation.DecodeStatusAnsLayout(p, fragmentation.StatusAnsV1Order)
	want := fragmentation.FragSessionStatusAns{Version: 2, FragIndex: 3, NbFragReceived: 0x1c8, MissingFrag: 3, MemoryError: true}
	if err != nil || n != 4 || *ans != want {
		t.Errorf("V1Order: %+v, %d, %v", ans, n, err)
	}
	ans, n, err = fragmentation.DecodeStatusAnsLayout(p, fragmentation.StatusAnsV2)
	if err != nil || n != 4 || ans.NbFragReceived != 0x3c1 || ans.FragIndex != 0 || ans.MissingFrag != 1 {
		t.Errorf("V2: %+v, %d, %v", ans, n, err)
	}
	if _, _, err := fragmentation.DecodeStatusAnsLayout(p, fragmentation.StatusAnsV2Short); err == nil {
		t.Error("V2Short accepted a status byte without session_does_not_exist")
	}
	if _, n, err := fragmentation.DecodeStatusAnsLayout([]byte{4, 0, 0, 0}, fragmentation.StatusAnsV2Short); err != nil || n != 1 {
		t.Errorf("V2Short on 04000000: n %d, %v", n, err)
	}
	if _, _, err := fragmentation.DecodeStatusAnsLayout(p[:3], fragmentation.StatusAnsV1Order); !errors.Is(err, applayer.ErrTruncated) {
		t.Errorf("V1Order on 3 bytes: %v", err)
	}
	if _, _, err := fragmentation.DecodeStatusAnsLayout(p, 0); err == nil {
		t.Error("layout 0 accepted")
	}
	for l, s := range map[fragmentation.StatusAnsLayout]string{
		fragmentation.StatusAnsV2: "v2", fragmentation.StatusAnsV2Short: "v2-short",
		fragmentation.StatusAnsV1Order: "v1-order", 9: "StatusAnsLayout(9)",
	} {
		if l.String() != s {
			t.Errorf("%d.String() = %q, want %q", l, l.String(), s)
		}
	}
}

// TestCodecMatchesBrocaar encodes the version 1 commands with brocaar/lorawan and
// with this package over their whole value ranges, and compares the bytes both
// ways (PROTOCOLS.md §6.1: its v1 codecs are byte-exact apart from the N range).
func TestCodecMatchesBrocaar(t *testing.T) {
	check := func(t *testing.T, dir applayer.Direction, theirs brocaar.Command, ours applayer.Command) {
		t.Helper()
		want, err := theirs.MarshalBinary()
		if err != nil {
			t.Fatalf("brocaar %v: %v", theirs.CID, err)
		}
		got, err := ours.MarshalBinary()
		if err != nil {
			t.Fatalf("%s %+v: %v", ours.Name(), ours, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s %+v: ours %x, brocaar %x", ours.Name(), ours, got, want)
		}
		// Our decoder reads brocaar's bytes back into the same command.
		cmds, err := fragmentation.DecodeFrame(want, dir, 1)
		if err != nil || len(cmds) != 1 || !reflect.DeepEqual(cmds[0], ours) {
			t.Fatalf("decoding brocaar's %x: %v %v", want, cmds, err)
		}
		// And brocaar reads ours into the same payload.
		var back brocaar.Command
		if err := back.UnmarshalBinary(dir == up, got); err != nil || !reflect.DeepEqual(back, theirs) {
			t.Fatalf("brocaar decoding %x: %+v %v", got, back, err)
		}
	}

	t.Run("FragSessionStatusReq", func(t *testing.T) {
		for fi := range uint8(4) {
			for _, p := range []bool{false, true} {
				check(t, down, brocaar.Command{CID: brocaar.FragSessionStatusReq,
					Payload: &brocaar.FragSessionStatusReqPayload{FragStatusReqParam: brocaar.FragSessionStatusReqPayloadFragStatusReqParam{
						FragIndex: fi, Participants: p}}},
					&fragmentation.FragSessionStatusReq{FragIndex: fi, Participants: p})
			}
		}
	})
	t.Run("FragSessionStatusAns", func(t *testing.T) {
		for fi := range uint8(4) {
			for _, nb := range []uint16{0, 1, 255, 256, 513, 16383} {
				for _, mm := range []bool{false, true} {
					check(t, up, brocaar.Command{CID: brocaar.FragSessionStatusAns,
						Payload: &brocaar.FragSessionStatusAnsPayload{
							ReceivedAndIndex: brocaar.FragSessionStatusAnsPayloadReceivedAndIndex{FragIndex: fi, NbFragReceived: nb},
							MissingFrag:      uint8(nb),
							Status:           brocaar.FragSessionStatusAnsPayloadStatus{NotEnoughMatrixMemory: mm}}},
						&fragmentation.FragSessionStatusAns{Version: 1, FragIndex: fi, NbFragReceived: nb,
							MissingFrag: uint8(nb), NotEnoughMatrixMemory: mm})
				}
			}
		}
	})
	t.Run("FragSessionSetupReq", func(t *testing.T) {
		for mask := range uint8(16) {
			for fi := range uint8(4) {
				for ctl := range uint8(64) {
					var groups [4]bool
					for i := range groups {
						groups[i] = mask&(1<<i) != 0
					}
					nb, size, pad := uint16(1+int(ctl)*257), uint8(1+ctl*4), ctl
					check(t, down, brocaar.Command{CID: brocaar.FragSessionSetupReq,
						Payload: &brocaar.FragSessionSetupReqPayload{
							FragSession: brocaar.FragSessionSetupReqPayloadFragSession{FragIndex: fi, McGroupBitMask: groups},
							NbFrag:      nb, FragSize: size, Padding: pad,
							Control:    brocaar.FragSessionSetupReqPayloadControl{FragmentationMatrix: ctl >> 3, BlockAckDelay: ctl & 7},
							Descriptor: [4]byte{mask, fi, ctl, 0xff}}},
						&fragmentation.FragSessionSetupReq{Version: 1, FragIndex: fi, McGroupBitMask: mask,
							NbFrag: nb, FragSize: size, Padding: pad, FragAlgo: ctl >> 3, BlockAckDelay: ctl & 7,
							Descriptor: applayer.Bytes4{mask, fi, ctl, 0xff}})
				}
			}
		}
	})
	t.Run("FragSessionSetupAns", func(t *testing.T) {
		for b := range 64 {
			for fi := range uint8(4) {
				st := brocaar.FragSessionSetupAnsPayloadStatusBitMask{FragIndex: fi,
					EncodingUnsupported: b&1 != 0, NotEnoughMemory: b&2 != 0,
					FragSessionIndexNotSupported: b&4 != 0, WrongDescriptor: b&8 != 0}
				check(t, up, brocaar.Command{CID: brocaar.FragSessionSetupAns,
					Payload: &brocaar.FragSessionSetupAnsPayload{StatusBitMask: st}},
					&fragmentation.FragSessionSetupAns{Version: 1, FragIndex: fi,
						FragAlgoUnsupported: st.EncodingUnsupported, NotEnoughMemory: st.NotEnoughMemory,
						FragIndexUnsupported: st.FragSessionIndexNotSupported, WrongDescriptor: st.WrongDescriptor})
			}
		}
	})
	t.Run("FragSessionDelete", func(t *testing.T) {
		for fi := range uint8(4) {
			check(t, down, brocaar.Command{CID: brocaar.FragSessionDeleteReq,
				Payload: &brocaar.FragSessionDeleteReqPayload{Param: brocaar.FragSessionDeleteReqPayloadParam{FragIndex: fi}}},
				&fragmentation.FragSessionDeleteReq{FragIndex: fi})
			for _, sdne := range []bool{false, true} {
				check(t, up, brocaar.Command{CID: brocaar.FragSessionDeleteAns,
					Payload: &brocaar.FragSessionDeleteAnsPayload{Status: brocaar.FragSessionDeleteAnsPayloadStatus{
						FragIndex: fi, SessionDoesNotExist: sdne}}},
					&fragmentation.FragSessionDeleteAns{FragIndex: fi, SessionDoesNotExist: sdne})
			}
		}
	})
	t.Run("PackageVersionAns", func(t *testing.T) {
		check(t, up, brocaar.Command{CID: brocaar.PackageVersionAns,
			Payload: &brocaar.PackageVersionAnsPayload{PackageIdentifier: 3, PackageVersion: 1}},
			&applayer.PackageVersionAns{PackageIdentifier: 3, PackageVersion: 1})
	})
	t.Run("DataFragment", func(t *testing.T) {
		for fi := range uint8(4) {
			for _, n := range []uint16{1, 2, 255, 256, 513, 8192, 16383} {
				payload := []byte{byte(n), fi, 0x55}
				check(t, down, brocaar.Command{CID: brocaar.DataFragment,
					Payload: &brocaar.DataFragmentPayload{
						IndexAndN: brocaar.DataFragmentPayloadIndexAndN{FragIndex: fi, N: n}, Payload: payload}},
					&fragmentation.DataFragment{FragIndex: fi, N: n, Payload: applayer.HexBytes(payload)})
			}
		}
	})
}

// TestCodecDataFragmentCounterBrocaarWraps shows the defect of PROTOCOLS.md §6.1:
// brocaar/lorawan masks N to 14 bits, so fragment 16384 goes out as fragment 0
// and 16385 as fragment 1, overwriting the first fragment on the device. This
// package refuses both.
func TestCodecDataFragmentCounterBrocaarWraps(t *testing.T) {
	for _, n := range []uint16{16384, 16385, 0xffff} {
		b, err := brocaar.Command{CID: brocaar.DataFragment, Payload: &brocaar.DataFragmentPayload{
			IndexAndN: brocaar.DataFragmentPayloadIndexAndN{FragIndex: 1, N: n}, Payload: []byte{0xaa}}}.MarshalBinary()
		if err != nil {
			t.Fatalf("brocaar N %d: %v", n, err)
		}
		wrapped := uint16(b[1]) | uint16(b[2]&0x3f)<<8
		if wrapped != n&0x3fff {
			t.Errorf("brocaar N %d encoded as %d, expected the silent wrap to %d", n, wrapped, n&0x3fff)
		}

		_, err = (&fragmentation.DataFragment{FragIndex: 1, N: n, Payload: applayer.HexBytes{0xaa}}).MarshalBinary()
		var fe *applayer.FieldError
		if !errors.As(err, &fe) || fe.Field != "n" {
			t.Errorf("ours N %d: error %v, want a FieldError on n", n, err)
		}
	}
}

// TestCodecDecodeStatusAnsAutoClaims checks what the DecodeStatusAnsAuto doc
// comment promises, over every low byte of NbFragReceived and a spread of the
// other fields.
func TestCodecDecodeStatusAnsAutoClaims(t *testing.T) {
	missings := []uint8{0, 1, 2, 63, 64, 200, 255}
	for lo := range 256 {
		for _, hi := range []uint16{0, 1, 0x3f} {
			nb := hi<<8 | uint16(lo)
			for fi := range uint8(4) {
				for _, missing := range missings {
					for _, memErr := range []bool{false, true} {
						// A version 2 answer in 4 bytes is always read right.
						v2 := fragmentation.FragSessionStatusAns{Version: 2, FragIndex: fi, NbFragReceived: nb,
							MissingFrag: missing, MemoryError: memErr, MICError: lo&1 != 0}
						b, err := v2.MarshalBinary()
						if err != nil {
							t.Fatal(err)
						}
						r, err := fragmentation.DecodeStatusAnsAuto(b[1:], fi)
						if err != nil || r.Layout != fragmentation.StatusAnsV2 || *r.Ans != v2 {
							t.Fatalf("v2 %x for FragIndex %d: %+v %v", b, fi, r, err)
						}

						// A version 1 order answer, as STM32CubeWL sends it.
						v1 := fragmentation.FragSessionStatusAns{Version: 1, FragIndex: fi, NbFragReceived: nb,
							MissingFrag: missing, NotEnoughMatrixMemory: memErr}
						b, err = v1.MarshalBinary()
						if err != nil {
							t.Fatal(err)
						}
						r, err = fragmentation.DecodeStatusAnsAuto(b[1:], fi)
						if err != nil {
							t.Fatal(err)
						}
						var recognisable bool
						switch {
						case lo >= 8:
							recognisable = true
						case lo >= 4:
							recognisable = b[2]|b[3]|b[4] != 0
						default:
							recognisable = missing>>6 != fi
						}
						want := fragmentation.FragSessionStatusAns{Version: 2, FragIndex: fi, NbFragReceived: nb,
							MissingFrag: missing, MemoryError: memErr}
						got := r.Layout == fragmentation.StatusAnsV1Order && *r.Ans == want
						if got != recognisable {
							t.Fatalf("v1 order %x for FragIndex %d: read as %v %+v, recognisable %v",
								b, fi, r.Layout, *r.Ans, recognisable)
						}
						if !got && !r.Ambiguous {
							t.Fatalf("v1 order %x misread without Ambiguous", b)
						}
					}
				}
			}
		}
	}
}
