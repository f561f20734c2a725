package image

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"testing"
)

// Fixed test keys as imgtool keygen writes them (unencrypted PKCS#8 PEM).
const (
	imgtoolEd25519PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIHuPAQjC+jw0OecX703GoE3CubJzmMy4v8xKxa5phZok
-----END PRIVATE KEY-----
`
	imgtoolECDSAPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5jsZ3R1Az1HKYE1Y
JTC6u9nOKPqATnc/anNJmfUQl3OhRANCAAQR4H0jyEG5HyN24ohCe4OSXFiZ6Yev
mlFeU4iFaFl5+w92DtZaXr4iJWuv8zjZ1C4007yvge7VIHk5z/cY1BZr
-----END PRIVATE KEY-----
`
)

// imgtoolHeader is struct image_header from MCUboot's
// boot/bootutil/include/bootutil/image.h, field by field; imgtool's
// Image.add_header packs the same fields with struct format "<IIHHIIBBHII".
type imgtoolHeader struct {
	Magic       uint32 // IMAGE_MAGIC 0x96f3b83d
	LoadAddr    uint32
	HdrSize     uint16
	ProtTLVSize uint16 // TLV info header + protected TLVs
	ImgSize     uint32 // payload only
	Flags       uint32
	Major       uint8
	Minor       uint8
	Revision    uint16
	Build       uint32
	Pad1        uint32
}

// imgtoolLayout says what goes into a hand-built image.
type imgtoolLayout struct {
	hdrSize    uint16
	padByte    byte // 0xff with --pad-header (erased value), 0x00 for a zero-filled input
	version    [4]uint32
	secCnt     *uint32
	vid, cid   []byte
	ecdsaPadTo int // imgtool --pad-sig pads ECDSA signatures with zeros to 72 bytes
}

// buildImgtoolImage lays an image out byte by byte as imgtool sign does, from
// the format's definition and without this package's Sign or marshalling. The
// layout was taken from mcu-tools/mcuboot at commit 2d4bacc3c15e (2026-07):
//
//   - boot/bootutil/include/bootutil/image.h: struct image_header,
//     image_tlv_info (it_magic, it_tlv_tot including the 4-byte info header),
//     image_tlv (it_type u16, it_len u16), IMAGE_TLV_* numbers: KEYHASH 0x01,
//     SHA256 0x10, ECDSA_SIG 0x22, ED25519 0x24, SEC_CNT 0x50, UUID_VID 0x74,
//     UUID_CID 0x75; info magics 0x6907 (unprotected) and 0x6908 (protected).
//     (docs/design.md still lists UUID_VID/CID as 0x80/0x81; the header and
//     imgtool have used 0x74/0x75 since they were added in 2025.)
//   - scripts/imgtool/image.py Image.create: protected TLVs in the order
//     SEC_CNT, UUID_VID, UUID_CID, the protected area omitted when empty and
//     ih_protect_tlv_size counting its info header; SHA-256 over header,
//     padding, payload and protected area; unprotected TLVs in the order
//     SHA256, KEYHASH, signature. Image.load with --pad-header prepends
//     header-size bytes of the erased value (0xff by default).
//   - scripts/imgtool/keys/ed25519.py and ecdsa.py: KEYHASH is SHA-256 of the
//     DER SubjectPublicKeyInfo (get_public_bytes) for both key types; Ed25519
//     signs the 32-byte digest as its message (sign_digest), ECDSA P-256 signs
//     the hashed bytes with SHA-256, so it verifies against the digest.
//   - boot/bootutil/src/tlv.c and image_validate.c: how the bootloader walks
//     and checks the same areas.
//
// The result was also checked against imgtool itself, run from that commit
// (with stubs for the unused intelhex and cbor imports) on these keys and
// payload:
//
//	imgtool sign --key K.pem --header-size 0x200 --pad-header --slot-size 0x10000 \
//	    --version 1.2.3+4 --security-counter 7 --vid acme.example --cid sensor-v2 payload.bin out.bin
//
// and, for the zeroed-header case, on 256 zero bytes followed by the payload
// with --header-size 0x100 --version 3.4.5+6 --security-counter auto and no
// --pad-header. For Ed25519 imgtool's outputs have the SHA-256 sums in
// TestImgtoolCompat; for ECDSA they differ from this layout only in the
// signature bytes and their length fields (and --pad-sig images verify
// here), and `imgtool verify` accepts the images Sign writes.
func buildImgtoolImage(t *testing.T, key any, payload []byte, l imgtoolLayout) []byte {
	t.Helper()
	var prot bytes.Buffer
	tlv := func(w *bytes.Buffer, typ uint16, v []byte) {
		binary.Write(w, binary.LittleEndian, [2]uint16{typ, uint16(len(v))})
		w.Write(v)
	}
	if l.secCnt != nil {
		tlv(&prot, 0x50, binary.LittleEndian.AppendUint32(nil, *l.secCnt))
	}
	if l.vid != nil {
		tlv(&prot, 0x74, l.vid)
	}
	if l.cid != nil {
		tlv(&prot, 0x75, l.cid)
	}
	protSize := 0
	if prot.Len() > 0 {
		protSize = 4 + prot.Len()
	}

	var img bytes.Buffer
	binary.Write(&img, binary.LittleEndian, imgtoolHeader{
		Magic: 0x96f3b83d, HdrSize: l.hdrSize, ProtTLVSize: uint16(protSize), ImgSize: uint32(len(payload)),
		Major: uint8(l.version[0]), Minor: uint8(l.version[1]), Revision: uint16(l.version[2]), Build: l.version[3],
	})
	if img.Len() != 32 {
		t.Fatalf("header is %d bytes", img.Len())
	}
	img.Write(bytes.Repeat([]byte{l.padByte}, int(l.hdrSize)-32))
	img.Write(payload)
	if protSize > 0 {
		binary.Write(&img, binary.LittleEndian, [2]uint16{0x6908, uint16(protSize)})
		img.Write(prot.Bytes())
	}
	digest := sha256.Sum256(img.Bytes())

	var spki []byte
	var sigType uint16
	var sig []byte
	switch k := key.(type) {
	case ed25519.PrivateKey:
		spki, _ = x509.MarshalPKIXPublicKey(k.Public())
		sigType, sig = 0x24, ed25519.Sign(k, digest[:])
	case *ecdsa.PrivateKey:
		spki, _ = x509.MarshalPKIXPublicKey(k.Public())
		var err error
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sigType = 0x22
		for len(sig) < l.ecdsaPadTo {
			sig = append(sig, 0)
		}
	default:
		t.Fatalf("key type %T", key)
	}
	keyHash := sha256.Sum256(spki)

	var unprot bytes.Buffer
	tlv(&unprot, 0x10, digest[:])
	tlv(&unprot, 0x01, keyHash[:])
	tlv(&unprot, sigType, sig)
	binary.Write(&img, binary.LittleEndian, [2]uint16{0x6907, uint16(4 + unprot.Len())})
	img.Write(unprot.Bytes())
	return img.Bytes()
}

func parsePEMKey(t *testing.T, s string) any {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestImgtoolCompat checks that images laid out as imgtool lays them out parse
// and verify, and that Sign reproduces them: byte for byte for Ed25519, whose
// signatures are deterministic, and up to the signature for ECDSA.
func TestImgtoolCompat(t *testing.T) {
	payload := testPayload(1000)                                   // the payload.bin given to imgtool
	vid, _ := hex.DecodeString("0637e301e05d505b8267486f5677de9b") // uuid5(NAMESPACE_DNS, "acme.example")
	cid, _ := hex.DecodeString("a269d48e69875cc6becc22065907d317") // uuid5(vid, "sensor-v2")
	full := imgtoolLayout{hdrSize: 0x200, padByte: 0xff, version: [4]uint32{1, 2, 3, 4}, secCnt: ptr(uint32(7)), vid: vid, cid: cid}
	plain := imgtoolLayout{hdrSize: 0x200, padByte: 0xff, version: [4]uint32{0, 1, 0, 0}}

	tests := []struct {
		name    string
		keyPEM  string
		layout  imgtoolLayout
		keyHash string // KEYHASH as imgtool wrote it
		fileSHA string // SHA-256 of imgtool's output file, for Ed25519
		sign    bool   // Sign can make this layout
	}{
		{"ed25519 full", imgtoolEd25519PEM, full,
			"ad17b08310f02858292dd02673ab813a60c221aa6bde92298181bd74a04d7954",
			"c33b0b57c58fede2a9a05c9f44aa76e693981e13ad1b93d2e3dbafc5b4a67e7b", true},
		{"ed25519 plain", imgtoolEd25519PEM, plain,
			"ad17b08310f02858292dd02673ab813a60c221aa6bde92298181bd74a04d7954",
			"56c4f0c16168ca158eebb4ec9aa20228865b8588e8917d748b6a3a03bb4f5ae2", true},
		{"ed25519 zeroed header, no --pad-header", imgtoolEd25519PEM,
			imgtoolLayout{hdrSize: 0x100, padByte: 0x00, version: [4]uint32{3, 4, 5, 6}, secCnt: ptr(uint32(0x03040005))},
			"ad17b08310f02858292dd02673ab813a60c221aa6bde92298181bd74a04d7954",
			"4074758534df9113b6bac4a5e048b303d0ac9dbc3c9b54a2180f002eec3eec7a", false},
		{"ecdsa-p256 full", imgtoolECDSAPEM, full,
			"f0a3c2b1f849b48ea26d26c7ae3512c8c30f82b7532ae182d2313c39b17f489a", "", true},
		{"ecdsa-p256 plain", imgtoolECDSAPEM, plain,
			"f0a3c2b1f849b48ea26d26c7ae3512c8c30f82b7532ae182d2313c39b17f489a", "", true},
		{"ecdsa-p256 --pad-sig", imgtoolECDSAPEM,
			imgtoolLayout{hdrSize: 0x200, padByte: 0xff, version: [4]uint32{2, 0, 0, 0}, ecdsaPadTo: 72},
			"f0a3c2b1f849b48ea26d26c7ae3512c8c30f82b7532ae182d2313c39b17f489a", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := buildImgtoolImage(t, parsePEMKey(t, tt.keyPEM), payload, tt.layout)
			if tt.fileSHA != "" {
				if got := sha256.Sum256(want); hex.EncodeToString(got[:]) != tt.fileSHA {
					t.Fatalf("hand-built image has SHA-256 %x, imgtool's output %s", got, tt.fileSHA)
				}
			}

			key, err := ParsePrivateKeyPEM([]byte(tt.keyPEM))
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParsePublicKeyPEM([]byte(tt.keyPEM))
			if err != nil {
				t.Fatal(err)
			}
			if kh, _ := KeyHash(pub); hex.EncodeToString(kh[:]) != tt.keyHash {
				t.Errorf("KeyHash = %x, imgtool wrote %s", kh, tt.keyHash)
			}
			opts := VerifyOptions{}
			if tt.layout.secCnt != nil {
				opts.MinSecurityCounter = tt.layout.secCnt
			}
			if tt.layout.vid != nil {
				opts.VendorID = ptr(UUID(tt.layout.vid))
				opts.ClassID = ptr(UUID(tt.layout.cid))
			}
			r := Verify(want, pub, opts)
			if !r.OK() {
				t.Fatalf("Verify rejected the imgtool layout: %+v", r.Checks)
			}
			if v := r.Image.Version; v != (Version{uint8(tt.layout.version[0]), uint8(tt.layout.version[1]), uint16(tt.layout.version[2]), tt.layout.version[3]}) {
				t.Errorf("version %v", v)
			}
			if !tt.sign {
				return
			}

			so := SignOptions{
				Key:             key,
				Version:         r.Image.Version,
				SecurityCounter: tt.layout.secCnt,
				VendorID:        opts.VendorID,
				ClassID:         opts.ClassID,
				HeaderSize:      tt.layout.hdrSize,
			}
			got, err := Sign(payload, so)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := key.(ed25519.PrivateKey); ok {
				if !bytes.Equal(got, want) {
					t.Fatalf("Sign differs from the imgtool layout:\n got %x\nwant %x", got, want)
				}
				return
			}
			// ECDSA signatures are randomised: compare everything before the
			// unprotected area, then its SHA256 and KEYHASH entries.
			gi, err := Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			hashed := len(gi.Hashed())
			if !bytes.Equal(got[:hashed], want[:hashed]) {
				t.Fatal("Sign differs from the imgtool layout before the unprotected TLVs")
			}
			const fixed = 4 + 36 + 36 + 2 // info, SHA256, KEYHASH, signature it_type
			if !bytes.Equal(got[hashed+4:hashed+fixed], want[hashed+4:hashed+fixed]) {
				t.Fatal("Sign's SHA256/KEYHASH/signature type differ from the imgtool layout")
			}
			if !Verify(got, pub, opts).OK() {
				t.Fatal("Sign's ECDSA image does not verify")
			}
		})
	}
}
