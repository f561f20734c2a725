package flash

import "fmt"

// CutMode says what a power cut does to the operation it interrupts
// (DEVICE.md §2). The torn modes apply to programs and erases alike: they
// decide which of the bits the operation would change reach their new value.
// Metastable may be combined with any mode.
type CutMode uint8

const (
	// Before: the operation does not happen.
	Before CutMode = iota
	// After: the operation completes, then power fails before the caller
	// learns of it.
	After
	// TornAllButLast: every program unit but the last one reaches its new
	// value; the last is unchanged.
	TornAllButLast
	// TornSomeBits: exactly one of the bits the operation would change
	// changes (littlefs SOMEBITS).
	TornSomeBits
	// TornMostBits: all but one of the bits the operation would change
	// change (littlefs MOSTBITS).
	TornMostBits
	// TornPrefix: a random number of leading program units, 0 to all but
	// one, reach their new value (Zephyr flash simulator max_len).
	TornPrefix
	// TornRandom: each bit the operation would change changes with
	// probability 1/2 (a partially erased or programmed range).
	TornRandom

	numModes

	// Metastable is a flag: every bit the interrupted operation was changing
	// reads as a random value on each read until the byte is erased or
	// programmed again by an operation that completes. With After it models
	// a weakly programmed or weakly erased range that reads correctly only
	// some of the time. With Before it has no effect.
	Metastable CutMode = 0x80
)

// CutModes returns the modes without the Metastable flag, for sweeps.
func CutModes() []CutMode {
	return []CutMode{Before, After, TornAllButLast, TornSomeBits, TornMostBits, TornPrefix, TornRandom}
}

func (m CutMode) base() CutMode { return m &^ Metastable }

func (m CutMode) valid() bool { return m.base() < numModes }

func (m CutMode) torn() bool { return m.base() >= TornAllButLast }

func (m CutMode) String() string {
	names := [...]string{"Before", "After", "TornAllButLast", "TornSomeBits", "TornMostBits", "TornPrefix", "TornRandom"}
	s := fmt.Sprintf("CutMode(%d)", uint8(m.base()))
	if int(m.base()) < len(names) {
		s = names[m.base()]
	}
	if m&Metastable != 0 {
		s += "|Metastable"
	}
	return s
}
