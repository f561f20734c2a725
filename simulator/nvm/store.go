package nvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strings"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// Errors the store returns; each is wrapped with context.
var (
	// ErrBackwards is returned by a setter asked to lower a monotonic counter.
	ErrBackwards = errors.New("nvm: counter would go backwards")
	// ErrFull reports that the live values no longer fit in one sector,
	// or that the active sector has the last sequence number and can be
	// compacted no more.
	ErrFull = errors.New("nvm: store full")
	// ErrKey reports a key or name the call cannot take.
	ErrKey = errors.New("nvm: invalid key")
)

const (
	sectorMagic   = "LFNV"
	formatVersion = 1
	headerData    = 16 // magic 4, version 1, three 0x00 bytes, seq 4, CRC-32 4
	recordHead    = 8  // key 2, flags 1, name length 1, value length 2, marker 2
	recordMarker  = 0xA55A
	crcLen        = 4
	minAlign      = 8
	// reads is how often Open reads the log; bytes that differ between the
	// reads are metastable and treated as torn.
	reads = 3

	flagDeleted = 0x01
)

// id names a value: its key and, for named keys such as settings, its name.
type id struct {
	key  Key
	name string
}

// Store is the persistent configuration area on a flash region. It is not
// safe for concurrent use. A power cut loses the Store with the device's RAM:
// after one, Open the region again.
type Store struct {
	r       *flash.Region
	secSize int
	nsec    int
	align   int
	hdrLen  int
	erased  byte

	vals   map[id][]byte
	active int    // index of the active sector, -1 if none is valid
	seq    uint32 // its sequence number
	next   int    // offset in the active sector of the next record
	dirty  bool   // the active sector holds something after its last record
	stats  Stats
}

// Stats counts the store's activity since Open.
type Stats struct {
	Records     int // records appended
	Compactions int // live values rewritten into a fresh sector
}

// Open mounts the store on r, which must be two or more whole erase sectors
// of equal size. An erased region is an empty store. If the active sector
// shows a torn or unstable write after its last record, Open compacts before
// it returns, so it may program and erase the flash and fail with a power
// cut.
func Open(r *flash.Region) (*Store, error) {
	secs := r.Sectors()
	if len(secs) < 2 {
		return nil, fmt.Errorf("nvm: region %q: need at least two whole erase sectors, have %d", r.Name(), len(secs))
	}
	size := secs[0].Size
	for i, s := range secs {
		if s.Size != size || s.Off != i*size {
			return nil, fmt.Errorf("nvm: region %q: sectors must be of equal size and cover the region (sector %d at %#x is %d bytes)",
				r.Name(), i, s.Off, s.Size)
		}
	}
	if len(secs)*size != r.Size() {
		return nil, fmt.Errorf("nvm: region %q: %d bytes is not a whole number of %d-byte sectors", r.Name(), r.Size(), size)
	}
	f := r.Flash()
	align := max(minAlign, f.ProgramUnit())
	s := &Store{
		r:       r,
		secSize: size,
		nsec:    len(secs),
		align:   align,
		hdrLen:  roundUp(headerData, align),
		erased:  f.ErasedValue(),
		vals:    make(map[id][]byte),
		active:  -1,
	}
	if err := s.mount(); err != nil {
		return nil, err
	}
	return s, nil
}

// mount finds the active sector and replays its records.
func (s *Store) mount() error {
	best := -1
	var bestSeq uint32
	for i := range s.nsec {
		h, unstable, err := s.readStable(i*s.secSize, s.hdrLen)
		if err != nil {
			return err
		}
		seq, ok := s.parseHeader(h, unstable)
		if ok && (best < 0 || seq > bestSeq) {
			best, bestSeq = i, seq
		}
	}
	if best < 0 {
		return nil
	}
	s.active, s.seq = best, bestSeq
	data, unstable, err := s.readStable(best*s.secSize, s.secSize)
	if err != nil {
		return err
	}
	off := s.hdrLen
	for off < s.secSize {
		n, rid, flags, val, ok := s.parseRecord(bestSeq, data[off:], unstable[off:])
		if !ok {
			break
		}
		if flags&flagDeleted != 0 {
			delete(s.vals, rid)
		} else {
			s.vals[rid] = val
		}
		off += n
	}
	s.next = off
	// Anything but clean, stable erased bytes after the last record is a
	// torn write: leave it behind before anything relies on what it reads.
	if !allEqual(data[off:], s.erased) || !allEqual(unstable[off:], 0) {
		s.dirty = true
		// ErrFull: the sequence numbers are used up; the store stays
		// dirty and every write fails with ErrFull.
		if err := s.compact(s.vals); err != nil && !errors.Is(err, ErrFull) {
			return fmt.Errorf("nvm: compacting after a torn write: %w", err)
		}
	}
	return nil
}

// readStable reads [off, off+n) of the region several times and returns the
// last read and a mask of the bytes that did not read the same every time.
func (s *Store) readStable(off, n int) (data, unstable []byte, err error) {
	data = make([]byte, n)
	unstable = make([]byte, n)
	again := make([]byte, n)
	if err := s.r.Read(off, data); err != nil {
		return nil, nil, fmt.Errorf("nvm: %w", err)
	}
	for range reads - 1 {
		if err := s.r.Read(off, again); err != nil {
			return nil, nil, fmt.Errorf("nvm: %w", err)
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

func (s *Store) parseHeader(h, unstable []byte) (uint32, bool) {
	if !allEqual(unstable, 0) || string(h[:4]) != sectorMagic || h[4] != formatVersion || !allEqual(h[5:8], 0) {
		return 0, false
	}
	if crc32.ChecksumIEEE(h[:12]) != binary.LittleEndian.Uint32(h[12:16]) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(h[8:12]), true
}

func (s *Store) header(seq uint32) []byte {
	h := bytes.Repeat([]byte{s.erased}, s.hdrLen)
	copy(h, sectorMagic)
	h[4] = formatVersion
	h[5], h[6], h[7] = 0, 0, 0
	binary.LittleEndian.PutUint32(h[8:], seq)
	binary.LittleEndian.PutUint32(h[12:], crc32.ChecksumIEEE(h[:12]))
	return h
}

// parseRecord decodes the record at the start of b. ok is false at the end of
// the log: erased space, a torn record or bytes that read unstably.
func (s *Store) parseRecord(seq uint32, b, unstable []byte) (n int, rid id, flags byte, val []byte, ok bool) {
	if len(b) < roundUp(recordHead+crcLen, s.align) {
		return 0, id{}, 0, nil, false
	}
	key := Key(binary.LittleEndian.Uint16(b))
	flags, nl, vl := b[2], int(b[3]), int(binary.LittleEndian.Uint16(b[4:]))
	if binary.LittleEndian.Uint16(b[6:]) != recordMarker || !key.valid() {
		return 0, id{}, 0, nil, false
	}
	body := recordHead + nl + vl
	n = roundUp(body+crcLen, s.align)
	if n > len(b) || !allEqual(unstable[:n], 0) {
		return 0, id{}, 0, nil, false
	}
	if recordCRC(seq, b[:body]) != binary.LittleEndian.Uint32(b[body:]) {
		return 0, id{}, 0, nil, false
	}
	rid = id{key: key, name: string(b[recordHead : recordHead+nl])}
	val = slices.Clone(b[recordHead+nl : body])
	return n, rid, flags, val, true
}

// recordCRC covers a record and the sequence number of the sector life it
// is written in, so a record left over from an earlier life of the sector
// can never pass for a current one.
func recordCRC(seq uint32, body []byte) uint32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], seq)
	return crc32.Update(crc32.ChecksumIEEE(body), crc32.IEEETable, b[:])
}

// record encodes one record for the sector life seq.
func (s *Store) record(seq uint32, rid id, flags byte, val []byte) []byte {
	body := recordHead + len(rid.name) + len(val)
	b := bytes.Repeat([]byte{s.erased}, roundUp(body+crcLen, s.align))
	binary.LittleEndian.PutUint16(b, uint16(rid.key))
	b[2] = flags
	b[3] = byte(len(rid.name))
	binary.LittleEndian.PutUint16(b[4:], uint16(len(val)))
	binary.LittleEndian.PutUint16(b[6:], recordMarker)
	copy(b[recordHead:], rid.name)
	copy(b[recordHead+len(rid.name):], val)
	binary.LittleEndian.PutUint32(b[body:], recordCRC(seq, b[:body]))
	return b
}

// put stores val under rid (deletes it when del is set): one record appended
// to the active sector, or a compaction into the next one when the record
// does not fit or cannot be written where it should go.
func (s *Store) put(rid id, val []byte, del bool) error {
	if len(rid.name) > 255 || len(val) > 0xFFFF {
		return fmt.Errorf("%w: name of %d or value of %d bytes is too long", ErrKey, len(rid.name), len(val))
	}
	var flags byte
	if del {
		flags, val = flagDeleted, nil
	}
	if s.active >= 0 && !s.dirty {
		rec := s.record(s.seq, rid, flags, val)
		if s.next+len(rec) <= s.secSize {
			err := s.r.Write(s.active*s.secSize+s.next, rec)
			if err == nil {
				s.next += len(rec)
				s.stats.Records++
				s.apply(s.vals, rid, val, del)
				return nil
			}
			if errors.Is(err, flash.ErrPowerCut) {
				return fmt.Errorf("nvm: writing key %#04x: %w", uint16(rid.key), err)
			}
			// The flash refused the program, typically a cell an
			// interrupted operation left written although it reads erased:
			// move to a fresh sector instead.
			s.dirty = true
		}
	}
	vals := maps.Clone(s.vals)
	s.apply(vals, rid, val, del)
	if err := s.compact(vals); err != nil {
		return fmt.Errorf("nvm: writing key %#04x: %w", uint16(rid.key), err)
	}
	return nil
}

func (s *Store) apply(vals map[id][]byte, rid id, val []byte, del bool) {
	if del {
		delete(vals, rid)
	} else {
		vals[rid] = slices.Clone(val)
	}
}

// compact writes vals into the next sector: erase it, write the records,
// then the header that makes it active. A cut at any point leaves the
// previous active sector in charge, holding the previous values.
func (s *Store) compact(vals map[id][]byte) error {
	target := (s.active + 1) % s.nsec
	seq := s.seq + 1
	switch {
	case s.active < 0:
		target, seq = 0, 1
	case seq == 0:
		// The active sector has the last sequence number, which only
		// flash the store did not write holds (it takes 2^32
		// compactions): a sector numbered 0 would never be active.
		// The values stay readable and appends go on while the
		// sector has room.
		return fmt.Errorf("%w: sector %d has the last sequence number", ErrFull, s.active)
	}
	ids := slices.SortedFunc(maps.Keys(vals), func(a, b id) int {
		if a.key != b.key {
			return int(a.key) - int(b.key)
		}
		return strings.Compare(a.name, b.name)
	})
	var recs []byte
	for _, rid := range ids {
		recs = append(recs, s.record(seq, rid, 0, vals[rid])...)
	}
	if s.hdrLen+len(recs) > s.secSize {
		return fmt.Errorf("%w: %d bytes of live records, %d-byte sectors", ErrFull, len(recs), s.secSize)
	}
	base := target * s.secSize
	if err := s.r.Erase(base, s.secSize); err != nil {
		return fmt.Errorf("compaction into sector %d: %w", target, err)
	}
	if len(recs) > 0 {
		if err := s.r.Write(base+s.hdrLen, recs); err != nil {
			return fmt.Errorf("compaction into sector %d: %w", target, err)
		}
	}
	if err := s.r.Program(base, s.header(seq)); err != nil {
		return fmt.Errorf("compaction into sector %d: %w", target, err)
	}
	s.active, s.seq = target, seq
	s.next = s.hdrLen + len(recs)
	s.dirty = false
	s.vals = vals
	s.stats.Compactions++
	return nil
}

// Stats returns the activity counters since Open.
func (s *Store) Stats() Stats { return s.stats }

// Region returns the region the store lives on.
func (s *Store) Region() *flash.Region { return s.r }

func roundUp(n, a int) int { return (n + a - 1) / a * a }

func allEqual(p []byte, v byte) bool {
	if len(p) == 0 {
		return true
	}
	if p[0] != v {
		return false
	}
	// p[0] == v and p[i] == p[i-1] for all i: every byte is v.
	return bytes.Equal(p[1:], p[:len(p)-1])
}
