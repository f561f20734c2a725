package fragmentation

import (
	"crypto/subtle"
	"fmt"
)

// RowStore holds the rows of one data block while a [Decoder] rebuilds it:
// the NbFrag final rows, each FragSize bytes, and an append-only scratch area
// for the partial rows (pivots) of the FEC decoding.
//
// The Decoder's write-once contract, which lets a store live in flash that
// cannot rewrite a location without erasing it:
//
//   - WriteRow is called at most once per row, with the row's final content;
//   - ReadRow is called only for rows already written;
//   - scratch records are appended, never rewritten, and read back by the
//     index AppendScratch returned; a session appends at most MaxLost records;
//   - the store is not erased by the Decoder: a store starts a session erased.
//
// The slices passed in are only valid during the call.
type RowStore interface {
	// WriteRow stores row i (0-based: fragment N = i+1) of the block.
	WriteRow(i int, p []byte) error
	// ReadRow reads row i, previously written, into p.
	ReadRow(i int, p []byte) error
	// AppendScratch appends a record of FragSize bytes to the scratch area
	// and returns its index: 0 for the first record of the session, then 1,
	// 2, ….
	AppendScratch(p []byte) (int, error)
	// ReadScratch reads scratch record j into p.
	ReadScratch(j int, p []byte) error
}

// RowXORer is implemented by stores that can XOR a stored row or record into
// a buffer without copying it first. The Decoder uses it when present: most
// of its work is adding stored rows into a buffer.
type RowXORer interface {
	// XORRow sets p ^= row i.
	XORRow(i int, p []byte) error
	// XORScratch sets p ^= scratch record j.
	XORScratch(j int, p []byte) error
}

// MemoryStore is a RowStore in RAM, the Decoder's default. It checks indices
// and that rows are written before they are read, but does not refuse a
// second write.
type MemoryStore struct {
	fragSize int
	rows     []byte
	written  []uint64
	scratch  []byte
}

// NewMemoryStore returns an empty store for nbFrag rows of fragSize bytes.
func NewMemoryStore(nbFrag, fragSize int) *MemoryStore {
	return &MemoryStore{
		fragSize: fragSize,
		rows:     make([]byte, nbFrag*fragSize),
		written:  make([]uint64, rowWords(nbFrag)),
	}
}

// Bytes returns the rows as one block, without copying; rows not written are
// zero.
func (s *MemoryStore) Bytes() []byte { return s.rows }

func (s *MemoryStore) row(i int, p []byte, write bool) ([]byte, error) {
	if i < 0 || (i+1)*s.fragSize > len(s.rows) {
		return nil, fmt.Errorf("fragmentation: row %d out of range 0..%d", i, len(s.rows)/s.fragSize-1)
	}
	if len(p) != s.fragSize {
		return nil, fmt.Errorf("fragmentation: row buffer of %d bytes, want %d", len(p), s.fragSize)
	}
	if !write && s.written[i/64]>>(i%64)&1 == 0 {
		return nil, fmt.Errorf("fragmentation: row %d read before it was written", i)
	}
	return s.rows[i*s.fragSize : (i+1)*s.fragSize], nil
}

func (s *MemoryStore) record(j int, p []byte) ([]byte, error) {
	if j < 0 || (j+1)*s.fragSize > len(s.scratch) {
		return nil, fmt.Errorf("fragmentation: scratch record %d out of range 0..%d", j, len(s.scratch)/s.fragSize-1)
	}
	if len(p) != s.fragSize {
		return nil, fmt.Errorf("fragmentation: record buffer of %d bytes, want %d", len(p), s.fragSize)
	}
	return s.scratch[j*s.fragSize : (j+1)*s.fragSize], nil
}

// WriteRow implements RowStore.
func (s *MemoryStore) WriteRow(i int, p []byte) error {
	r, err := s.row(i, p, true)
	if err != nil {
		return err
	}
	copy(r, p)
	s.written[i/64] |= 1 << (i % 64)
	return nil
}

// ReadRow implements RowStore.
func (s *MemoryStore) ReadRow(i int, p []byte) error {
	r, err := s.row(i, p, false)
	if err != nil {
		return err
	}
	copy(p, r)
	return nil
}

// XORRow implements RowXORer.
func (s *MemoryStore) XORRow(i int, p []byte) error {
	r, err := s.row(i, p, false)
	if err != nil {
		return err
	}
	subtle.XORBytes(p, p, r)
	return nil
}

// AppendScratch implements RowStore.
func (s *MemoryStore) AppendScratch(p []byte) (int, error) {
	if len(p) != s.fragSize {
		return 0, fmt.Errorf("fragmentation: record of %d bytes, want %d", len(p), s.fragSize)
	}
	s.scratch = append(s.scratch, p...)
	return len(s.scratch)/s.fragSize - 1, nil
}

// ReadScratch implements RowStore.
func (s *MemoryStore) ReadScratch(j int, p []byte) error {
	r, err := s.record(j, p)
	if err != nil {
		return err
	}
	copy(p, r)
	return nil
}

// XORScratch implements RowXORer.
func (s *MemoryStore) XORScratch(j int, p []byte) error {
	r, err := s.record(j, p)
	if err != nil {
		return err
	}
	subtle.XORBytes(p, p, r)
	return nil
}
