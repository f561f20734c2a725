package image

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
)

// Algorithm is a signature algorithm, named as imgtool keygen --type names it.
type Algorithm string

// The signature algorithms this package signs and verifies.
const (
	Ed25519   Algorithm = "ed25519"    // Ed25519 over the SHA-256 digest; ED25519 TLV
	ECDSAP256 Algorithm = "ecdsa-p256" // ECDSA P-256 with SHA-256, ASN.1 DER; ECDSA_SIG TLV
)

// Algorithms lists the supported algorithms.
func Algorithms() []Algorithm { return []Algorithm{Ed25519, ECDSAP256} }

// sigTLV is the TLV type that carries a signature by a.
func (a Algorithm) sigTLV() TLVType {
	if a == Ed25519 {
		return TLVEd25519
	}
	return TLVECDSASig
}

// ErrUnsupportedKey is wrapped by errors about keys of other algorithms or curves.
var ErrUnsupportedKey = errors.New("unsupported key: want Ed25519 or ECDSA P-256")

// KeyAlgorithm returns the algorithm of a public key, or of a private key's
// public half.
func KeyAlgorithm(key crypto.PublicKey) (Algorithm, error) {
	// Look at private keys directly: Public panics on a nil *ecdsa.PrivateKey
	// or a short ed25519.PrivateKey.
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return "", fmt.Errorf("%w: Ed25519 private key of %d bytes", ErrUnsupportedKey, len(k))
		}
		return Ed25519, nil
	case *ecdsa.PrivateKey:
		if k == nil {
			return "", fmt.Errorf("%w: nil ECDSA key", ErrUnsupportedKey)
		}
		key = &k.PublicKey
	case crypto.Signer:
		key = k.Public()
	}
	switch k := key.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("%w: Ed25519 key of %d bytes", ErrUnsupportedKey, len(k))
		}
		return Ed25519, nil
	case *ecdsa.PublicKey:
		switch {
		case k == nil || k.Curve == nil:
			return "", fmt.Errorf("%w: ECDSA key without a curve", ErrUnsupportedKey)
		case k.Curve != elliptic.P256():
			return "", fmt.Errorf("%w: ECDSA on %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		return ECDSAP256, nil
	}
	return "", fmt.Errorf("%w: %T", ErrUnsupportedKey, key)
}

// GenerateKey makes a key for alg from the randomness in r, or from crypto/rand
// if r is nil. The key is a function of the bytes read, so a fixed r gives a
// fixed key in tests.
func GenerateKey(alg Algorithm, r io.Reader) (crypto.Signer, error) {
	if r == nil {
		r = rand.Reader
	}
	switch alg {
	case Ed25519:
		seed := make([]byte, ed25519.SeedSize)
		if _, err := io.ReadFull(r, seed); err != nil {
			return nil, fmt.Errorf("generate %s key: %w", alg, err)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	case ECDSAP256:
		// ecdsa.GenerateKey ignores its reader since Go 1.26, so draw the scalar
		// here: rejection sampling of 32-byte candidates in [1, n-1]. A candidate
		// fails with probability below 2^-32.
		buf := make([]byte, 32)
		for range 64 {
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, fmt.Errorf("generate %s key: %w", alg, err)
			}
			if k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), buf); err == nil {
				return k, nil
			}
		}
		return nil, fmt.Errorf("generate %s key: no valid scalar in 64 draws; the random source is broken", alg)
	}
	return nil, fmt.Errorf("generate key: unknown algorithm %q (want %s or %s)", alg, Ed25519, ECDSAP256)
}

// PublicKeyDER returns the DER SubjectPublicKeyInfo of key (or of a private
// key's public half): the form MCUboot embeds and hashes for KEYHASH, as
// imgtool's get_public_bytes produces it for both Ed25519 and ECDSA.
func PublicKeyDER(key crypto.PublicKey) ([]byte, error) {
	if _, err := KeyAlgorithm(key); err != nil {
		return nil, err
	}
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return der, nil
}

// KeyHash is the KEYHASH TLV value for key: SHA-256 of PublicKeyDER.
func KeyHash(key crypto.PublicKey) ([sha256.Size]byte, error) {
	der, err := PublicKeyDER(key)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(der), nil
}

// MarshalPrivateKeyPEM encodes key as an unencrypted PKCS#8 "PRIVATE KEY" PEM
// block, as imgtool keygen writes it.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	if _, err := KeyAlgorithm(key); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes a public key (or a private key's public half) as
// a SubjectPublicKeyInfo "PUBLIC KEY" PEM block, as imgtool getpub -e pem does.
func MarshalPublicKeyPEM(key crypto.PublicKey) ([]byte, error) {
	der, err := PublicKeyDER(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM reads the first private key in b: PKCS#8 "PRIVATE KEY" as
// imgtool writes it, or SEC 1 "EC PRIVATE KEY" as OpenSSL writes it. Encrypted
// keys are refused. Blocks of other types (such as "EC PARAMETERS") are skipped.
func ParsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		key, err := parsePrivateBlock(block)
		if err != nil {
			return nil, err
		}
		if key != nil {
			return key, nil
		}
	}
	return nil, errors.New("no PRIVATE KEY or EC PRIVATE KEY PEM block found")
}

// parsePrivateBlock returns nil, nil for blocks that hold no private key.
func parsePrivateBlock(block *pem.Block) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("private key is encrypted; decrypt it first (openssl pkcs8 -topk8 -nocrypt)")
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s PEM block: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s PEM block: %w: %T", block.Type, ErrUnsupportedKey, key)
	}
	if _, err := KeyAlgorithm(signer); err != nil {
		return nil, fmt.Errorf("%s PEM block: %w", block.Type, err)
	}
	return signer, nil
}

// ParsePublicKeyPEM reads the first key in b: a SubjectPublicKeyInfo "PUBLIC
// KEY" block, or a private key (see ParsePrivateKeyPEM) whose public half it
// returns, so a signer's own key file verifies what it signed.
func ParsePublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "PUBLIC KEY" {
			priv, err := parsePrivateBlock(block)
			if err != nil {
				return nil, err
			}
			if priv != nil {
				return priv.Public(), nil
			}
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PUBLIC KEY PEM block: %w", err)
		}
		if _, err := KeyAlgorithm(pub); err != nil {
			return nil, fmt.Errorf("PUBLIC KEY PEM block: %w", err)
		}
		return pub, nil
	}
	return nil, errors.New("no PUBLIC KEY or private key PEM block found")
}
