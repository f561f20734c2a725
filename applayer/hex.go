package applayer

import (
	"encoding/hex"
	"fmt"
)

// HexBytes is a byte string that reads and writes as lowercase hex in JSON and text.
type HexBytes []byte

// MarshalText implements encoding.TextMarshaler.
func (h HexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HexBytes) UnmarshalText(text []byte) error {
	b, err := hex.DecodeString(string(text))
	if err != nil {
		return fmt.Errorf("invalid hex: %w", err)
	}
	*h = b
	return nil
}

// Bytes4 is a 4-byte value carried in wire order (a TS004 Descriptor or MIC); it
// reads and writes as 8 lowercase hex digits.
type Bytes4 [4]byte

// MarshalText implements encoding.TextMarshaler.
func (b Bytes4) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(b[:])), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Bytes4) UnmarshalText(text []byte) error { return decodeFixedHex(b[:], text) }

// Bytes16 is a 16-byte value in wire order (a key or an encrypted key); it reads
// and writes as 32 lowercase hex digits.
type Bytes16 [16]byte

// MarshalText implements encoding.TextMarshaler.
func (b Bytes16) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(b[:])), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Bytes16) UnmarshalText(text []byte) error { return decodeFixedHex(b[:], text) }

func decodeFixedHex(dst, text []byte) error {
	if hex.DecodedLen(len(text)) != len(dst) || len(text)%2 != 0 {
		return fmt.Errorf("want %d hex digits, got %d", 2*len(dst), len(text))
	}
	if _, err := hex.Decode(dst, text); err != nil {
		return fmt.Errorf("invalid hex: %w", err)
	}
	return nil
}
