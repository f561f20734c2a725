// Package applayer holds what the four LoRa Alliance application-layer packages
// (TS003 clock sync, TS004 fragmentation, TS005 multicast setup, TS006 firmware
// management) share: directions, the Command interface, frame decoding and encoding
// as a sequence of commands, and the errors that name the command, field and byte.
//
// Each protocol package describes its commands with a Package table; this package
// does the walking over a frame so that every package parses several commands per
// frame the same way and reports unknown CIDs instead of guessing.
package applayer

import (
	"errors"
	"fmt"
	"slices"
)

// Direction is the direction a frame travels. A Req and its Ans share a CID, so a
// decoder needs the direction to know which layout applies.
type Direction uint8

const (
	// Uplink is device to server.
	Uplink Direction = iota + 1
	// Downlink is server to device.
	Downlink
)

func (d Direction) String() string {
	switch d {
	case Uplink:
		return "uplink"
	case Downlink:
		return "downlink"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Command is one application-layer command: a CID byte followed by its payload.
type Command interface {
	// CID is the command identifier, the first byte of the command on the wire.
	CID() byte
	// Name is the command's name as the specification writes it, e.g. "FragSessionSetupReq".
	Name() string
	// MarshalBinary returns the CID followed by the payload. Out-of-range fields are
	// refused with a *FieldError.
	MarshalBinary() ([]byte, error)
	// DecodePayload parses the payload that follows the CID from the start of b and
	// returns how many bytes it used; b may hold further commands after it.
	DecodePayload(b []byte) (int, error)
}

// CommandSpec describes one command of a package in one direction.
type CommandSpec struct {
	CID  byte
	Dir  Direction
	Name string
	// MinVersion and MaxVersion bound the package versions that define the command.
	MinVersion, MaxVersion uint8
	// New returns a zero command ready to be decoded or filled for the given
	// package version.
	New func(version uint8) Command
	// Alone marks a command that must be the only one in its frame (DataFragment).
	Alone bool
}

func (s CommandSpec) inVersion(v uint8) bool { return v >= s.MinVersion && v <= s.MaxVersion }

// Package is the command table of one application-layer package.
type Package struct {
	// Name is the Go package name, e.g. "fragmentation".
	Name string
	// Spec is the LoRa Alliance document, e.g. "TS004".
	Spec string
	// ID is the PackageIdentifier answered in PackageVersionAns.
	ID uint8
	// FPort is the default FPort.
	FPort uint8
	// Versions lists the package versions this implementation speaks.
	Versions []uint8
	// Commands lists every command in both directions.
	Commands []CommandSpec
}

func (p *Package) checkVersion(v uint8) error {
	if !slices.Contains(p.Versions, v) {
		return fmt.Errorf("%s: package version %d not supported (have %v)", p.Name, v, p.Versions)
	}
	return nil
}

// Lookup returns the spec of the command with the given CID in the given direction
// and version.
func (p *Package) Lookup(cid byte, dir Direction, version uint8) (CommandSpec, bool) {
	for _, s := range p.Commands {
		if s.CID == cid && s.Dir == dir && s.inVersion(version) {
			return s, true
		}
	}
	return CommandSpec{}, false
}

// LookupName returns the spec of the command with the given name that exists in
// the given version.
func (p *Package) LookupName(name string, version uint8) (CommandSpec, bool) {
	for _, s := range p.Commands {
		if s.Name == name && s.inVersion(version) {
			return s, true
		}
	}
	return CommandSpec{}, false
}

// Decode parses a frame (an FRMPayload on the package's FPort) into its commands,
// in order. On error it returns the commands decoded before the failing one
// together with the error: an *UnknownCommandError for a CID that the direction
// and version do not define (the rest of the frame cannot be delimited, so it is
// not guessed at), a *DecodeError for a truncated or malformed command.
func (p *Package) Decode(frame []byte, dir Direction, version uint8) ([]Command, error) {
	if err := p.checkVersion(version); err != nil {
		return nil, err
	}
	if dir != Uplink && dir != Downlink {
		return nil, fmt.Errorf("%s: invalid direction %v", p.Name, dir)
	}
	if len(frame) == 0 {
		return nil, fmt.Errorf("%s: empty frame", p.Name)
	}
	var cmds []Command
	for off := 0; off < len(frame); {
		cid := frame[off]
		spec, ok := p.Lookup(cid, dir, version)
		if !ok {
			return cmds, &UnknownCommandError{Package: p.Name, CID: cid, Dir: dir, Version: version, Offset: off}
		}
		if spec.Alone && (off != 0 || len(cmds) > 0) {
			return cmds, &DecodeError{Package: p.Name, Command: spec.Name, CID: cid, Offset: off,
				Err: errors.New("must be the only command in its frame")}
		}
		cmd := spec.New(version)
		n, err := cmd.DecodePayload(frame[off+1:])
		if err != nil {
			return cmds, &DecodeError{Package: p.Name, Command: spec.Name, CID: cid, Offset: off, Err: err}
		}
		cmds = append(cmds, cmd)
		off += 1 + n
	}
	return cmds, nil
}

// Encode marshals commands into one frame, in order. A command marked Alone must
// be the only one.
func (p *Package) Encode(cmds ...Command) ([]byte, error) {
	if len(cmds) == 0 {
		return nil, fmt.Errorf("%s: no commands to encode", p.Name)
	}
	var out []byte
	for i, c := range cmds {
		if len(cmds) > 1 && p.isAlone(c) {
			return nil, fmt.Errorf("%s: command %d: %s must be the only command in its frame", p.Name, i, c.Name())
		}
		b, err := c.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("%s: command %d: %w", p.Name, i, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

func (p *Package) isAlone(c Command) bool {
	for _, s := range p.Commands {
		if s.Alone && s.CID == c.CID() && s.Name == c.Name() {
			return true
		}
	}
	return false
}

// Unmarshal decodes exactly one command, CID included, from b into c. It is the
// shared body of every command's UnmarshalBinary: it refuses a wrong CID and
// trailing bytes.
func Unmarshal(c Command, b []byte) error {
	if len(b) == 0 {
		return &DecodeError{Command: c.Name(), CID: c.CID(), Err: errors.New("empty input")}
	}
	if b[0] != c.CID() {
		return &DecodeError{Command: c.Name(), CID: c.CID(),
			Err: fmt.Errorf("CID 0x%02x, want 0x%02x", b[0], c.CID())}
	}
	n, err := c.DecodePayload(b[1:])
	if err != nil {
		return &DecodeError{Command: c.Name(), CID: c.CID(), Err: err}
	}
	if 1+n != len(b) {
		return &DecodeError{Command: c.Name(), CID: c.CID(), Offset: 1 + n,
			Err: fmt.Errorf("over-long: %d trailing bytes from byte %d", len(b)-1-n, 1+n)}
	}
	return nil
}
