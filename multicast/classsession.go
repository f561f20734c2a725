package multicast

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/lorafuota/lorafuota/applayer"
)

const (
	// MaxTimeOut is the largest session TimeOut code: four bits.
	MaxTimeOut = 15
	// MaxPeriodicity is the largest class B ping-slot Periodicity code: three bits.
	MaxPeriodicity = 7
	// MaxDLFrequency is the highest frequency, in Hz, that the 24-bit DLFrequ field
	// (units of 100 Hz) carries.
	MaxDLFrequency = (1<<24 - 1) * 100
	// MaxTimeToStart is the largest TimeToStart, 24 bits. A v2 device answers it
	// when the start is further away than it can express, which in practice means
	// its clock is out of sync.
	MaxTimeToStart = 1<<24 - 1
)

// sessionReq is the wire layout both session requests share; they differ only in
// what byte 5 holds.
type sessionReq struct {
	groupID     uint8
	sessionTime uint32
	params      byte
	freq        uint32
	dr          uint8
}

func (s sessionReq) marshal(cid byte) []byte {
	b := make([]byte, 11)
	b[0] = cid
	b[1] = s.groupID
	binary.LittleEndian.PutUint32(b[2:6], s.sessionTime)
	b[6] = s.params
	applayer.PutUint24(b[7:10], s.freq/100)
	b[10] = s.dr
	return b
}

func decodeSessionReq(b []byte) (sessionReq, error) {
	if err := applayer.Need(b, 10); err != nil {
		return sessionReq{}, err
	}
	return sessionReq{
		groupID:     b[0] & 0x03,
		sessionTime: binary.LittleEndian.Uint32(b[1:5]),
		params:      b[5],
		freq:        applayer.Uint24(b[6:9]) * 100,
		dr:          b[9],
	}, nil
}

// checkSessionReq checks the fields both session requests share.
func checkSessionReq(command string, groupID, timeOut uint8, freq uint32) error {
	if err := checkGroupID(command, groupID); err != nil {
		return err
	}
	if err := applayer.CheckMax(command, "time_out", uint64(timeOut), MaxTimeOut); err != nil {
		return err
	}
	return checkDLFrequency(command, freq)
}

// checkDLFrequency refuses what DLFrequ, a 24-bit count of 100 Hz steps, cannot
// carry rather than rounding the frequency the device would tune to.
func checkDLFrequency(command string, hz uint32) error {
	if hz%100 != 0 {
		return &applayer.FieldError{Command: command, Field: "dl_frequency",
			Reason: fmt.Sprintf("%d Hz is not a multiple of 100 Hz", hz)}
	}
	if hz > MaxDLFrequency {
		return &applayer.FieldError{Command: command, Field: "dl_frequency",
			Reason: fmt.Sprintf("%d Hz does not fit the 24-bit DLFrequ field (max %d Hz)", hz, MaxDLFrequency)}
	}
	return nil
}

// McClassCSessionReq schedules a class C session of group McGroupID: the device
// listens continuously on DLFrequency at DR from SessionTime for 2^TimeOut
// seconds (see ClassCSessionEnd).
type McClassCSessionReq struct {
	McGroupID uint8 `json:"mc_group_id"`
	// SessionTime is the start, in seconds since the GPS epoch modulo 2^32.
	SessionTime uint32 `json:"session_time"`
	// TimeOut codes the session length, 2^TimeOut seconds, 0..15.
	TimeOut uint8 `json:"time_out"`
	// DLFrequency is in Hz, a multiple of 100.
	DLFrequency uint32 `json:"dl_frequency"`
	// DR is the data-rate index as LinkADRReq codes it for the region.
	DR uint8 `json:"dr"`
}

func (*McClassCSessionReq) CID() byte    { return CIDMcClassCSession }
func (*McClassCSessionReq) Name() string { return "McClassCSessionReq" }

func (c *McClassCSessionReq) MarshalBinary() ([]byte, error) {
	if err := checkSessionReq(c.Name(), c.McGroupID, c.TimeOut, c.DLFrequency); err != nil {
		return nil, err
	}
	s := sessionReq{groupID: c.McGroupID, sessionTime: c.SessionTime, params: c.TimeOut, freq: c.DLFrequency, dr: c.DR}
	return s.marshal(c.CID()), nil
}

func (c *McClassCSessionReq) DecodePayload(b []byte) (int, error) {
	s, err := decodeSessionReq(b)
	if err != nil {
		return 0, err
	}
	*c = McClassCSessionReq{McGroupID: s.groupID, SessionTime: s.sessionTime, TimeOut: s.params & 0x0f,
		DLFrequency: s.freq, DR: s.dr}
	return 10, nil
}

func (c *McClassCSessionReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// McClassBSessionReq schedules a class B session of group McGroupID: the device
// opens ping slots from SessionTime for 128·2^TimeOut seconds (see
// ClassBSessionEnd). Version matters because v2 requires SessionTime on a beacon
// period boundary and gives DLFrequency 0 the meaning "default ping-slot hopping".
type McClassBSessionReq struct {
	Version   uint8 `json:"-"`
	McGroupID uint8 `json:"mc_group_id"`
	// SessionTime is the start, in seconds since the GPS epoch modulo 2^32; in v2 a
	// multiple of BeaconPeriod (see AlignClassBSessionTime).
	SessionTime uint32 `json:"session_time"`
	// TimeOut codes the session length, 2^TimeOut beacon periods, 0..15.
	TimeOut uint8 `json:"time_out"`
	// Periodicity codes the ping slots, 2^(7−Periodicity) per beacon period, 0..7.
	Periodicity uint8 `json:"periodicity"`
	// DLFrequency is in Hz, a multiple of 100.
	DLFrequency uint32 `json:"dl_frequency"`
	// DR is the data-rate index as LinkADRReq codes it for the region.
	DR uint8 `json:"dr"`
}

func (*McClassBSessionReq) CID() byte    { return CIDMcClassBSession }
func (*McClassBSessionReq) Name() string { return "McClassBSessionReq" }

// validate is shared by encoder and decoder: a v2 SessionTime off the beacon
// grid is refused both ways.
func (c *McClassBSessionReq) validate() error {
	if err := checkVersion(c.Name(), c.Version); err != nil {
		return err
	}
	if err := checkSessionReq(c.Name(), c.McGroupID, c.TimeOut, c.DLFrequency); err != nil {
		return err
	}
	if err := applayer.CheckMax(c.Name(), "periodicity", uint64(c.Periodicity), MaxPeriodicity); err != nil {
		return err
	}
	return ValidateClassBSessionTime(c.SessionTime, c.Version)
}

func (c *McClassBSessionReq) MarshalBinary() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	s := sessionReq{groupID: c.McGroupID, sessionTime: c.SessionTime, params: c.Periodicity<<4 | c.TimeOut,
		freq: c.DLFrequency, dr: c.DR}
	return s.marshal(c.CID()), nil
}

// DecodePayload reads TimeOut from bits 3:0 and Periodicity from bits 6:4 of
// byte 5; brocaar/lorawan masks TimeOut with 0x1f and so reads bit 4 into it.
func (c *McClassBSessionReq) DecodePayload(b []byte) (int, error) {
	s, err := decodeSessionReq(b)
	if err != nil {
		return 0, err
	}
	*c = McClassBSessionReq{Version: c.Version, McGroupID: s.groupID, SessionTime: s.sessionTime,
		TimeOut: s.params & 0x0f, Periodicity: s.params >> 4 & 0x07, DLFrequency: s.freq, DR: s.dr}
	if err := c.validate(); err != nil {
		return 0, err
	}
	return 10, nil
}

func (c *McClassBSessionReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// Status bits of a session answer (byte 0, above the two McGroupID bits).
const (
	statusDRError          = 0x04
	statusFreqError        = 0x08
	statusMcGroupUndefined = 0x10
	statusStartMissed      = 0x20 // v2; RFU in v1
	statusErrorBits        = 0xfc // TimeToStart follows only when all are clear
)

// unknownErrorMask returns the status bits the version does not define. They are
// kept rather than dropped because any of them set removes TimeToStart from the
// answer: v2 reserves bits 7:6 for future errors; v1 leaves bits 7:5 RFU.
func unknownErrorMask(version uint8) byte {
	if version == 1 {
		return 0xe0
	}
	return 0xc0
}

// SessionAns is the body of McClassCSessionAns and McClassBSessionAns, which share
// one layout: a status byte and, only when none of its bits 2..7 is set, a
// 24-bit TimeToStart. Version (1 or 2, set by Package's New) must be set before
// decoding or encoding: bit 5 is StartMissed in v2 and RFU in v1.
type SessionAns struct {
	Version          uint8 `json:"-"`
	McGroupID        uint8 `json:"mc_group_id"`
	DRError          bool  `json:"dr_error"`
	FreqError        bool  `json:"freq_error"`
	McGroupUndefined bool  `json:"mc_group_undefined"`
	// StartMissed (v2 only) says that SessionTime had passed by the device's clock.
	StartMissed bool `json:"start_missed"`
	// UnknownErrors holds, in place, the status bits the version does not define:
	// bits 7:5 in v1, 7:6 in v2. Any of them set means the session was not
	// accepted.
	UnknownErrors uint8 `json:"unknown_errors,omitempty"`
	// TimeToStart is the device's count of seconds from this uplink to the session
	// start; present exactly when no error bit is set.
	TimeToStart *uint32 `json:"time_to_start,omitempty"`
}

func (a *SessionAns) status() byte {
	return a.McGroupID | flag(a.DRError, 2) | flag(a.FreqError, 3) | flag(a.McGroupUndefined, 4) |
		flag(a.StartMissed, 5) | a.UnknownErrors
}

func (a *SessionAns) validate(command string) error {
	if err := checkVersion(command, a.Version); err != nil {
		return err
	}
	if err := checkGroupID(command, a.McGroupID); err != nil {
		return err
	}
	if a.StartMissed && a.Version < 2 {
		return &applayer.FieldError{Command: command, Field: "start_missed",
			Reason: "not defined in package version 1 (bit 5 is RFU there: set it in unknown_errors)"}
	}
	if m := unknownErrorMask(a.Version); a.UnknownErrors&^m != 0 {
		return &applayer.FieldError{Command: command, Field: "unknown_errors",
			Reason: fmt.Sprintf("0x%02x has bits outside 0x%02x, the bits version %d leaves undefined", a.UnknownErrors, m, a.Version)}
	}
	switch {
	case a.Accepted() && a.TimeToStart == nil:
		return &applayer.FieldError{Command: command, Field: "time_to_start", Reason: "required when no error bit is set"}
	case !a.Accepted() && a.TimeToStart != nil:
		return &applayer.FieldError{Command: command, Field: "time_to_start", Reason: "must be absent when an error bit is set"}
	case a.TimeToStart != nil:
		return applayer.CheckMax(command, "time_to_start", uint64(*a.TimeToStart), MaxTimeToStart)
	}
	return nil
}

func (a *SessionAns) marshal(cid byte, command string) ([]byte, error) {
	if err := a.validate(command); err != nil {
		return nil, err
	}
	if a.TimeToStart == nil {
		return []byte{cid, a.status()}, nil
	}
	b := []byte{cid, a.status(), 0, 0, 0}
	applayer.PutUint24(b[2:], *a.TimeToStart)
	return b, nil
}

// decode reads the answer for a.Version. TimeToStart is read only when bits 2..7
// are all clear: ChirpStack's v2 decoder tests only bits 2..4 and so swallows
// the next command after a 1-byte StartMissed answer.
func (a *SessionAns) decode(b []byte, command string) (int, error) {
	if err := checkVersion(command, a.Version); err != nil {
		return 0, err
	}
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	s := b[0]
	*a = SessionAns{
		Version:          a.Version,
		McGroupID:        s & 0x03,
		DRError:          s&statusDRError != 0,
		FreqError:        s&statusFreqError != 0,
		McGroupUndefined: s&statusMcGroupUndefined != 0,
		StartMissed:      a.Version >= 2 && s&statusStartMissed != 0,
		UnknownErrors:    s & unknownErrorMask(a.Version),
	}
	if s&statusErrorBits != 0 {
		return 1, nil
	}
	if err := applayer.Need(b, 4); err != nil {
		return 0, fmt.Errorf("no error bit set, so TimeToStart follows: %w", err)
	}
	tts := applayer.Uint24(b[1:4])
	a.TimeToStart = &tts
	return 4, nil
}

// Accepted reports whether the device accepted the session: no error bit is set.
func (a *SessionAns) Accepted() bool {
	return !a.DRError && !a.FreqError && !a.McGroupUndefined && !a.StartMissed && a.UnknownErrors == 0
}

// Reasons returns one readable sentence per error bit set, empty when accepted.
func (a *SessionAns) Reasons() []string {
	var r []string
	if a.McGroupUndefined {
		s := fmt.Sprintf("McGroupUndefined: group %d is not set up on the device (send McGroupSetupReq first)", a.McGroupID)
		if a.Version == 1 {
			s += "; LoRaMac-node v1 also answers this when SessionTime has already passed by its clock"
		}
		if a.DRError && a.FreqError {
			s += "; LoRaMac-node sets DRError and FreqError with it for an undefined group"
		}
		r = append(r, s)
	}
	if a.DRError {
		r = append(r, "DRError: the data rate is not supported by the device")
	}
	if a.FreqError {
		r = append(r, "FreqError: the downlink frequency is not usable by the device")
	}
	if a.StartMissed {
		r = append(r, "StartMissed: SessionTime has already passed by the device's clock (clock out of sync, or the request arrived too late)")
	}
	if a.UnknownErrors != 0 {
		if a.Version == 1 {
			r = append(r, fmt.Sprintf("RFU status bits 0x%02x set (bit 5 is StartMissed in version 2): treated as an error", a.UnknownErrors))
		} else {
			r = append(r, fmt.Sprintf("status bits 0x%02x set, reserved for future errors: treated as an error", a.UnknownErrors))
		}
	}
	return r
}

func (a *SessionAns) err(command string) error {
	if a.Accepted() {
		return nil
	}
	return fmt.Errorf("%s: group %d session %w: %s", command, a.McGroupID, ErrRefused, strings.Join(a.Reasons(), "; "))
}

// McClassCSessionAns answers McClassCSessionReq.
type McClassCSessionAns struct{ SessionAns }

func (*McClassCSessionAns) CID() byte    { return CIDMcClassCSession }
func (*McClassCSessionAns) Name() string { return "McClassCSessionAns" }

func (c *McClassCSessionAns) MarshalBinary() ([]byte, error) { return c.marshal(c.CID(), c.Name()) }

func (c *McClassCSessionAns) DecodePayload(b []byte) (int, error) { return c.decode(b, c.Name()) }

func (c *McClassCSessionAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// Err returns nil when the session was accepted, or an error wrapping
// ErrRefused that gives every reason.
func (c *McClassCSessionAns) Err() error { return c.err(c.Name()) }

// McClassBSessionAns answers McClassBSessionReq.
type McClassBSessionAns struct{ SessionAns }

func (*McClassBSessionAns) CID() byte    { return CIDMcClassBSession }
func (*McClassBSessionAns) Name() string { return "McClassBSessionAns" }

func (c *McClassBSessionAns) MarshalBinary() ([]byte, error) { return c.marshal(c.CID(), c.Name()) }

func (c *McClassBSessionAns) DecodePayload(b []byte) (int, error) { return c.decode(b, c.Name()) }

func (c *McClassBSessionAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// Err returns nil when the session was accepted, or an error wrapping
// ErrRefused that gives every reason.
func (c *McClassBSessionAns) Err() error { return c.err(c.Name()) }

// ValidateDLFrequency reports whether hz can be sent as DLFrequ (a 24-bit count
// of 100 Hz steps), so a planner can refuse a frequency before any setup.
func ValidateDLFrequency(hz uint32) error {
	return checkDLFrequency("McClassCSessionReq", hz)
}
