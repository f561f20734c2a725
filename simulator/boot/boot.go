package boot

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/flash"
	"github.com/lorafuota/lorafuota/simulator/nvm"
)

// Errors of the device-facing API. Flash errors, power cuts in particular
// (flash.ErrPowerCut), are wrapped and passed on.
var (
	// ErrNoBootableImage: nothing verifies; the device is bricked.
	ErrNoBootableImage = errors.New("boot: no bootable image")
	// ErrNotBooted: the call needs a running image; call Boot first.
	ErrNotBooted = errors.New("boot: not booted")
	// ErrInTest: the running image is on test. Until it confirms, the
	// staging slot holds what a revert goes back to (ExternalSwap) or is the
	// bank a revert boots (DualBank), so it may not be touched.
	ErrInTest = errors.New("boot: running image not confirmed")
	// ErrBadTrailer: the staging slot's trailer holds a torn or foreign
	// request (MCUboot's BOOT_EBADIMAGE); erase the slot and stage again.
	ErrBadTrailer = errors.New("boot: staging trailer is corrupt")
)

// NVM keys of the bootloader's own records (nvm.FirstFreeKey and up).
const (
	keySwapStatus nvm.Key = 0x0100 // progress of an ExternalSwap swap
	keyTestBoots  nvm.Key = 0x0101 // boots of the image on test, MaxTestBoots > 1
)

// Config describes a device to the bootloader.
type Config struct {
	Layout Layout
	Partitions
	// TrustedKeys verify images: the KEYHASH TLV of an image picks the key.
	TrustedKeys []crypto.PublicKey
	// VendorID and ClassID, if set, must match the image's protected
	// UUID_VID and UUID_CID TLVs.
	VendorID, ClassID *image.UUID
	// MaxTestBoots is how many boots an unconfirmed test image gets before
	// the next reset reverts it: 0 or 1 is MCUboot's one (DEVICE.md §7.3);
	// more is U-Boot's boot counter, kept in the NVM area.
	MaxTestBoots int
}

// Result is what a boot decided: the image that runs and how it got there.
type Result struct {
	// Slot is the slot the image runs from: always 0 (primary) for
	// ExternalSwap, the bank (0 = A, 1 = B) for DualBank.
	Slot int
	// Area is the running slot's image area.
	Area            *flash.Region
	Version         image.Version
	Digest          [sha256.Size]byte // the SHA-256 TLV value
	Size            int               // image length: header, payload, TLVs
	SecurityCounter uint32
	// Test is set when the image runs unconfirmed: unless the application
	// calls Confirm, the next reset of any cause reverts it.
	Test bool
	// Swap is what this boot did: SwapTest or SwapPerm when it installed a
	// pending image, SwapRevert when it went back from an unconfirmed one,
	// SwapNone otherwise.
	Swap SwapType
	// Resumed is set when the boot finished a swap an earlier boot began.
	Resumed bool
	// Rejected says why a pending image (or the image a revert needed) was
	// refused, nil if none was.
	Rejected error
	// Firmware is what the simulated firmware marker says about the build.
	Firmware Firmware
}

// Bootloader is the boot code of one device and the bit of RAM state an
// application needs from it. Boot simulates a reset: it forgets everything
// and starts from what the flash holds.
type Bootloader struct {
	cfg       Config
	slots     [2]*slot
	scratch   *flash.Region
	unit      int // ExternalSwap: bytes swapped per step
	keyHashes [][sha256.Size]byte

	store  *nvm.Store
	run    *Result
	runSeq uint32 // DualBank: sequence number of the running bank

	buf     []byte // for reading image areas
	unitBuf []byte // for moving a swap unit
	// chunks are the program commands the bootloader issues per flash: a
	// NOR page, or one erase sector of internal flash, as drivers program
	// page by page.
	chunks map[*flash.Flash]int
	// onStatus, if set, is called after each swap status that leaves a
	// swap in progress is recorded. A boot from the flash as it is then
	// does exactly what this one goes on to do, so the sweep snapshots the
	// flash there and starts cut runs from the snapshot.
	onStatus func(*Bootloader)
}

// New checks cfg and returns the device's bootloader, not yet booted.
func New(cfg Config) (*Bootloader, error) {
	b := &Bootloader{cfg: cfg}
	if len(cfg.TrustedKeys) == 0 {
		return nil, errors.New("boot: no trusted keys")
	}
	for i, k := range cfg.TrustedKeys {
		h, err := image.KeyHash(k)
		if err != nil {
			return nil, fmt.Errorf("boot: trusted key %d: %w", i, err)
		}
		b.keyHashes = append(b.keyHashes, h)
	}
	if cfg.NVM == nil {
		return nil, errors.New("boot: no NVM region")
	}
	if cfg.MaxTestBoots < 0 {
		return nil, fmt.Errorf("boot: MaxTestBoots %d", cfg.MaxTestBoots)
	}
	for i, r := range cfg.Slots {
		if r == nil {
			return nil, fmt.Errorf("boot: slot %d missing", i)
		}
		s, err := newSlot(r)
		if err != nil {
			return nil, fmt.Errorf("boot: %w", err)
		}
		b.slots[i] = s
	}
	// One Geometry per flash: it copies the sector list.
	b.chunks = make(map[*flash.Flash]int)
	sectors := make(map[*flash.Flash]int)
	for _, r := range []*flash.Region{cfg.Slots[0], cfg.Slots[1], cfg.Scratch} {
		if r == nil {
			continue
		}
		if _, ok := b.chunks[r.Flash()]; ok {
			continue
		}
		g := r.Flash().Geometry()
		sec := g.Sectors[0].Size
		for _, s := range g.Sectors {
			if s.Size != sec {
				sec = 0 // not uniform
				break
			}
		}
		sectors[r.Flash()] = sec
		b.chunks[r.Flash()] = cmp.Or(g.PageSize, g.Sectors[0].Size)
	}
	a0, a1 := b.slots[0].area.Size(), b.slots[1].area.Size()
	if a0 != a1 {
		return nil, fmt.Errorf("boot: image areas of %d and %d bytes differ", a0, a1)
	}
	switch cfg.Layout {
	case DualBank:
		if cfg.Slots[0].Flash() != cfg.Slots[1].Flash() {
			return nil, errors.New("boot: dual-bank slots must share one flash")
		}
	case ExternalSwap:
		if cfg.Scratch == nil {
			return nil, errors.New("boot: external-swap needs a scratch area")
		}
		u0, u1 := sectors[cfg.Slots[0].Flash()], sectors[cfg.Slots[1].Flash()]
		if u0 == 0 || u1 == 0 {
			return nil, errors.New("boot: external-swap needs flashes with sectors of one size")
		}
		b.unit = lcm(u0, u1)
		if a0%b.unit != 0 {
			return nil, fmt.Errorf("boot: %d-byte image areas are not a whole number of %d-byte swap units", a0, b.unit)
		}
		if a0/b.unit > 0xFFFF {
			return nil, fmt.Errorf("boot: %d swap units is too many", a0/b.unit)
		}
		secs := cfg.Scratch.Sectors()
		if len(secs) == 0 || secs[0].Off != 0 || cfg.Scratch.Size() < b.unit {
			return nil, fmt.Errorf("boot: scratch area %q must be sector aligned and hold a %d-byte swap unit", cfg.Scratch.Name(), b.unit)
		}
		b.scratch = cfg.Scratch
	default:
		return nil, fmt.Errorf("boot: unknown layout %v", cfg.Layout)
	}
	return b, nil
}

// Config returns the configuration the bootloader was made with.
func (b *Bootloader) Config() Config { return b.cfg }

// Boot is a reset and power-on: it opens the NVM area, finishes any swap a
// power cut interrupted, decides what to run (installing a pending image,
// reverting an unconfirmed one), verifies it and returns it. Each call starts
// afresh from flash. A flash error (a power cut) aborts the boot: power on
// and Boot again. ErrNoBootableImage means the device is bricked.
func (b *Bootloader) Boot() (Result, error) {
	b.run, b.store, b.runSeq = nil, nil, 0
	st, err := nvm.Open(b.cfg.NVM)
	if err != nil {
		return Result{}, fmt.Errorf("boot: NVM: %w", err)
	}
	b.store = st
	var res Result
	switch b.cfg.Layout {
	case DualBank:
		res, err = b.bootDualBank()
	case ExternalSwap:
		res, err = b.bootSwap()
	}
	if err != nil {
		return Result{}, err
	}
	b.run = &res
	return res, nil
}

// Running returns the result of the last Boot, if it succeeded.
func (b *Bootloader) Running() (Result, bool) {
	if b.run == nil {
		return Result{}, false
	}
	return *b.run, true
}

// Trailer reads the trailer of slot i (0 or 1), for diagnostics and
// tests. It needs no Boot.
func (b *Bootloader) Trailer(i int) (Trailer, error) {
	if i < 0 || i > 1 {
		return Trailer{}, fmt.Errorf("boot: slot %d", i)
	}
	tr, err := b.slots[i].trailer()
	if err != nil {
		return Trailer{}, fmt.Errorf("boot: %w", err)
	}
	return tr, nil
}

// NVM returns the configuration area as the last Boot opened it, nil before.
// The application keeps its counters there.
func (b *Bootloader) NVM() *nvm.Store { return b.store }

// Staging returns the image area the application downloads an update into:
// the secondary slot for ExternalSwap, the bank not running for DualBank.
// It is nil before a successful Boot.
func (b *Bootloader) Staging() *flash.Region {
	s := b.stagingSlot()
	if s == nil {
		return nil
	}
	return s.area
}

func (b *Bootloader) stagingSlot() *slot {
	if b.run == nil {
		return nil
	}
	if b.cfg.Layout == DualBank {
		return b.slots[1-b.run.Slot]
	}
	return b.slots[1]
}

// EraseStaging erases the staging slot, trailer included, before a download.
// It is refused while the running image is on test.
func (b *Bootloader) EraseStaging() error {
	s, err := b.stagingForUpdate()
	if err != nil {
		return err
	}
	if err := s.r.EraseAll(); err != nil {
		return fmt.Errorf("boot: erasing the staging slot: %w", err)
	}
	return nil
}

// Stage erases the staging slot and writes img into it: the download of an
// update in one go. SetPending then requests it.
func (b *Bootloader) Stage(img []byte) error {
	s, err := b.stagingForUpdate()
	if err != nil {
		return err
	}
	if len(img) > s.area.Size() {
		return fmt.Errorf("boot: %d-byte image does not fit the %d-byte staging area", len(img), s.area.Size())
	}
	if err := b.EraseStaging(); err != nil {
		return err
	}
	if err := b.write(s.area, 0, img); err != nil {
		return fmt.Errorf("boot: writing the staging slot: %w", err)
	}
	return nil
}

func (b *Bootloader) stagingForUpdate() (*slot, error) {
	if b.run == nil {
		return nil, ErrNotBooted
	}
	if b.run.Test {
		return nil, fmt.Errorf("%w: confirm it before staging another update", ErrInTest)
	}
	return b.stagingSlot(), nil
}

// SetPending requests the staged image for the next reset, as MCUboot's
// boot_set_pending: on test (permanent false), reverted unless it confirms,
// or for good. It writes the staging trailer field by field, the magic last,
// so a cut leaves either no request or a whole one, and a request already
// made is left alone. The image is not checked here: the bootloader verifies
// it at the next boot.
func (b *Bootloader) SetPending(permanent bool) error {
	s, err := b.stagingForUpdate()
	if err != nil {
		return err
	}
	tr, err := s.trailer()
	if err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	switch tr.Magic {
	case Set:
		return nil
	case Bad:
		return fmt.Errorf("%w: bad magic in %s", ErrBadTrailer, s.name())
	}
	// Each field is written only if it is erased, so a request a cut
	// interrupted can be made again; a field holding anything else is not
	// ours to overwrite.
	if b.cfg.Layout == DualBank {
		want := b.runSeq + 1
		switch tr.Seq {
		case 0:
			if err := s.writeSeq(want); err != nil {
				return pendingErr(err)
			}
		case want:
		default:
			return fmt.Errorf("%w: %s holds sequence number %d, want %d", ErrBadTrailer, s.name(), tr.Seq, want)
		}
	} else {
		want := SwapTest
		if permanent {
			want = SwapPerm
		}
		switch tr.SwapInfo {
		case 0:
			if err := s.writeField(fSwapInfo, []byte{byte(want)}); err != nil {
				return pendingErr(err)
			}
		case want:
		default:
			return fmt.Errorf("%w: %s requests a %v swap, want %v", ErrBadTrailer, s.name(), tr.SwapInfo, want)
		}
	}
	switch {
	case permanent && tr.ImageOK == Unset:
		if err := s.writeFlag(fImageOK); err != nil {
			return pendingErr(err)
		}
	case permanent && tr.ImageOK == Set, !permanent && tr.ImageOK == Unset:
	default:
		return fmt.Errorf("%w: image_ok of %s is %v", ErrBadTrailer, s.name(), tr.ImageOK)
	}
	if err := s.writeMagic(); err != nil {
		return pendingErr(err)
	}
	return nil
}

// pendingErr wraps a failed trailer write of SetPending: a unit a torn
// earlier attempt left programmed makes the trailer bad.
func pendingErr(err error) error {
	if errors.Is(err, flash.ErrRewrite) {
		return fmt.Errorf("%w: %w", ErrBadTrailer, err)
	}
	return fmt.Errorf("boot: %w", err)
}

// Confirm marks the running image good, as MCUboot's boot_set_confirmed:
// it writes image_ok in the running slot's trailer, then raises the stored
// security counter to the image's. The application calls it once it has
// proven it works, after an uplink by default. Confirming a confirmed image
// does nothing.
func (b *Bootloader) Confirm() error {
	if b.run == nil {
		return ErrNotBooted
	}
	s := b.slots[b.run.Slot]
	tr, err := s.trailer()
	if err != nil {
		return fmt.Errorf("boot: confirm: %w", err)
	}
	if tr.Magic == Set {
		switch tr.ImageOK {
		case Unset:
			if err := s.writeFlag(fImageOK); err != nil {
				return fmt.Errorf("boot: confirm: %w", err)
			}
		case Bad:
			return fmt.Errorf("boot: confirm: image_ok of %s is torn; the next reset reverts", s.name())
		}
	}
	// image_ok first: a cut in between leaves a confirmed image and a
	// counter the next boot raises; the other order could leave a counter
	// the image a revert returns to does not meet.
	if err := b.raiseSecurityCounter(b.run.SecurityCounter); err != nil {
		return fmt.Errorf("boot: confirm: %w", err)
	}
	b.run.Test = false
	return nil
}

// Install programs img into slot 0 as a factory programmer would: the slot
// erased, the image written and marked confirmed. For ExternalSwap that is
// no trailer at all, as MCUboot expects; for DualBank a trailer with
// sequence number 1, image_ok and magic, so that banks staged later order
// after it. It needs no Boot.
func (b *Bootloader) Install(img []byte) error {
	s := b.slots[0]
	if len(img) > s.area.Size() {
		return fmt.Errorf("boot: %d-byte image does not fit the %d-byte image area", len(img), s.area.Size())
	}
	if err := s.r.EraseAll(); err != nil {
		return fmt.Errorf("boot: install: %w", err)
	}
	if err := b.write(s.area, 0, img); err != nil {
		return fmt.Errorf("boot: install: %w", err)
	}
	if b.cfg.Layout == DualBank {
		for _, w := range []func() error{
			func() error { return s.writeSeq(1) },
			func() error { return s.writeFlag(fCopyDone) },
			func() error { return s.writeFlag(fImageOK) },
			s.writeMagic,
		} {
			if err := w(); err != nil {
				return fmt.Errorf("boot: install: %w", err)
			}
		}
	}
	return nil
}

// write programs p at off in r, one program command per chunk (see
// chunks); r must start on a chunk boundary. Chunks that are all erased are
// skipped: programming them would change nothing but mark them written. A
// tail shorter than the program unit is padded with the erased value.
func (b *Bootloader) write(r *flash.Region, off int, p []byte) error {
	chunk := b.chunks[r.Flash()]
	erased := r.Flash().ErasedValue()
	if u := r.Flash().ProgramUnit(); len(p)%u != 0 {
		p = append(slices.Clip(p), bytes.Repeat([]byte{erased}, u-len(p)%u)...)
	}
	for len(p) > 0 {
		n := min(len(p), chunk-off%chunk)
		if !allEqual(p[:n], erased) {
			if err := r.Program(off, p[:n]); err != nil {
				return err
			}
		}
		off += n
		p = p[n:]
	}
	return nil
}

func (b *Bootloader) raiseSecurityCounter(v uint32) error {
	if v <= b.store.SecurityCounter(0) {
		return nil
	}
	return b.store.SetSecurityCounter(0, v)
}

// result fills in a Result for the image v in slot i.
func (b *Bootloader) result(i int, v *verified, test bool) Result {
	return Result{
		Slot:            i,
		Area:            b.slots[i].area,
		Version:         v.version,
		Digest:          v.digest,
		Size:            v.size,
		SecurityCounter: v.secCnt,
		Test:            test,
		Swap:            SwapNone,
		Firmware:        v.fw,
	}
}

// startTest forgets the boots counted for an earlier test image, so an
// image staged again gets its MaxTestBoots afresh. It writes only if there
// is a count.
func (b *Bootloader) startTest() error {
	if err := b.store.Delete(keyTestBoots); err != nil {
		return fmt.Errorf("boot: counting test boots: %w", err)
	}
	return nil
}

// moreTestBoots reports whether the image with digest d, on test and
// already booted at least once, gets another boot, and counts it. With
// MaxTestBoots 1 it never does and writes nothing.
func (b *Bootloader) moreTestBoots(d [sha256.Size]byte) (bool, error) {
	limit := max(b.cfg.MaxTestBoots, 1)
	if limit == 1 {
		return false, nil
	}
	n := 1 // the boot that started the test
	if v, ok := b.store.Get(keyTestBoots); ok && len(v) == 9 && [8]byte(v[:8]) == [8]byte(d[:8]) {
		n = int(v[8])
	}
	if n >= limit {
		return false, nil
	}
	// Counted before the image runs: a hang or a cut counts as a boot.
	rec := append(d[:8:8], byte(n+1))
	if err := b.store.Set(keyTestBoots, rec); err != nil {
		return false, fmt.Errorf("boot: counting test boots: %w", err)
	}
	return true, nil
}

// invalidate erases the first sector of a slot: its image no longer
// verifies, whatever a cut leaves of the erase.
func invalidate(s *slot) error {
	secs := s.area.Sectors()
	if err := s.area.Erase(0, secs[0].Size); err != nil {
		return fmt.Errorf("boot: invalidating %s: %w", s.name(), err)
	}
	return nil
}

// encodeStatus and decodeStatus are the NVM record of a swap in progress.
func encodeStatus(st swapStatus) []byte {
	b := []byte{1, st.Phase, byte(st.Type), st.Step}
	b = binary.LittleEndian.AppendUint16(b, st.Units)
	return binary.LittleEndian.AppendUint16(b, st.Unit)
}

func decodeStatus(b []byte) (swapStatus, bool) {
	if len(b) != 8 || b[0] != 1 {
		return swapStatus{}, false
	}
	return swapStatus{
		Phase: b[1],
		Type:  SwapType(b[2]),
		Step:  b[3],
		Units: binary.LittleEndian.Uint16(b[4:]),
		Unit:  binary.LittleEndian.Uint16(b[6:]),
	}, true
}
