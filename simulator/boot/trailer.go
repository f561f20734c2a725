package boot

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// SwapType is what a boot does with the slots (DEVICE.md §6.2): nothing, a
// test or permanent upgrade, or a revert of an unconfirmed test image.
type SwapType uint8

// Swap types, with MCUboot's swap_info values.
const (
	SwapNone   SwapType = 1
	SwapTest   SwapType = 2
	SwapPerm   SwapType = 3
	SwapRevert SwapType = 4
)

func (t SwapType) String() string {
	switch t {
	case SwapNone:
		return "none"
	case SwapTest:
		return "test"
	case SwapPerm:
		return "perm"
	case SwapRevert:
		return "revert"
	}
	return fmt.Sprintf("SwapType(%d)", uint8(t))
}

// FlagState is how a trailer field reads: erased, written as it should be,
// or anything else (torn or unstable).
type FlagState uint8

// Trailer field states.
const (
	Unset FlagState = iota // erased
	Set                    // magic Good, flag 0x01
	Bad                    // anything else: torn or unstable
)

func (s FlagState) String() string {
	switch s {
	case Unset:
		return "unset"
	case Set:
		return "set"
	case Bad:
		return "bad"
	}
	return fmt.Sprintf("FlagState(%d)", uint8(s))
}

// Trailer is the image trailer at the end of a slot, as the bootloader reads
// it (DEVICE.md §6.1).
type Trailer struct {
	Magic    FlagState // Set is MCUboot's "Good"
	ImageOK  FlagState
	CopyDone FlagState
	SwapInfo SwapType // 0 when unset or bad
	// Seq orders the banks of DualBank: the install sequence number
	// SetPending gives a bank, 0 when unset.
	Seq uint32
}

const (
	flagValue = 0x01 // BOOT_FLAG_SET
	readTimes = 3    // reads of bootloader metadata; bytes that differ are torn
)

// MCUboot's trailer magic for BOOT_MAX_ALIGN 8, and the tail of the one for
// other alignments (which starts with the alignment as u16).
var (
	magic8    = []byte{0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80}
	magicTail = []byte{0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a}
)

// trailerFormat places the trailer fields for a write alignment. Each field
// has its own aligned unit so that it is programmed exactly once between
// erases, low to high: seq (swap_size in MCUboot), swap_info, copy_done,
// image_ok, magic; the trailer ends its slot.
type trailerFormat struct {
	align  int
	erased byte
}

const (
	fSeq = iota
	fSwapInfo
	fCopyDone
	fImageOK
	fMagic
)

func newTrailerFormat(f *flash.Flash) trailerFormat {
	return trailerFormat{align: max(8, f.ProgramUnit()), erased: f.ErasedValue()}
}

func (t trailerFormat) len() int { return 4*t.align + roundUp(16, t.align) }

func (t trailerFormat) off(field int) int { return field * t.align }

func (t trailerFormat) magic() []byte {
	if t.align == 8 {
		return magic8
	}
	m := binary.LittleEndian.AppendUint16(nil, uint16(t.align))
	return append(m, magicTail...)
}

// field returns the bytes to program for a field: the value, then the erased
// value up to the field's size.
func (t trailerFormat) field(field int, v []byte) []byte {
	n := t.align
	if field == fMagic {
		n = roundUp(16, t.align)
	}
	b := bytes.Repeat([]byte{t.erased}, n)
	copy(b, v)
	return b
}

// parse decodes a trailer read with its mask of unstable bits.
func (t trailerFormat) parse(b, unstable []byte) Trailer {
	get := func(field int) (v, u []byte) {
		n := t.align
		if field == fMagic {
			n = roundUp(16, t.align)
		}
		o := t.off(field)
		return b[o : o+n], unstable[o : o+n]
	}
	state := func(field int, want []byte) FlagState {
		v, u := get(field)
		switch {
		case !allEqual(u, 0):
			return Bad
		case allEqual(v, t.erased):
			return Unset
		case bytes.Equal(v, t.field(field, want)):
			return Set
		}
		return Bad
	}
	tr := Trailer{
		Magic:    state(fMagic, t.magic()),
		ImageOK:  state(fImageOK, []byte{flagValue}),
		CopyDone: state(fCopyDone, []byte{flagValue}),
	}
	if v, u := get(fSwapInfo); allEqual(u, 0) && allEqual(v[1:], t.erased) {
		if st := SwapType(v[0] & 0x0f); v[0]&0xf0 == 0 && st >= SwapTest && st <= SwapRevert {
			tr.SwapInfo = st
		}
	}
	if v, u := get(fSeq); allEqual(u, 0) && allEqual(v[4:], t.erased) && !allEqual(v, t.erased) {
		tr.Seq = binary.LittleEndian.Uint32(v)
	}
	return tr
}

// slot is one image slot: its image area and the trailer at the end of its
// last sector.
type slot struct {
	r       *flash.Region // the whole slot
	area    *flash.Region // image area: the slot without its trailer sector
	tsector *flash.Region // trailer sector
	toff    int           // offset of the trailer in tsector
	tf      trailerFormat
}

func newSlot(r *flash.Region) (*slot, error) {
	secs := r.Sectors()
	if len(secs) < 2 {
		return nil, fmt.Errorf("slot %q: %d whole sectors, need an image area and a trailer sector", r.Name(), len(secs))
	}
	last := secs[len(secs)-1]
	if last.Off+last.Size != r.Size() || secs[0].Off != 0 {
		return nil, fmt.Errorf("slot %q: [%#x, +%#x) is not sector aligned", r.Name(), r.Offset(), r.Size())
	}
	tf := newTrailerFormat(r.Flash())
	if tf.len() > last.Size {
		return nil, fmt.Errorf("slot %q: %d-byte trailer does not fit its %d-byte sector", r.Name(), tf.len(), last.Size)
	}
	area, err := r.Sub(r.Name()+" image", 0, last.Off)
	if err != nil {
		return nil, err
	}
	ts, err := r.Sub(r.Name()+" trailer", last.Off, last.Size)
	if err != nil {
		return nil, err
	}
	return &slot{r: r, area: area, tsector: ts, toff: last.Size - tf.len(), tf: tf}, nil
}

func (s *slot) name() string { return s.r.Name() }

// trailer reads the trailer several times; bytes that do not read the same
// every time make their field Bad.
func (s *slot) trailer() (Trailer, error) {
	n := s.tf.len()
	b, unstable, err := readStable(s.tsector, s.toff, n)
	if err != nil {
		return Trailer{}, fmt.Errorf("reading the trailer of %s: %w", s.name(), err)
	}
	return s.tf.parse(b, unstable), nil
}

// writeField programs one trailer field.
func (s *slot) writeField(field int, v []byte) error {
	if err := s.tsector.Write(s.toff+s.tf.off(field), s.tf.field(field, v)); err != nil {
		return fmt.Errorf("writing the trailer of %s: %w", s.name(), err)
	}
	return nil
}

func (s *slot) writeFlag(field int) error { return s.writeField(field, []byte{flagValue}) }

func (s *slot) writeMagic() error { return s.writeField(fMagic, s.tf.magic()) }

func (s *slot) writeSeq(seq uint32) error {
	return s.writeField(fSeq, binary.LittleEndian.AppendUint32(nil, seq))
}

func (s *slot) eraseTrailer() error {
	if err := s.tsector.EraseAll(); err != nil {
		return fmt.Errorf("erasing the trailer of %s: %w", s.name(), err)
	}
	return nil
}

// readStable reads [off, off+n) of r readTimes times: the last read and the
// bits that changed between reads.
func readStable(r *flash.Region, off, n int) (data, unstable []byte, err error) {
	data = make([]byte, n)
	unstable = make([]byte, n)
	again := make([]byte, n)
	if err := r.Read(off, data); err != nil {
		return nil, nil, err
	}
	for range readTimes - 1 {
		if err := r.Read(off, again); err != nil {
			return nil, nil, err
		}
		if bytes.Equal(data, again) {
			continue
		}
		for i := range data {
			unstable[i] |= data[i] ^ again[i]
		}
	}
	return data, unstable, nil
}

func allEqual(p []byte, v byte) bool {
	if len(p) == 0 {
		return true
	}
	return p[0] == v && bytes.Equal(p[1:], p[:len(p)-1])
}
