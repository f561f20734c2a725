package image

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// UUID is a 16-byte RFC 9562 (formerly RFC 4122) UUID in network byte order, as
// the UUID_VID and UUID_CID TLVs hold it.
type UUID [16]byte

// NamespaceDNS is the RFC 9562 name space for domain names; imgtool derives a
// vendor UUID from a domain name in it.
var NamespaceDNS = UUID{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// String formats u as 8-4-4-4-12 lower-case hex digits.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// MarshalText implements encoding.TextMarshaler, so JSON shows the usual form.
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseUUID.
func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// ParseUUID parses the two forms imgtool accepts as a raw UUID: 8-4-4-4-12 hex
// digits with dashes, or 32 hex digits without.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	h := s
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return u, fmt.Errorf("UUID %q: dashes not at 8-4-4-4-12", s)
		}
		h = strings.ReplaceAll(s, "-", "")
	}
	if len(h) != 32 {
		return u, fmt.Errorf("UUID %q: want 32 hex digits, optionally 8-4-4-4-12 with dashes", s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return UUID{}, fmt.Errorf("UUID %q: %w", s, err)
	}
	return u, nil
}

// NameUUID returns the version 5 (SHA-1, name-based) UUID of name in namespace,
// as Python's uuid.uuid5 computes it.
func NameUUID(namespace UUID, name string) UUID {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	var u UUID
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

// VendorUUID resolves imgtool's --vid argument: a raw UUID, or else a vendor
// name (conventionally its domain) hashed into NamespaceDNS.
func VendorUUID(s string) (UUID, error) {
	if u, err := ParseUUID(s); err == nil {
		return u, nil
	}
	if err := checkName(s); err != nil {
		return UUID{}, fmt.Errorf("vendor %q: %w", s, err)
	}
	return NameUUID(NamespaceDNS, s), nil
}

// ClassUUID resolves imgtool's --cid argument: a raw UUID, or else a class name
// hashed into the vendor's UUID as name space. vendor is nil when no vendor was
// given; a class name then cannot be resolved, as in imgtool.
func ClassUUID(vendor *UUID, s string) (UUID, error) {
	if u, err := ParseUUID(s); err == nil {
		return u, nil
	}
	if err := checkName(s); err != nil {
		return UUID{}, fmt.Errorf("class %q: %w", s, err)
	}
	if vendor == nil {
		return UUID{}, fmt.Errorf("class %q: a class name needs a vendor UUID as its name space; give a vendor or a raw class UUID", s)
	}
	return NameUUID(*vendor, s), nil
}

func checkName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("name has control character %U", r)
		}
	}
	return nil
}
