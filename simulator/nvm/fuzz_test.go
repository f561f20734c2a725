package nvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// The fuzz target mounts arbitrary bytes as the store's flash. Its inputs:
//
//   - cfg selects the flash and how the bytes get there: bits 0–1 the part
//     (NOR, STM32WL, nRF52840, nRF52840 with a 32-byte write alignment),
//     bit 2 flash that erases to 0x00, bit 3 three sectors instead of two,
//     bit 4 program every unit, erased-looking ones too (cells written
//     though they read erased, as a torn operation leaves them), bit 5 fix
//     up the header and record CRCs so that mutations get past them, bits
//     6–7 a power cut on the last program that loads the bytes (none,
//     TornAllButLast, TornRandom, After).
//   - cut arms a power cut once the bytes are loaded: bits 0–2 the mode (0
//     none, else flash.CutModes()[v-1]), bit 3 Metastable (also for the
//     load cut), bits 4–15 the operation it hits, counted from the first
//     Open. It also seeds the flash's generator.
//   - data is the content of the region, sector after sector; missing
//     bytes are erased.
//
// Parts are shrunk to 256-byte (NOR, STM32WL) or 512-byte (nRF52840: its
// rewrite block) sectors so that an input covers the whole store; the
// rewrite policy, program unit, page and erased value are the part's.

const (
	fuzzPartMask   = 0x03
	fuzzErasedZero = 0x04
	fuzzThreeSecs  = 0x08
	fuzzProgramAll = 0x10
	fuzzFixCRCs    = 0x20
	fuzzLoadCut    = 6 // shift of the load cut mode

	fuzzMetastable = 0x08 // in cut
)

var loadCutModes = [...]flash.CutMode{0, flash.TornAllButLast, flash.TornRandom, flash.After}

// fuzzRegion returns a fresh flash for cfg with the store region at its
// second sector.
func fuzzRegion(cfg uint8, seed uint64) (*flash.Region, error) {
	var (
		p    flash.Profile
		sec  = 256
		opts = []flash.Option{flash.WithSeed(seed)}
	)
	switch cfg & fuzzPartMask {
	case 0:
		p = flash.NORW25Q(0)
		p.EraseSizes = nil // one sector per erase command
	case 1:
		p = flash.STM32WL()
	case 2, 3:
		p, sec = flash.NRF52840(), 512
		if cfg&fuzzPartMask == 3 {
			opts = append(opts, flash.WithProgramUnit(32))
		}
	}
	if cfg&fuzzErasedZero != 0 {
		opts = append(opts, flash.WithErasedValue(0x00))
	}
	n := 2
	if cfg&fuzzThreeSecs != 0 {
		n = 3
	}
	p.SectorSizes = flash.UniformSectors((n+2)*sec, sec)
	f, err := flash.New(p, opts...)
	if err != nil {
		return nil, err
	}
	return flash.NewRegion(f, "nvm", sec, n*sec)
}

// loadRegion programs data into the erased region r as a driver would: one
// program per run of units that are not erased (every unit with all), split
// at NOR page boundaries. A load cut interrupts the last of them.
func loadRegion(r *flash.Region, data []byte, all bool, cut flash.CutMode) error {
	f := r.Flash()
	g := f.Geometry()
	unit := g.ProgramUnit
	content := bytes.Repeat([]byte{g.ErasedValue}, r.Size())
	copy(content, data)
	type span struct{ off, n int }
	var spans []span
	for off := 0; off < len(content); off += unit {
		if !all && allEqual(content[off:off+unit], g.ErasedValue) {
			continue
		}
		page := g.PageSize != 0 && (r.Offset()+off)%g.PageSize == 0
		if k := len(spans) - 1; k >= 0 && spans[k].off+spans[k].n == off && !page {
			spans[k].n += unit
			continue
		}
		spans = append(spans, span{off, unit})
	}
	for i, sp := range spans {
		if i == len(spans)-1 && cut != 0 {
			f.ArmCut(1, cut)
		}
		if err := r.Program(sp.off, content[sp.off:sp.off+sp.n]); err != nil && !errors.Is(err, flash.ErrPowerCut) {
			return err
		}
	}
	f.Disarm()
	f.PowerOn()
	return nil
}

// fixCRCs rewrites, in place, the CRC of every header that has the magic
// and of every record the mount would reach, so that the fuzzer's mutations
// of lengths, keys, values and sequence numbers are seen by the parser
// rather than stopped by a checksum.
func fixCRCs(b []byte, secSize, hdrLen, align int) {
	for base := 0; base+secSize <= len(b); base += secSize {
		h := b[base : base+hdrLen]
		if string(h[:4]) != sectorMagic {
			continue
		}
		binary.LittleEndian.PutUint32(h[12:], crc32.ChecksumIEEE(h[:12]))
		seq := binary.LittleEndian.Uint32(h[8:])
		for off := hdrLen; ; {
			rec := b[base+off : base+secSize]
			if len(rec) < roundUp(recordHead+crcLen, align) {
				break
			}
			key := Key(binary.LittleEndian.Uint16(rec))
			if binary.LittleEndian.Uint16(rec[6:]) != recordMarker || !key.valid() {
				break
			}
			body := recordHead + int(rec[3]) + int(binary.LittleEndian.Uint16(rec[4:]))
			n := roundUp(body+crcLen, align)
			if n > len(rec) {
				break
			}
			binary.LittleEndian.PutUint32(rec[body:], recordCRC(seq, rec[:body]))
			off += n
		}
	}
}

// fuzzInput is one decoded input, ready to load.
type fuzzInput struct {
	r       *flash.Region
	data    []byte
	all     bool
	loadCut flash.CutMode
	cutMode flash.CutMode // 0: no cut after loading
	cutOp   int
}

func decodeFuzzInput(cfg uint8, cut uint16, data []byte) (fuzzInput, error) {
	r, err := fuzzRegion(cfg, uint64(cut))
	if err != nil {
		return fuzzInput{}, err
	}
	in := fuzzInput{r: r, all: cfg&fuzzProgramAll != 0, cutOp: int(cut >> 4)}
	var meta flash.CutMode
	if cut&fuzzMetastable != 0 {
		meta = flash.Metastable
	}
	if m := loadCutModes[cfg>>fuzzLoadCut]; m != 0 {
		in.loadCut = m | meta
	}
	if m := int(cut & 7); m != 0 && in.cutOp != 0 {
		in.cutMode = flash.CutModes()[m-1] | meta
	}
	in.data = slices.Clone(data[:min(len(data), r.Size())])
	if cfg&fuzzFixCRCs != 0 {
		align := max(minAlign, r.Flash().ProgramUnit())
		in.data = append(in.data, bytes.Repeat([]byte{r.Flash().ErasedValue()}, r.Size()-len(in.data))...)
		fixCRCs(in.data, r.Sectors()[0].Size, roundUp(headerData, align), align)
	}
	return in, nil
}

// FuzzMount mounts arbitrary flash contents and checks what a device relies
// on. The first Open, with no power cut, must succeed: whatever the flash
// holds, the store mounts (bytes it cannot make sense of are not a store).
// From then on:
//
//   - re-mounting reads exactly the same values and writes nothing;
//   - a series of writes (typed counters raised by one, settings and raw
//     keys set and deleted, enough to compact) each either succeeds or
//     fails with ErrFull, and the store then holds exactly what was
//     written, in RAM and after a re-mount, with every unknown key kept;
//   - the counters never go backwards;
//   - after a power cut anywhere (the first Open's recovery included) a
//     re-mount reads the values from before or after the interrupted call,
//     nothing else, the same on the next mount, and takes further writes.
func FuzzMount(f *testing.F) {
	f.Fuzz(func(t *testing.T, cfg uint8, cut uint16, data []byte) {
		in, err := decodeFuzzInput(cfg, cut, data)
		if err != nil {
			t.Fatal(err)
		}
		r := in.r
		if err := loadRegion(r, in.data, in.all, in.loadCut); err != nil {
			t.Fatalf("loading the flash: %v", err)
		}
		fl := r.Flash()

		// The reference mount, on a snapshot: what the device must read.
		ref, err := Open(regionOn(t, r, fl.Snapshot()))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		committed := ref.vals

		if in.cutMode != 0 {
			fl.ArmCut(in.cutOp, in.cutMode)
		}
		s, err := Open(r)
		if err != nil {
			if !errors.Is(err, flash.ErrPowerCut) || in.cutMode == 0 {
				t.Fatalf("Open: %v", err)
			}
			fl.PowerOn()
			checkAfterCut(t, r, "the first Open", committed, committed)
			return
		}
		checkVals(t, "Open", s, committed)
		// Re-mounts write nothing, so an armed cut stays for the writes.
		checkRemount(t, r, "Open", committed)

		for i, op := range fuzzOps {
			before := maps.Clone(s.vals)
			beforeCnt := s.Counters()
			want, err := op.do(s, maps.Clone(before))
			switch {
			case err == nil:
				checkVals(t, op.name, s, want)
				if b := s.Counters().Behind(beforeCnt); len(b) > 0 {
					t.Fatalf("%s: %v went backwards", op.name, b)
				}
				committed = want
				// What a reset now would read.
				checkMount(t, r, op.name, committed)
			case errors.Is(err, ErrFull):
				checkVals(t, op.name+" (store full)", s, before)
			case errors.Is(err, flash.ErrPowerCut) && fl.PoweredOff():
				fl.PowerOn()
				checkAfterCut(t, r, fmt.Sprintf("op %d (%s)", i, op.name), before, want)
				return
			default:
				t.Fatalf("%s: %v", op.name, err)
			}
		}
		fl.Disarm()
		checkRemount(t, r, "the writes", committed)
	})
}

// fuzzOp is one write of FuzzMount: do makes it on s and returns the values
// the store must hold if it succeeds, given those it holds before.
type fuzzOp struct {
	name string
	do   func(s *Store, vals map[id][]byte) (map[id][]byte, error)
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// raise raises a 32-bit counter by one, unless it is at its maximum.
func raise(key Key, get func(*Store) uint32, set func(*Store, uint32) error) func(*Store, map[id][]byte) (map[id][]byte, error) {
	return func(s *Store, vals map[id][]byte) (map[id][]byte, error) {
		cur := get(s)
		if cur == math.MaxUint32 {
			return vals, nil
		}
		vals[id{key: key}] = u32(cur + 1)
		return vals, set(s, cur+1)
	}
}

func setting(name string, n int, fill byte) fuzzOp {
	return fuzzOp{"SetSetting " + name, func(s *Store, vals map[id][]byte) (map[id][]byte, error) {
		v := bytes.Repeat([]byte{fill}, n)
		vals[id{key: KeySetting, name: name}] = v
		return vals, s.SetSetting(name, v)
	}}
}

var (
	fcntUp  = fuzzOp{"SetFCntUp", raise(KeyFCntUp, (*Store).FCntUp, (*Store).SetFCntUp)}
	fuzzOps = []fuzzOp{
		fcntUp,
		{"NextDevNonce", func(s *Store, vals map[id][]byte) (map[id][]byte, error) {
			cur := s.DevNonce()
			if cur == math.MaxUint16 {
				return vals, nil
			}
			vals[id{key: KeyDevNonce}] = u32(uint32(cur) + 1)
			n, err := s.NextDevNonce()
			if err == nil && n != cur+1 {
				return vals, fmt.Errorf("NextDevNonce after %d returned %d", cur, n)
			}
			return vals, err
		}},
		{"SetSessionCntPrev", func(s *Store, vals map[id][]byte) (map[id][]byte, error) {
			cur := s.SessionCntPrev(1)
			if cur == math.MaxInt32 {
				return vals, nil
			}
			vals[id{key: KeySessionCntPrev + 1}] = u32(uint32(cur + 1))
			return vals, s.SetSessionCntPrev(1, cur+1)
		}},
		{"SetSecurityCounter", raise(KeySecurityCounter,
			func(s *Store) uint32 { return s.SecurityCounter(0) },
			func(s *Store, v uint32) error { return s.SetSecurityCounter(0, v) })},
		setting("fuzz", 40, 0xA1),
		{"Set", func(s *Store, vals map[id][]byte) (map[id][]byte, error) {
			v := []byte("raw value of another component")
			vals[id{key: 0x0177}] = v
			return vals, s.Set(0x0177, v)
		}},
		{"DeleteSetting", func(s *Store, vals map[id][]byte) (map[id][]byte, error) {
			name := "fuzz"
			if names := s.Settings(); len(names) > 0 && names[0] != "fuzz" {
				name = names[0]
			}
			delete(vals, id{key: KeySetting, name: name})
			return vals, s.DeleteSetting(name)
		}},
		setting("fuzz", 40, 0xB2),
		fcntUp,
		setting("fuzz", 40, 0xC3),
		fcntUp,
		setting("fuzz", 40, 0xD4),
		{"Delete", func(s *Store, vals map[id][]byte) (map[id][]byte, error) {
			delete(vals, id{key: 0x0177})
			return vals, s.Delete(0x0177)
		}},
		fcntUp,
	}
)

// checkVals checks that s holds exactly want.
func checkVals(t *testing.T, when string, s *Store, want map[id][]byte) {
	t.Helper()
	if !maps.EqualFunc(s.vals, want, bytes.Equal) {
		t.Fatalf("after %s the store holds %s, want %s", when, dump(s.vals), dump(want))
	}
}

// checkRemount mounts r twice more: both must read want and write nothing.
func checkRemount(t *testing.T, r *flash.Region, when string, want map[id][]byte) {
	t.Helper()
	for range 2 {
		checkMount(t, r, when, want)
	}
}

// checkMount mounts r again: it must read want and write nothing.
func checkMount(t *testing.T, r *flash.Region, when string, want map[id][]byte) {
	t.Helper()
	ops := r.Flash().Ops()
	s, err := Open(r)
	if err != nil {
		t.Fatalf("re-mount after %s: %v", when, err)
	}
	checkVals(t, "a re-mount after "+when, s, want)
	if d := r.Flash().Ops() - ops; d != 0 {
		t.Fatalf("re-mount after %s wrote %d operations", when, d)
	}
}

// checkAfterCut checks the store after a power cut during a call that was
// changing before into after: a mount reads one or the other, the next
// mount reads the same without writing, and a write sticks.
func checkAfterCut(t *testing.T, r *flash.Region, when string, before, after map[id][]byte) {
	t.Helper()
	s, err := Open(r)
	if err != nil {
		t.Fatalf("Open after a cut in %s: %v", when, err)
	}
	got := s.vals
	if !maps.EqualFunc(got, before, bytes.Equal) && !maps.EqualFunc(got, after, bytes.Equal) {
		t.Fatalf("after a cut in %s the store holds %s, want %s (before) or %s (after)", when, dump(got), dump(before), dump(after))
	}
	var ref Store
	ref.vals = before
	if b := s.Counters().Behind(ref.Counters()); len(b) > 0 {
		t.Fatalf("after a cut in %s: %v went backwards", when, b)
	}
	checkRemount(t, r, "a cut in "+when, got)
	want, err := fcntUp.do(s, maps.Clone(got))
	if err != nil && !errors.Is(err, ErrFull) {
		t.Fatalf("write after a cut in %s: %v", when, err)
	}
	if err != nil {
		want = got
	}
	checkRemount(t, r, "a write after a cut in "+when, want)
}

func regionOn(t *testing.T, r *flash.Region, g *flash.Flash) *flash.Region {
	t.Helper()
	q, err := r.On(g)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func dump(vals map[id][]byte) string {
	ids := slices.SortedFunc(maps.Keys(vals), func(a, b id) int {
		if a.key != b.key {
			return int(a.key) - int(b.key)
		}
		return bytes.Compare([]byte(a.name), []byte(b.name))
	})
	var b bytes.Buffer
	b.WriteString("{")
	for i, rid := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%#04x", uint16(rid.key))
		if rid.name != "" {
			fmt.Fprintf(&b, "/%q", rid.name)
		}
		fmt.Fprintf(&b, ": %x", vals[rid])
	}
	b.WriteString("}")
	return b.String()
}

// Seed corpus.

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzMount from real store states")

// TestFuzzMountSeeds regenerates the seed corpus of FuzzMount from real
// store states and checks that testdata holds it, so that the seeds follow
// the format. Run with -update-fuzz-seeds to rewrite the files. Files the
// fuzzer added (crashers kept as regression inputs) are left alone.
func TestFuzzMountSeeds(t *testing.T) {
	seeds, err := fuzzMountSeeds()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzMount")
	if *updateSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, sd := range seeds {
		path := filepath.Join(dir, sd.name)
		want := corpusFile(sd.cfg, sd.cut, sd.data)
		if *updateSeeds {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale: go test ./simulator/nvm -run '^TestFuzzMountSeeds$' -update-fuzz-seeds", path)
		}
	}
}

// corpusFile encodes one input in the `go test fuzz v1` format.
func corpusFile(cfg uint8, cut uint16, data []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\nbyte(%q)\nuint16(%d)\n[]byte(%q)\n", cfg, cut, data)
}

type fuzzSeed struct {
	name string
	cfg  uint8
	cut  uint16
	data []byte
}

// fuzzMountSeeds builds the seed inputs from real stores: the region
// bytes, trailing erased bytes trimmed, on each part.
func fuzzMountSeeds() ([]fuzzSeed, error) {
	// fresh is a store's first writes: counters, settings, a key of a newer
	// firmware and a deletion.
	fresh := func(s *Store) error {
		for _, w := range []func() error{
			func() error { return s.SetDevNonce(7) },
			func() error { return s.SetFCntUp(1000) },
			func() error { return s.SetSessionCntPrev(2, 5) },
			func() error { return s.SetSecurityCounter(0, 3) },
			func() error { return s.SetSetting("region", []byte("EU868")) },
			func() error { return s.SetSetting("adr", []byte{1}) },
			func() error { return s.Set(0x7abc, []byte("from a newer firmware")) },
			func() error { return s.DeleteSetting("adr") },
		} {
			if err := w(); err != nil {
				return err
			}
		}
		return nil
	}
	// compacted writes until the store has compacted n times. With a cut
	// mode, it then goes on until a write compacts and makes that write
	// again from the flash as it was before, cut at its op-th operation
	// (1 is the erase of the target sector, the last the header).
	compacted := func(n, op int, m flash.CutMode) func(s *Store) error {
		return func(s *Store) error {
			if err := fresh(s); err != nil {
				return err
			}
			for i := 0; ; i++ {
				if err := s.SetFCntUp(uint32(2000 + i)); err != nil {
					return err
				}
				blob := bytes.Repeat([]byte{byte(i)}, 30)
				before, snap := s.Stats().Compactions, s.r.Flash().Snapshot()
				if err := s.SetSetting("blob", blob); err != nil {
					return err
				}
				done := s.Stats().Compactions
				switch {
				case done < n:
					continue
				case op == 0:
					return nil
				case done == before:
					continue
				}
				// This write compacted: make it again from before, cut.
				r, err := s.r.On(snap)
				if err != nil {
					return err
				}
				s2, err := Open(r)
				if err != nil {
					return err
				}
				*s = *s2
				snap.ArmCut(op, m)
				return s.SetSetting("blob", blob)
			}
		}
	}
	tornRecord := func(s *Store) error {
		if err := fresh(s); err != nil {
			return err
		}
		s.r.Flash().ArmCut(1, flash.TornPrefix)
		return s.SetSetting("region", []byte("US915"))
	}
	type step struct {
		name string
		cfg  uint8 // added to the part's
		cut  uint16
		work func(*Store) error
	}
	common := []step{
		{"empty", 0, 0, func(*Store) error { return nil }},
		{"fresh", 0, 0, fresh},
		{"fresh-fixcrc", fuzzFixCRCs, 0, fresh},
		{"compacted", 0, 0, compacted(3, 0, 0)},
		{"compacted-3sectors", fuzzThreeSecs, 0, compacted(4, 0, 0)},
		{"mid-compaction-erased", 0, 0, compacted(2, 1, flash.After)},
		{"mid-compaction-torn-erase", 0, 0, compacted(2, 1, flash.TornRandom)},
		{"mid-compaction-no-header", 0, 0, compacted(2, 3, flash.Before)},
		{"mid-compaction-torn-header", 0, 0, compacted(2, 3, flash.TornAllButLast)},
		{"torn-record", 0, 0, tornRecord},
		// A fresh store loaded with its last program torn and metastable,
		// then a cut at the 1st operation after loading.
		{"fresh-metastable-load", 2 << fuzzLoadCut, 1<<4 | fuzzMetastable | 3, fresh},
		// A fresh store with a TornRandom cut at the 5th operation after
		// loading (during the writes).
		{"fresh-cut-writes", 0, 5<<4 | 7, fresh},
	}
	parts := []struct {
		name  string
		cfg   uint8
		extra []step
	}{
		{"nor", 0, []step{{"fresh-erased-zero", fuzzErasedZero, 0, fresh}, {"fresh-program-all", fuzzProgramAll, 0, fresh}}},
		{"stm32wl", 1, []step{{"fresh-program-all", fuzzProgramAll, 0, fresh}}},
		{"nrf52840", 2, nil},
		{"nrf52840-wide", 3, nil},
	}
	var seeds []fuzzSeed
	for _, p := range parts {
		steps := append(slices.Clone(common), p.extra...)
		if p.cfg == 3 {
			steps = []step{{"fresh", 0, 0, fresh}, {"compacted", 0, 0, compacted(2, 0, 0)}}
		}
		for _, st := range steps {
			cfg := p.cfg | st.cfg
			r, err := fuzzRegion(cfg, 1)
			if err != nil {
				return nil, err
			}
			s, err := Open(r)
			if err != nil {
				return nil, err
			}
			if err := st.work(s); err != nil && !errors.Is(err, flash.ErrPowerCut) {
				return nil, fmt.Errorf("seed %s-%s: %w", p.name, st.name, err)
			}
			fl := s.r.Flash() // compacted may have moved s to a snapshot
			fl.PowerOn()
			b := make([]byte, r.Size())
			if err := s.r.Read(0, b); err != nil {
				return nil, err
			}
			for len(b) > 0 && b[len(b)-1] == fl.ErasedValue() {
				b = b[:len(b)-1]
			}
			seeds = append(seeds, fuzzSeed{p.name + "-" + st.name, cfg, st.cut, b})
		}
	}
	return seeds, nil
}
