package image

import (
	"crypto"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// counterReader is a deterministic byte stream: SHA-256 of a label and a block
// counter. Tests use it wherever randomness is injected.
type counterReader struct {
	label string
	n     uint64
	buf   []byte
}

func newCounterReader(label string) *counterReader { return &counterReader{label: label} }

func (r *counterReader) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		h := sha256.New()
		h.Write([]byte(r.label))
		h.Write(binary.BigEndian.AppendUint64(nil, r.n))
		r.n++
		r.buf = h.Sum(r.buf)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// testKey returns the fixed test key for alg.
func testKey(t testing.TB, alg Algorithm) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(alg, newCounterReader("lorafuota image test key "+string(alg)))
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", alg, err)
	}
	return k
}

// otherKey returns a second fixed key for alg, different from testKey's.
func otherKey(t testing.TB, alg Algorithm) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(alg, newCounterReader("lorafuota image other key "+string(alg)))
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", alg, err)
	}
	return k
}

// testPayload is a recognisable n-byte firmware stand-in.
func testPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// mustSign signs testPayload(n) with the test key for alg.
func mustSign(t testing.TB, alg Algorithm, n int, opts SignOptions) []byte {
	t.Helper()
	if opts.Key == nil {
		opts.Key = testKey(t, alg)
	}
	b, err := Sign(testPayload(n), opts)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return b
}

// assemble builds an image from a header and TLV entries, filling in the
// SHA256, KEYHASH and signature itself when key is non-nil, so tests can make
// images Sign would refuse to. prot entries go in the protected area (none if
// nil); unprot entries follow the key-derived ones.
func assemble(t testing.TB, key crypto.Signer, h Header, payload []byte, prot, unprot []TLV) []byte {
	t.Helper()
	var protArea []byte
	for _, e := range prot {
		protArea = appendTLV(protArea, e.Type, e.Value)
	}
	if prot != nil {
		h.ProtectedTLVSize = uint16(TLVInfoLen + len(protArea))
	}
	h.ImageSize = uint32(len(payload))
	if h.HeaderSize == 0 {
		h.HeaderSize = HeaderLen
	}
	b := h.marshal()
	b = append(b, make([]byte, int(h.HeaderSize)-HeaderLen)...)
	b = append(b, payload...)
	if prot != nil {
		b = appendTLVInfo(b, TLVProtInfoMagic, h.ProtectedTLVSize)
		b = append(b, protArea...)
	}
	var unprotArea []byte
	if key != nil {
		digest := sha256.Sum256(b)
		alg, err := KeyAlgorithm(key)
		if err != nil {
			t.Fatal(err)
		}
		kh, err := KeyHash(key)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := signDigest(key, alg, nil, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		unprotArea = appendTLV(unprotArea, TLVSHA256, digest[:])
		unprotArea = appendTLV(unprotArea, TLVKeyHash, kh[:])
		unprotArea = appendTLV(unprotArea, alg.sigTLV(), sig)
	}
	for _, e := range unprot {
		unprotArea = appendTLV(unprotArea, e.Type, e.Value)
	}
	b = appendTLVInfo(b, TLVInfoMagic, uint16(TLVInfoLen+len(unprotArea)))
	return append(b, unprotArea...)
}
