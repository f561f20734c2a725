package image

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// SignOptions says how Sign builds an image.
type SignOptions struct {
	Version Version
	// Key signs the image: an ed25519.PrivateKey or an *ecdsa.PrivateKey on
	// P-256, or any crypto.Signer (an HSM, say) whose public key is one of them.
	Key crypto.Signer
	// Rand is the randomness for ECDSA signing; nil means crypto/rand. (Go 1.26
	// ignores it for ECDSA and always uses a secure source; Ed25519 needs none.)
	Rand io.Reader
	// SecurityCounter, if set, adds a SEC_CNT TLV to the protected area.
	SecurityCounter *uint32
	// VendorID and ClassID, if set, add UUID_VID and UUID_CID TLVs to the
	// protected area. See VendorUUID and ClassUUID for imgtool's derivation from
	// names.
	VendorID, ClassID *UUID
	// HeaderSize is ih_hdr_size, the payload's offset; 0 means
	// DefaultHeaderSize. The space between the 32-byte header and the payload is
	// filled with 0xff, as imgtool --pad-header does with its default erased value.
	HeaderSize uint16
	// LoadAddr is ih_load_addr; non-zero also sets FlagRAMLoad, as imgtool
	// --load-addr does.
	LoadAddr uint32
}

// Sign wraps payload, a raw firmware binary, in an MCUboot image and signs it.
// The layout is imgtool's for the same options: header, 0xff padding to
// HeaderSize, payload, a protected TLV area (SEC_CNT, UUID_VID, UUID_CID, in
// that order, present only if one of them is), and an unprotected TLV area
// with SHA256, KEYHASH and the signature. Ed25519 signatures are deterministic,
// so for Ed25519 the output equals imgtool's byte for byte.
func Sign(payload []byte, opts SignOptions) ([]byte, error) {
	if opts.Key == nil {
		return nil, errors.New("sign: no key")
	}
	alg, err := KeyAlgorithm(opts.Key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	hdrSize := opts.HeaderSize
	if hdrSize == 0 {
		hdrSize = DefaultHeaderSize
	}
	if hdrSize < HeaderLen {
		return nil, fmt.Errorf("sign: header size %d is smaller than the %d-byte header", hdrSize, HeaderLen)
	}
	// Offsets into the image are u32 in MCUboot; leave room for the TLV areas.
	if uint64(hdrSize)+uint64(len(payload))+2*maxTLVAreaLen > math.MaxUint32 {
		return nil, fmt.Errorf("sign: payload of %d bytes is too large for a 32-bit image", len(payload))
	}

	var prot []byte
	if opts.SecurityCounter != nil {
		prot = appendTLV(prot, TLVSecCnt, binary.LittleEndian.AppendUint32(nil, *opts.SecurityCounter))
	}
	if opts.VendorID != nil {
		prot = appendTLV(prot, TLVUUIDVID, opts.VendorID[:])
	}
	if opts.ClassID != nil {
		prot = appendTLV(prot, TLVUUIDCID, opts.ClassID[:])
	}
	var protSize uint16
	if len(prot) > 0 {
		protSize = uint16(TLVInfoLen + len(prot)) // at most 4+8+20+20 bytes
	}

	h := Header{
		LoadAddr:         opts.LoadAddr,
		HeaderSize:       hdrSize,
		ProtectedTLVSize: protSize,
		ImageSize:        uint32(len(payload)),
		Version:          opts.Version,
	}
	if opts.LoadAddr != 0 {
		h.Flags |= FlagRAMLoad
	}

	hashedLen := int(hdrSize) + len(payload) + int(protSize)
	// SHA256 + KEYHASH + the longest ECDSA signature (72 bytes).
	out := make([]byte, 0, hashedLen+TLVInfoLen+3*TLVHeaderLen+2*sha256.Size+72)
	out = append(out, h.marshal()...)
	out = append(out, bytes.Repeat([]byte{0xff}, int(hdrSize)-HeaderLen)...)
	out = append(out, payload...)
	if protSize != 0 {
		out = appendTLVInfo(out, TLVProtInfoMagic, protSize)
		out = append(out, prot...)
	}

	digest := sha256.Sum256(out)
	keyHash, err := KeyHash(opts.Key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	sig, err := signDigest(opts.Key, alg, opts.Rand, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}

	var unprot []byte
	unprot = appendTLV(unprot, TLVSHA256, digest[:])
	unprot = appendTLV(unprot, TLVKeyHash, keyHash[:])
	unprot = appendTLV(unprot, alg.sigTLV(), sig)
	out = appendTLVInfo(out, TLVInfoMagic, uint16(TLVInfoLen+len(unprot)))
	return append(out, unprot...), nil
}

// signDigest signs the image digest as MCUboot verifies it by default (not
// MCUBOOT_SIGN_PURE): Ed25519 takes the 32-byte digest as its message; ECDSA
// signs it as a SHA-256 hash. The signature is checked before it is used, so a
// faulty signer cannot produce an image that would not boot.
func signDigest(key crypto.Signer, alg Algorithm, r io.Reader, digest []byte) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	opts := crypto.SignerOpts(crypto.SHA256)
	if alg == Ed25519 {
		opts = crypto.Hash(0)
	}
	sig, err := key.Sign(r, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("%s signature: %w", alg, err)
	}
	if err := verifySignature(key.Public(), digest, sig); err != nil {
		return nil, fmt.Errorf("%s signer produced a signature that does not verify: %w", alg, err)
	}
	return sig, nil
}

// verifySignature checks sig over digest. ECDSA signatures may carry the
// trailing zero bytes imgtool --pad-sig adds for MCUboot before 1.5.
func verifySignature(pub crypto.PublicKey, digest, sig []byte) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(sig) != ed25519.SignatureSize {
			return fmt.Errorf("Ed25519 signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
		}
		if !ed25519.Verify(k, digest, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
		return nil
	case *ecdsa.PublicKey:
		der, err := unpadECDSA(sig)
		if err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(k, digest, der) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
}

// unpadECDSA strips --pad-sig zero padding: the DER SEQUENCE of a P-256
// signature is at most 72 bytes, so its length fits the short form.
func unpadECDSA(sig []byte) ([]byte, error) {
	if len(sig) < 2 || sig[0] != 0x30 || sig[1] >= 0x80 {
		return nil, errors.New("ECDSA signature is not a short DER SEQUENCE")
	}
	n := 2 + int(sig[1])
	if n > len(sig) {
		return nil, fmt.Errorf("ECDSA signature DER length %d exceeds the %d-byte TLV", n, len(sig))
	}
	for _, c := range sig[n:] {
		if c != 0 {
			return nil, fmt.Errorf("ECDSA signature has %d trailing bytes that are not zero padding", len(sig)-n)
		}
	}
	return sig[:n], nil
}

func appendTLVInfo(b []byte, magic, tot uint16) []byte {
	b = binary.LittleEndian.AppendUint16(b, magic)
	return binary.LittleEndian.AppendUint16(b, tot)
}

func appendTLV(b []byte, t TLVType, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(t))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}
