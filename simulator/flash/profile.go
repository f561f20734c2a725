package flash

import (
	"fmt"
	"time"
)

// Policy is what a program does to a location that has already been
// programmed since its last erase (DEVICE.md §1.3).
type Policy uint8

const (
	// Strict refuses any program of a location written since its last erase
	// (MCUboot SimFlash "write to unerased location"). WithStrict applies it
	// on top of any other policy; it is the default.
	Strict Policy = iota
	// AND stores old & data (old | data on flash that erases to 0x00): bits
	// only move away from the erased value. SPI NOR.
	AND
	// ECC64 refuses (PROGERR) a program of an ECC word, the 8-byte double word
	// on STM32, unless it is erased or the data has every bit programmed
	// (all zeros on 0xFF flash), which invalidates the word. The check uses
	// the program history, not the content: a word programmed with 0xFF…FF
	// cannot be programmed again either, as on STM32G4.
	ECC64
	// LimitedRewrite stores old & data but allows at most Limits.WordWrites
	// programs of each word and Limits.BlockWrites word programs per
	// Limits.BlockSize block between erases (nRF52). Beyond the limits real
	// silicon leaves undefined bits; the model refuses the program with
	// ErrRewrite instead, so a violation is always caught and the content
	// stays defined.
	LimitedRewrite
)

func (p Policy) String() string {
	switch p {
	case Strict:
		return "Strict"
	case AND:
		return "AND"
	case ECC64:
		return "ECC64"
	case LimitedRewrite:
		return "LimitedRewrite"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Limits are the LimitedRewrite budgets. A word is the profile's program unit.
type Limits struct {
	WordWrites  int // programs per word between erases (nRF52: 2)
	BlockSize   int // bytes per block (nRF52: 512)
	BlockWrites int // word programs per block between erases (nRF52832: 181, nRF52840: 403)
}

// Latency is a typical and a worst-case duration.
type Latency struct {
	Typ, Max time.Duration
}

// Timing gives the simulated duration of operations. A program costs Program
// plus ProgramUnit for every program unit it writes; an erase command costs
// Erase[size]. Reads take no simulated time.
type Timing struct {
	Program     Latency // per program command (NOR page program)
	ProgramUnit Latency // per program unit written (internal flash)
	// Erase maps an erase command size to its latency. A size missing from
	// the map is charged in proportion to the smallest listed size.
	Erase map[int]Latency
}

// Profile describes a flash part: geometry, rewrite policy, endurance and
// timing. New takes a Profile and options; the constructors below give the
// defaults of DEVICE.md §1.4. A Profile may also be written by hand, for
// example with mixed sector sizes.
type Profile struct {
	Name string
	// SectorSizes lists the sectors, the smallest erasable blocks, in address
	// order; mixed sizes are allowed. The flash size is their sum.
	SectorSizes []int
	// EraseSizes lists the sizes one erase command can take, each aligned to
	// its own size (NOR: 4, 32 and 64 KiB). It needs uniform sectors and each
	// size must be a multiple of the sector size. Empty: one erase command
	// erases exactly one sector.
	EraseSizes []int
	// ProgramUnit is the native program unit: the offset and length of every
	// program are multiples of it, and the rewrite policy, torn programs and
	// write counts work at this granularity (NOR 1, STM32 8, nRF 4).
	ProgramUnit int
	// PageSize is the NOR program page: one program command stays within a
	// page. 0 for flash without a page buffer.
	PageSize    int
	ErasedValue byte
	Policy      Policy
	Limits      Limits // LimitedRewrite only
	// Endurance is the number of erase cycles a sector takes; 0 is unlimited.
	Endurance int
	Timing    Timing
}

const (
	KiB = 1 << 10
	MiB = 1 << 20

	// DefaultNORSize is the size NORW25Q(0) gives.
	DefaultNORSize = 8 * MiB
)

// UniformSectors returns size/sector sectors of sector bytes, plus a shorter
// last one if sector does not divide size.
func UniformSectors(size, sector int) []int {
	if size <= 0 || sector <= 0 {
		return nil
	}
	s := make([]int, 0, (size+sector-1)/sector)
	for size > 0 {
		n := min(sector, size)
		s = append(s, n)
		size -= n
	}
	return s
}

// NORW25Q is a Winbond W25Q-like SPI NOR flash of size bytes (DefaultNORSize
// when size is 0): 4 KiB sectors, 4/32/64 KiB erase commands, 256-byte page
// program, AND semantics, 100 000 cycles. W25Q typical timings are marked
// "verify" in DEVICE.md; the maxima come from a W25Qxx driver header.
func NORW25Q(size int) Profile {
	if size == 0 {
		size = DefaultNORSize
	}
	return Profile{
		Name:        "SPI-NOR-W25Q",
		SectorSizes: UniformSectors(size, 4*KiB),
		EraseSizes:  []int{4 * KiB, 32 * KiB, 64 * KiB},
		ProgramUnit: 1,
		PageSize:    256,
		ErasedValue: 0xFF,
		Policy:      AND,
		Endurance:   100_000,
		Timing: Timing{
			Program: Latency{700 * time.Microsecond, 3 * time.Millisecond},
			Erase: map[int]Latency{
				4 * KiB:  {45 * time.Millisecond, 400 * time.Millisecond},
				32 * KiB: {120 * time.Millisecond, 1600 * time.Millisecond},
				64 * KiB: {150 * time.Millisecond, 2000 * time.Millisecond},
			},
		},
	}
}

// STM32WL is STM32WL55/WLE5-like internal flash: 256 KiB single bank, 2 KiB
// pages, 8-byte double-word programming with ECC (ECC64), 10 000 cycles.
// Timings are STM32L4-class datasheet values (DEVICE.md: verify).
func STM32WL() Profile {
	return Profile{
		Name:        "STM32WL-internal",
		SectorSizes: UniformSectors(256*KiB, 2*KiB),
		ProgramUnit: 8,
		ErasedValue: 0xFF,
		Policy:      ECC64,
		Endurance:   10_000,
		Timing: Timing{
			ProgramUnit: Latency{81690 * time.Nanosecond, 90760 * time.Nanosecond},
			Erase:       map[int]Latency{2 * KiB: {22020 * time.Microsecond, 24470 * time.Microsecond}},
		},
	}
}

// NRF52840 is nRF52840-like internal flash: 1 MiB, 4 KiB pages, 32-bit word
// programming, at most 2 writes per word and 403 per 512-byte block between
// erases, 10 000 cycles. The product specification gives maxima only
// (tWRITE 41 µs, tERASEPAGE 85 ms; DEVICE.md: verify), used as typical too.
func NRF52840() Profile {
	return nrf52("nRF52840-internal", 1*MiB, 403)
}

// NRF52832 is the nRF52840 profile with 512 KiB and the tighter block budget
// of 181 writes per 512-byte block, which the 2-writes-per-word limit alone
// does not imply (128 words × 2 = 256).
func NRF52832() Profile {
	return nrf52("nRF52832-internal", 512*KiB, 181)
}

func nrf52(name string, size, blockWrites int) Profile {
	return Profile{
		Name:        name,
		SectorSizes: UniformSectors(size, 4*KiB),
		ProgramUnit: 4,
		ErasedValue: 0xFF,
		Policy:      LimitedRewrite,
		Limits:      Limits{WordWrites: 2, BlockSize: 512, BlockWrites: blockWrites},
		Endurance:   10_000,
		Timing: Timing{
			ProgramUnit: Latency{41 * time.Microsecond, 41 * time.Microsecond},
			Erase:       map[int]Latency{4 * KiB: {85 * time.Millisecond, 85 * time.Millisecond}},
		},
	}
}
