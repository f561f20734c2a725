package image

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzSeeds are small valid images of both key types and cut-down copies of
// them; testdata/fuzz/FuzzParse holds the same kinds of inputs.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, alg := range Algorithms() {
		full := mustSign(t, alg, 16, SignOptions{
			Version: Version{1, 2, 3, 4}, SecurityCounter: ptr(uint32(7)),
			VendorID: &UUID{1}, ClassID: &UUID{2}, HeaderSize: HeaderLen,
		})
		plain := mustSign(t, alg, 3, SignOptions{HeaderSize: HeaderLen})
		seeds = append(seeds, full, plain, full[:len(full)-1], full[:HeaderLen+16+10], plain[:HeaderLen])
	}
	return seeds
}

// FuzzParse checks that Parse, ParseSlot and Verify never panic, that errors
// are FormatErrors, and that whatever parses is consistent with its bytes.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	pub := testKey(f, Ed25519).Public()
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Parse(b)
		slot, slotErr := ParseSlot(b)
		_ = Verify(b, pub, VerifyOptions{Slot: true})
		if slotErr != nil {
			if err == nil {
				t.Fatalf("Parse accepted what ParseSlot rejected: %v", slotErr)
			}
			var fe *FormatError
			if !errors.As(slotErr, &fe) {
				t.Fatalf("ParseSlot error %v is not a FormatError", slotErr)
			}
			return
		}
		checkConsistent(t, slot, b)
		if err != nil {
			if slot.Len() == len(b) {
				t.Fatalf("Parse rejected an exact image ParseSlot accepted: %v", err)
			}
			return
		}
		if img.Len() != len(b) {
			t.Fatalf("Parse accepted %d bytes of %d", img.Len(), len(b))
		}
	})
}

// checkConsistent re-encodes a parsed image's header and TLV areas and
// compares them with the bytes they came from.
func checkConsistent(t *testing.T, img *Image, b []byte) {
	t.Helper()
	if img.HeaderSize < HeaderLen || len(img.Payload) != int(img.ImageSize) {
		t.Fatalf("header %+v with %d payload bytes", img.Header, len(img.Payload))
	}
	if !bytes.Equal(img.Header.marshal()[:28], b[:28]) {
		t.Fatalf("header %+v does not re-encode to its bytes", img.Header)
	}
	off := img.TLVOffset()
	if img.ProtectedTLVSize != 0 {
		var area []byte
		area = appendTLVInfo(area, TLVProtInfoMagic, img.ProtectedTLVSize)
		for _, e := range img.Protected {
			area = appendTLV(area, e.Type, e.Value)
		}
		if !bytes.Equal(area, b[off:off+int(img.ProtectedTLVSize)]) {
			t.Fatal("protected TLVs do not re-encode to their bytes")
		}
		off += len(area)
	}
	if len(img.Hashed()) != off {
		t.Fatalf("hashed region %d bytes, TLV areas say %d", len(img.Hashed()), off)
	}
	area := appendTLVInfo(nil, TLVInfoMagic, uint16(img.UnprotectedTLVSize()))
	for _, e := range img.Unprotected {
		area = appendTLV(area, e.Type, e.Value)
	}
	if !bytes.Equal(area, b[off:off+img.UnprotectedTLVSize()]) {
		t.Fatal("unprotected TLVs do not re-encode to their bytes")
	}
	if off+len(area) != img.Len() || !bytes.Equal(img.Bytes(), b[:img.Len()]) {
		t.Fatalf("image ends at %d, TLV areas at %d", img.Len(), off+len(area))
	}
	for _, e := range append(append([]TLV(nil), img.Protected...), img.Unprotected...) {
		if e.Offset+TLVHeaderLen+len(e.Value) > img.Len() {
			t.Fatalf("%v at offset %d runs past the image", e.Type, e.Offset)
		}
	}
}
