package flash

import "sort"

// Sector is one erase block at the finest granularity the flash erases.
type Sector struct {
	Off  int
	Size int
}

// Geometry is the shape of a flash as drivers see it.
type Geometry struct {
	Size    int
	Sectors []Sector // in address order, contiguous from 0
	// EraseSizes lists the erase command sizes, ascending; each command is
	// aligned to its own size. Empty: a command erases exactly one sector.
	EraseSizes []int
	// ProgramUnit is the alignment of program offsets and lengths: the
	// profile's native unit or the larger one WithProgramUnit chose.
	ProgramUnit int
	PageSize    int // NOR program page, 0 if none
	ErasedValue byte
}

// SectorIndex returns the index of the sector holding off, or -1 if off is
// outside the flash.
func (g Geometry) SectorIndex(off int) int {
	if off < 0 || off >= g.Size {
		return -1
	}
	return sort.Search(len(g.Sectors), func(i int) bool {
		return g.Sectors[i].Off+g.Sectors[i].Size > off
	})
}
