package image

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestKeyPEMRoundTrip(t *testing.T) {
	tests := []struct {
		alg    Algorithm
		derLen int // of the SubjectPublicKeyInfo that KEYHASH hashes
	}{
		{Ed25519, 44},
		{ECDSAP256, 91},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			key := testKey(t, tt.alg)
			if alg, err := KeyAlgorithm(key); err != nil || alg != tt.alg {
				t.Fatalf("KeyAlgorithm = %v, %v", alg, err)
			}
			privPEM, err := MarshalPrivateKeyPEM(key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----\n")) {
				t.Errorf("private PEM is not PKCS#8:\n%s", privPEM)
			}
			pubPEM, err := MarshalPublicKeyPEM(key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(pubPEM, []byte("-----BEGIN PUBLIC KEY-----\n")) {
				t.Errorf("public PEM is not SubjectPublicKeyInfo:\n%s", pubPEM)
			}
			priv, err := ParsePrivateKeyPEM(privPEM)
			if err != nil {
				t.Fatal(err)
			}
			wantDER, err := PublicKeyDER(key)
			if err != nil || len(wantDER) != tt.derLen {
				t.Fatalf("PublicKeyDER = %d bytes, %v; want %d", len(wantDER), err, tt.derLen)
			}
			for name, in := range map[string][]byte{"public": pubPEM, "private": privPEM} {
				pub, err := ParsePublicKeyPEM(in)
				if err != nil {
					t.Fatalf("ParsePublicKeyPEM(%s): %v", name, err)
				}
				if der, _ := PublicKeyDER(pub); !bytes.Equal(der, wantDER) {
					t.Errorf("ParsePublicKeyPEM(%s) gives another key", name)
				}
			}
			if der, _ := PublicKeyDER(priv); !bytes.Equal(der, wantDER) {
				t.Error("ParsePrivateKeyPEM gives another key")
			}
		})
	}
}

func TestGenerateKeyDeterministic(t *testing.T) {
	for _, alg := range Algorithms() {
		a := testKey(t, alg)
		b := testKey(t, alg)
		c := otherKey(t, alg)
		da, _ := PublicKeyDER(a)
		db, _ := PublicKeyDER(b)
		dc, _ := PublicKeyDER(c)
		if !bytes.Equal(da, db) || bytes.Equal(da, dc) {
			t.Errorf("%s: keys from the same stream differ or from different streams agree", alg)
		}
		if _, err := GenerateKey(alg, nil); err != nil {
			t.Errorf("%s from crypto/rand: %v", alg, err)
		}
		if _, err := GenerateKey(alg, bytes.NewReader(make([]byte, 8))); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s from a short stream: %v, want ErrUnexpectedEOF", alg, err)
		}
	}
	// An all-zero stream never yields a valid P-256 scalar.
	if _, err := GenerateKey(ECDSAP256, zeroReader{}); err == nil {
		t.Error("P-256 key from zeros")
	}
	if _, err := GenerateKey("rsa-2048", nil); err == nil {
		t.Error("GenerateKey accepted rsa-2048")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestParseKeyPEMErrors(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	p384Pub, _ := x509.MarshalPKIXPublicKey(p384.Public())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	block := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }

	tests := []struct {
		name    string
		in      []byte
		private bool
		wantErr string
	}{
		{"not PEM", []byte("hello"), true, "no PRIVATE KEY"},
		{"not PEM public", []byte("hello"), false, "no PUBLIC KEY"},
		{"public key as private", block("PUBLIC KEY", p384Pub), true, "no PRIVATE KEY"},
		{"encrypted", block("ENCRYPTED PRIVATE KEY", []byte{1}), true, "encrypted"},
		{"encrypted public", block("ENCRYPTED PRIVATE KEY", []byte{1}), false, "encrypted"},
		{"garbage DER", block("PRIVATE KEY", []byte{1, 2, 3}), true, "PRIVATE KEY PEM block"},
		{"garbage public DER", block("PUBLIC KEY", []byte{1, 2, 3}), false, "PUBLIC KEY PEM block"},
		{"P-384 private", block("PRIVATE KEY", p384DER), true, "P-384"},
		{"P-384 public", block("PUBLIC KEY", p384Pub), false, "P-384"},
		{"RSA private", block("PRIVATE KEY", rsaDER), true, "rsa"},
		{"RSA private as public", block("PRIVATE KEY", rsaDER), false, "rsa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.private {
				_, err = ParsePrivateKeyPEM(tt.in)
			} else {
				_, err = ParsePublicKeyPEM(tt.in)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestParseSEC1AndParams accepts an OpenSSL "ecparam -genkey" file: an EC
// PARAMETERS block followed by a SEC 1 EC PRIVATE KEY.
func TestParseSEC1AndParams(t *testing.T) {
	key := testKey(t, ECDSAP256).(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	in := append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...)
	priv, err := ParsePrivateKeyPEM(in)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.(*ecdsa.PrivateKey).Equal(key) {
		t.Error("parsed another key")
	}
	pub, err := ParsePublicKeyPEM(in)
	if err != nil || !pub.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Errorf("ParsePublicKeyPEM = %v, %v", pub, err)
	}
}

func TestKeyAlgorithmUnsupported(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name string
		key  crypto.PublicKey
	}{
		{"P-384", p384.Public()},
		{"short Ed25519", ed25519.PublicKey{1, 2, 3}},
		{"string", "key"},
		{"nil", nil},
		{"nil ECDSA private", (*ecdsa.PrivateKey)(nil)},
		{"nil ECDSA public", (*ecdsa.PublicKey)(nil)},
		{"ECDSA without curve", &ecdsa.PublicKey{}},
		{"short Ed25519 private", ed25519.PrivateKey{1, 2, 3}},
	}
	for _, tt := range tests {
		if _, err := KeyAlgorithm(tt.key); !errors.Is(err, ErrUnsupportedKey) {
			t.Errorf("%s: KeyAlgorithm err = %v", tt.name, err)
		}
		if _, err := KeyHash(tt.key); err == nil {
			t.Errorf("%s: KeyHash succeeded", tt.name)
		}
		if _, err := MarshalPublicKeyPEM(tt.key); err == nil {
			t.Errorf("%s: MarshalPublicKeyPEM succeeded", tt.name)
		}
	}
	if _, err := MarshalPrivateKeyPEM(p384); err == nil {
		t.Error("MarshalPrivateKeyPEM accepted P-384")
	}
}
