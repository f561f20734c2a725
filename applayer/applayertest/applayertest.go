// Package applayertest holds the checks every protocol package's tests and fuzz
// targets share.
package applayertest

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/lorafuota/lorafuota/applayer"
)

// CheckStable decodes frame, and when that succeeds, checks that encoding the
// commands and decoding again gives the same commands, and that encoding those
// gives the same bytes (decode∘encode∘decode is stable). Decoding must never panic;
// the fuzz engine reports a panic itself.
func CheckStable(t testing.TB, p *applayer.Package, frame []byte, dir applayer.Direction, version uint8) {
	t.Helper()
	cmds, err := p.Decode(frame, dir, version)
	if err != nil {
		if err.Error() == "" {
			t.Fatalf("decode %x: empty error message", frame)
		}
		return
	}
	b1, err := p.Encode(cmds...)
	if err != nil {
		t.Fatalf("decode %x then encode: %v", frame, err)
	}
	cmds2, err := p.Decode(b1, dir, version)
	if err != nil {
		t.Fatalf("decode %x, encode to %x, decode again: %v", frame, b1, err)
	}
	if !reflect.DeepEqual(cmds, cmds2) {
		t.Fatalf("decode %x: %#v\nre-decoded from %x: %#v", frame, cmds, b1, cmds2)
	}
	b2, err := p.Encode(cmds2...)
	if err != nil {
		t.Fatalf("encode again: %v", err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("encode not stable: %x then %x", b1, b2)
	}
}

// MustHex decodes hex (spaces allowed, as vectors are written in the
// references) or fails the test.
func MustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// Vector is one wire test vector: the bytes of a frame and the commands it holds.
type Vector struct {
	Name    string
	Dir     applayer.Direction
	Version uint8
	Hex     string
	Cmds    []applayer.Command
}

// RunVectors checks every vector both ways: decoding its bytes gives its commands,
// encoding its commands gives its bytes.
func RunVectors(t *testing.T, p *applayer.Package, vectors []Vector) {
	t.Helper()
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			want, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatalf("bad vector hex: %v", err)
			}
			got, err := p.Decode(want, v.Dir, v.Version)
			if err != nil {
				t.Fatalf("Decode(%x): %v", want, err)
			}
			if !reflect.DeepEqual(got, v.Cmds) {
				t.Errorf("Decode(%x)\n got %#v\nwant %#v", want, got, v.Cmds)
			}
			b, err := p.Encode(v.Cmds...)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("Encode = %x, want %x", b, want)
			}
		})
	}
}
