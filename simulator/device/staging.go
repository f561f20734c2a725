package device

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// errUnitBuffer is returned by stagingStore.WriteRow when the row would leave
// more partly written program units than the RAM set aside for them holds.
var errUnitBuffer = errors.New("device: program-unit buffer full")

// stagingStore is the fragmentation.RowStore of a TS004 session, on flash
// that is never programmed twice between erases.
//
// Rows are where the data block belongs: row i at i·FragSize from the start of
// the rows region, so the block ends up as the image bytes from the start of
// the staging slot. A program unit (1, 4 or 8 bytes) that two rows share can
// only be programmed once both parts are known: its bytes wait in RAM, one
// buffer per such unit, and the unit is programmed when its last byte
// arrives. Bytes of the last unit beyond the block are the erased value.
//
// Scratch records (the decoder's pivots) are appended to their own region,
// each at a whole number of program units (record j at j·stride, stride =
// FragSize rounded up to the unit), so that a record is programmed in one go
// and never shares a unit with another.
type stagingStore struct {
	rows, scratch  *flash.Region
	scratchOff     int
	fragSize, nRow int
	unit, stride   int
	erased         byte
	maxRec, nRec   int

	written []uint64 // row i written

	// pending holds the partly known program units, by unit index.
	pending    map[int]*partialUnit
	maxPending int // RAM set aside for partial units, in units
	peak       int
	buf        []byte
}

type partialUnit struct {
	data  []byte
	known int // bytes of data that are final
}

// unitOverhead is the bookkeeping a device keeps with a buffered unit: its
// index.
const unitOverhead = 4

// newStagingStore returns the store of a session with nRow rows of fragSize
// bytes at the start of rows, and up to maxRec scratch records at scratchOff
// in scratch. maxPending bounds the buffered partial units. Both regions
// must be erased.
func newStagingStore(rows, scratch *flash.Region, scratchOff, nRow, fragSize, maxRec, maxPending int) *stagingStore {
	f := rows.Flash()
	unit := f.ProgramUnit()
	s := &stagingStore{
		rows: rows, scratch: scratch, scratchOff: scratchOff,
		fragSize: fragSize, nRow: nRow,
		unit: unit, stride: roundUp(fragSize, scratch.Flash().ProgramUnit()),
		erased: f.ErasedValue(), maxRec: maxRec,
		written:    make([]uint64, (nRow+63)/64),
		pending:    make(map[int]*partialUnit),
		maxPending: maxPending,
	}
	s.buf = make([]byte, s.stride)
	return s
}

// sharedUnits returns how many program units hold the end of one row and the
// start of the next: the most units a session may have to buffer.
func sharedUnits(nRow, fragSize, unit int) int {
	if fragSize%unit == 0 {
		return 0
	}
	n, last := 0, -1
	for k := 1; k < nRow; k++ {
		off := k * fragSize
		if off%unit == 0 {
			continue
		}
		if u := off / unit; u != last {
			n, last = n+1, u
		}
	}
	return n
}

// pendingBound is the number of unit buffers a session reserves: a partial
// unit sits at each edge between a written and an unwritten row, so with at
// most maxLost rows missing below the highest one received there are at most
// 2·maxLost+1 of them.
func pendingBound(nRow, fragSize, unit, maxLost int) int {
	return min(sharedUnits(nRow, fragSize, unit), 2*maxLost+2)
}

func (s *stagingStore) isWritten(i int) bool { return s.written[i/64]>>(i%64)&1 == 1 }

// units calls fn for each program unit the row covers, with the unit index and
// the row's bytes in it.
func (s *stagingStore) units(i int, fn func(u, from, to int)) {
	start, end := i*s.fragSize, (i+1)*s.fragSize
	for u := start / s.unit; u*s.unit < end; u++ {
		fn(u, max(start, u*s.unit), min(end, (u+1)*s.unit))
	}
}

// wouldOverflow reports whether writing row i would leave more partial units
// than the store can buffer.
func (s *stagingStore) wouldOverflow(i int) bool {
	if s.unit == 1 || i < 0 || i >= s.nRow || s.isWritten(i) {
		return false
	}
	n := len(s.pending)
	s.units(i, func(u, from, to int) {
		if to-from == s.unit {
			return
		}
		if p, ok := s.pending[u]; ok {
			if p.known+to-from == s.unit {
				n--
			}
		} else if s.unitKnownAfter(u, to-from) < s.unit {
			n++
		}
	})
	return n > s.maxPending
}

// unitKnownAfter is how many bytes of a new partial unit u are final once n
// bytes of a row are put in it: those beyond the block are erased filler.
func (s *stagingStore) unitKnownAfter(u, n int) int {
	beyond := max(0, (u+1)*s.unit-s.nRow*s.fragSize)
	return n + beyond
}

// WriteRow implements fragmentation.RowStore: whole units are programmed at
// once, shared units when their last byte arrives.
func (s *stagingStore) WriteRow(i int, p []byte) error {
	if i < 0 || i >= s.nRow || len(p) != s.fragSize {
		return fmt.Errorf("device: staging: row %d of %d bytes out of range (%d rows of %d)", i, len(p), s.nRow, s.fragSize)
	}
	if s.isWritten(i) {
		return fmt.Errorf("device: staging: row %d written twice", i)
	}
	if s.wouldOverflow(i) {
		return fmt.Errorf("%w: row %d needs more than %d buffered units", errUnitBuffer, i, s.maxPending)
	}
	start := i * s.fragSize
	// The run of whole units, programmed in one write.
	runFrom, runTo := -1, -1
	var err error
	s.units(i, func(u, from, to int) {
		if err != nil {
			return
		}
		if to-from == s.unit {
			if runFrom < 0 {
				runFrom = from
			}
			runTo = to
			return
		}
		err = s.putPartial(u, from, p[from-start:to-start])
	})
	if err != nil {
		return err
	}
	if runFrom >= 0 {
		if err := s.rows.Write(runFrom, p[runFrom-start:runTo-start]); err != nil {
			return fmt.Errorf("device: staging: row %d: %w", i, err)
		}
	}
	s.written[i/64] |= 1 << (i % 64)
	s.peak = max(s.peak, len(s.pending))
	return nil
}

// putPartial adds the bytes b at offset off to unit u, programming the unit
// once it is complete.
func (s *stagingStore) putPartial(u, off int, b []byte) error {
	pu, ok := s.pending[u]
	if !ok {
		pu = &partialUnit{data: bytes.Repeat([]byte{s.erased}, s.unit)}
		pu.known = s.unitKnownAfter(u, 0)
		s.pending[u] = pu
	}
	copy(pu.data[off-u*s.unit:], b)
	pu.known += len(b)
	if pu.known < s.unit {
		return nil
	}
	delete(s.pending, u)
	if err := s.rows.Write(u*s.unit, pu.data); err != nil {
		return fmt.Errorf("device: staging: unit at %#x: %w", u*s.unit, err)
	}
	return nil
}

// ReadRow implements fragmentation.RowStore: flash, with the buffered bytes of
// shared units laid over it.
func (s *stagingStore) ReadRow(i int, p []byte) error {
	if i < 0 || i >= s.nRow || len(p) != s.fragSize {
		return fmt.Errorf("device: staging: read of row %d out of range", i)
	}
	if !s.isWritten(i) {
		return fmt.Errorf("device: staging: row %d read before it was written", i)
	}
	start := i * s.fragSize
	if err := s.rows.Read(start, p); err != nil {
		return fmt.Errorf("device: staging: row %d: %w", i, err)
	}
	if len(s.pending) == 0 {
		return nil
	}
	s.units(i, func(u, from, to int) {
		if pu, ok := s.pending[u]; ok {
			copy(p[from-start:to-start], pu.data[from-u*s.unit:to-u*s.unit])
		}
	})
	return nil
}

// AppendScratch implements fragmentation.RowStore.
func (s *stagingStore) AppendScratch(p []byte) (int, error) {
	if len(p) != s.fragSize {
		return 0, fmt.Errorf("device: staging: scratch record of %d bytes, want %d", len(p), s.fragSize)
	}
	if s.nRec >= s.maxRec {
		return 0, fmt.Errorf("device: staging: scratch area full (%d records)", s.maxRec)
	}
	copy(s.buf, p)
	for k := s.fragSize; k < s.stride; k++ {
		s.buf[k] = s.scratch.Flash().ErasedValue()
	}
	j := s.nRec
	if err := s.scratch.Write(s.scratchOff+j*s.stride, s.buf); err != nil {
		return 0, fmt.Errorf("device: staging: scratch record %d: %w", j, err)
	}
	s.nRec++
	return j, nil
}

// ReadScratch implements fragmentation.RowStore.
func (s *stagingStore) ReadScratch(j int, p []byte) error {
	if j < 0 || j >= s.nRec || len(p) != s.fragSize {
		return fmt.Errorf("device: staging: scratch record %d out of range 0..%d", j, s.nRec-1)
	}
	if err := s.scratch.Read(s.scratchOff+j*s.stride, p); err != nil {
		return fmt.Errorf("device: staging: scratch record %d: %w", j, err)
	}
	return nil
}

// nopStore is a RowStore that stores nothing, for sizing decoders.
type nopStore struct{}

func (nopStore) WriteRow(int, []byte) error          { return nil }
func (nopStore) ReadRow(int, []byte) error           { return nil }
func (nopStore) AppendScratch(p []byte) (int, error) { return 0, nil }
func (nopStore) ReadScratch(j int, p []byte) error   { return nil }

func roundUp(n, a int) int { return (n + a - 1) / a * a }

func clampU8(n int) uint8   { return uint8(min(max(n, 0), 0xff)) }
func clampU14(n int) uint16 { return uint16(min(max(n, 0), 1<<14-1)) }
