package image

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	vid := NameUUID(NamespaceDNS, "acme.example")
	cid := NameUUID(vid, "sensor-v2")
	tests := []struct {
		name string
		n    int
		opts SignOptions
	}{
		{"minimal", 1000, SignOptions{Version: Version{1, 0, 0, 0}}},
		{"empty payload", 0, SignOptions{}},
		{"all protected TLVs", 4096, SignOptions{Version: Version{1, 2, 3, 4}, SecurityCounter: ptr(uint32(42)), VendorID: &vid, ClassID: &cid}},
		{"only class", 10, SignOptions{ClassID: &cid}},
		{"32-byte header, RAM load", 77, SignOptions{HeaderSize: HeaderLen, LoadAddr: 0x20000000}},
		{"max counter", 5, SignOptions{SecurityCounter: ptr(uint32(0xffffffff))}},
	}
	for _, alg := range Algorithms() {
		for _, tt := range tests {
			t.Run(string(alg)+"/"+tt.name, func(t *testing.T) {
				b := mustSign(t, alg, tt.n, tt.opts)
				opts := VerifyOptions{VendorID: tt.opts.VendorID, ClassID: tt.opts.ClassID, MinSecurityCounter: tt.opts.SecurityCounter}
				r := Verify(b, testKey(t, alg), opts)
				if !r.OK() {
					t.Fatalf("Verify failed: %+v", r.Checks)
				}
				wantHdr := tt.opts.HeaderSize
				if wantHdr == 0 {
					wantHdr = DefaultHeaderSize
				}
				img := r.Image
				if img.HeaderSize != wantHdr || img.Version != tt.opts.Version || img.LoadAddr != tt.opts.LoadAddr {
					t.Errorf("header = %+v", img.Header)
				}
				if (tt.opts.LoadAddr != 0) != (img.Flags&FlagRAMLoad != 0) {
					t.Errorf("flags 0x%x with load address 0x%x", img.Flags, tt.opts.LoadAddr)
				}
				for _, c := range r.Checks {
					if c.Status == Skip || c.Status == Fail {
						t.Errorf("check %s: %s", c.Name, c.Status)
					}
				}
				if r.CRC32 != crc32.ChecksumIEEE(b) {
					t.Errorf("CRC32 = 0x%08x", r.CRC32)
				}
				// The header padding is erased flash, as with imgtool --pad-header.
				if pad := b[HeaderLen:wantHdr]; bytes.Count(pad, []byte{0xff}) != len(pad) {
					t.Error("header padding is not 0xff")
				}
			})
		}
	}
}

// wantChecks maps check names to the status they must have. Every check not
// named must pass or be informational, or be skipped if parsing is to fail.
type wantChecks map[string]Status

func assertChecks(t *testing.T, r *Report, want wantChecks) {
	t.Helper()
	parseFails := want[CheckParse] == Fail
	for _, c := range r.Checks {
		w, named := want[c.Name]
		switch {
		case named && c.Status != w:
			t.Errorf("check %s = %s (%s), want %s", c.Name, c.Status, c.Detail, w)
		case named:
		case parseFails && c.Name != CheckCRC32 && c.Status != Skip:
			t.Errorf("check %s = %s (%s), want skip after a parse failure", c.Name, c.Status, c.Detail)
		case !parseFails && (c.Status == Fail || c.Status == Skip):
			t.Errorf("check %s = %s (%s), want pass or info", c.Name, c.Status, c.Detail)
		}
	}
	if len(r.Checks) != 9 {
		t.Errorf("%d checks, want 9", len(r.Checks))
	}
	for name := range want {
		if _, ok := r.Find(name); !ok {
			t.Errorf("no check %s", name)
		}
	}
	fails := false
	for _, s := range want {
		fails = fails || s == Fail || s == Skip
	}
	if r.OK() == fails {
		t.Errorf("OK() = %v with checks %+v", r.OK(), r.Checks)
	}
}

func TestVerifyTamper(t *testing.T) {
	for _, alg := range Algorithms() {
		key := testKey(t, alg)
		signed := mustSign(t, alg, 256, SignOptions{SecurityCounter: ptr(uint32(5)), VendorID: &UUID{9}})
		img, err := Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		sha, _ := img.Find(TLVSHA256, false)
		kh, _ := img.Find(TLVKeyHash, false)
		sig, _ := img.Find(alg.sigTLV(), false)
		secCnt, _ := img.Find(TLVSecCnt, true)
		flip := func(off int) func([]byte) []byte {
			return func(b []byte) []byte { b[off] ^= 0x01; return b }
		}
		tests := []struct {
			name   string
			mutate func([]byte) []byte
			key    crypto.PublicKey
			opts   VerifyOptions
			want   wantChecks
		}{
			{"untouched", nil, key, VerifyOptions{}, wantChecks{}},
			{"payload byte", flip(DefaultHeaderSize + 100), key, VerifyOptions{},
				wantChecks{CheckSHA256: Fail, CheckSignature: Fail, CheckKeyHash: Pass}},
			{"header version", flip(20), key, VerifyOptions{},
				wantChecks{CheckSHA256: Fail, CheckSignature: Fail}},
			{"header padding", flip(100), key, VerifyOptions{},
				wantChecks{CheckSHA256: Fail, CheckSignature: Fail}},
			{"security counter value", flip(secCnt.Offset + TLVHeaderLen), key, VerifyOptions{},
				wantChecks{CheckSHA256: Fail, CheckSignature: Fail}},
			{"SHA256 TLV", flip(sha.Offset + TLVHeaderLen), key, VerifyOptions{},
				wantChecks{CheckSHA256: Fail, CheckSignature: Pass}},
			{"signature", flip(sig.Offset + TLVHeaderLen + 10), key, VerifyOptions{},
				wantChecks{CheckSHA256: Pass, CheckKeyHash: Pass, CheckSignature: Fail}},
			{"KEYHASH TLV", flip(kh.Offset + TLVHeaderLen), key, VerifyOptions{},
				wantChecks{CheckKeyHash: Fail, CheckSignature: Fail}},
			{"wrong key", nil, otherKey(t, alg).Public(), VerifyOptions{},
				wantChecks{CheckSHA256: Pass, CheckKeyHash: Fail, CheckSignature: Fail}},
			{"other algorithm's key", nil, testKey(t, otherAlg(alg)).Public(), VerifyOptions{},
				wantChecks{CheckKeyHash: Fail, CheckSignature: Fail}},
			{"no key", nil, nil, VerifyOptions{},
				wantChecks{CheckKeyHash: Fail, CheckSignature: Fail}},
			{"appended byte", func(b []byte) []byte { return append(b, 0) }, key, VerifyOptions{},
				wantChecks{CheckParse: Fail, CheckSHA256: Skip, CheckSignature: Skip}},
			{"appended byte in a slot", func(b []byte) []byte { return append(b, 0) }, key, VerifyOptions{Slot: true},
				wantChecks{}},
			{"expected CRC matches", nil, key, VerifyOptions{CRC32: ptr(crc32.ChecksumIEEE(signed))},
				wantChecks{CheckCRC32: Pass}},
			{"expected CRC differs", nil, key, VerifyOptions{CRC32: ptr(crc32.ChecksumIEEE(signed) ^ 1)},
				wantChecks{CheckCRC32: Fail}},
			{"garbage", func([]byte) []byte { return []byte("not an image at all, just text") }, key, VerifyOptions{},
				wantChecks{CheckParse: Fail, CheckSignature: Skip}},
		}
		for _, tt := range tests {
			t.Run(string(alg)+"/"+tt.name, func(t *testing.T) {
				b := slices.Clone(signed)
				if tt.mutate != nil {
					b = tt.mutate(b)
				}
				assertChecks(t, Verify(b, tt.key, tt.opts), tt.want)
			})
		}
	}
}

func otherAlg(a Algorithm) Algorithm {
	if a == Ed25519 {
		return ECDSAP256
	}
	return Ed25519
}

func TestVerifySecurityCounter(t *testing.T) {
	tests := []struct {
		name  string
		image *uint32
		min   *uint32
		want  Status
	}{
		{"absent, none required", nil, nil, Info},
		{"present, none required", ptr(uint32(3)), nil, Info},
		{"absent, required", nil, ptr(uint32(0)), Fail},
		{"equal", ptr(uint32(30)), ptr(uint32(30)), Pass},
		{"higher", ptr(uint32(31)), ptr(uint32(30)), Pass},
		{"downgrade", ptr(uint32(29)), ptr(uint32(30)), Fail},
		{"zero against zero", ptr(uint32(0)), ptr(uint32(0)), Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustSign(t, Ed25519, 64, SignOptions{SecurityCounter: tt.image})
			r := Verify(b, testKey(t, Ed25519), VerifyOptions{MinSecurityCounter: tt.min})
			assertChecks(t, r, wantChecks{CheckSecurityCounter: tt.want})
		})
	}
}

func TestVerifyVendorClass(t *testing.T) {
	vid := NameUUID(NamespaceDNS, "acme.example")
	cid := NameUUID(vid, "sensor-v2")
	otherVID := NameUUID(NamespaceDNS, "other.example")
	otherCID := NameUUID(vid, "sensor-v3")
	tests := []struct {
		name               string
		imgVID, imgCID     *UUID
		wantVID, wantCID   *UUID
		statusV, statusC   Status
		failedNamesContain string
	}{
		{"both match", &vid, &cid, &vid, &cid, Pass, Pass, ""},
		{"none required", &vid, &cid, nil, nil, Info, Info, ""},
		{"vendor mismatch", &otherVID, &cid, &vid, &cid, Fail, Pass, "vendor"},
		{"class mismatch", &vid, &otherCID, &vid, &cid, Pass, Fail, "class"},
		{"vendor missing", nil, &cid, &vid, &cid, Fail, Pass, "vendor"},
		{"class missing", &vid, nil, &vid, &cid, Pass, Fail, "class"},
		{"nothing in image, nothing required", nil, nil, nil, nil, Info, Info, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustSign(t, ECDSAP256, 64, SignOptions{VendorID: tt.imgVID, ClassID: tt.imgCID})
			r := Verify(b, testKey(t, ECDSAP256), VerifyOptions{VendorID: tt.wantVID, ClassID: tt.wantCID})
			assertChecks(t, r, wantChecks{CheckVendor: tt.statusV, CheckClass: tt.statusC})
			var failed []string
			for _, c := range r.Failed() {
				failed = append(failed, c.Name)
			}
			if got := strings.Join(failed, ","); got != tt.failedNamesContain {
				t.Errorf("Failed() = %q, want %q", got, tt.failedNamesContain)
			}
		})
	}
}

// TestVerifyStructural covers images Sign would not make: misplaced,
// repeated or malformed TLVs must fail closed.
func TestVerifyStructural(t *testing.T) {
	key := testKey(t, Ed25519)
	payload := testPayload(40)
	cnt := func(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
	tests := []struct {
		name   string
		prot   []TLV
		unprot []TLV
		flags  uint32
		opts   VerifyOptions
		noKey  bool // assemble without SHA256/KEYHASH/signature
		want   wantChecks
	}{
		{"security counter only unprotected", nil, []TLV{{Type: TLVSecCnt, Value: cnt(100)}}, 0,
			VerifyOptions{MinSecurityCounter: ptr(uint32(1))}, false,
			wantChecks{CheckUnprotectedTLVs: Fail, CheckSecurityCounter: Fail}},
		{"vendor only unprotected", nil, []TLV{{Type: TLVUUIDVID, Value: make([]byte, 16)}}, 0,
			VerifyOptions{VendorID: &UUID{}}, false,
			wantChecks{CheckUnprotectedTLVs: Fail, CheckVendor: Fail}},
		{"repeated security counter", []TLV{{Type: TLVSecCnt, Value: cnt(1)}, {Type: TLVSecCnt, Value: cnt(9)}}, nil, 0,
			VerifyOptions{}, false, wantChecks{CheckSecurityCounter: Fail}},
		{"short security counter", []TLV{{Type: TLVSecCnt, Value: []byte{1, 0}}}, nil, 0,
			VerifyOptions{}, false, wantChecks{CheckSecurityCounter: Fail}},
		{"long vendor", []TLV{{Type: TLVUUIDVID, Value: make([]byte, 17)}}, nil, 0,
			VerifyOptions{}, false, wantChecks{CheckVendor: Fail}},
		{"repeated class", []TLV{{Type: TLVUUIDCID, Value: make([]byte, 16)}, {Type: TLVUUIDCID, Value: make([]byte, 16)}}, nil, 0,
			VerifyOptions{}, false, wantChecks{CheckClass: Fail}},
		{"empty protected area", []TLV{}, nil, 0, VerifyOptions{}, false, wantChecks{}},
		{"unknown protected TLV", []TLV{{Type: 0x00a0, Value: []byte("vendor data")}}, nil, 0, VerifyOptions{}, false, wantChecks{}},
		{"unknown unprotected TLV", nil, []TLV{{Type: 0x00a0, Value: []byte("x")}}, 0,
			VerifyOptions{}, false, wantChecks{CheckUnprotectedTLVs: Fail}},
		{"second SHA256", nil, []TLV{{Type: TLVSHA256, Value: make([]byte, 32)}}, 0,
			VerifyOptions{}, false, wantChecks{CheckSHA256: Fail}},
		{"SHA512 present", nil, []TLV{{Type: TLVSHA512, Value: make([]byte, 64)}}, 0,
			VerifyOptions{}, false, wantChecks{CheckSHA256: Fail}},
		{"encrypted", nil, nil, FlagEncryptedAES128, VerifyOptions{}, false, wantChecks{CheckSHA256: Fail}},
		{"unsigned", nil, nil, 0, VerifyOptions{}, true,
			wantChecks{CheckSHA256: Fail, CheckKeyHash: Fail, CheckSignature: Fail}},
		{"short SHA256", nil, []TLV{{Type: TLVSHA256, Value: make([]byte, 31)}}, 0, VerifyOptions{}, true,
			wantChecks{CheckSHA256: Fail, CheckKeyHash: Fail, CheckSignature: Fail}},
		{"signature without KEYHASH", nil, []TLV{{Type: TLVEd25519, Value: make([]byte, 64)}}, 0, VerifyOptions{}, true,
			wantChecks{CheckSHA256: Fail, CheckKeyHash: Fail, CheckSignature: Fail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer := crypto.Signer(key)
			if tt.noKey {
				signer = nil
			}
			b := assemble(t, signer, Header{HeaderSize: 0x40, Flags: tt.flags}, payload, tt.prot, tt.unprot)
			assertChecks(t, Verify(b, key.Public(), tt.opts), tt.want)
		})
	}
}

// TestVerifyKeyHashOrder follows MCUboot: a signature counts only after a
// KEYHASH naming the key, and a KEYHASH applies to the next signature only.
func TestVerifyKeyHashOrder(t *testing.T) {
	key, other := testKey(t, Ed25519), otherKey(t, Ed25519)
	b := mustSign(t, Ed25519, 32, SignOptions{Key: key, HeaderSize: HeaderLen})
	img, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	digest := img.Digest()
	kh, _ := KeyHash(key)
	okh, _ := KeyHash(other)
	sig := ed25519.Sign(key.(ed25519.PrivateKey), digest[:])
	osig := ed25519.Sign(other.(ed25519.PrivateKey), digest[:])
	rebuild := func(entries ...TLV) []byte {
		out := slices.Clone(b[:len(img.Hashed())])
		var area []byte
		area = appendTLV(area, TLVSHA256, digest[:])
		for _, e := range entries {
			area = appendTLV(area, e.Type, e.Value)
		}
		out = appendTLVInfo(out, TLVInfoMagic, uint16(TLVInfoLen+len(area)))
		return append(out, area...)
	}
	tests := []struct {
		name    string
		entries []TLV
		sig     Status
	}{
		{"ours after other key's pair", []TLV{{Type: TLVKeyHash, Value: okh[:]}, {Type: TLVEd25519, Value: osig}, {Type: TLVKeyHash, Value: kh[:]}, {Type: TLVEd25519, Value: sig}}, Pass},
		{"our signature after other key's hash", []TLV{{Type: TLVKeyHash, Value: kh[:]}, {Type: TLVKeyHash, Value: okh[:]}, {Type: TLVEd25519, Value: sig}}, Fail},
		{"second signature reuses a hash", []TLV{{Type: TLVKeyHash, Value: kh[:]}, {Type: TLVEd25519, Value: osig}, {Type: TLVEd25519, Value: sig}}, Fail},
		{"truncated KEYHASH", []TLV{{Type: TLVKeyHash, Value: kh[:8]}, {Type: TLVEd25519, Value: sig}}, Fail},
		{"PUBKEY instead of KEYHASH", []TLV{{Type: TLVPubKey, Value: mustDER(t, key)}, {Type: TLVEd25519, Value: sig}}, Pass},
		{"short signature", []TLV{{Type: TLVKeyHash, Value: kh[:]}, {Type: TLVEd25519, Value: sig[:63]}}, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Verify(rebuild(tt.entries...), key.Public(), VerifyOptions{})
			if c, _ := r.Find(CheckSignature); c.Status != tt.sig {
				t.Errorf("signature = %s (%s), want %s", c.Status, c.Detail, tt.sig)
			}
		})
	}
}

func mustDER(t *testing.T, k crypto.PublicKey) []byte {
	t.Helper()
	der, err := PublicKeyDER(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestUnpadECDSA(t *testing.T) {
	key := testKey(t, ECDSAP256).(*ecdsa.PrivateKey)
	digest := make([]byte, 32)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sig  []byte
		ok   bool
	}{
		{"plain", sig, true},
		{"padded to 72 (imgtool --pad-sig)", append(slices.Clone(sig), make([]byte, 72-len(sig))...), true},
		{"non-zero trailer", append(slices.Clone(sig), 1), false},
		{"truncated", sig[:len(sig)-1], false},
		{"empty", nil, false},
		{"not a sequence", append([]byte{0x31}, sig[1:]...), false},
		{"long-form length", append([]byte{0x30, 0x81}, sig[1:]...), false},
	}
	for _, tt := range tests {
		err := verifySignature(key.Public(), digest, tt.sig)
		if (err == nil) != tt.ok {
			t.Errorf("%s: verifySignature = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestSignErrors(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name    string
		opts    SignOptions
		wantErr string
	}{
		{"no key", SignOptions{}, "no key"},
		{"nil ECDSA key", SignOptions{Key: (*ecdsa.PrivateKey)(nil)}, "nil ECDSA key"},
		{"short Ed25519 key", SignOptions{Key: ed25519.PrivateKey{1}}, "Ed25519 private key of 1 bytes"},
		{"P-384 key", SignOptions{Key: p384}, "P-384"},
		{"header too small", SignOptions{Key: testKey(t, Ed25519), HeaderSize: 31}, "header size"},
		{"failing signer", SignOptions{Key: failingSigner{testKey(t, Ed25519)}}, "signer broke"},
		{"lying signer", SignOptions{Key: lyingSigner{testKey(t, Ed25519)}}, "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sign([]byte("fw"), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Sign err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("signer broke")
}

type lyingSigner struct{ crypto.Signer }

func (lyingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, ed25519.SignatureSize), nil
}
