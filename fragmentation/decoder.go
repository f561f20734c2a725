package fragmentation

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
)

// Errors of the Decoder.
var (
	// ErrTooManyLost is wrapped by Push when a coded fragment arrives while
	// more uncoded fragments are missing than the decoder's MaxLost (the
	// device's Lmax): the fragment is dropped, as a device without memory
	// for a larger matrix would (TS004 "not enough memory"). It is not
	// final: uncoded fragments that still arrive (out of order) lower the
	// count, and coded fragments are used again once it is within MaxLost.
	ErrTooManyLost = errors.New("fragmentation: more uncoded fragments lost than the decoder can recover")
	// ErrBadFragment is wrapped by Push for a fragment counter or payload
	// length that does not belong to the session.
	ErrBadFragment = errors.New("fragmentation: invalid fragment")
	// ErrNotDone is returned when the block is asked for before it is
	// complete.
	ErrNotDone = errors.New("fragmentation: data block not complete")
)

// DecoderConfig describes one fragmentation session, as FragSessionSetupReq
// does, plus the device's memory limits.
type DecoderConfig struct {
	NbFrag   int    // uncoded fragments in the block, 1..16383
	FragSize int    // bytes per fragment, 1..255
	Padding  int    // bytes of padding at the end of the last fragment, < FragSize
	Matrix   Matrix // parity matrix generator
	// MaxLost is the most uncoded fragments the decoder can afford to lose
	// (Lmax): it sizes the pivot matrix and the scratch area. 0 means
	// NbFrag, which never refuses.
	MaxLost int
	// Store holds the rows; nil means a new MemoryStore. It must start the
	// session erased (see RowStore).
	Store RowStore
}

// Status is a snapshot of a Decoder's progress.
type Status struct {
	NbFrag int
	// Received counts the valid fragments pushed, duplicates included
	// (TS004's NbFragReceived).
	Received int
	// Uncoded counts the distinct uncoded fragments received.
	Uncoded int
	// Coded counts the coded fragments kept as a new equation.
	Coded int
	// Redundant counts the fragments that carried no new information:
	// duplicates, coded fragments that depend on those already held, and
	// fragments pushed after completion.
	Redundant int
	// Dropped counts the coded fragments that could not be used because
	// more than MaxLost uncoded fragments were missing.
	Dropped int
	// Missing is the number of uncoded fragments not received.
	Missing int
	// Lost is the number of missing uncoded fragments whose counter is below
	// the highest one received: those an in-order sender has already sent
	// (LoRaMac-node's FragNbLost). Once a coded fragment is received, Lost
	// equals Missing.
	Lost int
	// Rank is the number of independent equations over the missing
	// fragments held from coded fragments.
	Rank int
	// Needed is the least number of further fragments that can complete
	// the block: Missing − Rank. Random coded fragments usually need one
	// or two more (shared/PROTOCOLS.md §1.5).
	Needed int
	// Possible is false while Lost exceeds MaxLost: the decoder has no
	// room for that many unknowns and can finish only if some of the lost
	// uncoded fragments still arrive.
	Possible bool
	Done     bool
}

// Memory reports what a Decoder holds besides the row store, in bytes, as a
// device would have to provide it.
type Memory struct {
	// Matrix is the pivot matrix for MaxLost unknowns as the decoder lays
	// it out: a triangle whose rows start at a word boundary, for word-wide
	// XOR; at most Lmax·(Lmax+1)/2 + 126·Lmax bits. The decoder allocates it
	// for the unknowns of the session only, when the first coded fragment
	// is used.
	Matrix int
	// MatrixBound is the TS004 figure for the same triangle packed to the
	// bit, Lmax·(Lmax+1)/2 bits.
	MatrixBound int
	// Columns is the per-column bookkeeping of the pivot system: the
	// fragment index and the scratch record of each column (2 × 16 bits on
	// a device) and three column bitsets.
	Columns int
	// Fragments is the O(NbFrag) bookkeeping: one bit per uncoded fragment
	// and the matrix row being generated.
	Fragments int
	// Buffers is the row buffers: the payload being reduced, a read buffer
	// and the coefficient row.
	Buffers int
}

// Decoder rebuilds a data block from DataFragments received in any order,
// with duplicates and losses (TS004 FragAlgo 0, shared/PROTOCOLS.md §1.4).
//
// Received uncoded fragments are written once to their final row. Lost ones
// are the unknowns of a pivot system over the lost fragments only: each coded
// fragment becomes an equation over them (its parity row with the received
// fragments it covers added out), reduced against the pivots held and kept,
// if independent, as the pivot of its first unknown. Pivot coefficients live
// in RAM, pivot payloads are appended to the store's scratch area and never
// rewritten. When the pivots cover every unknown the decoder substitutes back
// from the last unknown to the first, writing each recovered row once: it
// completes at the first fragment that makes the received set full rank.
//
// An uncoded fragment that arrives after coded ones (LoRaMac-node drops it)
// turns its unknown into a known column. Pivots that involve it keep the bit
// and add the row in when they are used, since their payload cannot be
// rewritten; the pivot whose leading unknown it was is reduced again and, if
// still independent, appended as a new record at its next unknown. Each
// append either raises the rank or replaces a pivot that a late fragment
// displaced, so the scratch area never holds more than MaxLost records.
//
// The unknowns are fixed when the first coded fragment is used: the missing
// uncoded fragments at that moment, at most MaxLost of them. A coded
// fragment that arrives while more are missing is dropped with
// [ErrTooManyLost]. That is final only if no lost uncoded fragment can still
// arrive, which the decoder cannot know: it keeps accepting fragments, and
// [Status].Possible turns true again if late uncoded fragments bring the loss
// within MaxLost. A device behind an in-order sender may treat the first
// ErrTooManyLost as final, as LoRaMac-node does (MatrixError).
//
// Memory, as a device would provide it ([Decoder.Memory]): the pivot
// coefficients, a triangle of MaxLost columns stored with word-aligned rows
// (Lmax·(Lmax+1)/2 bits packed, up to 126 bits more per column aligned, for
// word-wide XOR); per column a fragment index, a scratch record index and
// three bits; one bit per uncoded fragment; three row buffers. No payload
// other than those buffers is held in RAM. The trade-off of the append-only
// scratch area against Zephyr's RAM cache of pivots: a pivot cannot be
// updated in place when a late fragment arrives, so pivots keep the bits of
// known columns and their rows are read again whenever the pivot is used;
// late fragments are rare, so this costs reads, not memory.
type Decoder struct {
	m, fs, padding, maxLost int
	matrix                  Matrix
	store                   RowStore
	xorer                   RowXORer
	mem                     *MemoryStore // the default store, read directly
	noData                  bool         // rank only: no payloads, no store (curves)

	gen      *rowGen
	received []uint64 // bit i: uncoded fragment i+1 received
	nRecv    int
	hi       int // min(highest N received, NbFrag)
	recvHi   int // received uncoded fragments below hi

	// The pivot system over l unknown columns, nil until the first coded
	// fragment is used. Column c is uncoded fragment cols[c]+1.
	cols     []int32
	words    int      // words of a full coefficient row
	resolved []uint64 // column received late
	present  []uint64 // column has a pivot
	rec      []int32  // scratch record of each pivot
	tri      []uint64 // pivot c: words c/64 .. words-1, at triOffset(c)
	rank     int

	coef, used []uint64 // row being reduced, pivots added into it
	pay, tmp   []byte

	st   Status
	done bool
	err  error // a store failure during completion; the decoder is unusable
}

// NewDecoder returns a decoder for the session cfg describes.
func NewDecoder(cfg DecoderConfig) (*Decoder, error) {
	if err := checkSession(cfg.NbFrag, cfg.FragSize, 0); err != nil {
		return nil, err
	}
	if !cfg.Matrix.valid() {
		return nil, fmt.Errorf("%w: unknown matrix %v", ErrFECParameter, cfg.Matrix)
	}
	if cfg.Padding < 0 || cfg.Padding >= cfg.FragSize {
		return nil, fmt.Errorf("%w: padding %d out of range 0..%d (must be below the fragment size)", ErrFECParameter, cfg.Padding, cfg.FragSize-1)
	}
	if cfg.MaxLost < 0 {
		return nil, fmt.Errorf("%w: negative MaxLost %d", ErrFECParameter, cfg.MaxLost)
	}
	d := newDecoder(cfg.NbFrag, cfg.Matrix, cfg.MaxLost)
	d.fs = cfg.FragSize
	d.padding = cfg.Padding
	d.store = cfg.Store
	if d.store == nil {
		d.store = NewMemoryStore(cfg.NbFrag, cfg.FragSize)
	}
	d.xorer, _ = d.store.(RowXORer)
	d.mem, _ = d.store.(*MemoryStore)
	if d.mem != nil && (d.mem.fragSize != d.fs || len(d.mem.rows) != d.m*d.fs) {
		return nil, fmt.Errorf("%w: MemoryStore for %d rows of %d bytes, session has %d of %d",
			ErrFECParameter, len(d.mem.rows)/max(d.mem.fragSize, 1), d.mem.fragSize, d.m, d.fs)
	}
	d.pay = make([]byte, d.fs)
	d.tmp = make([]byte, d.fs)
	return d, nil
}

// newDecoder sets up the parts shared with the rank-only decoder of Curve.
func newDecoder(m int, v Matrix, maxLost int) *Decoder {
	if maxLost == 0 || maxLost > m {
		maxLost = m
	}
	return &Decoder{
		m:        m,
		maxLost:  maxLost,
		matrix:   v,
		gen:      new(rowGen),
		received: make([]uint64, rowWords(m)),
		st:       Status{NbFrag: m, Missing: m, Possible: true},
	}
}

// Push hands the decoder DataFragment n (1-based counter) with payload frag,
// which must be FragSize bytes; frag is not retained. It reports whether the
// block is complete. Fragments arrive in any order; a duplicate or a fragment
// that adds no information is counted and dropped, and after completion
// every fragment is. An error wrapping [ErrBadFragment] or [ErrTooManyLost]
// leaves the decoder usable; after an error from the store, Push returns it
// again.
func (d *Decoder) Push(n int, frag []byte) (done bool, err error) {
	if d.err != nil {
		return false, d.err
	}
	if n < 1 || n > MaxFragmentCounter {
		return d.done, fmt.Errorf("%w: counter N %d out of range 1..%d", ErrBadFragment, n, MaxFragmentCounter)
	}
	if !d.noData && len(frag) != d.fs {
		return d.done, fmt.Errorf("%w: fragment %d has %d bytes, session FragSize is %d", ErrBadFragment, n, len(frag), d.fs)
	}
	d.st.Received++
	if d.done {
		d.st.Redundant++
		return true, nil
	}
	if n <= d.m {
		err = d.pushUncoded(n-1, frag)
	} else {
		err = d.pushCoded(n-d.m, frag)
	}
	if err != nil {
		if !errors.Is(err, ErrTooManyLost) {
			// A store failure may leave a pivot half moved.
			d.err = err
		}
		return false, err
	}
	if d.st.Missing == 0 || d.cols != nil && d.rank == d.st.Missing {
		if err := d.finish(); err != nil {
			d.err = fmt.Errorf("fragmentation: completing the block: %w", err)
			return false, d.err
		}
	}
	return d.done, nil
}

func (d *Decoder) pushUncoded(i int, frag []byte) error {
	if d.received[i/64]>>(i%64)&1 == 1 {
		d.st.Redundant++
		return nil
	}
	if !d.noData {
		if err := d.store.WriteRow(i, frag); err != nil {
			return fmt.Errorf("fragmentation: storing fragment %d: %w", i+1, err)
		}
	}
	d.received[i/64] |= 1 << (i % 64)
	d.nRecv++
	if i < d.hi {
		d.recvHi++
	}
	d.raiseHighest(i + 1)
	d.st.Uncoded++
	d.st.Missing--
	if d.cols != nil {
		if c, ok := slices.BinarySearch(d.cols, int32(i)); ok {
			if err := d.resolve(c); err != nil {
				return err
			}
		}
	}
	d.updateLost()
	return nil
}

// raiseHighest moves hi up to h (at most NbFrag), counting the received
// fragments it passes.
func (d *Decoder) raiseHighest(h int) {
	h = min(h, d.m)
	for ; d.hi < h; d.hi++ {
		d.recvHi += int(d.received[d.hi/64] >> (d.hi % 64) & 1)
	}
}

func (d *Decoder) updateLost() {
	d.st.Lost = d.hi - d.recvHi
	d.st.Possible = d.st.Lost <= d.maxLost
	d.st.Rank = d.rank
	d.st.Needed = d.st.Missing - d.rank
}

func (d *Decoder) pushCoded(k int, frag []byte) error {
	d.raiseHighest(d.m)
	defer d.updateLost()
	if d.cols == nil {
		if d.st.Missing > d.maxLost {
			d.st.Dropped++
			return fmt.Errorf("%w: %d uncoded fragments missing, MaxLost is %d: fragment %d dropped",
				ErrTooManyLost, d.st.Missing, d.maxLost, d.m+k)
		}
		d.startSystem()
	}

	row := d.gen.build(k, d.m, d.matrix)
	// The equation over the unknowns: the row's bits at unknown columns.
	coef := d.coef
	clear(coef)
	for c, f := range d.cols {
		if row[f/64]>>(f%64)&1 == 1 && d.resolved[c/64]>>(c%64)&1 == 0 {
			coef[c/64] |= 1 << (c % 64)
		}
	}
	lead := d.reduce(coef)
	if lead < 0 {
		d.st.Redundant++
		return nil
	}
	if d.mem != nil {
		// As below, without a call per row: this loop is most of the
		// decoding work.
		copy(d.pay, frag)
		rows, fs := d.mem.rows, d.fs
		for w, x := range row {
			for x &= d.received[w]; x != 0; x &= x - 1 {
				i := w*64 + bits.TrailingZeros64(x)
				subtle.XORBytes(d.pay, d.pay, rows[i*fs:(i+1)*fs])
			}
		}
	} else if !d.noData {
		// The payload: the parity minus every received fragment it
		// covers, minus the pivots added into the coefficients.
		copy(d.pay, frag)
		for w, x := range row {
			for x &= d.received[w]; x != 0; x &= x - 1 {
				if err := d.xorRow(w*64+bits.TrailingZeros64(x), d.pay); err != nil {
					return err
				}
			}
		}
	}
	if err := d.addPivot(lead); err != nil {
		return err
	}
	d.st.Coded++
	return nil
}

// startSystem fixes the unknowns: the uncoded fragments missing now.
func (d *Decoder) startSystem() {
	l := d.st.Missing
	d.cols = make([]int32, 0, l)
	for w, x := range d.received {
		x = ^x
		if w == len(d.received)-1 && d.m%64 != 0 {
			x &= 1<<(d.m%64) - 1
		}
		for ; x != 0; x &= x - 1 {
			d.cols = append(d.cols, int32(w*64+bits.TrailingZeros64(x)))
		}
	}
	d.words = rowWords(l)
	d.resolved = make([]uint64, d.words)
	d.present = make([]uint64, d.words)
	d.rec = make([]int32, l)
	d.tri = make([]uint64, triOffset(l, d.words))
	d.coef = make([]uint64, d.words)
	d.used = make([]uint64, d.words)
}

// triOffset is where pivot row c starts in tri: row c holds words c/64 ..
// words-1 of a full row, since a pivot has no bit before its column.
func triOffset(c, words int) int {
	b, within := c/64, c%64
	return 64*(b*words-b*(b-1)/2) + within*(words-b)
}

func (d *Decoder) pivot(c int) []uint64 {
	o := triOffset(c, d.words)
	return d.tri[o : o+d.words-c/64]
}

func (d *Decoder) has(set []uint64, c int) bool { return set[c/64]>>(c%64)&1 == 1 }

// reduce eliminates from coef the pivots of its leading unknowns, recording
// them in d.used, and returns the first unknown column left, or -1 if no
// unknown is left: the equation adds nothing.
func (d *Decoder) reduce(coef []uint64) int {
	clear(d.used)
	for w := 0; w < d.words; {
		x := coef[w] &^ d.resolved[w]
		if x == 0 {
			w++
			continue
		}
		c := w*64 + bits.TrailingZeros64(x)
		if !d.has(d.present, c) {
			return c
		}
		p := d.pivot(c)
		tail := coef[w:]
		for j, y := range p {
			tail[j] ^= y
		}
		d.used[w] |= 1 << (c % 64)
	}
	return -1
}

// addPivot stores the reduced equation in d.coef as the pivot of column
// lead. d.pay holds its payload before the pivots in d.used and the known
// columns left in d.coef are added in.
func (d *Decoder) addPivot(lead int) error {
	coef := d.coef
	if !d.noData {
		for w, x := range d.used {
			for ; x != 0; x &= x - 1 {
				c := w*64 + bits.TrailingZeros64(x)
				if err := d.xorScratch(int(d.rec[c]), d.pay); err != nil {
					return err
				}
			}
		}
	}
	// Known columns become part of the payload, so that the stored pivot
	// starts at its column (a triangle row) and has only unknowns.
	for w := range coef {
		for x := coef[w] & d.resolved[w]; x != 0; x &= x - 1 {
			if !d.noData {
				c := w*64 + bits.TrailingZeros64(x)
				if err := d.xorRow(int(d.cols[c]), d.pay); err != nil {
					return err
				}
			}
		}
		coef[w] &^= d.resolved[w]
	}
	j := 0
	if !d.noData {
		var err error
		if j, err = d.store.AppendScratch(d.pay); err != nil {
			return fmt.Errorf("fragmentation: storing a pivot: %w", err)
		}
	}
	copy(d.pivot(lead), coef[lead/64:])
	d.present[lead/64] |= 1 << (lead % 64)
	d.rec[lead] = int32(j)
	d.rank++
	return nil
}

// resolve handles the late arrival of the uncoded fragment of column c.
func (d *Decoder) resolve(c int) error {
	d.resolved[c/64] |= 1 << (c % 64)
	if !d.has(d.present, c) {
		return nil
	}
	// The pivot of c lost its leading unknown: reduce what is left of it
	// and, if it still says something, store it as a new pivot.
	clear(d.coef)
	copy(d.coef[c/64:], d.pivot(c))
	d.present[c/64] &^= 1 << (c % 64)
	d.rank--
	lead := d.reduce(d.coef)
	if lead < 0 {
		return nil
	}
	if !d.noData {
		if err := d.readScratch(int(d.rec[c]), d.pay); err != nil {
			return err
		}
	}
	return d.addPivot(lead)
}

// finish writes the lost rows, from the last unknown to the first: the pivot
// of c involves only columns after c, all known or already recovered.
func (d *Decoder) finish() error {
	if !d.noData && d.cols != nil {
		for c := len(d.cols) - 1; c >= 0; c-- {
			if !d.has(d.present, c) {
				continue
			}
			if err := d.readScratch(int(d.rec[c]), d.pay); err != nil {
				return err
			}
			p := d.pivot(c)
			base := c / 64
			for j, x := range p {
				if j == 0 {
					x &^= 1<<(c%64+1) - 1 // the pivot's own bit and below
				}
				for ; x != 0; x &= x - 1 {
					col := (base+j)*64 + bits.TrailingZeros64(x)
					if err := d.xorRow(int(d.cols[col]), d.pay); err != nil {
						return err
					}
				}
			}
			if err := d.store.WriteRow(int(d.cols[c]), d.pay); err != nil {
				return fmt.Errorf("fragmentation: storing recovered fragment %d: %w", d.cols[c]+1, err)
			}
		}
	}
	d.done = true
	d.st.Done = true
	d.st.Missing = 0
	d.st.Lost = 0
	d.st.Needed = 0
	d.st.Possible = true
	return nil
}

func (d *Decoder) xorRow(i int, p []byte) error {
	var err error
	if d.xorer != nil {
		err = d.xorer.XORRow(i, p)
	} else if err = d.store.ReadRow(i, d.tmp); err == nil {
		subtle.XORBytes(p, p, d.tmp)
	}
	if err != nil {
		return fmt.Errorf("fragmentation: reading row %d: %w", i, err)
	}
	return nil
}

func (d *Decoder) xorScratch(j int, p []byte) error {
	var err error
	if d.xorer != nil {
		err = d.xorer.XORScratch(j, p)
	} else if err = d.store.ReadScratch(j, d.tmp); err == nil {
		subtle.XORBytes(p, p, d.tmp)
	}
	if err != nil {
		return fmt.Errorf("fragmentation: reading scratch record %d: %w", j, err)
	}
	return nil
}

func (d *Decoder) readScratch(j int, p []byte) error {
	if err := d.store.ReadScratch(j, p); err != nil {
		return fmt.Errorf("fragmentation: reading scratch record %d: %w", j, err)
	}
	return nil
}

// Status returns the decoder's progress.
func (d *Decoder) Status() Status { return d.st }

// Done reports whether the block is complete.
func (d *Decoder) Done() bool { return d.done }

// Memory reports the RAM the decoder uses besides the row store.
func (d *Decoder) Memory() Memory {
	l := d.maxLost
	words := rowWords(l)
	mem := Memory{
		MatrixBound: (l*(l+1)/2 + 7) / 8,
		Fragments:   8*len(d.received) + 8*rowWords(d.m),
		Buffers:     2*d.fs + 8*2*words,
		Matrix:      8 * triOffset(l, words),
		Columns:     l*(4+4) + 3*8*words,
	}
	return mem
}

// Data returns the data block without its padding, read from the store.
func (d *Decoder) Data() ([]byte, error) {
	if !d.done || d.noData {
		return nil, ErrNotDone
	}
	out := make([]byte, d.m*d.fs)
	for i := range d.m {
		if err := d.store.ReadRow(i, out[i*d.fs:(i+1)*d.fs]); err != nil {
			return nil, fmt.Errorf("fragmentation: reading row %d: %w", i, err)
		}
	}
	return out[:len(out)-d.padding], nil
}

// WriteTo writes the data block without its padding to w, a row at a time.
func (d *Decoder) WriteTo(w io.Writer) (int64, error) {
	if !d.done || d.noData {
		return 0, ErrNotDone
	}
	var total int64
	for i := range d.m {
		if err := d.store.ReadRow(i, d.tmp); err != nil {
			return total, fmt.Errorf("fragmentation: reading row %d: %w", i, err)
		}
		b := d.tmp
		if i == d.m-1 {
			b = b[:d.fs-d.padding]
		}
		n, err := w.Write(b)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
