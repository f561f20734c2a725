package boot

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// Layout is how the slots are arranged and how an update gets into place.
type Layout uint8

const (
	// DualBank has two banks in internal flash, each able to run in place.
	// The bootloader runs the newest valid bank that is confirmed or on
	// test; the app downloads into the other one. No image is copied.
	DualBank Layout = iota + 1
	// ExternalSwap runs from the primary slot in internal flash and stages
	// updates in the secondary slot on external SPI NOR. The bootloader
	// swaps the two, unit by unit through a scratch area, so the old image
	// ends up in the secondary slot and can be swapped back (revert).
	ExternalSwap
)

func (l Layout) String() string {
	switch l {
	case DualBank:
		return "dual-bank"
	case ExternalSwap:
		return "external-swap"
	}
	return fmt.Sprintf("Layout(%d)", uint8(l))
}

// ParseLayout parses "dual-bank" or "external-swap".
func ParseLayout(s string) (Layout, error) {
	for _, l := range []Layout{DualBank, ExternalSwap} {
		if s == l.String() {
			return l, nil
		}
	}
	return 0, fmt.Errorf("boot: unknown layout %q (want dual-bank or external-swap)", s)
}

// Partitions are the flash areas of a device. Each slot ends with its
// trailer sector, its last erase sector, which holds the image trailer and
// no image data; the rest of the slot is the image area.
type Partitions struct {
	// Slots are the two image slots: banks A and B in internal flash
	// (DualBank), or the primary slot in internal flash and the secondary
	// (staging) slot on external flash (ExternalSwap).
	Slots [2]*flash.Region
	// Scratch is the swap buffer of ExternalSwap, at least one swap unit;
	// nil for DualBank.
	Scratch *flash.Region
	// NVM is the persistent configuration area (package nvm): internal
	// flash, outside the slots.
	NVM *flash.Region
}

// Rebind returns p with every region on from moved to the same window on
// to, typically a snapshot of from.
func (p Partitions) Rebind(from, to *flash.Flash) (Partitions, error) {
	move := func(r *flash.Region) (*flash.Region, error) {
		if r == nil || r.Flash() != from {
			return r, nil
		}
		return r.On(to)
	}
	var err error
	for i := range p.Slots {
		if p.Slots[i], err = move(p.Slots[i]); err != nil {
			return Partitions{}, err
		}
	}
	if p.Scratch, err = move(p.Scratch); err != nil {
		return Partitions{}, err
	}
	if p.NVM, err = move(p.NVM); err != nil {
		return Partitions{}, err
	}
	return p, nil
}

// ErrDoesNotFit is wrapped by Plan's errors for layouts the flash is too
// small for.
var ErrDoesNotFit = errors.New("does not fit")

// PlanOptions sizes the partitions Plan lays out.
type PlanOptions struct {
	// MaxImage is the largest signed image (header, payload and TLVs) the
	// slots must hold.
	MaxImage int
	// BootSize is reserved for the bootloader at the start of internal
	// flash; 0 means DefaultBootSize. Rounded up to whole sectors.
	BootSize int
	// NVMSize is the configuration area; 0 means DefaultNVMSize. Rounded up
	// to whole sectors, at least two.
	NVMSize int
}

const (
	// DefaultBootSize is the space a small bootloader takes (MCUboot with
	// Ed25519 and no serial recovery builds to about 16 KiB).
	DefaultBootSize = 16 * flash.KiB
	// DefaultNVMSize is the configuration area: four 2 KiB STM32 pages or
	// two 4 KiB sectors.
	DefaultNVMSize = 8 * flash.KiB
)

// Plan lays out the partitions of layout with the smallest slots that hold
// o.MaxImage. Internal flash holds, in address order, the bootloader, the
// internal slots and the NVM area. For ExternalSwap the secondary slot starts
// external flash and the scratch area follows it; the image areas are a
// whole number of swap units, the least common multiple of the two sector
// sizes. Both flashes need uniform sectors. A layout that does not fit is an
// error that says what would.
func Plan(layout Layout, internal, external *flash.Flash, o PlanOptions) (Partitions, error) {
	if internal == nil {
		return Partitions{}, fmt.Errorf("boot: plan %v: no internal flash", layout)
	}
	if o.MaxImage <= 0 {
		return Partitions{}, fmt.Errorf("boot: plan %v: image size %d", layout, o.MaxImage)
	}
	isec, err := uniformSector(internal)
	if err != nil {
		return Partitions{}, fmt.Errorf("boot: plan %v: %w", layout, err)
	}
	bootSize := roundUp(cmp.Or(o.BootSize, DefaultBootSize), isec)
	nvmSize := max(roundUp(cmp.Or(o.NVMSize, DefaultNVMSize), isec), 2*isec)
	var p Partitions
	switch layout {
	case DualBank:
		area := roundUp(o.MaxImage, isec)
		bank := area + isec
		need := bootSize + 2*bank + nvmSize
		if need > internal.Size() {
			fit := (internal.Size()-bootSize-nvmSize)/2/isec*isec - isec
			return Partitions{}, fmt.Errorf("boot: plan dual-bank: %w: a %s image needs %s: %s bootloader + 2 banks of %s (%s image area + %s trailer sector) + %s NVM, but %s has %s; "+
				"the largest image that fits is %s, or use a larger part of the same family",
				ErrDoesNotFit, size(o.MaxImage), size(need), size(bootSize), size(bank), size(area), size(isec), size(nvmSize),
				internal.Name(), size(internal.Size()), size(max(fit, 0)))
		}
		for i := range p.Slots {
			if p.Slots[i], err = flash.NewRegion(internal, fmt.Sprintf("bank-%c", 'a'+i), bootSize+i*bank, bank); err != nil {
				return Partitions{}, err
			}
		}
		if p.NVM, err = flash.NewRegion(internal, "nvm", bootSize+2*bank, nvmSize); err != nil {
			return Partitions{}, err
		}
	case ExternalSwap:
		if external == nil {
			return Partitions{}, fmt.Errorf("boot: plan external-swap: no external flash")
		}
		esec, err := uniformSector(external)
		if err != nil {
			return Partitions{}, fmt.Errorf("boot: plan external-swap: external: %w", err)
		}
		unit := lcm(isec, esec)
		area := roundUp(o.MaxImage, unit)
		primary := area + isec
		need := bootSize + primary + nvmSize
		if need > internal.Size() {
			fit := (internal.Size() - bootSize - nvmSize - isec) / unit * unit
			return Partitions{}, fmt.Errorf("boot: plan external-swap: %w: a %s image needs %s of internal flash: %s bootloader + %s primary slot + %s NVM, but %s has %s; the largest image that fits is %s",
				ErrDoesNotFit, size(o.MaxImage), size(need), size(bootSize), size(primary), size(nvmSize), internal.Name(), size(internal.Size()), size(max(fit, 0)))
		}
		secondary := area + esec
		if secondary+unit > external.Size() {
			return Partitions{}, fmt.Errorf("boot: plan external-swap: %w: %s secondary slot and %s scratch need more than the %s of %s",
				ErrDoesNotFit, size(secondary), size(unit), size(external.Size()), external.Name())
		}
		if p.Slots[0], err = flash.NewRegion(internal, "primary", bootSize, primary); err != nil {
			return Partitions{}, err
		}
		if p.NVM, err = flash.NewRegion(internal, "nvm", bootSize+primary, nvmSize); err != nil {
			return Partitions{}, err
		}
		if p.Slots[1], err = flash.NewRegion(external, "secondary", 0, secondary); err != nil {
			return Partitions{}, err
		}
		if p.Scratch, err = flash.NewRegion(external, "scratch", secondary, unit); err != nil {
			return Partitions{}, err
		}
	default:
		return Partitions{}, fmt.Errorf("boot: plan: unknown layout %v", layout)
	}
	return p, nil
}

func uniformSector(f *flash.Flash) (int, error) {
	g := f.Geometry()
	for _, s := range g.Sectors {
		if s.Size != g.Sectors[0].Size {
			return 0, fmt.Errorf("%s has sectors of different sizes", f.Name())
		}
	}
	return g.Sectors[0].Size, nil
}

// size formats a byte count the way a datasheet does.
func size(n int) string {
	if n%flash.KiB == 0 {
		return fmt.Sprintf("%d KiB", n/flash.KiB)
	}
	return fmt.Sprintf("%d bytes", n)
}

func roundUp(n, a int) int { return (n + a - 1) / a * a }

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func lcm(a, b int) int { return a / gcd(a, b) * b }
