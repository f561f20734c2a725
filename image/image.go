// Package image reads, writes, signs and verifies MCUboot firmware images.
//
// An image is laid out as
//
//	[header, padded to ih_hdr_size][payload][protected TLV area][unprotected TLV area]
//
// with every field little-endian. The SHA-256 TLV covers the header (with its
// padding), the payload and the protected TLV area; the signature TLV signs that
// digest and the KEYHASH TLV names the key. Values that must not be altered
// without breaking the hash — security counter, vendor and class UUIDs — live in
// the protected area.
//
// The definitions follow MCUboot's boot/bootutil/include/bootutil/image.h and
// its signing tool, scripts/imgtool/image.py; an image signed by imgtool with
// default options (no encryption, no compression, --pad-header or a zeroed
// header) parses and verifies here, and Sign lays images out as imgtool does.
package image

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Header and TLV-area constants from MCUboot's image.h.
const (
	Magic              = 0x96f3b83d // ih_magic
	MagicV1            = 0x96f3b83c // ih_magic of pre-2019 images, without protected TLVs; not accepted
	HeaderLen          = 32         // sizeof(struct image_header)
	DefaultHeaderSize  = 0x200      // ih_hdr_size that Zephyr and most imgtool users choose
	TLVInfoMagic       = 0x6907     // it_magic of the unprotected TLV area
	TLVProtInfoMagic   = 0x6908     // it_magic of the protected TLV area
	TLVInfoLen         = 4          // sizeof(struct image_tlv_info)
	TLVHeaderLen       = 4          // sizeof(struct image_tlv)
	maxTLVAreaLen      = 0xffff     // it_tlv_tot is a u16 and includes the info header
	sha256TLVLen       = sha256.Size
	uuidTLVLen         = 16
	securityCounterLen = 4
)

// Header flags (ih_flags) from MCUboot's image.h.
const (
	FlagPIC                = 0x00000001 // position-independent; unsupported by MCUboot
	FlagEncryptedAES128    = 0x00000004
	FlagEncryptedAES256    = 0x00000008
	FlagNonBootable        = 0x00000010
	FlagRAMLoad            = 0x00000020 // load into RAM at ih_load_addr before running
	FlagROMFixed           = 0x00000100 // built for the flash address in ih_load_addr
	FlagCompressedLZMA1    = 0x00000200
	FlagCompressedLZMA2    = 0x00000400
	FlagCompressedARMThumb = 0x00000800
)

var flagNames = []struct {
	bit  uint32
	name string
}{
	{FlagPIC, "PIC"},
	{FlagEncryptedAES128, "ENCRYPTED_AES128"},
	{FlagEncryptedAES256, "ENCRYPTED_AES256"},
	{FlagNonBootable, "NON_BOOTABLE"},
	{FlagRAMLoad, "RAM_LOAD"},
	{FlagROMFixed, "ROM_FIXED"},
	{FlagCompressedLZMA1, "COMPRESSED_LZMA1"},
	{FlagCompressedLZMA2, "COMPRESSED_LZMA2"},
	{FlagCompressedARMThumb, "COMPRESSED_ARM_THUMB_FLT"},
}

// FlagNames returns the names of the bits set in flags, unknown bits in hex.
func FlagNames(flags uint32) []string {
	var names []string
	for _, f := range flagNames {
		if flags&f.bit != 0 {
			names = append(names, f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		names = append(names, fmt.Sprintf("0x%08x", flags))
	}
	return names
}

// TLVType is a TLV's it_type.
type TLVType uint16

// TLV types from MCUboot's image.h (IMAGE_TLV_*). imgtool uses the same numbers.
const (
	TLVKeyHash         TLVType = 0x01 // SHA-256 of the signing key's DER SubjectPublicKeyInfo
	TLVPubKey          TLVType = 0x02 // the signing key's DER SubjectPublicKeyInfo
	TLVSHA256          TLVType = 0x10 // SHA-256 of header, payload and protected TLVs
	TLVSHA384          TLVType = 0x11
	TLVSHA512          TLVType = 0x12
	TLVRSA2048PSS      TLVType = 0x20
	TLVECDSA224        TLVType = 0x21 // no longer supported by MCUboot
	TLVECDSASig        TLVType = 0x22 // ASN.1 DER ECDSA signature of the hash
	TLVRSA3072PSS      TLVType = 0x23
	TLVEd25519         TLVType = 0x24 // Ed25519 signature of the hash (the hash is the message)
	TLVSigPure         TLVType = 0x25 // the signature is over the image, not its hash
	TLVEncRSA2048      TLVType = 0x30
	TLVEncKW           TLVType = 0x31
	TLVEncEC256        TLVType = 0x32
	TLVEncX25519       TLVType = 0x33
	TLVEncX25519SHA512 TLVType = 0x34
	TLVDependency      TLVType = 0x40
	TLVSecCnt          TLVType = 0x50 // security counter, u32; protected area only
	TLVBootRecord      TLVType = 0x60
	TLVDecompSize      TLVType = 0x70
	TLVDecompSHA       TLVType = 0x71
	TLVDecompSignature TLVType = 0x72
	TLVCompDecSize     TLVType = 0x73
	TLVUUIDVID         TLVType = 0x74 // vendor UUID, 16 bytes; protected area
	TLVUUIDCID         TLVType = 0x75 // device class UUID, 16 bytes; protected area
)

// tlvVendorReservedLo starts the vendor-reserved types: a low byte of
// 0xa0..0xff in every high-byte range, 0xffff (IMAGE_TLV_ANY) excepted.
const tlvVendorReservedLo = 0xa0

var tlvNames = map[TLVType]string{
	TLVKeyHash:         "KEYHASH",
	TLVPubKey:          "PUBKEY",
	TLVSHA256:          "SHA256",
	TLVSHA384:          "SHA384",
	TLVSHA512:          "SHA512",
	TLVRSA2048PSS:      "RSA2048_PSS",
	TLVECDSA224:        "ECDSA224",
	TLVECDSASig:        "ECDSA_SIG",
	TLVRSA3072PSS:      "RSA3072_PSS",
	TLVEd25519:         "ED25519",
	TLVSigPure:         "SIG_PURE",
	TLVEncRSA2048:      "ENC_RSA2048",
	TLVEncKW:           "ENC_KW",
	TLVEncEC256:        "ENC_EC256",
	TLVEncX25519:       "ENC_X25519",
	TLVEncX25519SHA512: "ENC_X25519_SHA512",
	TLVDependency:      "DEPENDENCY",
	TLVSecCnt:          "SEC_CNT",
	TLVBootRecord:      "BOOT_RECORD",
	TLVDecompSize:      "DECOMP_SIZE",
	TLVDecompSHA:       "DECOMP_SHA",
	TLVDecompSignature: "DECOMP_SIGNATURE",
	TLVCompDecSize:     "COMP_DEC_SIZE",
	TLVUUIDVID:         "UUID_VID",
	TLVUUIDCID:         "UUID_CID",
}

// String returns MCUboot's name for t without the IMAGE_TLV_ prefix, or its
// number in hex.
func (t TLVType) String() string {
	if n, ok := tlvNames[t]; ok {
		return n
	}
	if t&0xff >= tlvVendorReservedLo && t != 0xffff {
		return fmt.Sprintf("VENDOR_0x%04x", uint16(t))
	}
	return fmt.Sprintf("0x%04x", uint16(t))
}

// Version is an image version, ih_ver: major.minor.revision+build.
type Version struct {
	Major    uint8
	Minor    uint8
	Revision uint16
	Build    uint32
}

// String formats v as imgtool's --version accepts it: "1.2.3+4", or "1.2.3"
// when the build number is 0.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Revision)
	if v.Build != 0 {
		s += "+" + strconv.FormatUint(uint64(v.Build), 10)
	}
	return s
}

// Compare orders versions by major, minor, revision and then build number.
// MCUboot ignores the build number unless built with
// MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER; callers that mimic the default compare
// with Build zeroed.
func (v Version) Compare(w Version) int {
	switch {
	case v.Major != w.Major:
		return cmpInt(int64(v.Major), int64(w.Major))
	case v.Minor != w.Minor:
		return cmpInt(int64(v.Minor), int64(w.Minor))
	case v.Revision != w.Revision:
		return cmpInt(int64(v.Revision), int64(w.Revision))
	}
	return cmpInt(int64(v.Build), int64(w.Build))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ParseVersion parses "major[.minor[.revision[+build]]]" as imgtool does: decimal
// numbers without leading zeros, missing parts zero, each within its field's range.
func ParseVersion(s string) (Version, error) {
	var v Version
	rest, build, hasBuild := strings.Cut(s, "+")
	parts := strings.Split(rest, ".")
	if len(parts) > 3 || (hasBuild && len(parts) != 3) {
		return v, fmt.Errorf("version %q: want major.minor.revision+build, later parts optional", s)
	}
	limits := []struct {
		name string
		bits int
	}{{"major", 8}, {"minor", 8}, {"revision", 16}}
	var nums [3]uint64
	for i, p := range parts {
		n, err := parseVersionPart(p, limits[i].bits)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: %s: %w", s, limits[i].name, err)
		}
		nums[i] = n
	}
	v = Version{Major: uint8(nums[0]), Minor: uint8(nums[1]), Revision: uint16(nums[2])}
	if hasBuild {
		n, err := parseVersionPart(build, 32)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: build: %w", s, err)
		}
		v.Build = uint32(n)
	}
	return v, nil
}

func parseVersionPart(p string, bits int) (uint64, error) {
	if p == "" {
		return 0, errors.New("empty")
	}
	if len(p) > 1 && p[0] == '0' {
		return 0, errors.New("leading zero")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", p)
		}
	}
	n, err := strconv.ParseUint(p, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%q out of range for %d bits", p, bits)
	}
	return n, nil
}

// Header is struct image_header without its magic and padding words.
type Header struct {
	LoadAddr         uint32  // ih_load_addr
	HeaderSize       uint16  // ih_hdr_size: offset of the payload
	ProtectedTLVSize uint16  // ih_protect_tlv_size, including its info header; 0 if none
	ImageSize        uint32  // ih_img_size: payload length
	Flags            uint32  // ih_flags
	Version          Version // ih_ver
}

// marshal writes the 32-byte header with the magic and a zero pad word.
func (h *Header) marshal() []byte {
	b := make([]byte, HeaderLen)
	binary.LittleEndian.PutUint32(b[0:], Magic)
	binary.LittleEndian.PutUint32(b[4:], h.LoadAddr)
	binary.LittleEndian.PutUint16(b[8:], h.HeaderSize)
	binary.LittleEndian.PutUint16(b[10:], h.ProtectedTLVSize)
	binary.LittleEndian.PutUint32(b[12:], h.ImageSize)
	binary.LittleEndian.PutUint32(b[16:], h.Flags)
	b[20] = h.Version.Major
	b[21] = h.Version.Minor
	binary.LittleEndian.PutUint16(b[22:], h.Version.Revision)
	binary.LittleEndian.PutUint32(b[24:], h.Version.Build)
	return b
}

func unmarshalHeader(b []byte) Header {
	return Header{
		LoadAddr:         binary.LittleEndian.Uint32(b[4:]),
		HeaderSize:       binary.LittleEndian.Uint16(b[8:]),
		ProtectedTLVSize: binary.LittleEndian.Uint16(b[10:]),
		ImageSize:        binary.LittleEndian.Uint32(b[12:]),
		Flags:            binary.LittleEndian.Uint32(b[16:]),
		Version: Version{
			Major:    b[20],
			Minor:    b[21],
			Revision: binary.LittleEndian.Uint16(b[22:]),
			Build:    binary.LittleEndian.Uint32(b[24:]),
		},
	}
}

// TLV is one entry of a TLV area.
type TLV struct {
	Type   TLVType
	Value  []byte
	Offset int // of the entry's 4-byte header within the image
}

// Image is a parsed MCUboot image. Its slices alias the bytes given to Parse.
type Image struct {
	Header
	Payload     []byte // ih_img_size bytes from ih_hdr_size
	Protected   []TLV  // in file order; nil if there is no protected area
	Unprotected []TLV  // in file order

	raw        []byte // header through the end of the unprotected TLV area
	hashedLen  int    // header + payload + protected TLV area
	unprotSize int    // unprotected area including its info header
}

// Bytes returns the image as parsed, from the header to the end of the
// unprotected TLV area; bytes after it (a slot's padding and trailer) are not
// included.
func (img *Image) Bytes() []byte { return img.raw }

// Len is the image's length: header, payload and both TLV areas.
func (img *Image) Len() int { return len(img.raw) }

// TLVOffset is where the TLV areas start: ih_hdr_size + ih_img_size.
func (img *Image) TLVOffset() int { return int(img.HeaderSize) + int(img.ImageSize) }

// UnprotectedTLVSize is the unprotected area's it_tlv_tot, including its info header.
func (img *Image) UnprotectedTLVSize() int { return img.unprotSize }

// Hashed returns the bytes the SHA-256 TLV covers: header, payload and
// protected TLV area.
func (img *Image) Hashed() []byte { return img.raw[:img.hashedLen] }

// Digest is the SHA-256 of Hashed, what the SHA256 TLV must hold.
func (img *Image) Digest() [sha256.Size]byte { return sha256.Sum256(img.Hashed()) }

// Find returns the first TLV of type t in the protected area if protected is
// true, else in the unprotected one.
func (img *Image) Find(t TLVType, protected bool) (TLV, bool) {
	area := img.Unprotected
	if protected {
		area = img.Protected
	}
	for _, e := range area {
		if e.Type == t {
			return e, true
		}
	}
	return TLV{}, false
}

// SecurityCounter returns the protected SEC_CNT value. ok is false if there is
// none; an error reports a malformed or repeated one. A SEC_CNT in the
// unprotected area is ignored, as MCUboot ignores it.
func (img *Image) SecurityCounter() (n uint32, ok bool, err error) {
	v, ok, err := img.uniqueProtected(TLVSecCnt, securityCounterLen)
	if !ok || err != nil {
		return 0, ok, err
	}
	return binary.LittleEndian.Uint32(v), true, nil
}

// VendorID returns the protected UUID_VID value, like SecurityCounter.
func (img *Image) VendorID() (UUID, bool, error) { return img.uuidTLV(TLVUUIDVID) }

// ClassID returns the protected UUID_CID value, like SecurityCounter.
func (img *Image) ClassID() (UUID, bool, error) { return img.uuidTLV(TLVUUIDCID) }

func (img *Image) uuidTLV(t TLVType) (UUID, bool, error) {
	v, ok, err := img.uniqueProtected(t, uuidTLVLen)
	if !ok || err != nil {
		return UUID{}, ok, err
	}
	return UUID(v), true, nil
}

// uniqueProtected returns the value of the only protected TLV of type t, which
// must be size bytes long. A duplicate is an error: which copy a device would
// honour is undefined, so neither is trusted.
func (img *Image) uniqueProtected(t TLVType, size int) ([]byte, bool, error) {
	var found *TLV
	for i := range img.Protected {
		e := &img.Protected[i]
		if e.Type != t {
			continue
		}
		if found != nil {
			return nil, true, fmt.Errorf("%v TLV at offset %d repeats the one at offset %d", t, e.Offset, found.Offset)
		}
		found = e
	}
	if found == nil {
		return nil, false, nil
	}
	if len(found.Value) != size {
		return nil, true, fmt.Errorf("%v TLV at offset %d: length %d, want %d", t, found.Offset, len(found.Value), size)
	}
	return found.Value, true, nil
}

// ErrFormat is wrapped by every error Parse returns.
var ErrFormat = errors.New("malformed MCUboot image")

// FormatError reports where and why Parse rejected an image.
type FormatError struct {
	Field  string // the field or area at fault, e.g. "ih_magic"
	Offset int    // byte offset of that field in the image
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%v: %s at offset %d: %s", ErrFormat, e.Field, e.Offset, e.Reason)
}

func (e *FormatError) Unwrap() error { return ErrFormat }

func formatErr(field string, off int, format string, args ...any) error {
	return &FormatError{Field: field, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// Parse parses an image that fills b exactly. It checks the structure as
// MCUboot's TLV iterator does (tlv.c) and fails closed: every length is checked
// against its area before use, the protected area's it_tlv_tot must equal
// ih_protect_tlv_size, each area must be filled exactly by its entries, and
// nothing may follow the unprotected area. Parse checks no hash or signature;
// see Verify.
func Parse(b []byte) (*Image, error) {
	img, err := ParseSlot(b)
	if err != nil {
		return nil, err
	}
	if img.Len() != len(b) {
		return nil, formatErr("end of image", img.Len(), "%d bytes follow the unprotected TLV area; they would not be covered by the hash", len(b)-img.Len())
	}
	return img, nil
}

// ParseSlot is Parse for the contents of a flash slot: bytes after the
// unprotected TLV area (erased padding, the image trailer) are allowed and
// ignored, as the bootloader ignores them.
func ParseSlot(b []byte) (*Image, error) {
	if len(b) < HeaderLen {
		return nil, formatErr("header", 0, "need %d bytes, have %d", HeaderLen, len(b))
	}
	switch m := binary.LittleEndian.Uint32(b); m {
	case Magic:
	case MagicV1:
		return nil, formatErr("ih_magic", 0, "0x%08x is the legacy v1 magic, not supported", m)
	default:
		return nil, formatErr("ih_magic", 0, "0x%08x, want 0x%08x", m, uint32(Magic))
	}
	img := &Image{Header: unmarshalHeader(b)}
	h := &img.Header
	if h.HeaderSize < HeaderLen {
		return nil, formatErr("ih_hdr_size", 8, "%d is smaller than the %d-byte header", h.HeaderSize, HeaderLen)
	}
	if int(h.HeaderSize) > len(b) {
		return nil, formatErr("ih_hdr_size", 8, "%d exceeds the %d bytes given", h.HeaderSize, len(b))
	}
	// In uint64: ih_hdr_size + ih_img_size can overflow a 32-bit int.
	tlvOff := uint64(h.HeaderSize) + uint64(h.ImageSize)
	if tlvOff+TLVInfoLen > uint64(len(b)) {
		return nil, formatErr("ih_img_size", 12, "%d puts the TLV area at %d, beyond the %d bytes given", h.ImageSize, tlvOff, len(b))
	}
	off := int(tlvOff)
	img.Payload = b[h.HeaderSize:off]

	magic, tot := tlvInfo(b, off)
	if magic == TLVProtInfoMagic {
		if tot != h.ProtectedTLVSize {
			return nil, formatErr("protected it_tlv_tot", off+2, "%d differs from ih_protect_tlv_size %d", tot, h.ProtectedTLVSize)
		}
		entries, err := parseArea(b, off, "protected")
		if err != nil {
			return nil, err
		}
		img.Protected = entries
		off += int(tot)
		if off+TLVInfoLen > len(b) {
			return nil, formatErr("unprotected TLV info", off, "need %d bytes, have %d", TLVInfoLen, len(b)-off)
		}
		magic, tot = tlvInfo(b, off)
	} else if h.ProtectedTLVSize != 0 {
		return nil, formatErr("protected it_magic", off, "0x%04x, want 0x%04x as ih_protect_tlv_size is %d", magic, TLVProtInfoMagic, h.ProtectedTLVSize)
	}
	img.hashedLen = off
	if magic != TLVInfoMagic {
		return nil, formatErr("unprotected it_magic", off, "0x%04x, want 0x%04x", magic, TLVInfoMagic)
	}
	entries, err := parseArea(b, off, "unprotected")
	if err != nil {
		return nil, err
	}
	img.Unprotected = entries
	img.unprotSize = int(tot)
	img.raw = b[:off+int(tot)]
	return img, nil
}

func tlvInfo(b []byte, off int) (magic, tot uint16) {
	return binary.LittleEndian.Uint16(b[off:]), binary.LittleEndian.Uint16(b[off+2:])
}

// parseArea reads the TLV area whose info header is at off; the caller has
// checked that the info header fits.
func parseArea(b []byte, off int, name string) ([]TLV, error) {
	_, tot := tlvInfo(b, off)
	if tot < TLVInfoLen {
		return nil, formatErr(name+" it_tlv_tot", off+2, "%d is smaller than the %d-byte info header", tot, TLVInfoLen)
	}
	end := off + int(tot)
	if end > len(b) {
		return nil, formatErr(name+" it_tlv_tot", off+2, "%d runs %d bytes past the %d bytes given", tot, end-len(b), len(b))
	}
	var entries []TLV
	for p := off + TLVInfoLen; p < end; {
		if end-p < TLVHeaderLen {
			return nil, formatErr(name+" TLV header", p, "%d bytes left in the area, need %d", end-p, TLVHeaderLen)
		}
		t := TLVType(binary.LittleEndian.Uint16(b[p:]))
		n := int(binary.LittleEndian.Uint16(b[p+2:]))
		if n > end-p-TLVHeaderLen {
			return nil, formatErr(name+" TLV "+t.String()+" it_len", p+2, "%d runs past the area end at %d", n, end)
		}
		entries = append(entries, TLV{Type: t, Value: b[p+TLVHeaderLen : p+TLVHeaderLen+n : p+TLVHeaderLen+n], Offset: p})
		p += TLVHeaderLen + n
	}
	return entries, nil
}
