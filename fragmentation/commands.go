package fragmentation

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/lorafuota/lorafuota/applayer"
)

// Largest values of the bit fields (PROTOCOLS.md §1.2).
const (
	maxFragIndex        = 3
	maxMcGroupBitMask   = 0x0f
	maxBlockAckDelay    = 7
	maxFragAlgo         = 7
	maxFragmentPayload  = 255 // FragSize is a u8
	statusAnsV2Len      = 4
	statusAnsV2ShortLen = 1
)

// refuse returns the *applayer.FieldError for a value a command cannot carry.
func refuse(command, field, reason string) error {
	return &applayer.FieldError{Command: command, Field: field, Reason: reason}
}

func checkFragIndex(command string, v uint8) error {
	return applayer.CheckMax(command, "frag_index", uint64(v), maxFragIndex)
}

// checkPackageVersion refuses a version-dependent command whose Version was not
// set: guessing a layout would put the wrong bytes on the air.
func checkPackageVersion(command string, v uint8) error {
	if v != 1 && v != 2 {
		return fmt.Errorf("%s: package version %d not supported (set Version to 1 or 2)", command, v)
	}
	return nil
}

// onlyIn refuses a field that the given package version does not have, when it is
// set: dropping it silently would lose what the caller asked for.
func onlyIn(command, field string, set bool, version uint8) error {
	if set {
		return refuse(command, field, fmt.Sprintf("not in package version %d", version))
	}
	return nil
}

func wireBit(set bool, n uint) byte {
	if set {
		return 1 << n
	}
	return 0
}

func wireHas(b byte, n uint) bool { return b&(1<<n) != 0 }

// FragSessionStatusReq asks for the state of a fragmentation session. It is one of
// the two commands valid on a multicast address.
type FragSessionStatusReq struct {
	// Participants set asks every receiver to answer; clear, only receivers still
	// missing fragments answer.
	Participants bool  `json:"participants"`
	FragIndex    uint8 `json:"frag_index"`
}

func (*FragSessionStatusReq) CID() byte    { return CIDFragSessionStatus }
func (*FragSessionStatusReq) Name() string { return "FragSessionStatusReq" }

func (c *FragSessionStatusReq) MarshalBinary() ([]byte, error) {
	if err := checkFragIndex(c.Name(), c.FragIndex); err != nil {
		return nil, err
	}
	return []byte{c.CID(), wireBit(c.Participants, 0) | c.FragIndex<<1}, nil
}

func (c *FragSessionStatusReq) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.Participants = wireHas(b[0], 0)
	c.FragIndex = b[0] >> 1 & 0x03
	return 1, nil
}

func (c *FragSessionStatusReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// FragSessionStatusAns reports the state of a fragmentation session. Version 1
// sends Received&Index, MissingFrag, Status; version 2 moves Status to the front,
// redefines its bits, and drops everything but Status when the session does not
// exist.
//
// NbFragReceived and MissingFrag are informational only: LoRaMac-node reports the
// last fragment counter and a lost count truncated to 8 bits, LoRa Basics Modem
// other arithmetic (PROTOCOLS.md §1.2).
type FragSessionStatusAns struct {
	Version        uint8  `json:"-"`
	FragIndex      uint8  `json:"frag_index"`
	NbFragReceived uint16 `json:"nb_frag_received"`
	MissingFrag    uint8  `json:"missing_frag"`
	// NotEnoughMatrixMemory is the version 1 status bit.
	NotEnoughMatrixMemory bool `json:"not_enough_matrix_memory,omitzero"`
	// MemoryError, MICError and SessionDoesNotExist are the version 2 status bits.
	// MICError is meaningful only when MissingFrag is 0.
	MemoryError         bool `json:"memory_error,omitzero"`
	MICError            bool `json:"mic_error,omitzero"`
	SessionDoesNotExist bool `json:"session_does_not_exist,omitzero"`
	// ZeroFilled marks a version 2 SessionDoesNotExist answer sent as 4 bytes,
	// Status and three zero bytes, as LoRa Basics Modem sends it, instead of the
	// specification's Status byte alone. Decoding sets it and encoding honours it,
	// so that both forms encode back to their own bytes: re-encoding a 4-byte
	// answer as 1 byte could merge it with a following command. It has no effect
	// without SessionDoesNotExist or in version 1.
	ZeroFilled bool `json:"zero_filled,omitzero"`
}

func (*FragSessionStatusAns) CID() byte    { return CIDFragSessionStatus }
func (*FragSessionStatusAns) Name() string { return "FragSessionStatusAns" }

// Done reports whether the answer says the data block is complete: nothing missing
// and no error bit. A device may complete without ever saying so here
// (LoRaMac-node keeps MissingFrag above 0, LoRa Basics Modem may stay at 1), so a
// false Done is not proof of failure.
func (c *FragSessionStatusAns) Done() bool {
	return c.MissingFrag == 0 && !c.NotEnoughMatrixMemory && !c.MemoryError && !c.MICError && !c.SessionDoesNotExist
}

func (c *FragSessionStatusAns) validate() error {
	name := c.Name()
	if err := checkPackageVersion(name, c.Version); err != nil {
		return err
	}
	if err := checkFragIndex(name, c.FragIndex); err != nil {
		return err
	}
	if err := applayer.CheckMax(name, "nb_frag_received", uint64(c.NbFragReceived), MaxFragmentCounter); err != nil {
		return err
	}
	if c.Version == 1 {
		for _, f := range []struct {
			field string
			set   bool
		}{
			{"memory_error", c.MemoryError},
			{"mic_error", c.MICError},
			{"session_does_not_exist", c.SessionDoesNotExist},
		} {
			if err := onlyIn(name, f.field, f.set, 1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := onlyIn(name, "not_enough_matrix_memory", c.NotEnoughMatrixMemory, 2); err != nil {
		return err
	}
	if c.SessionDoesNotExist {
		// The spec's answer for a missing session is the Status byte alone; the
		// 4-byte form that some devices send is zero-filled.
		const reason = "must be 0 when session_does_not_exist is set"
		switch {
		case c.FragIndex != 0:
			return refuse(name, "frag_index", reason)
		case c.NbFragReceived != 0:
			return refuse(name, "nb_frag_received", reason)
		case c.MissingFrag != 0:
			return refuse(name, "missing_frag", reason)
		}
	}
	return nil
}

// MarshalBinary encodes the answer in the layout of its Version. A version 2
// answer with SessionDoesNotExist is the Status byte alone, as the specification
// says, or with ZeroFilled the 4-byte form of LoRa Basics Modem.
func (c *FragSessionStatusAns) MarshalBinary() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	ri := c.NbFragReceived | uint16(c.FragIndex)<<14
	if c.Version == 1 {
		b := []byte{c.CID(), 0, 0, c.MissingFrag, wireBit(c.NotEnoughMatrixMemory, 0)}
		binary.LittleEndian.PutUint16(b[1:], ri)
		return b, nil
	}
	status := wireBit(c.MemoryError, 0) | wireBit(c.MICError, 1) | wireBit(c.SessionDoesNotExist, 2)
	if c.SessionDoesNotExist && !c.ZeroFilled {
		return []byte{c.CID(), status}, nil
	}
	b := []byte{c.CID(), status, 0, 0, c.MissingFrag}
	binary.LittleEndian.PutUint16(b[2:], ri)
	return b, nil
}

// DecodePayload decodes the layout of c.Version. In version 2, an answer with
// SessionDoesNotExist is 1 byte long, unless the three bytes after it are all zero:
// then it is the 4-byte form of LoRa Basics Modem, and ZeroFilled is set. Anything
// else after a 1-byte answer is the next command of the frame.
func (c *FragSessionStatusAns) DecodePayload(b []byte) (int, error) {
	if err := checkPackageVersion(c.Name(), c.Version); err != nil {
		return 0, err
	}
	if c.Version == 1 {
		return c.decodeV1Order(b, 1)
	}
	return c.decodeV2(b)
}

func (c *FragSessionStatusAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// decodeV1Order reads Received&Index, MissingFrag, Status into c, with the Status
// bit 0 going to the field of the given version (NotEnoughMatrixMemory or
// MemoryError, which mean the same).
func (c *FragSessionStatusAns) decodeV1Order(b []byte, statusVersion uint8) (int, error) {
	if err := applayer.Need(b, statusAnsV2Len); err != nil {
		return 0, err
	}
	*c = FragSessionStatusAns{Version: c.Version, MissingFrag: b[2]}
	c.setReceivedAndIndex(b[0:2])
	if statusVersion == 1 {
		c.NotEnoughMatrixMemory = wireHas(b[3], 0)
	} else {
		c.MemoryError = wireHas(b[3], 0)
	}
	return statusAnsV2Len, nil
}

func (c *FragSessionStatusAns) decodeV2(b []byte) (int, error) {
	if err := applayer.Need(b, statusAnsV2ShortLen); err != nil {
		return 0, err
	}
	ans := FragSessionStatusAns{
		Version:             c.Version,
		MemoryError:         wireHas(b[0], 0),
		MICError:            wireHas(b[0], 1),
		SessionDoesNotExist: wireHas(b[0], 2),
	}
	n := statusAnsV2ShortLen
	if !ans.SessionDoesNotExist || v2StatusAnsLong(b) {
		if err := applayer.Need(b, statusAnsV2Len); err != nil {
			return 0, err
		}
		ans.setReceivedAndIndex(b[1:3])
		ans.MissingFrag = b[3]
		ans.ZeroFilled = ans.SessionDoesNotExist
		n = statusAnsV2Len
	}
	*c = ans
	return n, nil
}

// v2StatusAnsLong reports whether a version 2 answer with SessionDoesNotExist is
// the 4-byte form: the only devices that send it (LoRa Basics Modem) fill it with
// zeros.
func v2StatusAnsLong(b []byte) bool {
	return len(b) >= statusAnsV2Len && b[1]|b[2]|b[3] == 0
}

func (c *FragSessionStatusAns) setReceivedAndIndex(b []byte) {
	ri := binary.LittleEndian.Uint16(b)
	c.NbFragReceived = ri & MaxFragmentCounter
	c.FragIndex = uint8(ri >> 14)
}

// StatusAnsLayout is a byte layout of the FragSessionStatusAns payload.
type StatusAnsLayout uint8

const (
	// StatusAnsV2 is the version 2 order: Status, Received&Index, MissingFrag.
	// Decoding it also accepts the 1-byte form, as version 2 decoding does.
	StatusAnsV2 StatusAnsLayout = iota + 1
	// StatusAnsV2Short is the 1-byte version 2 answer, Status alone, for a session
	// that does not exist.
	StatusAnsV2Short
	// StatusAnsV1Order is the version 1 order, Received&Index, MissingFrag,
	// Status, which STM32CubeWL keeps in version 2 mode (PROTOCOLS.md §5.2).
	StatusAnsV1Order
)

func (l StatusAnsLayout) String() string {
	switch l {
	case StatusAnsV2:
		return "v2"
	case StatusAnsV2Short:
		return "v2-short"
	case StatusAnsV1Order:
		return "v1-order"
	}
	return fmt.Sprintf("StatusAnsLayout(%d)", uint8(l))
}

// DecodeStatusAnsLayout decodes a FragSessionStatusAns payload (the bytes after
// CID 0x01) from a version 2 device in the given layout, for a device profile
// that knows its stack's byte order. The answer has Version 2; in
// StatusAnsV1Order, Status bit 0 (NotEnoughMatrixMemory in version 1) becomes
// MemoryError and the other bits are ignored. It returns how many bytes it used.
func DecodeStatusAnsLayout(payload []byte, layout StatusAnsLayout) (*FragSessionStatusAns, int, error) {
	c := &FragSessionStatusAns{Version: 2}
	var (
		n   int
		err error
	)
	switch layout {
	case StatusAnsV2:
		n, err = c.decodeV2(payload)
	case StatusAnsV2Short:
		if err = applayer.Need(payload, statusAnsV2ShortLen); err != nil {
			break
		}
		if !wireHas(payload[0], 2) {
			err = errors.New("1-byte answer without session_does_not_exist")
			break
		}
		n, err = c.decodeV2(payload[:statusAnsV2ShortLen])
	case StatusAnsV1Order:
		n, err = c.decodeV1Order(payload, 2)
	default:
		err = fmt.Errorf("unknown layout %v", layout)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s %v: %w", c.Name(), layout, err)
	}
	return c, n, nil
}

// StatusAnsReading is what DecodeStatusAnsAuto made of a payload.
type StatusAnsReading struct {
	// Ans is the answer, with Version 2 whatever the layout.
	Ans *FragSessionStatusAns
	// Layout is the layout the payload was read in.
	Layout StatusAnsLayout
	// Ambiguous reports that the payload is plausible in both orders and the
	// FragIndex did not tell them apart; Layout is then the specification's.
	Ambiguous bool
	// N is the number of payload bytes used, 1 or 4.
	N int
}

// DecodeStatusAnsAuto decodes a FragSessionStatusAns payload (the bytes after
// CID 0x01, up to the end of the frame) from a device that announced version 2
// but may send the version 1 byte order, as STM32CubeWL does. wantFragIndex is
// the FragIndex the FragSessionStatusReq asked about.
//
// Each order leaves tell-tale RFU bits: in version 2 order bits 7:3 of byte 0
// (Status) are 0, in version 1 order bits 7:1 of byte 3 (Status) are 0. When only
// one order is plausible, it wins. When both are, the order whose FragIndex is
// wantFragIndex wins; a 4-byte all-zero SessionDoesNotExist answer counts as
// matching any FragIndex, so it is never mistaken for a version 1 "complete".
// Otherwise the payload is read in the specification's order and Ambiguous is set.
//
// What that means for an answer to the FragIndex asked about:
//
//   - A 4-byte version 2 answer is always read correctly (its own FragIndex
//     matches). The 1-byte form followed by more commands is read as version 1
//     order only if those bytes happen to fit a version 1 answer for FragIndex 0.
//   - A version 1 order answer (STM32CubeWL sets only bit 0 of its Status) is
//     recognised when NbFragReceived modulo 256 is 8 or more (RFU bits in a
//     version 2 reading), or when it is 4..7 and a byte after it is not zero.
//     Below 4, it is recognised only if MissingFrag>>6, which a version 2 reading
//     takes for the FragIndex, differs from its FragIndex; for FragIndex 0 that
//     means any MissingFrag below 64 goes undetected. NbFragReceived 4..7 with
//     everything else zero reads as a zero-filled "no session", never as done.
//     Every such misreading has Ambiguous set.
//
// Where the device's stack is known, a per-device override with
// DecodeStatusAnsLayout is more reliable, and FragDataBlockReceivedReq is the
// better completion signal.
func DecodeStatusAnsAuto(payload []byte, wantFragIndex uint8) (StatusAnsReading, error) {
	const name = "FragSessionStatusAns"
	if err := checkFragIndex(name, wantFragIndex); err != nil {
		return StatusAnsReading{}, err
	}
	if len(payload) < statusAnsV2Len {
		// Only the 1-byte form fits.
		ans, n, err := DecodeStatusAnsLayout(payload, StatusAnsV2Short)
		if err != nil {
			return StatusAnsReading{}, err
		}
		return StatusAnsReading{Ans: ans, Layout: StatusAnsV2Short, N: n}, nil
	}
	p := payload
	v2Plausible := p[0]&0xf8 == 0
	v1Plausible := p[3]&0xfe == 0

	v2Layout, v2Match := StatusAnsV2, p[2]>>6 == wantFragIndex
	if wireHas(p[0], 2) {
		if v2StatusAnsLong(p) {
			v2Match = true
		} else {
			v2Layout, v2Match = StatusAnsV2Short, false // the short form names no FragIndex
		}
	}
	v1Match := p[1]>>6 == wantFragIndex

	layout, ambiguous := v2Layout, false
	switch {
	case v1Plausible && !v2Plausible:
		layout = StatusAnsV1Order
	case v2Plausible && !v1Plausible:
	case !v1Plausible && !v2Plausible:
		ambiguous = true
	case v1Match && !v2Match:
		layout = StatusAnsV1Order
	case v2Match && !v1Match:
	default:
		ambiguous = true
	}
	ans, n, err := DecodeStatusAnsLayout(p, layout)
	if err != nil {
		return StatusAnsReading{}, err
	}
	return StatusAnsReading{Ans: ans, Layout: layout, Ambiguous: ambiguous, N: n}, nil
}

// FragSessionSetupReq creates a fragmentation session: how the data block is cut
// (NbFrag fragments of FragSize bytes, the last Padding bytes being filler), which
// multicast groups may feed it, and (version 2) the integrity check of the block.
type FragSessionSetupReq struct {
	Version   uint8 `json:"-"`
	FragIndex uint8 `json:"frag_index"`
	// McGroupBitMask has bit X set when multicast group X may carry the fragments;
	// unicast is always allowed.
	McGroupBitMask uint8 `json:"mc_group_bit_mask"`
	// NbFrag is the number of uncoded fragments, 1..MaxFragmentCounter.
	NbFrag uint16 `json:"nb_frag"`
	// FragSize is the size of a fragment, without the DataFragment header.
	FragSize uint8 `json:"frag_size"`
	// BlockAckDelay spreads answers over 2^(BlockAckDelay+4) seconds.
	BlockAckDelay uint8 `json:"block_ack_delay"`
	// FragAlgo (FragmentationMatrix in version 1) names the code; 0 is the one of
	// TS004.
	FragAlgo uint8 `json:"frag_algo"`
	// AckReception (version 2) asks for a FragDataBlockReceivedReq once the block
	// is reconstructed.
	AckReception bool `json:"ack_reception,omitzero"`
	// Padding is the number of filler bytes at the end of the last fragment; the
	// data block is NbFrag·FragSize − Padding bytes.
	Padding uint8 `json:"padding"`
	// Descriptor is application-defined, carried in wire order.
	Descriptor applayer.Bytes4 `json:"descriptor"`
	// SessionCnt (version 2) must grow with every setup of a FragIndex: the device
	// refuses a value it has seen (PROTOCOLS.md §1.8).
	SessionCnt uint16 `json:"session_cnt,omitzero"`
	// MIC (version 2) authenticates the reconstructed data block; see SetMIC.
	MIC applayer.Bytes4 `json:"mic,omitzero"`
}

func (*FragSessionSetupReq) CID() byte    { return CIDFragSessionSetup }
func (*FragSessionSetupReq) Name() string { return "FragSessionSetupReq" }

// BlockLen returns the data block size, NbFrag·FragSize − Padding.
func (c *FragSessionSetupReq) BlockLen() int {
	return int(c.NbFrag)*int(c.FragSize) - int(c.Padding)
}

func (c *FragSessionSetupReq) payloadLen() int {
	if c.Version == 1 {
		return 10
	}
	return 16
}

func (c *FragSessionSetupReq) validate() error {
	name := c.Name()
	if err := checkPackageVersion(name, c.Version); err != nil {
		return err
	}
	checks := []struct {
		field string
		v     uint64
		max   uint64
	}{
		{"frag_index", uint64(c.FragIndex), maxFragIndex},
		{"mc_group_bit_mask", uint64(c.McGroupBitMask), maxMcGroupBitMask},
		{"nb_frag", uint64(c.NbFrag), MaxFragmentCounter},
		{"block_ack_delay", uint64(c.BlockAckDelay), maxBlockAckDelay},
		{"frag_algo", uint64(c.FragAlgo), maxFragAlgo},
	}
	for _, ck := range checks {
		if err := applayer.CheckMax(name, ck.field, ck.v, ck.max); err != nil {
			return err
		}
	}
	if c.NbFrag == 0 {
		return refuse(name, "nb_frag", "must be at least 1")
	}
	if c.FragSize == 0 {
		return refuse(name, "frag_size", "must be at least 1")
	}
	if c.Padding >= c.FragSize {
		return refuse(name, "padding", fmt.Sprintf("%d must be less than frag_size %d", c.Padding, c.FragSize))
	}
	if c.Version == 1 {
		if err := onlyIn(name, "ack_reception", c.AckReception, 1); err != nil {
			return err
		}
		if err := onlyIn(name, "session_cnt", c.SessionCnt != 0, 1); err != nil {
			return err
		}
		if err := onlyIn(name, "mic", c.MIC != applayer.Bytes4{}, 1); err != nil {
			return err
		}
	}
	return nil
}

func (c *FragSessionSetupReq) MarshalBinary() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 1+c.payloadLen())
	b[0] = c.CID()
	p := b[1:]
	p[0] = c.McGroupBitMask | c.FragIndex<<4
	binary.LittleEndian.PutUint16(p[1:], c.NbFrag)
	p[3] = c.FragSize
	p[4] = c.BlockAckDelay | c.FragAlgo<<3 | wireBit(c.AckReception, 6)
	p[5] = c.Padding
	copy(p[6:10], c.Descriptor[:])
	if c.Version == 2 {
		binary.LittleEndian.PutUint16(p[10:], c.SessionCnt)
		copy(p[12:16], c.MIC[:])
	}
	return b, nil
}

// DecodePayload decodes the layout of c.Version. It refuses the values
// MarshalBinary refuses (NbFrag 0 or above MaxFragmentCounter, FragSize 0,
// Padding ≥ FragSize): no device can run such a session.
func (c *FragSessionSetupReq) DecodePayload(b []byte) (int, error) {
	if err := checkPackageVersion(c.Name(), c.Version); err != nil {
		return 0, err
	}
	n := c.payloadLen()
	if err := applayer.Need(b, n); err != nil {
		return 0, err
	}
	*c = FragSessionSetupReq{
		Version:        c.Version,
		McGroupBitMask: b[0] & maxMcGroupBitMask,
		FragIndex:      b[0] >> 4 & maxFragIndex,
		NbFrag:         binary.LittleEndian.Uint16(b[1:]),
		FragSize:       b[3],
		BlockAckDelay:  b[4] & maxBlockAckDelay,
		FragAlgo:       b[4] >> 3 & maxFragAlgo,
		Padding:        b[5],
		Descriptor:     applayer.Bytes4(b[6:10]),
	}
	if c.Version == 2 {
		c.AckReception = wireHas(b[4], 6)
		c.SessionCnt = binary.LittleEndian.Uint16(b[10:])
		c.MIC = applayer.Bytes4(b[12:16])
	}
	if err := c.validate(); err != nil {
		return 0, err
	}
	return n, nil
}

func (c *FragSessionSetupReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// FragSessionSetupAns answers FragSessionSetupReq. The session is accepted when no
// error bit is set.
type FragSessionSetupAns struct {
	Version              uint8 `json:"-"`
	FragIndex            uint8 `json:"frag_index"`
	FragAlgoUnsupported  bool  `json:"frag_algo_unsupported"`
	NotEnoughMemory      bool  `json:"not_enough_memory"`
	FragIndexUnsupported bool  `json:"frag_index_unsupported"`
	WrongDescriptor      bool  `json:"wrong_descriptor"`
	// SessionCntReplay (version 2): SessionCnt was not above the last one the
	// device saw for this FragIndex.
	SessionCntReplay bool `json:"session_cnt_replay,omitzero"`
}

func (*FragSessionSetupAns) CID() byte    { return CIDFragSessionSetup }
func (*FragSessionSetupAns) Name() string { return "FragSessionSetupAns" }

// Accepted reports whether the device accepted the session.
func (c *FragSessionSetupAns) Accepted() bool {
	return !c.FragAlgoUnsupported && !c.NotEnoughMemory && !c.FragIndexUnsupported &&
		!c.WrongDescriptor && !c.SessionCntReplay
}

func (c *FragSessionSetupAns) MarshalBinary() ([]byte, error) {
	name := c.Name()
	if err := checkPackageVersion(name, c.Version); err != nil {
		return nil, err
	}
	if err := checkFragIndex(name, c.FragIndex); err != nil {
		return nil, err
	}
	if c.Version == 1 {
		if err := onlyIn(name, "session_cnt_replay", c.SessionCntReplay, 1); err != nil {
			return nil, err
		}
	}
	return []byte{c.CID(), wireBit(c.FragAlgoUnsupported, 0) | wireBit(c.NotEnoughMemory, 1) |
		wireBit(c.FragIndexUnsupported, 2) | wireBit(c.WrongDescriptor, 3) |
		wireBit(c.SessionCntReplay, 4) | c.FragIndex<<6}, nil
}

func (c *FragSessionSetupAns) DecodePayload(b []byte) (int, error) {
	if err := checkPackageVersion(c.Name(), c.Version); err != nil {
		return 0, err
	}
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	*c = FragSessionSetupAns{
		Version:              c.Version,
		FragIndex:            b[0] >> 6,
		FragAlgoUnsupported:  wireHas(b[0], 0),
		NotEnoughMemory:      wireHas(b[0], 1),
		FragIndexUnsupported: wireHas(b[0], 2),
		WrongDescriptor:      wireHas(b[0], 3),
		SessionCntReplay:     c.Version == 2 && wireHas(b[0], 4),
	}
	return 1, nil
}

func (c *FragSessionSetupAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// FragSessionDeleteReq deletes a fragmentation session.
type FragSessionDeleteReq struct {
	FragIndex uint8 `json:"frag_index"`
}

func (*FragSessionDeleteReq) CID() byte    { return CIDFragSessionDelete }
func (*FragSessionDeleteReq) Name() string { return "FragSessionDeleteReq" }

func (c *FragSessionDeleteReq) MarshalBinary() ([]byte, error) {
	if err := checkFragIndex(c.Name(), c.FragIndex); err != nil {
		return nil, err
	}
	return []byte{c.CID(), c.FragIndex}, nil
}

func (c *FragSessionDeleteReq) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.FragIndex = b[0] & maxFragIndex
	return 1, nil
}

func (c *FragSessionDeleteReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// FragSessionDeleteAns answers FragSessionDeleteReq.
type FragSessionDeleteAns struct {
	FragIndex           uint8 `json:"frag_index"`
	SessionDoesNotExist bool  `json:"session_does_not_exist"`
}

func (*FragSessionDeleteAns) CID() byte    { return CIDFragSessionDelete }
func (*FragSessionDeleteAns) Name() string { return "FragSessionDeleteAns" }

func (c *FragSessionDeleteAns) MarshalBinary() ([]byte, error) {
	if err := checkFragIndex(c.Name(), c.FragIndex); err != nil {
		return nil, err
	}
	return []byte{c.CID(), c.FragIndex | wireBit(c.SessionDoesNotExist, 2)}, nil
}

func (c *FragSessionDeleteAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.FragIndex = b[0] & maxFragIndex
	c.SessionDoesNotExist = wireHas(b[0], 2)
	return 1, nil
}

func (c *FragSessionDeleteAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// FragDataBlockReceivedReq (version 2, uplink: the device sends the Req) reports a
// reconstructed data block when the session was set up with AckReception. The
// device repeats it until it gets FragDataBlockReceivedAns.
type FragDataBlockReceivedReq struct {
	FragIndex uint8 `json:"frag_index"`
	// MICError reports that the reconstructed block failed the MIC check.
	MICError bool `json:"mic_error"`
}

func (*FragDataBlockReceivedReq) CID() byte    { return CIDFragDataBlockReceived }
func (*FragDataBlockReceivedReq) Name() string { return "FragDataBlockReceivedReq" }

func (c *FragDataBlockReceivedReq) MarshalBinary() ([]byte, error) {
	if err := checkFragIndex(c.Name(), c.FragIndex); err != nil {
		return nil, err
	}
	return []byte{c.CID(), c.FragIndex | wireBit(c.MICError, 2)}, nil
}

func (c *FragDataBlockReceivedReq) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.FragIndex = b[0] & maxFragIndex
	c.MICError = wireHas(b[0], 2)
	return 1, nil
}

func (c *FragDataBlockReceivedReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// FragDataBlockReceivedAns (version 2, downlink) acknowledges
// FragDataBlockReceivedReq and stops the device's retransmissions.
type FragDataBlockReceivedAns struct {
	FragIndex uint8 `json:"frag_index"`
}

func (*FragDataBlockReceivedAns) CID() byte    { return CIDFragDataBlockReceived }
func (*FragDataBlockReceivedAns) Name() string { return "FragDataBlockReceivedAns" }

func (c *FragDataBlockReceivedAns) MarshalBinary() ([]byte, error) {
	if err := checkFragIndex(c.Name(), c.FragIndex); err != nil {
		return nil, err
	}
	return []byte{c.CID(), c.FragIndex}, nil
}

func (c *FragDataBlockReceivedAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.FragIndex = b[0] & maxFragIndex
	return 1, nil
}

func (c *FragDataBlockReceivedAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// FragDataBlockAuthReq is the uplink CID 0x05 of the LoRaMac-node FUOTA sample
// (fuota-test-01): the CRC-32 of the reconstructed file, sent after completion. It
// is in neither TS004 version; the server accepts it as extra evidence of
// completion and never requires it (PROTOCOLS.md §1.1, §5.5).
type FragDataBlockAuthReq struct {
	CRC32 uint32 `json:"crc32"`
}

func (*FragDataBlockAuthReq) CID() byte    { return CIDFragDataBlockAuth }
func (*FragDataBlockAuthReq) Name() string { return "FragDataBlockAuthReq" }

// Matches reports whether CRC32 is the IEEE CRC-32 of block, either of all of it
// or of its first len(block) mod 65536 bytes: LoRaMac-node passes the length as a
// 16-bit value, so it checksums only that much of a block above 65535 bytes.
func (c *FragDataBlockAuthReq) Matches(block []byte) bool {
	return c.CRC32 == crc32.ChecksumIEEE(block) ||
		c.CRC32 == crc32.ChecksumIEEE(block[:len(block)&0xffff])
}

func (c *FragDataBlockAuthReq) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint32([]byte{c.CID()}, c.CRC32), nil
}

func (c *FragDataBlockAuthReq) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 4); err != nil {
		return 0, err
	}
	c.CRC32 = binary.LittleEndian.Uint32(b)
	return 4, nil
}

func (c *FragDataBlockAuthReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// DataFragment carries fragment N of a data block. It must be the only command in
// its frame, so its payload is the rest of the frame.
type DataFragment struct {
	FragIndex uint8 `json:"frag_index"`
	// N is the fragment counter, 1..MaxFragmentCounter: 1..NbFrag are the uncoded
	// fragments, the ones above are parity.
	N       uint16            `json:"n"`
	Payload applayer.HexBytes `json:"payload"`
}

func (*DataFragment) CID() byte    { return CIDDataFragment }
func (*DataFragment) Name() string { return "DataFragment" }

// validate refuses N outside 1..MaxFragmentCounter instead of wrapping it as a
// 14-bit field would (brocaar/lorawan masks N silently): a wrapped counter
// overwrites an earlier fragment on the device.
func (c *DataFragment) validate() error {
	name := c.Name()
	if err := checkFragIndex(name, c.FragIndex); err != nil {
		return err
	}
	if c.N == 0 {
		return refuse(name, "n", "fragment counter starts at 1")
	}
	if err := applayer.CheckMax(name, "n", uint64(c.N), MaxFragmentCounter); err != nil {
		return err
	}
	if len(c.Payload) == 0 {
		return refuse(name, "payload", "empty")
	}
	if len(c.Payload) > maxFragmentPayload {
		return refuse(name, "payload", fmt.Sprintf("%d bytes, more than a FragSize can be (%d)", len(c.Payload), maxFragmentPayload))
	}
	return nil
}

func (c *DataFragment) MarshalBinary() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 3, 3+len(c.Payload))
	b[0] = c.CID()
	binary.LittleEndian.PutUint16(b[1:], c.N|uint16(c.FragIndex)<<14)
	return append(b, c.Payload...), nil
}

// DecodePayload takes all of b: the fragment is the rest of the frame. It refuses
// N = 0 (the counter is 1-based; some tools count from 0) and an empty fragment.
func (c *DataFragment) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 3); err != nil {
		return 0, err
	}
	in := binary.LittleEndian.Uint16(b)
	*c = DataFragment{
		FragIndex: uint8(in >> 14),
		N:         in & MaxFragmentCounter,
		Payload:   applayer.HexBytes(append([]byte(nil), b[2:]...)),
	}
	if err := c.validate(); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *DataFragment) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }
