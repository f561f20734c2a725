package applayer

import (
	"errors"
	"strings"
	"testing"
)

// testPackage is a two-command table: a 2-byte command and one that must be
// alone in its frame.
func testPackage() *Package {
	return &Package{
		Name: "test", Spec: "TS000", ID: 9, FPort: 9, Versions: []uint8{1, 2},
		Commands: append(VersionSpecs(1, 2),
			CommandSpec{CID: 0x08, Dir: Downlink, Name: "Alone", MinVersion: 1, MaxVersion: 2, Alone: true,
				New: func(uint8) Command { return &PackageVersionReq{} }},
			CommandSpec{CID: 0x04, Dir: Uplink, Name: "V2Only", MinVersion: 2, MaxVersion: 2,
				New: func(uint8) Command { return &PackageVersionAns{} }},
		),
	}
}

func TestDecodeErrors(t *testing.T) {
	p := testPackage()
	tests := []struct {
		name    string
		frame   []byte
		dir     Direction
		version uint8
		decoded int    // commands returned with the error
		want    string // substring of the error
	}{
		{"empty", nil, Uplink, 1, 0, "empty frame"},
		{"bad version", []byte{0}, Uplink, 3, 0, "version 3 not supported"},
		{"bad direction", []byte{0}, Direction(7), 1, 0, "invalid direction"},
		{"unknown CID after a good one", []byte{0, 3, 1, 0x77}, Uplink, 1, 1, "unknown uplink CID 0x77 for package version 1 at byte 3"},
		{"v2 CID in v1", []byte{0x04, 1, 2}, Uplink, 1, 0, "CID 0x04"},
		{"truncated", []byte{0, 3}, Uplink, 1, 0, "PackageVersionAns (CID 0x00) at byte 0: truncated"},
		{"alone not first", []byte{0, 0x08}, Downlink, 1, 1, "must be the only command"},
	}
	for _, tt := range tests {
		cmds, err := p.Decode(tt.frame, tt.dir, tt.version)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want one containing %q", tt.name, err, tt.want)
		}
		if len(cmds) != tt.decoded {
			t.Errorf("%s: %d commands returned with the error, want %d", tt.name, len(cmds), tt.decoded)
		}
	}
	var unknown *UnknownCommandError
	if _, err := p.Decode([]byte{0x77}, Uplink, 1); !errors.As(err, &unknown) || unknown.Offset != 0 {
		t.Errorf("unknown CID: %v, want *UnknownCommandError at 0", err)
	}
	if _, err := p.Decode([]byte{0, 1}, Uplink, 1); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated: %v does not wrap ErrTruncated", err)
	}
}

func TestDecodeSequence(t *testing.T) {
	p := testPackage()
	cmds, err := p.Decode([]byte{0, 3, 1, 0, 4, 2}, Uplink, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 2 || *cmds[1].(*PackageVersionAns) != (PackageVersionAns{4, 2}) {
		t.Fatalf("got %#v", cmds)
	}
	b, err := p.Encode(cmds...)
	if err != nil || string(b) != string([]byte{0, 3, 1, 0, 4, 2}) {
		t.Errorf("Encode = %x, %v", b, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	p := testPackage()
	if _, err := p.Encode(); err == nil {
		t.Error("Encode of nothing succeeded")
	}
	// The Alone command shares its type with PackageVersionReq but not its CID
	// and name, so a frame of two version requests is fine.
	if _, err := p.Encode(&PackageVersionReq{}, &PackageVersionReq{}); err != nil {
		t.Errorf("two PackageVersionReq: %v", err)
	}
}

func TestUnmarshal(t *testing.T) {
	var a PackageVersionAns
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, "empty input"},
		{[]byte{1, 3, 1}, "CID 0x01, want 0x00"},
		{[]byte{0, 3}, "truncated"},
		{[]byte{0, 3, 1, 9}, "over-long: 1 trailing bytes from byte 3"},
	}
	for _, tt := range tests {
		if err := a.UnmarshalBinary(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("UnmarshalBinary(%x) = %v, want %q", tt.in, err, tt.want)
		}
	}
	if err := a.UnmarshalBinary([]byte{0, 3, 1}); err != nil || a != (PackageVersionAns{3, 1}) {
		t.Errorf("UnmarshalBinary = %+v, %v", a, err)
	}
}

func TestHexTypes(t *testing.T) {
	var b4 Bytes4
	if err := b4.UnmarshalText([]byte("01020304")); err != nil || b4 != (Bytes4{1, 2, 3, 4}) {
		t.Errorf("Bytes4 = %x, %v", b4, err)
	}
	for _, bad := range []string{"010203", "0102030405", "0102030g", "0102030"} {
		if err := b4.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("Bytes4 accepted %q", bad)
		}
	}
	var b16 Bytes16
	if err := b16.UnmarshalText([]byte(strings.Repeat("ab", 16))); err != nil || b16[15] != 0xab {
		t.Errorf("Bytes16: %v", err)
	}
	var h HexBytes
	if err := h.UnmarshalText([]byte("zz")); err == nil {
		t.Error("HexBytes accepted zz")
	}
	if txt, _ := (HexBytes{0xde, 0xad}).MarshalText(); string(txt) != "dead" {
		t.Errorf("HexBytes text %q", txt)
	}
	if v := Uint24([]byte{1, 2, 3}); v != 0x030201 {
		t.Errorf("Uint24 = %x", v)
	}
	var u [3]byte
	PutUint24(u[:], 0x030201)
	if u != [3]byte{1, 2, 3} {
		t.Errorf("PutUint24 = %x", u)
	}
}
