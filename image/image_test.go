package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr string
	}{
		{"1.2.3+4", Version{1, 2, 3, 4}, ""},
		{"1.2.3", Version{1, 2, 3, 0}, ""},
		{"1.2", Version{1, 2, 0, 0}, ""},
		{"7", Version{7, 0, 0, 0}, ""},
		{"0.0.0+0", Version{}, ""},
		{"255.255.65535+4294967295", Version{255, 255, 65535, 4294967295}, ""},
		{"256.0.0", Version{}, "major"},
		{"1.256", Version{}, "minor"},
		{"1.2.65536", Version{}, "revision"},
		{"1.2.3+4294967296", Version{}, "build"},
		{"01.2.3", Version{}, "leading zero"},
		{"1.2+3", Version{}, "major.minor.revision+build"},
		{"1.2.3.4", Version{}, "major.minor.revision+build"},
		{"", Version{}, "empty"},
		{"1..3", Version{}, "empty"},
		{"v1.2.3", Version{}, "not a decimal"},
		{"1.-2.3", Version{}, "not a decimal"},
		{"1.2.3+", Version{}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVersion(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseVersion(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseVersion(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			back, err := ParseVersion(got.String())
			if err != nil || back != got {
				t.Errorf("ParseVersion(%q.String() = %q) = %v, %v", tt.in, got.String(), back, err)
			}
		})
	}
}

func TestVersionStringCompare(t *testing.T) {
	tests := []struct {
		a, b Version
		str  string
		cmp  int
	}{
		{Version{1, 2, 3, 4}, Version{1, 2, 3, 4}, "1.2.3+4", 0},
		{Version{1, 2, 3, 0}, Version{1, 2, 3, 1}, "1.2.3", -1},
		{Version{2, 0, 0, 0}, Version{1, 255, 65535, 9}, "2.0.0", 1},
		{Version{1, 3, 0, 0}, Version{1, 2, 9, 0}, "1.3.0", 1},
		{Version{1, 2, 300, 0}, Version{1, 2, 301, 0}, "1.2.300", -1},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.str {
			t.Errorf("%#v.String() = %q, want %q", tt.a, got, tt.str)
		}
		if got := tt.a.Compare(tt.b); got != tt.cmp {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.cmp)
		}
		if got := tt.b.Compare(tt.a); got != -tt.cmp {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.b, tt.a, got, -tt.cmp)
		}
	}
}

func TestTLVTypeString(t *testing.T) {
	tests := []struct {
		t    TLVType
		want string
	}{
		{TLVKeyHash, "KEYHASH"},
		{TLVSHA256, "SHA256"},
		{TLVECDSASig, "ECDSA_SIG"},
		{TLVEd25519, "ED25519"},
		{TLVSecCnt, "SEC_CNT"},
		{TLVUUIDVID, "UUID_VID"},
		{TLVUUIDCID, "UUID_CID"},
		{0x00a5, "VENDOR_0x00a5"},
		{0x12ff, "VENDOR_0x12ff"},
		{0x0099, "0x0099"},
		{0xffff, "0xffff"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("TLVType(0x%x).String() = %q, want %q", uint16(tt.t), got, tt.want)
		}
	}
}

func TestFlagNames(t *testing.T) {
	tests := []struct {
		flags uint32
		want  []string
	}{
		{0, nil},
		{FlagRAMLoad, []string{"RAM_LOAD"}},
		{FlagEncryptedAES128 | FlagNonBootable, []string{"ENCRYPTED_AES128", "NON_BOOTABLE"}},
		{FlagPIC | 0x80000000, []string{"PIC", "0x80000000"}},
	}
	for _, tt := range tests {
		if got := FlagNames(tt.flags); !slices.Equal(got, tt.want) {
			t.Errorf("FlagNames(0x%x) = %q, want %q", tt.flags, got, tt.want)
		}
	}
}

func TestParseFields(t *testing.T) {
	key := testKey(t, Ed25519)
	vid, cid := UUID{1, 2, 3}, UUID{4, 5, 6}
	b := mustSign(t, Ed25519, 100, SignOptions{
		Version: Version{1, 2, 3, 4}, Key: key, SecurityCounter: ptr(uint32(9)),
		VendorID: &vid, ClassID: &cid, HeaderSize: 0x40, LoadAddr: 0x20001000,
	})
	img, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	wantHdr := Header{
		LoadAddr: 0x20001000, HeaderSize: 0x40, ProtectedTLVSize: 4 + 8 + 20 + 20,
		ImageSize: 100, Flags: FlagRAMLoad, Version: Version{1, 2, 3, 4},
	}
	if img.Header != wantHdr {
		t.Errorf("header = %+v, want %+v", img.Header, wantHdr)
	}
	if !bytes.Equal(img.Payload, testPayload(100)) {
		t.Error("payload differs")
	}
	if got, want := img.TLVOffset(), 0x40+100; got != want {
		t.Errorf("TLVOffset = %d, want %d", got, want)
	}
	if got, want := len(img.Hashed()), 0x40+100+52; got != want {
		t.Errorf("len(Hashed) = %d, want %d", got, want)
	}
	if got, want := img.UnprotectedTLVSize(), 4+36+36+68; got != want {
		t.Errorf("UnprotectedTLVSize = %d, want %d", got, want)
	}
	if img.Len() != len(b) || !bytes.Equal(img.Bytes(), b) {
		t.Errorf("Len = %d, want %d", img.Len(), len(b))
	}
	var types []TLVType
	for _, e := range append(slices.Clone(img.Protected), img.Unprotected...) {
		types = append(types, e.Type)
		if !bytes.Equal(b[e.Offset+TLVHeaderLen:e.Offset+TLVHeaderLen+len(e.Value)], e.Value) {
			t.Errorf("%v: Offset %d does not locate its value", e.Type, e.Offset)
		}
	}
	if want := []TLVType{TLVSecCnt, TLVUUIDVID, TLVUUIDCID, TLVSHA256, TLVKeyHash, TLVEd25519}; !slices.Equal(types, want) {
		t.Errorf("TLVs = %v, want %v", types, want)
	}
	if n, ok, err := img.SecurityCounter(); n != 9 || !ok || err != nil {
		t.Errorf("SecurityCounter = %d, %v, %v", n, ok, err)
	}
	if u, ok, err := img.VendorID(); u != vid || !ok || err != nil {
		t.Errorf("VendorID = %v, %v, %v", u, ok, err)
	}
	if u, ok, err := img.ClassID(); u != cid || !ok || err != nil {
		t.Errorf("ClassID = %v, %v, %v", u, ok, err)
	}
	if _, ok := img.Find(TLVSHA256, false); !ok {
		t.Error("Find(SHA256, unprotected) found nothing")
	}
	if _, ok := img.Find(TLVSHA256, true); ok {
		t.Error("Find(SHA256, protected) found a TLV")
	}
}

// TestParseMalformed mutates a valid image and checks Parse names the field.
func TestParseMalformed(t *testing.T) {
	valid := mustSign(t, Ed25519, 64, SignOptions{SecurityCounter: ptr(uint32(1)), HeaderSize: 0x40})
	img, err := Parse(valid)
	if err != nil {
		t.Fatal(err)
	}
	protOff := img.TLVOffset()
	unprotOff := protOff + int(img.ProtectedTLVSize)
	put16 := func(off int, v uint16) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint16(b[off:], v); return b }
	}
	put32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
	}
	noProt := assemble(t, testKey(t, Ed25519), Header{HeaderSize: 0x40}, testPayload(64), nil, nil)
	noProtUnprot := 0x40 + 64
	tests := []struct {
		name   string
		base   []byte
		mutate func([]byte) []byte
		field  string
	}{
		{"empty", valid, func(b []byte) []byte { return nil }, "header"},
		{"short header", valid, func(b []byte) []byte { return b[:31] }, "header"},
		{"bad magic", valid, put32(0, 0x12345678), "ih_magic"},
		{"v1 magic", valid, put32(0, MagicV1), "ih_magic"},
		{"header size below 32", valid, put16(8, 31), "ih_hdr_size"},
		{"header size beyond data", valid, put16(8, 0xffff), "ih_hdr_size"},
		{"image size beyond data", valid, put32(12, 0xfffffff0), "ih_img_size"},
		{"image size one too many", valid, put32(12, 65), "protected it_magic"},
		{"image size one too few", valid, put32(12, 63), "protected it_magic"},
		{"protected size disagrees", valid, put16(10, 16), "protected it_tlv_tot"},
		{"protected size set without area", noProt, put16(10, 12), "protected it_magic"},
		{"protected tot below info", valid, func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[10:], 2)
			binary.LittleEndian.PutUint16(b[protOff+2:], 2)
			return b
		}, "protected it_tlv_tot"},
		{"protected TLV overruns area", valid, put16(protOff+6, 5), "protected TLV SEC_CNT it_len"},
		{"protected area ends mid-header", valid, func(b []byte) []byte {
			// Grow the area by 2 bytes the entries do not fill.
			binary.LittleEndian.PutUint16(b[10:], 14)
			binary.LittleEndian.PutUint16(b[protOff+2:], 14)
			return slices.Insert(b, unprotOff, 0, 0)
		}, "protected TLV header"},
		{"unprotected magic", valid, put16(unprotOff, 0x6906), "unprotected it_magic"},
		{"unprotected info missing", valid, func(b []byte) []byte { return b[:unprotOff+3] }, "unprotected TLV info"},
		{"unprotected tot beyond data", valid, func(b []byte) []byte { return b[:len(b)-1] }, "unprotected it_tlv_tot"},
		{"unprotected tot zero", noProt, put16(noProtUnprot+2, 0), "unprotected it_tlv_tot"},
		{"unprotected TLV overruns area", valid, put16(unprotOff+6, 0xffff), "unprotected TLV SHA256 it_len"},
		{"trailing byte", valid, func(b []byte) []byte { return append(b, 0xff) }, "end of image"},
		{"no TLV area at all", noProt, func(b []byte) []byte { return b[:noProtUnprot] }, "ih_img_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(slices.Clone(tt.base))
			img, err := Parse(b)
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Fatalf("Parse = %v, %v; want a FormatError", img, err)
			}
			if fe.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tt.field, err)
			}
		})
	}
}

func TestParseSlot(t *testing.T) {
	b := mustSign(t, ECDSAP256, 300, SignOptions{})
	slot := append(slices.Clone(b), bytes.Repeat([]byte{0xff}, 4096)...)
	if _, err := Parse(slot); err == nil {
		t.Fatal("Parse accepted trailing bytes")
	}
	img, err := ParseSlot(slot)
	if err != nil {
		t.Fatal(err)
	}
	if img.Len() != len(b) || !bytes.Equal(img.Bytes(), b) {
		t.Errorf("ParseSlot Len = %d, want %d", img.Len(), len(b))
	}
}

// TestParseEveryTruncation checks that no prefix of a valid image parses and
// none panics.
func TestParseEveryTruncation(t *testing.T) {
	for _, alg := range Algorithms() {
		b := mustSign(t, alg, 50, SignOptions{SecurityCounter: ptr(uint32(3)), VendorID: &UUID{1}, HeaderSize: 0x20})
		for n := range len(b) {
			if img, err := Parse(b[:n]); err == nil {
				t.Fatalf("%s: Parse of %d of %d bytes succeeded: %+v", alg, n, len(b), img.Header)
			}
			_ = Verify(b[:n], testKey(t, alg), VerifyOptions{})
		}
	}
}

func TestTLVValueIsolated(t *testing.T) {
	b := mustSign(t, Ed25519, 10, SignOptions{SecurityCounter: ptr(uint32(1))})
	img, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	// Appending to a TLV value must not write into the image bytes after it.
	before := slices.Clone(b)
	v := img.Protected[0].Value
	_ = append(v, 0xaa)
	if !bytes.Equal(b, before) {
		t.Error("append to a TLV value modified the image")
	}
}
