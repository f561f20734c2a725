package device

import (
	"fmt"
	"slices"
	"time"
)

// Profile is the device stack a simulated device reproduces: the protocol
// behaviours of the stacks in the field (shared/PROTOCOLS.md §5), so that the
// server is tested against them, or the specifications alone.
type Profile uint8

const (
	// Spec follows TS003, TS004, TS005 and TS006 as written, v1 or v2.
	Spec Profile = iota
	// LoRaMacNode is Lora-net/LoRaMac-node (LmHandler packages): TS003,
	// TS004 and TS005 version 1 only and no TS006, so FPort 203 is ignored.
	// Its FragDecoder drops an uncoded fragment older than the last one
	// received (all of them once a coded one arrived), reports the last
	// fragment counter as NbFragReceived and its lost count, truncated to 8
	// bits, as MissingFrag, which stays above 0 after a successful decode;
	// more losses than it can recover end the session as if it had
	// succeeded. One decoder serves every FragIndex: any Setup replaces
	// the session, and DataFragments are taken whatever their FragIndex,
	// session state or multicast group. It has no McGroupStatusReq, answers
	// a class C session request for an undefined group with 0x1C|id, a
	// start time in the past with McGroupUndefined, and runs a class B
	// session as class C.
	LoRaMacNode
	// STM32CubeWL is STMicroelectronics' LoRaMac-node fork, packages v1 or
	// v2, with TS006. Its decoder is LoRaMac-node's (order, counters, one
	// decoder for every FragIndex), but it checks the session state and the
	// multicast group of DataFragments. In v2 it keeps the v1 byte order of
	// FragSessionStatusAns, waits at least 3 s before a BlockAckDelay
	// answer, and repeats FragDataBlockReceivedReq every 1.5 s until it is
	// answered.
	STM32CubeWL
	// LoRaBasicsModem is Lora-net/SWL2001 v4.8.0, packages v1 or v2, with
	// TS006. It always sends a 4-byte FragSessionStatusAns (zeros when the
	// session does not exist), reports NbFragReceived as the last counter
	// minus the lost count, leaves MissingFrag at 1 after a loss-free
	// session, and sends FragDataBlockReceivedReq at most 3 times.
	LoRaBasicsModem
)

var profileNames = [...]string{
	Spec:            "spec",
	LoRaMacNode:     "loramac-node",
	STM32CubeWL:     "stm32cubewl",
	LoRaBasicsModem: "lora-basics-modem",
}

func (p Profile) String() string {
	if int(p) < len(profileNames) {
		return profileNames[p]
	}
	return fmt.Sprintf("Profile(%d)", uint8(p))
}

// ParseProfile parses the names String gives.
func ParseProfile(s string) (Profile, error) {
	for p, n := range profileNames {
		if s == n {
			return Profile(p), nil
		}
	}
	return 0, fmt.Errorf("device: unknown profile %q (want one of %v)", s, profileNames)
}

// Profiles returns every profile.
func Profiles() []Profile { return []Profile{Spec, LoRaMacNode, STM32CubeWL, LoRaBasicsModem} }

// Versions selects the version of each application-layer package a device
// speaks. Zero means the highest version its profile supports.
type Versions struct {
	ClockSync          uint8 // TS003, FPort 202
	Multicast          uint8 // TS005, FPort 200
	Fragmentation      uint8 // TS004, FPort 201
	FirmwareManagement uint8 // TS006, FPort 203
}

// Supported returns the package versions the profile implements, highest
// last; an empty FirmwareManagement list means no TS006.
func (p Profile) Supported() (clockSync, multicast, fragmentation, firmwareManagement []uint8) {
	switch p {
	case LoRaMacNode:
		return []uint8{1}, []uint8{1}, []uint8{1}, nil
	default:
		return []uint8{1, 2}, []uint8{1, 2}, []uint8{1, 2}, []uint8{1}
	}
}

// resolve fills the zero versions with the profile's highest and checks the
// others against what the profile supports.
func (v Versions) resolve(p Profile) (Versions, error) {
	cs, mc, fr, fw := p.Supported()
	pick := func(name string, want uint8, have []uint8) (uint8, error) {
		if len(have) == 0 {
			if want != 0 {
				return 0, fmt.Errorf("device: profile %v has no %s package", p, name)
			}
			return 0, nil
		}
		if want == 0 {
			return have[len(have)-1], nil
		}
		if !slices.Contains(have, want) {
			return 0, fmt.Errorf("device: profile %v speaks %s version %v, not %d", p, name, have, want)
		}
		return want, nil
	}
	var err error
	if v.ClockSync, err = pick("TS003 clock sync", v.ClockSync, cs); err != nil {
		return v, err
	}
	if v.Multicast, err = pick("TS005 multicast setup", v.Multicast, mc); err != nil {
		return v, err
	}
	if v.Fragmentation, err = pick("TS004 fragmentation", v.Fragmentation, fr); err != nil {
		return v, err
	}
	if v.FirmwareManagement, err = pick("TS006 firmware management", v.FirmwareManagement, fw); err != nil {
		return v, err
	}
	return v, nil
}

// quirks are the behaviours in which a profile departs from the
// specifications, one switch each, so that the handlers read as the spec with
// the deviations named.
type quirks struct {
	// lmnDecoder: LoRaMac-node's FragDecoder order and counters: uncoded
	// fragments older than the last are dropped, NbFragReceived is the last
	// N, MissingFrag is FragNbLost as a u8.
	lmnDecoder bool
	// matrixErrorDone: more lost than Lmax ends the session as done.
	matrixErrorDone bool
	// sharedDecoder: one decoder for every FragIndex; any Setup replaces
	// the session.
	sharedDecoder bool
	// fragAnyState: DataFragments are not checked against the session
	// state, its FragIndex or its multicast groups.
	fragAnyState bool
	// statusV1Order: v2 FragSessionStatusAns in the v1 byte order.
	statusV1Order bool
	// status4Bytes: SessionDoesNotExist answered with 4 bytes.
	status4Bytes bool
	// lbmCounters: LoRa Basics Modem's NbFragReceived and MissingFrag.
	lbmCounters bool
	// ackDelayMin is the least BlockAckDelay wait.
	ackDelayMin time.Duration
	// ackDelaySteps: the wait is randr(0, 1000)·2^(BlockAckDelay+4) ms.
	ackDelaySteps bool
	// recvReqInterval separates FragDataBlockReceivedReq repeats; 0 means
	// a fresh BlockAckDelay wait before each.
	recvReqInterval time.Duration
	// recvReqMax is how many times FragDataBlockReceivedReq is sent; 0 is
	// until answered.
	recvReqMax int
	// undefinedGroup0x1C: a class B/C session request for an undefined
	// group has DRError and FreqError set too.
	undefinedGroup0x1C bool
	// classBAsC: a class B session runs as class C.
	classBAsC bool
	// noGroupStatus: McGroupStatusReq is not implemented (no answer).
	noGroupStatus bool
	// authCRC: after a block is reassembled, the LoRaMac-node sample sends the
	// legacy FragDataBlockAuthReq (0x05 + CRC32 of the file, its length taken
	// as 16 bits) on FPort 201 (PROTOCOLS.md §1.1).
	authCRC bool
}

func (p Profile) quirks() quirks {
	switch p {
	case LoRaMacNode:
		return quirks{
			lmnDecoder: true, matrixErrorDone: true, sharedDecoder: true, fragAnyState: true,
			ackDelaySteps:      true,
			undefinedGroup0x1C: true, classBAsC: true, noGroupStatus: true, authCRC: true,
		}
	case STM32CubeWL:
		return quirks{
			lmnDecoder: true, sharedDecoder: true, statusV1Order: true,
			ackDelaySteps: true, ackDelayMin: 3 * time.Second,
			recvReqInterval: 1500 * time.Millisecond,
		}
	case LoRaBasicsModem:
		return quirks{status4Bytes: true, lbmCounters: true, recvReqMax: 3}
	default:
		// The specification says the device repeats FragDataBlockReceivedReq
		// until answered without saying how often; the conformant profile
		// waits a fresh BlockAckDelay before each of at most 3, as LoRa
		// Basics Modem does.
		return quirks{recvReqMax: 3}
	}
}
