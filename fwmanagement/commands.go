package fwmanagement

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lorafuota/lorafuota/applayer"
)

// Special values of the reboot fields.
const (
	// RebootASAP as DevRebootTimeReq.RebootTime or DevRebootCountdownReq.Countdown
	// asks for a reboot as soon as possible. The device does not answer it.
	RebootASAP = 0
	// RebootFailed as DevRebootTimeAns.RebootTime or DevRebootCountdownAns.Countdown
	// reports that the device cannot reboot at the requested time (a time in the
	// past, or a device that knows no time).
	RebootFailed = 0
	// RebootTimeCancel as DevRebootTimeReq.RebootTime cancels the programmed
	// reboot; as DevRebootTimeAns.RebootTime it acknowledges the cancellation.
	RebootTimeCancel = 0xffff_ffff
	// CountdownCancel is RebootTimeCancel for the 24-bit countdown commands.
	CountdownCancel = 0xff_ffff
	// MaxCountdown is the longest countdown, 0xfffffe s (about 194 days).
	MaxCountdown = CountdownCancel - 1
)

// DevVersionReq (downlink) asks for the running firmware and hardware versions.
type DevVersionReq struct{}

func (*DevVersionReq) CID() byte                           { return CIDDevVersion }
func (*DevVersionReq) Name() string                        { return "DevVersionReq" }
func (*DevVersionReq) MarshalBinary() ([]byte, error)      { return []byte{CIDDevVersion}, nil }
func (*DevVersionReq) DecodePayload(b []byte) (int, error) { return 0, nil }
func (c *DevVersionReq) UnmarshalBinary(b []byte) error    { return applayer.Unmarshal(c, b) }

// DevVersionAns (uplink) reports the running firmware and the hardware. Both
// values are manufacturer-defined; TS006 suggests a CRC32 of the firmware.
type DevVersionAns struct {
	FWVersion uint32 `json:"fw_version"`
	HWVersion uint32 `json:"hw_version"`
}

func (*DevVersionAns) CID() byte    { return CIDDevVersion }
func (*DevVersionAns) Name() string { return "DevVersionAns" }

func (c *DevVersionAns) MarshalBinary() ([]byte, error) {
	b := binary.LittleEndian.AppendUint32([]byte{CIDDevVersion}, c.FWVersion)
	return binary.LittleEndian.AppendUint32(b, c.HWVersion), nil
}

func (c *DevVersionAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 8); err != nil {
		return 0, err
	}
	c.FWVersion = binary.LittleEndian.Uint32(b)
	c.HWVersion = binary.LittleEndian.Uint32(b[4:])
	return 8, nil
}

func (c *DevVersionAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// DevRebootTimeReq (downlink) programs a reboot, which installs a valid upgrade
// image, at a GPS time. It replaces any reboot programmed before.
type DevRebootTimeReq struct {
	// RebootTime is the GPS second of the reboot, mod 2^32; RebootASAP or
	// RebootTimeCancel.
	RebootTime uint32 `json:"reboot_time"`
}

func (*DevRebootTimeReq) CID() byte    { return CIDDevRebootTime }
func (*DevRebootTimeReq) Name() string { return "DevRebootTimeReq" }

// IsASAP reports whether the request asks for an immediate reboot, which the
// device does not answer.
func (c *DevRebootTimeReq) IsASAP() bool { return c.RebootTime == RebootASAP }

// IsCancel reports whether the request cancels the programmed reboot.
func (c *DevRebootTimeReq) IsCancel() bool { return c.RebootTime == RebootTimeCancel }

func (c *DevRebootTimeReq) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint32([]byte{CIDDevRebootTime}, c.RebootTime), nil
}

func (c *DevRebootTimeReq) DecodePayload(b []byte) (int, error) {
	return decodeUint32(b, &c.RebootTime)
}

func (c *DevRebootTimeReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// DevRebootTimeAns (uplink) answers DevRebootTimeReq.
type DevRebootTimeAns struct {
	// RebootTime is, despite its name in TS006, the number of seconds from this
	// answer until the reboot; RebootFailed or RebootTimeCancel.
	RebootTime uint32 `json:"reboot_time"`
}

func (*DevRebootTimeAns) CID() byte    { return CIDDevRebootTime }
func (*DevRebootTimeAns) Name() string { return "DevRebootTimeAns" }

// Failed reports whether the device refused the reboot time.
func (c *DevRebootTimeAns) Failed() bool { return c.RebootTime == RebootFailed }

// CancelAcked reports whether the device acknowledges a cancellation.
func (c *DevRebootTimeAns) CancelAcked() bool { return c.RebootTime == RebootTimeCancel }

func (c *DevRebootTimeAns) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint32([]byte{CIDDevRebootTime}, c.RebootTime), nil
}

func (c *DevRebootTimeAns) DecodePayload(b []byte) (int, error) {
	return decodeUint32(b, &c.RebootTime)
}

func (c *DevRebootTimeAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// DevRebootCountdownReq (downlink) programs a reboot after a delay. It replaces any
// reboot programmed before.
type DevRebootCountdownReq struct {
	// Countdown is the delay in seconds, 24 bits: 1..MaxCountdown, RebootASAP or
	// CountdownCancel.
	Countdown uint32 `json:"countdown"`
}

func (*DevRebootCountdownReq) CID() byte    { return CIDDevRebootCountdown }
func (*DevRebootCountdownReq) Name() string { return "DevRebootCountdownReq" }

// IsASAP reports whether the request asks for an immediate reboot, which the
// device does not answer.
func (c *DevRebootCountdownReq) IsASAP() bool { return c.Countdown == RebootASAP }

// IsCancel reports whether the request cancels the programmed reboot.
func (c *DevRebootCountdownReq) IsCancel() bool { return c.Countdown == CountdownCancel }

func (c *DevRebootCountdownReq) MarshalBinary() ([]byte, error) {
	return marshalUint24(c, "countdown", c.Countdown)
}

func (c *DevRebootCountdownReq) DecodePayload(b []byte) (int, error) {
	return decodeUint24(b, &c.Countdown)
}

func (c *DevRebootCountdownReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// DevRebootCountdownAns (uplink) answers DevRebootCountdownReq.
type DevRebootCountdownAns struct {
	// Countdown is the number of seconds from this answer until the reboot, 24
	// bits; RebootFailed or CountdownCancel.
	Countdown uint32 `json:"countdown"`
}

func (*DevRebootCountdownAns) CID() byte    { return CIDDevRebootCountdown }
func (*DevRebootCountdownAns) Name() string { return "DevRebootCountdownAns" }

// Failed reports whether the device cannot count down (it cannot measure time).
func (c *DevRebootCountdownAns) Failed() bool { return c.Countdown == RebootFailed }

// CancelAcked reports whether the device acknowledges a cancellation.
func (c *DevRebootCountdownAns) CancelAcked() bool { return c.Countdown == CountdownCancel }

func (c *DevRebootCountdownAns) MarshalBinary() ([]byte, error) {
	return marshalUint24(c, "countdown", c.Countdown)
}

func (c *DevRebootCountdownAns) DecodePayload(b []byte) (int, error) {
	return decodeUint24(b, &c.Countdown)
}

func (c *DevRebootCountdownAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// DevUpgradeImageReq (downlink) asks whether an upgrade image is stored and valid.
type DevUpgradeImageReq struct{}

func (*DevUpgradeImageReq) CID() byte                           { return CIDDevUpgradeImage }
func (*DevUpgradeImageReq) Name() string                        { return "DevUpgradeImageReq" }
func (*DevUpgradeImageReq) MarshalBinary() ([]byte, error)      { return []byte{CIDDevUpgradeImage}, nil }
func (*DevUpgradeImageReq) DecodePayload(b []byte) (int, error) { return 0, nil }
func (c *DevUpgradeImageReq) UnmarshalBinary(b []byte) error    { return applayer.Unmarshal(c, b) }

// UpImageStatus is the state of the stored upgrade image in DevUpgradeImageAns.
type UpImageStatus uint8

// The four states of TS006. Only UpImageValid will be installed at the next reboot.
const (
	UpImageAbsent       UpImageStatus = 0 // no upgrade image stored
	UpImageCorrupt      UpImageStatus = 1 // corrupted, or its signature does not verify
	UpImageIncompatible UpImageStatus = 2 // authentic, but for another hardware platform
	UpImageValid        UpImageStatus = 3 // valid; NextFirmwareVersion says which
)

func (s UpImageStatus) String() string {
	switch s {
	case UpImageAbsent:
		return "no upgrade image"
	case UpImageCorrupt:
		return "upgrade image corrupted or signature invalid"
	case UpImageIncompatible:
		return "upgrade image for another hardware platform"
	case UpImageValid:
		return "valid upgrade image"
	}
	return fmt.Sprintf("UpImageStatus(%d)", uint8(s))
}

// DevUpgradeImageAns (uplink) reports the stored upgrade image. On the wire it is
// 1 byte, or 5 when the status is UpImageValid and the version follows.
//
// Its status alone also serves as completion evidence for a transfer whose TS004
// status answers cannot be trusted (PROTOCOLS.md §5.5).
type DevUpgradeImageAns struct {
	// UpImageStatus is 0..3.
	UpImageStatus UpImageStatus `json:"up_image_status"`
	// NextFirmwareVersion is the version the image installs. It exists only with
	// UpImageValid: it is 0 after decoding any other status, and the encoder
	// refuses a non-zero value with another status rather than drop it silently.
	NextFirmwareVersion uint32 `json:"next_firmware_version"`
}

func (*DevUpgradeImageAns) CID() byte    { return CIDDevUpgradeImage }
func (*DevUpgradeImageAns) Name() string { return "DevUpgradeImageAns" }

func (c *DevUpgradeImageAns) MarshalBinary() ([]byte, error) {
	if err := applayer.CheckMax(c.Name(), "up_image_status", uint64(c.UpImageStatus), uint64(UpImageValid)); err != nil {
		return nil, err
	}
	b := []byte{CIDDevUpgradeImage, byte(c.UpImageStatus)}
	if c.UpImageStatus != UpImageValid {
		if c.NextFirmwareVersion != 0 {
			return nil, &applayer.FieldError{Command: c.Name(), Field: "next_firmware_version",
				Reason: fmt.Sprintf("sent only with up_image_status %d, not %d", UpImageValid, c.UpImageStatus)}
		}
		return b, nil
	}
	return binary.LittleEndian.AppendUint32(b, c.NextFirmwareVersion), nil
}

func (c *DevUpgradeImageAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.UpImageStatus = UpImageStatus(b[0] & 0x03) // bits 7:2 RFU
	c.NextFirmwareVersion = 0
	if c.UpImageStatus != UpImageValid {
		return 1, nil
	}
	if err := applayer.Need(b, 5); err != nil {
		return 0, fmt.Errorf("status %d carries next_firmware_version: %w", UpImageValid, err)
	}
	c.NextFirmwareVersion = binary.LittleEndian.Uint32(b[1:])
	return 5, nil
}

func (c *DevUpgradeImageAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// DevDeleteImageReq (downlink) asks the device to delete its stored upgrade image,
// named by version so that the server cannot delete an image it does not know.
type DevDeleteImageReq struct {
	FirmwareToDeleteVersion uint32 `json:"firmware_to_delete_version"`
}

func (*DevDeleteImageReq) CID() byte    { return CIDDevDeleteImage }
func (*DevDeleteImageReq) Name() string { return "DevDeleteImageReq" }

func (c *DevDeleteImageReq) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint32([]byte{CIDDevDeleteImage}, c.FirmwareToDeleteVersion), nil
}

func (c *DevDeleteImageReq) DecodePayload(b []byte) (int, error) {
	return decodeUint32(b, &c.FirmwareToDeleteVersion)
}

func (c *DevDeleteImageReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// Errors DevDeleteImageAns.Err reports.
var (
	ErrNoValidImage   = errors.New("no valid upgrade image stored")
	ErrInvalidVersion = errors.New("version does not match the stored upgrade image")
)

// DevDeleteImageAns (uplink) answers DevDeleteImageReq. With neither bit set the
// image was deleted; with either, the device left its state unchanged.
type DevDeleteImageAns struct {
	ErrorNoValidImage   bool `json:"error_no_valid_image"`  // bit 0
	ErrorInvalidVersion bool `json:"error_invalid_version"` // bit 1
}

const (
	bitNoValidImage   = 1 << 0
	bitInvalidVersion = 1 << 1
)

func (*DevDeleteImageAns) CID() byte    { return CIDDevDeleteImage }
func (*DevDeleteImageAns) Name() string { return "DevDeleteImageAns" }

// Err returns nil if the image was deleted, else ErrNoValidImage,
// ErrInvalidVersion or both joined, for errors.Is and for people to read.
func (c *DevDeleteImageAns) Err() error {
	switch {
	case c.ErrorNoValidImage && c.ErrorInvalidVersion:
		return fmt.Errorf("image not deleted: %w, and %w", ErrNoValidImage, ErrInvalidVersion)
	case c.ErrorNoValidImage:
		return fmt.Errorf("image not deleted: %w", ErrNoValidImage)
	case c.ErrorInvalidVersion:
		return fmt.Errorf("image not deleted: %w", ErrInvalidVersion)
	}
	return nil
}

func (c *DevDeleteImageAns) MarshalBinary() ([]byte, error) {
	var status byte
	if c.ErrorNoValidImage {
		status |= bitNoValidImage
	}
	if c.ErrorInvalidVersion {
		status |= bitInvalidVersion
	}
	return []byte{CIDDevDeleteImage, status}, nil
}

func (c *DevDeleteImageAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.ErrorNoValidImage = b[0]&bitNoValidImage != 0
	c.ErrorInvalidVersion = b[0]&bitInvalidVersion != 0
	return 1, nil
}

func (c *DevDeleteImageAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

func decodeUint32(b []byte, v *uint32) (int, error) {
	if err := applayer.Need(b, 4); err != nil {
		return 0, err
	}
	*v = binary.LittleEndian.Uint32(b)
	return 4, nil
}

func marshalUint24(c applayer.Command, field string, v uint32) ([]byte, error) {
	if err := applayer.CheckMax(c.Name(), field, uint64(v), CountdownCancel); err != nil {
		return nil, err
	}
	b := []byte{c.CID(), 0, 0, 0}
	applayer.PutUint24(b[1:], v)
	return b, nil
}

func decodeUint24(b []byte, v *uint32) (int, error) {
	if err := applayer.Need(b, 3); err != nil {
		return 0, err
	}
	*v = applayer.Uint24(b)
	return 3, nil
}
