package clocksync

import (
	"encoding/binary"

	"github.com/lorafuota/lorafuota/applayer"
)

// Field limits. The fields are bit fields of one byte; a larger value would spill
// into RFU bits or a neighbouring field, so encoders refuse it.
const (
	maxToken           = 0x0f // TokenReq, TokenAns: bits 3:0
	maxPeriod          = 0x0f // Period: bits 3:0
	maxNbTransmissions = 0x07 // NbTransmissions: bits 2:0
)

const ansRequiredBit = 1 << 4

// AppTimeReq (uplink) carries the device's clock and asks for a correction.
type AppTimeReq struct {
	// DeviceTime is the device's GPS time in seconds, mod 2^32, when it sent the
	// request.
	DeviceTime uint32 `json:"device_time"`
	// TokenReq (0..15) is echoed in AppTimeAns so that the device applies only the
	// answer to its latest request.
	TokenReq uint8 `json:"token_req"`
	// AnsRequired asks the server to answer even if no correction is needed.
	AnsRequired bool `json:"ans_required"`
}

func (*AppTimeReq) CID() byte    { return CIDAppTime }
func (*AppTimeReq) Name() string { return "AppTimeReq" }

func (c *AppTimeReq) MarshalBinary() ([]byte, error) {
	if err := applayer.CheckMax(c.Name(), "token_req", uint64(c.TokenReq), maxToken); err != nil {
		return nil, err
	}
	param := c.TokenReq
	if c.AnsRequired {
		param |= ansRequiredBit
	}
	b := binary.LittleEndian.AppendUint32([]byte{CIDAppTime}, c.DeviceTime)
	return append(b, param), nil
}

func (c *AppTimeReq) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 5); err != nil {
		return 0, err
	}
	c.DeviceTime = binary.LittleEndian.Uint32(b)
	c.TokenReq = b[4] & maxToken
	c.AnsRequired = b[4]&ansRequiredBit != 0
	return 5, nil
}

func (c *AppTimeReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// AppTimeAns (downlink) tells the device how many seconds to add to its clock.
type AppTimeAns struct {
	// TimeCorrection is the server's GPS time at reception of the AppTimeReq minus
	// its DeviceTime, in seconds (see Correction).
	TimeCorrection int32 `json:"time_correction"`
	// TokenAns (0..15) echoes the TokenReq of the request answered.
	TokenAns uint8 `json:"token_ans"`
}

func (*AppTimeAns) CID() byte    { return CIDAppTime }
func (*AppTimeAns) Name() string { return "AppTimeAns" }

func (c *AppTimeAns) MarshalBinary() ([]byte, error) {
	if err := applayer.CheckMax(c.Name(), "token_ans", uint64(c.TokenAns), maxToken); err != nil {
		return nil, err
	}
	b := binary.LittleEndian.AppendUint32([]byte{CIDAppTime}, uint32(c.TimeCorrection))
	return append(b, c.TokenAns), nil
}

func (c *AppTimeAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 5); err != nil {
		return 0, err
	}
	c.TimeCorrection = int32(binary.LittleEndian.Uint32(b))
	c.TokenAns = b[4] & maxToken
	return 5, nil
}

func (c *AppTimeAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// DeviceAppTimePeriodicityReq (downlink) sets how often the device sends
// AppTimeReq on its own: every 128·2^Period seconds (see ResyncPeriod).
type DeviceAppTimePeriodicityReq struct {
	// Period is 0..15.
	Period uint8 `json:"period"`
}

func (*DeviceAppTimePeriodicityReq) CID() byte    { return CIDDeviceAppTimePeriodicity }
func (*DeviceAppTimePeriodicityReq) Name() string { return "DeviceAppTimePeriodicityReq" }

func (c *DeviceAppTimePeriodicityReq) MarshalBinary() ([]byte, error) {
	if err := applayer.CheckMax(c.Name(), "period", uint64(c.Period), maxPeriod); err != nil {
		return nil, err
	}
	return []byte{CIDDeviceAppTimePeriodicity, c.Period}, nil
}

func (c *DeviceAppTimePeriodicityReq) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.Period = b[0] & maxPeriod
	return 1, nil
}

func (c *DeviceAppTimePeriodicityReq) UnmarshalBinary(b []byte) error {
	return applayer.Unmarshal(c, b)
}

// DeviceAppTimePeriodicityAns (uplink) acknowledges DeviceAppTimePeriodicityReq
// and carries the device's time, so that the server can answer it like an
// AppTimeReq.
type DeviceAppTimePeriodicityAns struct {
	// NotSupported is set when the device cannot honour the requested period.
	NotSupported bool `json:"not_supported"`
	// DeviceTime is the device's GPS time in seconds, mod 2^32.
	DeviceTime uint32 `json:"device_time"`
}

func (*DeviceAppTimePeriodicityAns) CID() byte    { return CIDDeviceAppTimePeriodicity }
func (*DeviceAppTimePeriodicityAns) Name() string { return "DeviceAppTimePeriodicityAns" }

func (c *DeviceAppTimePeriodicityAns) MarshalBinary() ([]byte, error) {
	var status byte
	if c.NotSupported {
		status = 1
	}
	return binary.LittleEndian.AppendUint32([]byte{CIDDeviceAppTimePeriodicity, status}, c.DeviceTime), nil
}

func (c *DeviceAppTimePeriodicityAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 5); err != nil {
		return 0, err
	}
	c.NotSupported = b[0]&1 != 0
	c.DeviceTime = binary.LittleEndian.Uint32(b[1:])
	return 5, nil
}

func (c *DeviceAppTimePeriodicityAns) UnmarshalBinary(b []byte) error {
	return applayer.Unmarshal(c, b)
}

// ForceDeviceResync (downlink) makes the device send up to NbTransmissions
// AppTimeReq uplinks now. The device does not answer it. TS003 v1 calls it
// ForceDeviceResyncReq and v2 ForceDeviceResyncCmd; the layout is the same, and
// Version only selects the name Name returns (v1 when Version is 0 or 1).
type ForceDeviceResync struct {
	Version uint8 `json:"-"`
	// NbTransmissions is 0..7.
	NbTransmissions uint8 `json:"nb_transmissions"`
}

func (*ForceDeviceResync) CID() byte { return CIDForceDeviceResync }

func (c *ForceDeviceResync) Name() string {
	if c.Version >= 2 {
		return "ForceDeviceResyncCmd"
	}
	return "ForceDeviceResyncReq"
}

func (c *ForceDeviceResync) MarshalBinary() ([]byte, error) {
	if err := applayer.CheckMax(c.Name(), "nb_transmissions", uint64(c.NbTransmissions), maxNbTransmissions); err != nil {
		return nil, err
	}
	return []byte{CIDForceDeviceResync, c.NbTransmissions}, nil
}

func (c *ForceDeviceResync) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	// Bits 7:3 are RFU. brocaar/lorawan masks with 0x17 and so reads bit 4 into
	// the count.
	c.NbTransmissions = b[0] & maxNbTransmissions
	return 1, nil
}

func (c *ForceDeviceResync) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }
