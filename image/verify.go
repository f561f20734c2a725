package image

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
)

// Status is the outcome of one check.
type Status string

// Check outcomes. Only Fail makes a report fail.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Info Status = "info" // informational: nothing was required, the value is shown
	Skip Status = "skip" // not checked, as an earlier check made it meaningless
)

// Names of the checks Verify runs, in the order it runs them.
const (
	CheckCRC32           = "crc32"
	CheckParse           = "parse"
	CheckUnprotectedTLVs = "unprotected-tlvs"
	CheckSHA256          = "sha256"
	CheckKeyHash         = "keyhash"
	CheckSignature       = "signature"
	CheckSecurityCounter = "security-counter"
	CheckVendor          = "vendor"
	CheckClass           = "class"
)

// Check is the outcome of one check and why.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// Report lists the checks Verify ran.
type Report struct {
	Checks []Check
	CRC32  uint32 // CRC-32 (IEEE) of the whole input
	Image  *Image // nil if the image did not parse
}

// OK reports whether every check passed or was informational.
func (r *Report) OK() bool {
	if len(r.Checks) == 0 || r.Image == nil {
		return false
	}
	for _, c := range r.Checks {
		if c.Status == Fail || c.Status == Skip {
			return false
		}
	}
	return true
}

// Failed returns the checks that failed.
func (r *Report) Failed() []Check {
	var f []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			f = append(f, c)
		}
	}
	return f
}

// Find returns the check named name.
func (r *Report) Find(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func (r *Report) add(name string, s Status, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: s, Detail: fmt.Sprintf(format, args...)})
}

// VerifyOptions says what Verify requires beyond a good hash and signature.
// A nil field is not required; its value is reported as information.
type VerifyOptions struct {
	VendorID *UUID // the protected UUID_VID must equal it
	ClassID  *UUID // the protected UUID_CID must equal it
	// MinSecurityCounter is the device's stored counter: the protected SEC_CNT
	// must be present and not below it, as with MCUBOOT_HW_ROLLBACK_PROT.
	MinSecurityCounter *uint32
	// CRC32, if set, is the expected CRC-32 (IEEE) of the whole input.
	CRC32 *uint32
	// Slot accepts bytes after the image (a flash slot's padding and trailer);
	// otherwise they fail the parse check, as the hash would not cover them.
	Slot bool
}

// Verify checks an image against pub, the public key it must be signed with,
// in the order a device would (DEVICE.md §4.3, §8.4): CRC-32 of the file
// (informational unless expected), structure, unprotected TLVs allowed,
// SHA-256, KEYHASH, signature, security counter, vendor and class. It runs
// every check it can and reports each; Report.OK tells whether all passed.
// Signatures are checked against the hash Verify computes, not the SHA256 TLV,
// as MCUboot does, so a modified payload fails both.
func Verify(b []byte, pub crypto.PublicKey, opts VerifyOptions) *Report {
	r := &Report{CRC32: crc32.ChecksumIEEE(b)}
	switch {
	case opts.CRC32 == nil:
		r.add(CheckCRC32, Info, "0x%08x over %d bytes (detects corruption, not tampering)", r.CRC32, len(b))
	case *opts.CRC32 == r.CRC32:
		r.add(CheckCRC32, Pass, "0x%08x over %d bytes matches", r.CRC32, len(b))
	default:
		r.add(CheckCRC32, Fail, "0x%08x over %d bytes, want 0x%08x", r.CRC32, len(b), *opts.CRC32)
	}

	parse := Parse
	if opts.Slot {
		parse = ParseSlot
	}
	img, err := parse(b)
	if err != nil {
		r.add(CheckParse, Fail, "%v", err)
		for _, name := range []string{CheckUnprotectedTLVs, CheckSHA256, CheckKeyHash, CheckSignature, CheckSecurityCounter, CheckVendor, CheckClass} {
			r.add(name, Skip, "image did not parse")
		}
		return r
	}
	r.Image = img
	r.add(CheckParse, Pass, "version %v, header %d, payload %d, protected TLVs %d, unprotected TLVs %d bytes",
		img.Version, img.HeaderSize, img.ImageSize, img.ProtectedTLVSize, img.UnprotectedTLVSize())

	checkUnprotected(r, img)
	digest := img.Digest()
	checkSHA256(r, img, digest[:])
	checkKey(r, img, pub, digest[:])
	checkSecurityCounter(r, img, opts.MinSecurityCounter)
	checkUUID(r, CheckVendor, "UUID_VID", opts.VendorID, img.VendorID)
	checkUUID(r, CheckClass, "UUID_CID", opts.ClassID, img.ClassID)
	return r
}

// allowedUnprotected reports the TLVs MCUboot's MCUBOOT_USE_TLV_ALLOW_LIST
// permits outside the hash: key identification, hashes, signatures and
// encryption keys. Anything else there could be altered without detection.
func allowedUnprotected(t TLVType) bool {
	switch t {
	case TLVKeyHash, TLVPubKey,
		TLVSHA256, TLVSHA384, TLVSHA512,
		TLVRSA2048PSS, TLVECDSA224, TLVECDSASig, TLVRSA3072PSS, TLVEd25519,
		TLVEncRSA2048, TLVEncKW, TLVEncEC256, TLVEncX25519, TLVEncX25519SHA512:
		return true
	}
	return false
}

func checkUnprotected(r *Report, img *Image) {
	var bad []string
	for _, e := range img.Unprotected {
		if !allowedUnprotected(e.Type) {
			bad = append(bad, fmt.Sprintf("%v at offset %d", e.Type, e.Offset))
		}
	}
	if len(bad) > 0 {
		r.add(CheckUnprotectedTLVs, Fail, "not covered by the hash and not allowed there: %s", strings.Join(bad, ", "))
		return
	}
	r.add(CheckUnprotectedTLVs, Pass, "%d TLVs, all of allowed types", len(img.Unprotected))
}

func checkSHA256(r *Report, img *Image, digest []byte) {
	var found []TLV
	for _, e := range img.Unprotected {
		switch e.Type {
		case TLVSHA256:
			found = append(found, e)
		case TLVSHA384, TLVSHA512:
			r.add(CheckSHA256, Fail, "image carries a %v TLV; only SHA256 is supported", e.Type)
			return
		}
	}
	switch {
	case len(found) == 0:
		r.add(CheckSHA256, Fail, "no SHA256 TLV")
	case len(found) > 1:
		r.add(CheckSHA256, Fail, "%d SHA256 TLVs; want exactly one", len(found))
	case len(found[0].Value) != sha256TLVLen:
		r.add(CheckSHA256, Fail, "SHA256 TLV at offset %d is %d bytes, want %d", found[0].Offset, len(found[0].Value), sha256TLVLen)
	case img.Flags&(FlagEncryptedAES128|FlagEncryptedAES256) != 0:
		r.add(CheckSHA256, Fail, "image is encrypted (flags %v); its hash covers the plaintext", FlagNames(img.Flags))
	case !bytes.Equal(found[0].Value, digest):
		r.add(CheckSHA256, Fail, "image hashes to %x, SHA256 TLV holds %x", digest, found[0].Value)
	default:
		r.add(CheckSHA256, Pass, "%x over %d bytes", digest, len(img.Hashed()))
	}
}

// checkKey runs the keyhash and signature checks. As in MCUboot's
// bootutil_img_validate, a signature counts only if it follows a KEYHASH (or
// PUBKEY) naming the key, and each KEYHASH applies to the next signature only.
func checkKey(r *Report, img *Image, pub crypto.PublicKey, digest []byte) {
	if pub == nil {
		r.add(CheckKeyHash, Fail, "no public key given")
		r.add(CheckSignature, Fail, "no public key given")
		return
	}
	alg, err := KeyAlgorithm(pub)
	if err != nil {
		r.add(CheckKeyHash, Fail, "%v", err)
		r.add(CheckSignature, Fail, "%v", err)
		return
	}
	if s, ok := pub.(crypto.Signer); ok {
		pub = s.Public()
	}
	der, err := PublicKeyDER(pub)
	if err != nil {
		r.add(CheckKeyHash, Fail, "%v", err)
		r.add(CheckSignature, Fail, "%v", err)
		return
	}
	keyHash := sha256.Sum256(der)
	sigType := alg.sigTLV()

	var (
		named     []string // key hashes the image names
		keyTLV    *TLV     // the KEYHASH or PUBKEY naming our key
		current   bool     // the last KEYHASH/PUBKEY named our key
		sigErrs   []string
		verified  *TLV
		otherSigs int
	)
	for i := range img.Unprotected {
		e := &img.Unprotected[i]
		switch e.Type {
		case TLVKeyHash, TLVPubKey:
			if e.Type == TLVKeyHash {
				// MCUboot compares only it_len bytes of a KEYHASH; require all 32.
				current = bytes.Equal(e.Value, keyHash[:])
				named = append(named, hex.EncodeToString(e.Value))
			} else {
				current = bytes.Equal(e.Value, der)
				h := sha256.Sum256(e.Value)
				named = append(named, hex.EncodeToString(h[:])+" (PUBKEY)")
			}
			if current && keyTLV == nil {
				keyTLV = e
			}
		case sigType:
			if !current {
				otherSigs++
				continue
			}
			current = false
			if err := verifySignature(pub, digest, e.Value); err != nil {
				sigErrs = append(sigErrs, fmt.Sprintf("%v TLV at offset %d: %v", e.Type, e.Offset, err))
				continue
			}
			if verified == nil {
				verified = e
			}
		}
	}

	switch {
	case keyTLV != nil:
		r.add(CheckKeyHash, Pass, "%v TLV at offset %d names the key (SHA-256 %x)", keyTLV.Type, keyTLV.Offset, keyHash)
	case len(named) == 0:
		r.add(CheckKeyHash, Fail, "no KEYHASH or PUBKEY TLV")
	default:
		r.add(CheckKeyHash, Fail, "image names key %s; the given key hashes to %x", strings.Join(named, ", "), keyHash)
	}
	switch {
	case verified != nil:
		r.add(CheckSignature, Pass, "%v TLV at offset %d verifies with the %s key", verified.Type, verified.Offset, alg)
	case len(sigErrs) > 0:
		r.add(CheckSignature, Fail, "%s", strings.Join(sigErrs, "; "))
	case otherSigs > 0:
		r.add(CheckSignature, Fail, "no %v TLV follows a KEYHASH of the given key (%d follow other keys)", sigType, otherSigs)
	default:
		r.add(CheckSignature, Fail, "no %v TLV for the %s key", sigType, alg)
	}
}

func checkSecurityCounter(r *Report, img *Image, min *uint32) {
	n, ok, err := img.SecurityCounter()
	switch {
	case err != nil:
		r.add(CheckSecurityCounter, Fail, "%v", err)
	case min == nil && !ok:
		r.add(CheckSecurityCounter, Info, "absent (no minimum required)")
	case min == nil:
		r.add(CheckSecurityCounter, Info, "%d (no minimum required)", n)
	case !ok:
		r.add(CheckSecurityCounter, Fail, "no SEC_CNT TLV in the protected area; minimum is %d", *min)
	case n < *min:
		r.add(CheckSecurityCounter, Fail, "%d is below the minimum %d: rollback refused", n, *min)
	default:
		r.add(CheckSecurityCounter, Pass, "%d, minimum %d", n, *min)
	}
}

func checkUUID(r *Report, name, tlv string, want *UUID, get func() (UUID, bool, error)) {
	u, ok, err := get()
	switch {
	case err != nil:
		r.add(name, Fail, "%v", err)
	case want == nil && !ok:
		r.add(name, Info, "no %s TLV (none required)", tlv)
	case want == nil:
		r.add(name, Info, "%v (none required)", u)
	case !ok:
		r.add(name, Fail, "no %s TLV in the protected area; want %v", tlv, *want)
	case u != *want:
		r.add(name, Fail, "%v, want %v", u, *want)
	default:
		r.add(name, Pass, "%v", u)
	}
}
