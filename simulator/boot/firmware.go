package boot

import (
	"bytes"
	"cmp"
	"crypto"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/lorafuota/lorafuota/image"
)

// Behaviour is what a simulated firmware build does when it runs.
type Behaviour uint8

const (
	// Good joins, sends an uplink and confirms itself as its ConfirmPolicy
	// says.
	Good Behaviour = iota
	// Hang locks up after start; the hardware watchdog resets the device,
	// which counts as a failed boot.
	Hang
	// FailJoin never gets a join accept; after JoinAttempts requests it
	// gives up and resets. It never confirms.
	FailJoin
	// NoConfirm works but never confirms a test image, like the Zephyr
	// LoRaWAN FUOTA sample (DEVICE.md §7.3): the next reset reverts it.
	NoConfirm
)

func (b Behaviour) String() string {
	switch b {
	case Good:
		return "good"
	case Hang:
		return "hang"
	case FailJoin:
		return "fail-join"
	case NoConfirm:
		return "no-confirm"
	}
	return fmt.Sprintf("Behaviour(%d)", uint8(b))
}

// ParseBehaviour parses the names String gives.
func ParseBehaviour(s string) (Behaviour, error) {
	for b := Good; b <= NoConfirm; b++ {
		if s == b.String() {
			return b, nil
		}
	}
	return 0, fmt.Errorf("boot: unknown behaviour %q (want good, hang, fail-join or no-confirm)", s)
}

// The simulated firmware marker opens the payload (the bytes after the image
// header): "LFSIM", a format version, the behaviour, a reserved zero byte,
// then the firmware version as the image header stores it (major, minor,
// revision u16 LE, build u32 LE). The rest of the payload is filler. A
// payload without the marker is a real binary and behaves Good.
const (
	markerMagic   = "LFSIM"
	markerVersion = 1
	markerLen     = 16
)

// Firmware is what the marker of a payload says about the build.
type Firmware struct {
	Marked    bool // the payload carries the LFSIM marker
	Behaviour Behaviour
	Version   image.Version
}

// FirmwarePayload returns a size-byte simulated firmware binary: the marker
// with behaviour and version, then filler from rng, so builds of different
// versions or seeds differ all through. size must be at least 16.
func FirmwarePayload(version image.Version, behaviour Behaviour, size int, rng *rand.Rand) ([]byte, error) {
	if size < markerLen {
		return nil, fmt.Errorf("boot: firmware payload of %d bytes, need at least %d", size, markerLen)
	}
	p := make([]byte, size)
	copy(p, markerMagic)
	p[5] = markerVersion
	p[6] = byte(behaviour)
	p[7] = 0
	p[8], p[9] = version.Major, version.Minor
	p[10], p[11] = byte(version.Revision), byte(version.Revision>>8)
	for i := range 4 {
		p[12+i] = byte(version.Build >> (8 * i))
	}
	for i := markerLen; i < size; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < size; j++ {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	return p, nil
}

// ParseFirmware reads the marker at the start of a payload.
func ParseFirmware(payload []byte) Firmware {
	if len(payload) < markerLen || !bytes.Equal(payload[:5], []byte(markerMagic)) || payload[5] != markerVersion {
		return Firmware{Behaviour: Good}
	}
	return Firmware{
		Marked:    true,
		Behaviour: Behaviour(payload[6]),
		Version: image.Version{
			Major:    payload[8],
			Minor:    payload[9],
			Revision: uint16(payload[10]) | uint16(payload[11])<<8,
			Build:    uint32(payload[12]) | uint32(payload[13])<<8 | uint32(payload[14])<<16 | uint32(payload[15])<<24,
		},
	}
}

// FirmwareSpec describes a simulated firmware image for FirmwareImage.
type FirmwareSpec struct {
	Version         image.Version
	Behaviour       Behaviour
	SecurityCounter uint32
	Key             crypto.Signer
	// Size is the length of the signed image: header, payload and TLVs.
	Size              int
	VendorID, ClassID *image.UUID
	Seed              uint64 // filler of the payload
}

// FirmwareImage builds and signs a simulated firmware image of exactly
// spec.Size bytes, with a security counter TLV.
func FirmwareImage(spec FirmwareSpec) ([]byte, error) {
	if spec.Key == nil {
		return nil, errors.New("boot: firmware image: no signing key")
	}
	opts := image.SignOptions{
		Version:         spec.Version,
		Key:             spec.Key,
		SecurityCounter: &spec.SecurityCounter,
		VendorID:        spec.VendorID,
		ClassID:         spec.ClassID,
	}
	sign := func(n int) ([]byte, error) {
		p, err := FirmwarePayload(spec.Version, spec.Behaviour, n, rand.New(rand.NewPCG(spec.Seed, uint64(spec.Behaviour)<<32|uint64(spec.Version.Major)<<16|uint64(spec.Version.Minor))))
		if err != nil {
			return nil, err
		}
		return image.Sign(p, opts)
	}
	probe, err := sign(markerLen)
	if err != nil {
		return nil, fmt.Errorf("boot: firmware image: %w", err)
	}
	n := spec.Size - (len(probe) - markerLen)
	// ECDSA signatures vary by a byte or two from one signing to the next
	// (a DER integer gains a zero byte when its top bit is set): sign until
	// one lands on the size, each try a 3-in-8 chance.
	for range 64 {
		if n < markerLen {
			return nil, fmt.Errorf("boot: firmware image of %d bytes is smaller than its %d bytes of header and TLVs", spec.Size, len(probe)-markerLen)
		}
		img, err := sign(n)
		if err != nil {
			return nil, fmt.Errorf("boot: firmware image: %w", err)
		}
		if len(img) == spec.Size {
			return img, nil
		}
		n += spec.Size - len(img)
	}
	return nil, fmt.Errorf("boot: firmware image: cannot hit %d bytes exactly", spec.Size)
}

// ConfirmPolicy is when a good firmware confirms a test image.
type ConfirmPolicy uint8

const (
	// ConfirmAfterUplink confirms once an uplink went through: the device
	// has proven it can still be managed over the air (the default).
	ConfirmAfterUplink ConfirmPolicy = iota
	// ConfirmAfterJoin confirms once the join is accepted.
	ConfirmAfterJoin
	// ConfirmAtStart confirms before doing anything, like MCUboot samples
	// that confirm in main: a build that then hangs is kept.
	ConfirmAtStart
	// ConfirmNever never confirms.
	ConfirmNever
)

// App is how the simulated application runs.
type App struct {
	Confirm ConfirmPolicy
	// JoinAttempts is how many join requests a FailJoin build sends before
	// it gives up and resets; 0 means 3.
	JoinAttempts int
}

// ResetCause says why an application run ended in a reset.
type ResetCause uint8

const (
	NoReset       ResetCause = iota // the application runs on
	WatchdogReset                   // it hung and the watchdog fired
	AppReset                        // it gave up and reset itself
)

func (c ResetCause) String() string {
	switch c {
	case NoReset:
		return "none"
	case WatchdogReset:
		return "watchdog"
	case AppReset:
		return "app"
	}
	return fmt.Sprintf("ResetCause(%d)", uint8(c))
}

// AppResult is what one run of the application did.
type AppResult struct {
	Joined    bool
	DevNonce  uint16 // of the last join request
	Uplinks   int
	Confirmed bool // it confirmed a test image
	Reset     ResetCause
}

// RunApp runs the application of the booted image once, as its marker's
// behaviour says, against a network that always answers: a join (a fresh
// DevNonce, persisted before the request), an uplink (the frame counter
// persisted first) and, for a test image, confirmation as a.Confirm says.
// A hang or a give-up ends in a reset the caller must act on by booting
// again. An error is a flash error, typically a power cut.
func (b *Bootloader) RunApp(a App) (AppResult, error) {
	run, ok := b.Running()
	if !ok {
		return AppResult{}, ErrNotBooted
	}
	var res AppResult
	confirm := func(when ConfirmPolicy) error {
		if a.Confirm != when || !run.Test || res.Confirmed {
			return nil
		}
		if err := b.Confirm(); err != nil {
			return err
		}
		res.Confirmed = true
		return nil
	}
	if run.Firmware.Behaviour == NoConfirm {
		a.Confirm = ConfirmNever
	}
	// A build that confirms at start is kept even if it then hangs or
	// cannot join: the reason to confirm late.
	if err := confirm(ConfirmAtStart); err != nil {
		return res, err
	}
	switch run.Firmware.Behaviour {
	case Hang:
		res.Reset = WatchdogReset
		return res, nil
	case FailJoin:
		for range cmp.Or(a.JoinAttempts, 3) {
			n, err := b.store.NextDevNonce()
			if err != nil {
				return res, fmt.Errorf("boot: app: join: %w", err)
			}
			res.DevNonce = n
		}
		res.Reset = AppReset
		return res, nil
	}
	n, err := b.store.NextDevNonce()
	if err != nil {
		return res, fmt.Errorf("boot: app: join: %w", err)
	}
	res.Joined, res.DevNonce = true, n
	if err := confirm(ConfirmAfterJoin); err != nil {
		return res, err
	}
	if err := b.store.SetFCntUp(b.store.FCntUp() + 1); err != nil {
		return res, fmt.Errorf("boot: app: uplink: %w", err)
	}
	res.Uplinks++
	if err := confirm(ConfirmAfterUplink); err != nil {
		return res, err
	}
	return res, nil
}
