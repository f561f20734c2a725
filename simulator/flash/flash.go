package flash

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"
)

// Flash is a simulated flash device. It is not safe for concurrent use, but
// distinct snapshots may be used from different goroutines.
type Flash struct {
	name      string
	geo       Geometry
	cell      int // native program unit: granularity of policy checks, tears and write counts
	uniform   int // sector size when all sectors are equal, else 0
	policy    Policy
	strict    bool
	limits    Limits
	wrap      bool
	maxTiming bool
	endurance int
	timing    Timing

	secs []*sector
	pcg  rand.PCG
	rng  *rand.Rand // over pcg; used only for tears and metastable reads

	st      counters
	off     bool
	cutAt   int // absolute op number the armed cut hits; 0 when disarmed
	cutMode CutMode
}

type counters struct {
	ops, cuts              int
	reads, readBytes       int
	programs, programBytes int
	erases, eraseBytes     int
	busy                   time.Duration
}

// sector is the state of one sector. Once frozen (shared with a snapshot) it
// is never modified again; writers copy it first.
type sector struct {
	frozen atomic.Bool
	erases int
	// data is nil while the sector is cleanly erased; writes, blocks and
	// meta are nil with it.
	data   []byte
	writes []uint8  // per cell: programs since the last erase, saturating
	blocks []uint16 // LimitedRewrite: cell programs per block since the last erase
	meta   []byte   // per byte: bits that read at random; nil when none
	// replay holds the data of a torn program, by offset in the sector:
	// in strict mode one program of exactly that data is still allowed.
	replay map[int]byte
}

func (s *sector) clone() *sector {
	return &sector{
		erases: s.erases,
		data:   slices.Clone(s.data),
		writes: slices.Clone(s.writes),
		blocks: slices.Clone(s.blocks),
		meta:   slices.Clone(s.meta),
		replay: maps.Clone(s.replay),
	}
}

// canReplay reports whether d is, byte for byte, the data of the torn
// program that last hit the cell at so.
func (s *sector) canReplay(so int, d []byte) bool {
	if s.replay == nil {
		return false
	}
	for j, b := range d {
		if v, ok := s.replay[so+j]; !ok || v != b {
			return false
		}
	}
	return true
}

// Option adjusts New.
type Option func(*config)

type config struct {
	prof      Profile
	strict    bool
	wrap      bool
	maxTiming bool
	seed      uint64
	unit      int
	err       error // from an option
}

// WithStrict turns the Strict overlay on or off. On (the default), any
// program of a location written since its last erase fails with ErrRewrite,
// whatever the profile's policy; off, the profile's policy alone applies.
func WithStrict(on bool) Option { return func(c *config) { c.strict = on } }

// WithPolicy replaces the profile's rewrite policy.
func WithPolicy(p Policy) Option { return func(c *config) { c.prof.Policy = p } }

// WithErasedValue sets the value erased bytes read as: 0xFF or 0x00. On
// 0x00 flash programs set bits (old | data) instead of clearing them.
func WithErasedValue(v byte) Option { return func(c *config) { c.prof.ErasedValue = v } }

// WithProgramUnit raises the write alignment to n bytes, a power of two and
// a multiple of the native unit (MCUboot tests alignments 1 to 32). Policy
// checks and tears keep the native unit.
func WithProgramUnit(n int) Option { return func(c *config) { c.unit = n } }

// WithPageWrap emulates the NOR page buffer: a program that crosses a page
// boundary wraps to the start of the same page, as the chip does. Off (the
// default), such a program fails with ErrPageBoundary.
func WithPageWrap(on bool) Option { return func(c *config) { c.wrap = on } }

// WithMaxTiming charges the worst-case instead of the typical latency.
func WithMaxTiming(on bool) Option { return func(c *config) { c.maxTiming = on } }

// WithEndurance replaces the profile's endurance (erase cycles per sector;
// 0 is unlimited).
func WithEndurance(n int) Option { return func(c *config) { c.prof.Endurance = n } }

// WithEraseSizes restricts the erase commands to the given sizes, for
// example only 4 KiB sector erases on NOR, each of which must be one of
// the profile's erase sizes.
func WithEraseSizes(sizes ...int) Option {
	return func(c *config) {
		for _, s := range sizes {
			if !slices.Contains(c.prof.EraseSizes, s) {
				c.err = fmt.Errorf("erase size %d is not one of the profile's %v", s, c.prof.EraseSizes)
				return
			}
		}
		c.prof.EraseSizes = slices.Clone(sizes)
	}
}

// WithSeed seeds the generator behind tears and metastable reads; the
// default seed is 0. The same seed and the same operations give the same
// results.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// New returns an erased flash for the profile.
func New(p Profile, opts ...Option) (*Flash, error) {
	c := config{prof: p, strict: true}
	for _, o := range opts {
		o(&c)
	}
	p = c.prof
	cell := p.ProgramUnit
	unit := cell
	if c.unit != 0 {
		unit = c.unit
	}
	err := c.err
	if err == nil {
		err = validate(p, unit, c.wrap)
	}
	if err != nil {
		return nil, fmt.Errorf("flash: profile %q: %w", p.Name, err)
	}
	f := &Flash{
		name:      p.Name,
		cell:      cell,
		policy:    p.Policy,
		strict:    c.strict,
		limits:    p.Limits,
		wrap:      c.wrap,
		maxTiming: c.maxTiming,
		endurance: p.Endurance,
		timing:    p.Timing,
		secs:      make([]*sector, len(p.SectorSizes)),
	}
	f.timing.Erase = maps.Clone(p.Timing.Erase)
	f.geo = Geometry{
		Sectors:     make([]Sector, len(p.SectorSizes)),
		EraseSizes:  slices.Sorted(slices.Values(p.EraseSizes)),
		ProgramUnit: unit,
		PageSize:    p.PageSize,
		ErasedValue: p.ErasedValue,
	}
	f.uniform = p.SectorSizes[0]
	for i, n := range p.SectorSizes {
		f.geo.Sectors[i] = Sector{Off: f.geo.Size, Size: n}
		f.geo.Size += n
		if n != f.uniform {
			f.uniform = 0
		}
		f.secs[i] = &sector{}
	}
	f.Seed(c.seed)
	f.rng = rand.New(&f.pcg)
	return f, nil
}

func validate(p Profile, unit int, wrap bool) error {
	pow2 := func(n int) bool { return n > 0 && n&(n-1) == 0 }
	if !pow2(p.ProgramUnit) {
		return fmt.Errorf("program unit %d is not a power of two", p.ProgramUnit)
	}
	if !pow2(unit) || unit%p.ProgramUnit != 0 {
		return fmt.Errorf("write alignment %d is not a power of two multiple of the program unit %d", unit, p.ProgramUnit)
	}
	if p.ErasedValue != 0xFF && p.ErasedValue != 0x00 {
		return fmt.Errorf("erased value %#02x is neither 0xff nor 0x00", p.ErasedValue)
	}
	if len(p.SectorSizes) == 0 {
		return errors.New("no sectors")
	}
	for i, n := range p.SectorSizes {
		if n <= 0 || n%unit != 0 {
			return fmt.Errorf("sector %d: size %d is not a positive multiple of the write alignment %d", i, n, unit)
		}
		if p.Policy == LimitedRewrite && (p.Limits.BlockSize <= 0 || n%p.Limits.BlockSize != 0) {
			return fmt.Errorf("sector %d: size %d is not a multiple of the rewrite block size %d", i, n, p.Limits.BlockSize)
		}
	}
	if p.PageSize != 0 && (!pow2(p.PageSize) || p.PageSize%unit != 0) {
		return fmt.Errorf("page size %d is not a power of two multiple of the write alignment %d", p.PageSize, unit)
	}
	if wrap && p.PageSize == 0 {
		return errors.New("page wrap needs a page size")
	}
	for _, e := range p.EraseSizes {
		if e <= 0 {
			return fmt.Errorf("erase size %d is not positive", e)
		}
		for i, n := range p.SectorSizes {
			if n != p.SectorSizes[0] || e%n != 0 {
				return fmt.Errorf("erase size %d needs uniform sectors dividing it (sector %d is %d bytes)", e, i, n)
			}
		}
	}
	switch p.Policy {
	case Strict, AND, ECC64:
	case LimitedRewrite:
		l := p.Limits
		if l.WordWrites < 1 || l.BlockWrites < 1 || l.BlockWrites > math.MaxUint16 || l.BlockSize%p.ProgramUnit != 0 {
			return fmt.Errorf("invalid rewrite limits %+v", l)
		}
	default:
		return fmt.Errorf("unknown policy %v", p.Policy)
	}
	if p.Endurance < 0 {
		return fmt.Errorf("negative endurance %d", p.Endurance)
	}
	return nil
}

// Name returns the profile name.
func (f *Flash) Name() string { return f.name }

// Size returns the flash size in bytes.
func (f *Flash) Size() int { return f.geo.Size }

// Geometry returns the flash geometry. The slices are copies.
func (f *Flash) Geometry() Geometry {
	g := f.geo
	g.Sectors = slices.Clone(g.Sectors)
	g.EraseSizes = slices.Clone(g.EraseSizes)
	return g
}

// ProgramUnit returns the write alignment (Geometry().ProgramUnit).
func (f *Flash) ProgramUnit() int { return f.geo.ProgramUnit }

// ErasedValue returns the value erased bytes read as.
func (f *Flash) ErasedValue() byte { return f.geo.ErasedValue }

// Policy returns the profile's rewrite policy and whether the Strict overlay
// is on.
func (f *Flash) Policy() (p Policy, strict bool) { return f.policy, f.strict }

// Seed reseeds the generator behind tears and metastable reads.
func (f *Flash) Seed(seed uint64) { f.pcg.Seed(seed, seed^0x9e3779b97f4a7c15) }

// Read fills p from off. Bytes left metastable by an interrupted operation
// read differently from one call to the next.
func (f *Flash) Read(off int, p []byte) error {
	if err := f.read(off, p); err != nil {
		return &OpError{Op: "read", Off: off, Size: len(p), Err: err}
	}
	return nil
}

func (f *Flash) read(off int, p []byte) error {
	if f.off {
		return ErrPowerCut
	}
	if err := f.checkRange(off, len(p)); err != nil {
		return err
	}
	f.st.reads++
	f.st.readBytes += len(p)
	f.chunks(off, len(p), func(i, so, k, l int) {
		s, dst := f.secs[i], p[k:k+l]
		if s.data == nil {
			fill(dst, f.geo.ErasedValue)
			return
		}
		copy(dst, s.data[so:])
		if s.meta == nil {
			return
		}
		for j, m := range s.meta[so : so+l] {
			if m != 0 {
				dst[j] = dst[j]&^m | byte(f.rng.Uint32())&m
			}
		}
	})
	return nil
}

// ReadAt implements io.ReaderAt over Read, so that a flash can back an
// io.SectionReader.
func (f *Flash) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(f.geo.Size) {
		return 0, &OpError{Op: "read", Off: int(off), Size: len(p), Err: fmt.Errorf("%w: flash is %#x bytes", ErrOutOfRange, f.geo.Size)}
	}
	n := min(len(p), f.geo.Size-int(off))
	if err := f.Read(int(off), p[:n]); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// span is a run of bytes one program command stores at off.
type span struct {
	off  int
	data []byte
}

// Program is one program command: it stores p at off under the rewrite
// policy and counts as one operation. Offset and length must be multiples of
// the program unit. On NOR the command stays within one page; see
// WithPageWrap. Internal flash takes any length, still as one operation.
func (f *Flash) Program(off int, p []byte) error {
	if err := f.program(off, p); err != nil {
		return &OpError{Op: "program", Off: off, Size: len(p), Err: err}
	}
	return nil
}

func (f *Flash) program(off int, p []byte) error {
	if f.off {
		return ErrPowerCut
	}
	if len(p) == 0 {
		return nil
	}
	if err := f.checkRange(off, len(p)); err != nil {
		return err
	}
	if u := f.geo.ProgramUnit; off%u != 0 || len(p)%u != 0 {
		return fmt.Errorf("%w: offset and length must be multiples of the %d-byte program unit", ErrAlignment, u)
	}
	spans, err := f.spans(off, p)
	if err != nil {
		return err
	}
	if err := f.checkRewrite(spans); err != nil {
		return err
	}

	mode, cut := f.tick()
	f.st.programs++
	f.st.programBytes += len(p)
	if cut && mode.base() == Before {
		return f.fire(mode)
	}
	f.st.busy += f.lat(f.timing.Program) + time.Duration(len(p)/f.cell)*f.lat(f.timing.ProgramUnit)

	torn := cut && mode.torn()
	meta := cut && mode&Metastable != 0
	var res []byte // the torn result, over the spans in order
	if torn {
		var old, want []byte
		for _, sp := range spans {
			n := len(old)
			old = f.appendStored(old, sp.off, len(sp.data))
			for j, d := range sp.data {
				want = append(want, f.combine(old[n+j], d))
			}
		}
		res = f.tear(mode.base(), old, want)
	}
	base := 0
	for _, sp := range spans {
		f.chunks(sp.off, len(sp.data), func(i, so, k, l int) {
			s := f.writable(i)
			dst, src := s.data[so:so+l], sp.data[k:k+l]
			if torn || meta {
				var tornRes []byte // only a torn cut has a result to apply
				if torn {
					tornRes = res[base+k:]
				}
				f.applyCut(s, so, dst, src, tornRes, torn, meta)
			} else {
				if f.geo.ErasedValue == 0 {
					for j, d := range src {
						dst[j] |= d
					}
				} else {
					for j, d := range src {
						dst[j] &= d
					}
				}
				// Reprogrammed by a completed operation: settled.
				if s.meta != nil {
					clear(s.meta[so : so+l])
				}
				if len(s.replay) > l {
					for j := so; j < so+l; j++ {
						delete(s.replay, j)
					}
				} else {
					for j := range s.replay {
						if j >= so && j < so+l {
							delete(s.replay, j)
						}
					}
				}
			}
			w := s.writes[so/f.cell : (so+l)/f.cell]
			for c := range w {
				if w[c] < math.MaxUint8 {
					w[c]++
				}
			}
			if s.blocks != nil {
				bs := f.limits.BlockSize
				for lo := so; lo < so+l; {
					hi := min(so+l, (lo/bs+1)*bs)
					s.blocks[lo/bs] += uint16((hi - lo) / f.cell)
					lo = hi
				}
			}
		})
		base += len(sp.data)
	}
	if cut {
		return f.fire(mode)
	}
	return nil
}

// applyCut stores an interrupted program of src over dst, the bytes at so in
// s: the torn result res when torn, and with meta the changing bits made
// metastable. A torn range keeps its data for one replay.
func (f *Flash) applyCut(s *sector, so int, dst, src, res []byte, torn, meta bool) {
	for j, d := range src {
		old := dst[j]
		want := f.combine(old, d)
		dst[j] = want
		if torn {
			dst[j] = res[j]
			if s.replay == nil {
				s.replay = make(map[int]byte)
			}
			s.replay[so+j] = d
		}
		if meta {
			if s.meta == nil {
				s.meta = make([]byte, len(s.data))
			}
			s.meta[so+j] |= old ^ want
		}
	}
}

// spans maps a program onto the flash. Only a NOR program crossing a page
// boundary needs more than one span: the chip's page buffer wraps, byte i
// lands at page offset (start+i) mod PageSize and a later byte replaces an
// earlier one at the same offset.
func (f *Flash) spans(off int, p []byte) ([]span, error) {
	page := f.geo.PageSize
	start := off % max(page, 1)
	if page == 0 || start+len(p) <= page {
		return []span{{off, p}}, nil
	}
	base := off - start
	if !f.wrap {
		return nil, fmt.Errorf("%w: %d bytes from page offset %d cross the %d-byte page boundary at %#x",
			ErrPageBoundary, len(p), start, page, base+page)
	}
	buf := make([]byte, page)
	for i, b := range p {
		buf[(start+i)%page] = b
	}
	end := start // a program of a page or more covers the whole page
	if len(p) < page {
		end = start + len(p) - page
	}
	spans := []span{{off, buf[start:]}}
	if end > 0 {
		spans = append(spans, span{base, buf[:end]})
	}
	return spans, nil
}

// checkRewrite applies the Strict overlay and the rewrite policy to every
// cell a program would touch, before anything changes.
func (f *Flash) checkRewrite(spans []span) error {
	strict := f.strict || f.policy == Strict
	limited := f.policy == LimitedRewrite
	if !strict && f.policy == AND {
		return nil
	}
	programmed := ^f.geo.ErasedValue
	type blockAdd struct{ sec, block, n int }
	var adds []blockAdd
	for _, sp := range spans {
		var err error
		f.chunks(sp.off, len(sp.data), func(i, so, k, l int) {
			s := f.secs[i]
			if err != nil {
				return
			}
			if limited {
				bs := f.limits.BlockSize
				for lo := so; lo < so+l; {
					b := lo / bs
					hi := min(so+l, (b+1)*bs)
					if n := len(adds); n > 0 && adds[n-1].sec == i && adds[n-1].block == b {
						adds[n-1].n += (hi - lo) / f.cell
					} else {
						adds = append(adds, blockAdd{i, b, (hi - lo) / f.cell})
					}
					lo = hi
				}
			}
			if s.writes == nil {
				return // cleanly erased
			}
			for c, w := range s.writes[so/f.cell : (so+l)/f.cell] {
				if w == 0 {
					continue
				}
				rel := c * f.cell
				d := sp.data[k+rel : k+rel+f.cell]
				addr := sp.off + k + rel
				switch {
				case strict && !s.canReplay(so+rel, d):
					err = fmt.Errorf("%w at %#x: written since its last erase (strict)", ErrRewrite, addr)
				case f.policy == ECC64 && !allEqual(d, programmed):
					err = fmt.Errorf("%w at %#x: %d-byte ECC word already programmed; only %#02x-filled data may be written before an erase (ECC64)",
						ErrRewrite, addr, f.cell, programmed)
				case limited && int(w) >= f.limits.WordWrites:
					err = fmt.Errorf("%w at %#x: word programmed %d times since its last erase, limit %d (LimitedRewrite)",
						ErrRewrite, addr, w, f.limits.WordWrites)
				}
				if err != nil {
					return
				}
			}
		})
		if err != nil {
			return err
		}
	}
	for x, a := range adds {
		n := a.n
		for _, b := range adds[:x] { // a wrapped page program may revisit a block
			if b.sec == a.sec && b.block == a.block {
				n += b.n
			}
		}
		have := 0
		if s := f.secs[a.sec]; s.blocks != nil {
			have = int(s.blocks[a.block])
		}
		if have+n > f.limits.BlockWrites {
			return fmt.Errorf("%w: %d-byte block at %#x would take %d word programs since its last erase, limit %d (LimitedRewrite)",
				ErrRewrite, f.limits.BlockSize, f.geo.Sectors[a.sec].Off+a.block*f.limits.BlockSize, have+n, f.limits.BlockWrites)
		}
	}
	return nil
}

// Erase erases [off, off+size). The range is split into erase commands the
// way a driver does it: at each step the largest erase size that is aligned
// at the current offset and fits in what is left (one sector per command
// when the profile lists no erase sizes). Each command is one operation, so
// a cut can fall between the commands of one call; commands before a failing
// one stay done.
func (f *Flash) Erase(off, size int) error {
	if err := f.erase(off, size); err != nil {
		return &OpError{Op: "erase", Off: off, Size: size, Err: err}
	}
	return nil
}

func (f *Flash) erase(off, size int) error {
	if f.off {
		return ErrPowerCut
	}
	if size == 0 {
		return nil
	}
	if err := f.checkRange(off, size); err != nil {
		return err
	}
	cmds, err := f.plan(off, size)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if err := f.eraseCommand(c.Off, c.Size); err != nil {
			if len(cmds) > 1 {
				err = fmt.Errorf("erase command [%#x, +%#x): %w", c.Off, c.Size, err)
			}
			return err
		}
	}
	return nil
}

// plan splits an erase into commands; see Erase.
func (f *Flash) plan(off, size int) ([]Sector, error) {
	end := off + size
	var cmds []Sector
	if len(f.geo.EraseSizes) == 0 {
		i, so := f.loc(off)
		if so != 0 {
			return nil, fmt.Errorf("%w: start %#x is not a sector boundary", ErrAlignment, off)
		}
		for pos := off; pos < end; i++ {
			s := f.geo.Sectors[i]
			if s.Off+s.Size > end {
				return nil, fmt.Errorf("%w: end %#x is not a sector boundary", ErrAlignment, end)
			}
			cmds = append(cmds, s)
			pos = s.Off + s.Size
		}
		return cmds, nil
	}
	for pos := off; pos < end; {
		n := 0
		for _, e := range slices.Backward(f.geo.EraseSizes) {
			if pos%e == 0 && pos+e <= end {
				n = e
				break
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: no erase command of %v bytes is aligned at %#x and fits in the %#x bytes left",
				ErrAlignment, f.geo.EraseSizes, pos, end-pos)
		}
		cmds = append(cmds, Sector{pos, n})
		pos += n
	}
	return cmds, nil
}

func (f *Flash) eraseCommand(off, size int) error {
	first, _ := f.loc(off)
	last, _ := f.loc(off + size - 1)
	if f.endurance > 0 {
		for i := first; i <= last; i++ {
			if n := f.secs[i].erases; n >= f.endurance {
				return fmt.Errorf("%w: sector %d at %#x has had %d erase cycles, endurance %d",
					ErrWornOut, i, f.geo.Sectors[i].Off, n, f.endurance)
			}
		}
	}
	mode, cut := f.tick()
	f.st.erases++
	f.st.eraseBytes += size
	if cut && mode.base() == Before {
		return f.fire(mode)
	}
	f.st.busy += f.eraseTime(size)

	meta := cut && mode&Metastable != 0
	if !cut || (!mode.torn() && !meta) {
		for i := first; i <= last; i++ {
			f.secs[i] = &sector{erases: f.secs[i].erases + 1}
		}
	} else {
		old := f.appendStored(nil, off, size)
		want := bytes.Repeat([]byte{f.geo.ErasedValue}, size)
		res := want
		if mode.torn() {
			res = f.tear(mode.base(), old, want)
		}
		for i, k := first, 0; i <= last; i++ {
			n := f.geo.Sectors[i].Size
			f.secs[i] = f.tornSector(f.secs[i].erases+1, old[k:k+n], res[k:k+n], meta)
			k += n
		}
	}
	if cut {
		return f.fire(mode)
	}
	return nil
}

// tornSector builds a sector left by an interrupted erase. A cell that is not
// fully erased, or whose bits are metastable, counts as written once, so that
// Strict and ECC64 refuse to program it until it is erased again.
func (f *Flash) tornSector(erases int, old, res []byte, meta bool) *sector {
	s := &sector{erases: erases, data: slices.Clone(res)}
	if meta {
		s.meta = make([]byte, len(old))
		for j := range old {
			s.meta[j] = old[j] ^ f.geo.ErasedValue
		}
	}
	s.writes = make([]uint8, len(res)/f.cell)
	dirty := false
	for c := range s.writes {
		lo, hi := c*f.cell, (c+1)*f.cell
		if !allEqual(res[lo:hi], f.geo.ErasedValue) || (meta && !allEqual(s.meta[lo:hi], 0)) {
			s.writes[c] = 1
			dirty = true
		}
	}
	if !dirty {
		return &sector{erases: erases}
	}
	if f.policy == LimitedRewrite {
		s.blocks = make([]uint16, len(res)/f.limits.BlockSize)
	}
	return s
}

// tear returns what an interrupted operation leaves of the change from old to
// want (same length, in operation order).
func (f *Flash) tear(m CutMode, old, want []byte) []byte {
	res := slices.Clone(old)
	switch m {
	case TornAllButLast:
		copy(res, want[:len(want)-f.cell])
	case TornPrefix:
		copy(res, want[:f.rng.IntN(len(want)/f.cell)*f.cell])
	case TornSomeBits, TornMostBits:
		total := 0
		for i := range old {
			total += bits.OnesCount8(old[i] ^ want[i])
		}
		if total == 0 {
			break
		}
		if m == TornMostBits {
			copy(res, want)
		}
		// Toggle the j-th changing bit: into its new value for SomeBits,
		// back to its old value for MostBits.
		j := f.rng.IntN(total)
		for i := range old {
			d := old[i] ^ want[i]
			if c := bits.OnesCount8(d); j >= c {
				j -= c
				continue
			}
			for ; j > 0; j-- {
				d &= d - 1
			}
			res[i] ^= d & -d
			break
		}
	case TornRandom:
		for i := range res {
			res[i] ^= (old[i] ^ want[i]) & byte(f.rng.Uint32())
		}
	}
	return res
}

// Write stores p at off as a driver does: it splits the range at page
// boundaries and issues one Program per piece (a single Program on flash
// without pages). It stops at the first error.
func (f *Flash) Write(off int, p []byte) error {
	page := f.geo.PageSize
	if page == 0 {
		return f.Program(off, p)
	}
	for len(p) > 0 {
		n := min(len(p), page-off%page)
		if err := f.Program(off, p[:n]); err != nil {
			return err
		}
		off += n
		p = p[n:]
	}
	return nil
}

// ArmCut arranges a power cut on the op-th Program or Erase operation from
// now (op ≥ 1; see Ops for what counts). When it fires, the operation
// returns an error wrapping ErrPowerCut and the flash is powered off. Arming
// again replaces the previous cut.
func (f *Flash) ArmCut(op int, mode CutMode) {
	if op < 1 {
		panic(fmt.Sprintf("flash: ArmCut(%d): operations count from 1", op))
	}
	if !mode.valid() {
		panic(fmt.Sprintf("flash: ArmCut: invalid mode %v", mode))
	}
	f.cutAt = f.st.ops + op
	f.cutMode = mode
}

// Disarm cancels an armed cut that has not fired.
func (f *Flash) Disarm() { f.cutAt = 0 }

// Armed reports whether a cut is armed and has not fired yet.
func (f *Flash) Armed() bool { return f.cutAt != 0 }

// PowerOff powers the flash off between operations, like a reset; every
// operation then fails with ErrPowerCut until PowerOn.
func (f *Flash) PowerOff() { f.off = true }

// PowerOn powers the flash on again after a cut or PowerOff. The content,
// including torn and metastable bytes, is what the cut left. An armed cut
// that has not fired stays armed.
func (f *Flash) PowerOn() { f.off = false }

// PoweredOff reports whether the flash is off.
func (f *Flash) PoweredOff() bool { return f.off }

// Ops returns the number of operations so far: every Program command and
// every erase command counts one, including the one a cut interrupts.
// Reads and calls rejected before reaching the flash (range, alignment,
// rewrite policy, endurance) do not count.
func (f *Flash) Ops() int { return f.st.ops }

func (f *Flash) tick() (CutMode, bool) {
	f.st.ops++
	if f.cutAt != 0 && f.st.ops == f.cutAt {
		f.cutAt = 0
		return f.cutMode, true
	}
	return 0, false
}

func (f *Flash) fire(m CutMode) error {
	f.off = true
	f.st.cuts++
	return fmt.Errorf("%w during operation %d (%v)", ErrPowerCut, f.st.ops, m)
}

// Snapshot returns an independent copy of the flash: content, torn and
// metastable state, wear, statistics and generator state. Sectors are shared
// copy-on-write, so a snapshot costs one pointer per sector and each side
// copies a sector the first time it changes it. The copy is powered on with
// no cut armed. Snapshot only reads the receiver's content, so several
// goroutines may snapshot the same flash while none of them modifies it.
func (f *Flash) Snapshot() *Flash {
	g := *f
	g.secs = slices.Clone(f.secs)
	for _, s := range f.secs {
		s.frozen.Store(true)
	}
	g.rng = rand.New(&g.pcg)
	g.off = false
	g.cutAt = 0
	return &g
}

// MetastableBytes returns how many bytes currently read at random.
func (f *Flash) MetastableBytes() int {
	n := 0
	for _, s := range f.secs {
		for _, m := range s.meta {
			if m != 0 {
				n++
			}
		}
	}
	return n
}

// Stats is a summary of the activity of a flash since New; a snapshot
// carries its origin's figures on.
type Stats struct {
	Ops          int // Program and erase commands (the cut counter)
	Cuts         int // cuts that fired
	Reads        int
	ReadBytes    int
	Programs     int // program commands, including interrupted ones
	ProgramBytes int
	Erases       int // erase commands, including interrupted ones
	EraseBytes   int
	// Busy is the simulated time spent programming and erasing: typical
	// latencies, or worst case WithMaxTiming. An operation cut Before costs
	// nothing; any other interrupted operation costs its full time.
	Busy time.Duration
	// SectorErases is the erase count (wear) of each sector.
	SectorErases []int
}

// Stats returns the statistics.
func (f *Flash) Stats() Stats {
	st := Stats{
		Ops:          f.st.ops,
		Cuts:         f.st.cuts,
		Reads:        f.st.reads,
		ReadBytes:    f.st.readBytes,
		Programs:     f.st.programs,
		ProgramBytes: f.st.programBytes,
		Erases:       f.st.erases,
		EraseBytes:   f.st.eraseBytes,
		Busy:         f.st.busy,
		SectorErases: make([]int, len(f.secs)),
	}
	for i, s := range f.secs {
		st.SectorErases[i] = s.erases
	}
	return st
}

// Busy returns the simulated time spent so far; the difference across a
// call tells how long it took on the device.
func (f *Flash) Busy() time.Duration { return f.st.busy }

// EraseCount returns the erase count of sector i.
func (f *Flash) EraseCount(i int) int { return f.secs[i].erases }

func (f *Flash) checkRange(off, n int) error {
	if off < 0 || n < 0 || off > f.geo.Size || n > f.geo.Size-off {
		return fmt.Errorf("%w: flash is %#x bytes", ErrOutOfRange, f.geo.Size)
	}
	return nil
}

// loc returns the sector holding addr and the offset within it.
func (f *Flash) loc(addr int) (i, so int) {
	if f.uniform > 0 {
		i = addr / f.uniform
		return i, addr - i*f.uniform
	}
	i = f.geo.SectorIndex(addr)
	return i, addr - f.geo.Sectors[i].Off
}

// chunks calls fn for each piece of [off, off+n) within one sector: sector
// index i, offset so in the sector, offset k in the range, length l.
func (f *Flash) chunks(off, n int, fn func(i, so, k, l int)) {
	for k := 0; k < n; {
		i, so := f.loc(off + k)
		l := min(n-k, f.geo.Sectors[i].Size-so)
		fn(i, so, k, l)
		k += l
	}
}

// writable returns sector i ready to change: unshared, with data allocated.
func (f *Flash) writable(i int) *sector {
	s := f.secs[i]
	if s.frozen.Load() {
		s = s.clone()
		f.secs[i] = s
	}
	if s.data == nil {
		n := f.geo.Sectors[i].Size
		s.data = bytes.Repeat([]byte{f.geo.ErasedValue}, n)
		s.writes = make([]uint8, n/f.cell)
		if f.policy == LimitedRewrite {
			s.blocks = make([]uint16, n/f.limits.BlockSize)
		}
	}
	return s
}

// appendStored appends the stored bytes of [off, off+n), ignoring
// metastability.
func (f *Flash) appendStored(dst []byte, off, n int) []byte {
	f.chunks(off, n, func(i, so, k, l int) {
		if s := f.secs[i]; s.data != nil {
			dst = append(dst, s.data[so:so+l]...)
		} else {
			dst = append(dst, bytes.Repeat([]byte{f.geo.ErasedValue}, l)...)
		}
	})
	return dst
}

// combine is what programming d over old stores: bits only move away from
// the erased value.
func (f *Flash) combine(old, d byte) byte {
	if f.geo.ErasedValue == 0 {
		return old | d
	}
	return old & d
}

func (f *Flash) lat(l Latency) time.Duration {
	if f.maxTiming {
		return l.Max
	}
	return l.Typ
}

func (f *Flash) eraseTime(size int) time.Duration {
	if l, ok := f.timing.Erase[size]; ok {
		return f.lat(l)
	}
	if len(f.timing.Erase) == 0 {
		return 0
	}
	k := slices.Min(slices.Collect(maps.Keys(f.timing.Erase)))
	return f.lat(f.timing.Erase[k]) * time.Duration(size) / time.Duration(k)
}

func fill(p []byte, v byte) {
	for i := range p {
		p[i] = v
	}
}

func allEqual(p []byte, v byte) bool {
	for _, b := range p {
		if b != v {
			return false
		}
	}
	return true
}
