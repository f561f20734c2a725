package ns

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/brocaar/lorawan"
)

// newUUID returns a random (version 4, RFC 9562) UUID drawn from r, in the
// lower-case hyphenated form ChirpStack prints. Drawing from a seeded r makes
// every id of a run replayable.
func newUUID(r *rand.Rand) string {
	var b [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// parseUUID accepts the forms ChirpStack's uuid crate accepts (hyphenated,
// simple, braced, urn:uuid:) and returns the canonical form. Its errors carry
// that crate's wording, which ChirpStack passes on as InvalidArgument.
func parseUUID(s string) (string, error) {
	t := s
	switch {
	case strings.HasPrefix(t, "urn:uuid:"):
		t = t[len("urn:uuid:"):]
	case len(t) == 38 && t[0] == '{' && t[37] == '}':
		t = t[1:37]
	}
	var digits []byte
	switch len(t) {
	case 32:
		digits = []byte(t)
	case 36:
		for i := range len(t) {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if t[i] != '-' {
					return "", invalidArg(fmt.Sprintf("invalid group count: expected 5, found %d", strings.Count(t, "-")+1))
				}
				continue
			}
			digits = append(digits, t[i])
		}
	default:
		return "", invalidArg(fmt.Sprintf("invalid length: expected length 32 for simple format, found %d", len(t)))
	}
	for _, c := range digits {
		if !isHex(c) {
			// The uuid crate counts characters from 1 in what it was given.
			return "", invalidArg(fmt.Sprintf("invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `%c` at %d", c, strings.IndexByte(s, c)+1))
		}
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], digits); err != nil {
		return "", invalidArg(err.Error())
	}
	return formatUUID(b), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// decodeHexInto fills dst from the hex string s the way ChirpStack's lrwn
// types parse their FromStr input: an empty string is all zeros, anything
// else must be exactly 2·len(dst) hex digits. The messages are those of the
// Rust hex crate, and ChirpStack reports them as Internal (lrwn::Error maps
// to Code::Internal in api/error.rs); see Quirks.ProperErrorCodes.
func decodeHexInto(dst []byte, s string) error {
	if s == "" {
		clear(dst)
		return nil
	}
	// The hex crate checks in this order: parity, length, then digits.
	if len(s)%2 != 0 {
		return rawInternal(ErrInvalid, "Odd number of digits")
	}
	if len(s) != 2*len(dst) {
		return rawInternal(ErrInvalid, "Invalid string length")
	}
	for i := range len(s) {
		if !isHex(s[i]) {
			return rawInternal(ErrInvalid, fmt.Sprintf("Invalid character %q at position %d", rune(s[i]), i))
		}
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return rawInternal(ErrInvalid, err.Error())
	}
	return nil
}

func parseEUI64(s string) (lorawan.EUI64, error) {
	var e lorawan.EUI64
	return e, decodeHexInto(e[:], s)
}

func parseDevAddr(s string) (lorawan.DevAddr, error) {
	var a lorawan.DevAddr
	return a, decodeHexInto(a[:], s)
}

func parseKey(s string) (lorawan.AES128Key, error) {
	var k lorawan.AES128Key
	return k, decodeHexInto(k[:], s)
}
