package flash_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// profiles are the built-in parts, NOR shrunk to keep tests fast.
var profiles = []struct {
	name string
	prof func() flash.Profile
}{
	{"NOR", func() flash.Profile { return flash.NORW25Q(1 * flash.MiB) }},
	{"STM32WL", flash.STM32WL},
	{"nRF52840", flash.NRF52840},
}

func newFlash(t testing.TB, p flash.Profile, opts ...flash.Option) *flash.Flash {
	t.Helper()
	f, err := flash.New(p, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", p.Name, err)
	}
	return f
}

func read(t testing.TB, f *flash.Flash, off, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if err := f.Read(off, p); err != nil {
		t.Fatalf("Read(%#x, %d): %v", off, n, err)
	}
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func filled(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n) }

// pattern returns n bytes that differ from 0xFF and 0x00 and from each other.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*37) + seed | 0x01
		if p[i] == 0xFF {
			p[i] = 0x5A
		}
	}
	return p
}

func TestProfiles(t *testing.T) {
	tests := []struct {
		prof        flash.Profile
		size        int
		sectors     int
		sector      int
		eraseSizes  []int
		unit, page  int
		policy      flash.Policy
		endurance   int
		eraseTyp    time.Duration
		eraseSector int
	}{
		{flash.NORW25Q(0), 8 * flash.MiB, 2048, 4096, []int{4096, 32768, 65536}, 1, 256, flash.AND, 100_000, 45 * time.Millisecond, 4096},
		{flash.NORW25Q(16 * flash.MiB), 16 * flash.MiB, 4096, 4096, []int{4096, 32768, 65536}, 1, 256, flash.AND, 100_000, 45 * time.Millisecond, 4096},
		{flash.STM32WL(), 256 * flash.KiB, 128, 2048, nil, 8, 0, flash.ECC64, 10_000, 22020 * time.Microsecond, 2048},
		{flash.NRF52840(), 1 * flash.MiB, 256, 4096, nil, 4, 0, flash.LimitedRewrite, 10_000, 85 * time.Millisecond, 4096},
		{flash.NRF52832(), 512 * flash.KiB, 128, 4096, nil, 4, 0, flash.LimitedRewrite, 10_000, 85 * time.Millisecond, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.prof.Name, func(t *testing.T) {
			f := newFlash(t, tt.prof)
			g := f.Geometry()
			if g.Size != tt.size || f.Size() != tt.size || len(g.Sectors) != tt.sectors {
				t.Errorf("size %d with %d sectors, want %d with %d", g.Size, len(g.Sectors), tt.size, tt.sectors)
			}
			for i, s := range g.Sectors {
				if s.Size != tt.sector || s.Off != i*tt.sector {
					t.Fatalf("sector %d = %+v", i, s)
				}
			}
			if fmt.Sprint(g.EraseSizes) != fmt.Sprint(tt.eraseSizes) || g.ProgramUnit != tt.unit || g.PageSize != tt.page {
				t.Errorf("erase %v unit %d page %d", g.EraseSizes, g.ProgramUnit, g.PageSize)
			}
			if g.ErasedValue != 0xFF || f.ErasedValue() != 0xFF || f.ProgramUnit() != tt.unit {
				t.Errorf("erased %#x", g.ErasedValue)
			}
			if p, strict := f.Policy(); p != tt.policy || !strict {
				t.Errorf("policy %v strict %v, want %v strict", p, strict, tt.policy)
			}
			if tt.prof.Endurance != tt.endurance {
				t.Errorf("endurance %d", tt.prof.Endurance)
			}
			if !bytes.Equal(read(t, f, 0, 64), filled(64, 0xFF)) {
				t.Error("new flash not erased")
			}
			must(t, f.Erase(0, tt.eraseSector))
			if f.Busy() != tt.eraseTyp {
				t.Errorf("sector erase took %v, want %v", f.Busy(), tt.eraseTyp)
			}
			if i := g.SectorIndex(tt.sector + 1); i != 1 {
				t.Errorf("SectorIndex = %d", i)
			}
			if g.SectorIndex(-1) != -1 || g.SectorIndex(g.Size) != -1 {
				t.Error("SectorIndex outside the flash")
			}
		})
	}
}

func TestNewRejectsBadProfiles(t *testing.T) {
	badLimits := flash.NRF52840()
	badLimits.Limits.WordWrites = 0
	mixed := flash.Profile{Name: "mixed", SectorSizes: []int{16 * flash.KiB, 64 * flash.KiB}, EraseSizes: []int{16 * flash.KiB}, ProgramUnit: 4, ErasedValue: 0xFF, Policy: flash.AND}
	tests := []struct {
		name string
		prof flash.Profile
		opts []flash.Option
	}{
		{"unit not power of two", flash.Profile{SectorSizes: []int{4096}, ProgramUnit: 3, ErasedValue: 0xFF}, nil},
		{"no sectors", flash.Profile{ProgramUnit: 1, ErasedValue: 0xFF}, nil},
		{"erased 0x55", flash.NRF52840(), []flash.Option{flash.WithErasedValue(0x55)}},
		{"alignment below native unit", flash.STM32WL(), []flash.Option{flash.WithProgramUnit(4)}},
		{"alignment not power of two", flash.NORW25Q(flash.MiB), []flash.Option{flash.WithProgramUnit(12)}},
		{"unknown erase size", flash.NORW25Q(flash.MiB), []flash.Option{flash.WithEraseSizes(8 * flash.KiB)}},
		{"page wrap without pages", flash.STM32WL(), []flash.Option{flash.WithPageWrap(true)}},
		{"erase sizes over mixed sectors", mixed, nil},
		{"NOR size not a sector multiple", flash.NORW25Q(flash.MiB + 100), nil},
		{"bad limits", badLimits, nil},
		{"unknown policy", flash.NRF52840(), []flash.Option{flash.WithPolicy(9)}},
		{"negative endurance", flash.NRF52840(), []flash.Option{flash.WithEndurance(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := flash.New(tt.prof, tt.opts...); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestEraseSetsErasedValue(t *testing.T) {
	for _, pr := range profiles {
		for _, erased := range []byte{0xFF, 0x00} {
			t.Run(fmt.Sprintf("%s/%#02x", pr.name, erased), func(t *testing.T) {
				f := newFlash(t, pr.prof(), flash.WithErasedValue(erased))
				g := f.Geometry()
				n := g.Sectors[1].Size
				if !bytes.Equal(read(t, f, 0, 2*n), filled(2*n, erased)) {
					t.Fatal("new flash does not read erased")
				}
				data := pattern(n, 7)
				must(t, f.Write(n, data))
				if got := read(t, f, n, n); !bytes.Equal(got, data) {
					t.Fatalf("read back % x…, want % x…", got[:8], data[:8])
				}
				must(t, f.Erase(n, n))
				if !bytes.Equal(read(t, f, 0, 3*n), filled(3*n, erased)) {
					t.Fatal("erase did not restore the erased value")
				}
				// Erased again, the sector takes a program in strict mode.
				must(t, f.Write(n, data))
			})
		}
	}
}

func TestProgramOnlyMovesBitsAwayFromErased(t *testing.T) {
	tests := []struct {
		erased        byte
		first, second byte
		want          byte
	}{
		{0xFF, 0xF0, 0x3C, 0x30},
		{0xFF, 0x0F, 0xFF, 0x0F},
		{0x00, 0x0F, 0x3C, 0x3F},
		{0x00, 0xF0, 0x00, 0xF0},
	}
	for _, pr := range profiles {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%#02x/%#02x-%#02x", pr.name, tt.erased, tt.first, tt.second), func(t *testing.T) {
				// AND for every profile: ECC64 would refuse the second program.
				f := newFlash(t, pr.prof(), flash.WithStrict(false), flash.WithPolicy(flash.AND), flash.WithErasedValue(tt.erased))
				n := f.ProgramUnit()
				must(t, f.Program(0, filled(n, tt.first)))
				must(t, f.Program(0, filled(n, tt.second)))
				if got := read(t, f, 0, n); !bytes.Equal(got, filled(n, tt.want)) {
					t.Fatalf("got % x, want %#02x", got, tt.want)
				}
			})
		}
	}
}

func TestNORANDMode(t *testing.T) {
	f := newFlash(t, flash.NORW25Q(flash.MiB), flash.WithStrict(false))
	for _, v := range []byte{0xAA, 0x0F, 0xF0} {
		must(t, f.Program(0x10, []byte{v, v}))
	}
	if got := read(t, f, 0x10, 2); !bytes.Equal(got, []byte{0, 0}) {
		t.Fatalf("got % x", got)
	}
	must(t, f.Program(0x20, []byte{0xAA}))
	must(t, f.Program(0x20, []byte{0x0F}))
	if got := read(t, f, 0x20, 1)[0]; got != 0x0A {
		t.Fatalf("0xAA then 0x0F = %#02x, want 0x0a", got)
	}
}

func TestStrictRejectsRewrite(t *testing.T) {
	for _, pr := range profiles {
		t.Run(pr.name, func(t *testing.T) {
			f := newFlash(t, pr.prof())
			u := f.ProgramUnit()
			data := pattern(u, 1)
			must(t, f.Program(0, data))
			ops := f.Ops()
			// Even the same data, or all ones, is a rewrite.
			for _, again := range [][]byte{data, filled(u, 0xFF), filled(u, 0x00)} {
				err := f.Program(0, again)
				wantErr(t, err, flash.ErrRewrite)
				if !strings.Contains(err.Error(), "strict") {
					t.Errorf("error %q does not name the strict rule", err)
				}
			}
			var oe *flash.OpError
			if err := f.Program(0, data); !errors.As(err, &oe) || oe.Op != "program" || oe.Off != 0 || oe.Size != u {
				t.Errorf("error %#v is not an OpError for the program", err)
			}
			if f.Ops() != ops {
				t.Errorf("rejected programs counted: ops %d → %d", ops, f.Ops())
			}
			if got := read(t, f, 0, u); !bytes.Equal(got, data) {
				t.Fatalf("content changed by a rejected program: % x", got)
			}
			// The next unit is untouched and takes a program; a range
			// overlapping the written unit is refused as a whole.
			must(t, f.Program(2*u, data))
			wantErr(t, f.Program(u, filled(2*u, 0)), flash.ErrRewrite)
			if got := read(t, f, u, u); !bytes.Equal(got, filled(u, 0xFF)) {
				t.Fatalf("unit changed by a refused program: % x", got)
			}
			must(t, f.Program(u, data))
			must(t, f.Erase(0, f.Geometry().Sectors[0].Size))
			must(t, f.Program(0, data))
		})
	}
}

func TestNORPageWrap(t *testing.T) {
	const page = 256
	data := pattern(16, 3)

	t.Run("faithful", func(t *testing.T) {
		f := newFlash(t, flash.NORW25Q(flash.MiB), flash.WithPageWrap(true))
		base := 4 * page
		must(t, f.Program(base+250, data))
		got := read(t, f, base-page, 3*page)
		want := filled(3*page, 0xFF)
		copy(want[page+250:], data[:6])
		copy(want[page:], data[6:])
		if !bytes.Equal(got, want) {
			t.Fatalf("page after the wrapped program:\n got % x\nwant % x", got[page:2*page], want[page:2*page])
		}
		if f.Ops() != 1 {
			t.Errorf("a wrapped page program is %d operations, want 1", f.Ops())
		}
	})

	t.Run("longer than a page", func(t *testing.T) {
		// The page buffer keeps the last byte sent for each offset.
		f := newFlash(t, flash.NORW25Q(flash.MiB), flash.WithPageWrap(true))
		long := pattern(300, 9)
		must(t, f.Program(page, long))
		want := make([]byte, page)
		for i, b := range long {
			want[i%page] = b
		}
		if got := read(t, f, page, page); !bytes.Equal(got, want) {
			t.Fatal("300-byte program does not leave the last 256 bytes sent")
		}
	})

	t.Run("rejected by default", func(t *testing.T) {
		f := newFlash(t, flash.NORW25Q(flash.MiB))
		wantErr(t, f.Program(4*page+250, data), flash.ErrPageBoundary)
		if f.Ops() != 0 || !bytes.Equal(read(t, f, 4*page, 2*page), filled(2*page, 0xFF)) {
			t.Fatal("a rejected program changed the flash")
		}
		// A program that ends exactly at the boundary is fine.
		must(t, f.Program(4*page+240, data))
	})

	t.Run("Write splits at pages", func(t *testing.T) {
		f := newFlash(t, flash.NORW25Q(flash.MiB))
		long := pattern(1000, 5)
		must(t, f.Write(100, long))
		if st := f.Stats(); st.Ops != 5 || st.Programs != 5 || st.ProgramBytes != 1000 {
			t.Errorf("1000 bytes from offset 100: %d ops, %d programs, %d bytes; want 5, 5, 1000", st.Ops, st.Programs, st.ProgramBytes)
		}
		if !bytes.Equal(read(t, f, 100, 1000), long) {
			t.Fatal("Write content")
		}
		g := newFlash(t, flash.NRF52840())
		must(t, g.Write(4096-8, pattern(16, 1)))
		if g.Ops() != 1 {
			t.Errorf("internal flash Write is %d ops, want 1 (even across a sector)", g.Ops())
		}
	})
}

func TestAlignmentAndRange(t *testing.T) {
	type op struct {
		erase     bool
		off, size int
	}
	tests := []struct {
		name string
		prof flash.Profile
		opts []flash.Option
		op   op
		want error
	}{
		{"NOR program 1 byte", flash.NORW25Q(flash.MiB), nil, op{false, 3, 1}, nil},
		{"NOR align 8 offset", flash.NORW25Q(flash.MiB), []flash.Option{flash.WithProgramUnit(8)}, op{false, 4, 8}, flash.ErrAlignment},
		{"NOR align 8 length", flash.NORW25Q(flash.MiB), []flash.Option{flash.WithProgramUnit(8)}, op{false, 8, 4}, flash.ErrAlignment},
		{"NOR align 8 ok", flash.NORW25Q(flash.MiB), []flash.Option{flash.WithProgramUnit(8)}, op{false, 8, 16}, nil},
		{"STM32 program offset", flash.STM32WL(), nil, op{false, 4, 8}, flash.ErrAlignment},
		{"STM32 program length", flash.STM32WL(), nil, op{false, 8, 12}, flash.ErrAlignment},
		{"STM32 program ok", flash.STM32WL(), nil, op{false, 8, 16}, nil},
		{"STM32 align 32", flash.STM32WL(), []flash.Option{flash.WithProgramUnit(32)}, op{false, 8, 32}, flash.ErrAlignment},
		{"nRF program offset", flash.NRF52840(), nil, op{false, 2, 4}, flash.ErrAlignment},
		{"nRF program length", flash.NRF52840(), nil, op{false, 4, 2}, flash.ErrAlignment},
		{"nRF program ok", flash.NRF52840(), nil, op{false, 4, 4}, nil},
		{"NOR erase offset", flash.NORW25Q(flash.MiB), nil, op{true, 0x800, 4096}, flash.ErrAlignment},
		{"NOR erase size", flash.NORW25Q(flash.MiB), nil, op{true, 0, 0x800}, flash.ErrAlignment},
		{"NOR erase 32K at 4K", flash.NORW25Q(flash.MiB), nil, op{true, 4096, 32768}, nil},
		{"STM32 erase offset", flash.STM32WL(), nil, op{true, 1024, 2048}, flash.ErrAlignment},
		{"STM32 erase size", flash.STM32WL(), nil, op{true, 2048, 3072}, flash.ErrAlignment},
		{"STM32 erase ok", flash.STM32WL(), nil, op{true, 2048, 4096}, nil},
		{"nRF erase offset", flash.NRF52840(), nil, op{true, 2048, 4096}, flash.ErrAlignment},
		{"program past end", flash.STM32WL(), nil, op{false, 256*flash.KiB - 8, 16}, flash.ErrOutOfRange},
		{"program negative", flash.STM32WL(), nil, op{false, -8, 8}, flash.ErrOutOfRange},
		{"erase past end", flash.NRF52840(), nil, op{true, flash.MiB - 4096, 8192}, flash.ErrOutOfRange},
		{"erase negative size", flash.NRF52840(), nil, op{true, 0, -4096}, flash.ErrOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlash(t, tt.prof, tt.opts...)
			var err error
			if tt.op.erase {
				err = f.Erase(tt.op.off, tt.op.size)
			} else {
				err = f.Program(tt.op.off, make([]byte, max(tt.op.size, 0)))
			}
			if tt.want == nil {
				must(t, err)
				return
			}
			wantErr(t, err, tt.want)
			var oe *flash.OpError
			if !errors.As(err, &oe) || oe.Off != tt.op.off {
				t.Errorf("error %v does not carry the offset", err)
			}
			if f.Ops() != 0 {
				t.Error("rejected call counted as an operation")
			}
		})
	}

	f := newFlash(t, flash.NRF52840())
	wantErr(t, f.Read(flash.MiB-2, make([]byte, 4)), flash.ErrOutOfRange)
	wantErr(t, f.Read(-1, make([]byte, 1)), flash.ErrOutOfRange)
	must(t, f.Read(flash.MiB, nil))
}

func TestEraseCommands(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		prof      flash.Profile
		opts      []flash.Option
		off, size int
		ops       int
		busy      time.Duration
	}{
		{"NOR two 64K blocks", flash.NORW25Q(flash.MiB), nil, 0, 128 * flash.KiB, 2, 300 * ms},
		{"NOR 4K up to 32K then 64K", flash.NORW25Q(flash.MiB), nil, 4 * flash.KiB, 124 * flash.KiB, 9, 7*45*ms + 120*ms + 150*ms},
		{"NOR 4K only", flash.NORW25Q(flash.MiB), []flash.Option{flash.WithEraseSizes(4 * flash.KiB)}, 0, 64 * flash.KiB, 16, 16 * 45 * ms},
		{"NOR max timing", flash.NORW25Q(flash.MiB), []flash.Option{flash.WithMaxTiming(true)}, 0, 96 * flash.KiB, 2, 2000*ms + 1600*ms},
		{"STM32 per page", flash.STM32WL(), nil, 0, 8 * flash.KiB, 4, 4 * 22020 * time.Microsecond},
		{"nRF per page", flash.NRF52840(), nil, 8 * flash.KiB, 8 * flash.KiB, 2, 170 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlash(t, tt.prof, tt.opts...)
			must(t, f.Erase(tt.off, tt.size))
			st := f.Stats()
			if st.Ops != tt.ops || st.Erases != tt.ops || st.EraseBytes != tt.size || st.Busy != tt.busy {
				t.Errorf("ops %d erases %d bytes %d busy %v; want %d, %d, %d, %v", st.Ops, st.Erases, st.EraseBytes, st.Busy, tt.ops, tt.ops, tt.size, tt.busy)
			}
			g := f.Geometry()
			for i, s := range g.Sectors {
				want := 0
				if s.Off >= tt.off && s.Off < tt.off+tt.size {
					want = 1
				}
				if st.SectorErases[i] != want || f.EraseCount(i) != want {
					t.Fatalf("sector %d erased %d times, want %d", i, st.SectorErases[i], want)
				}
			}
		})
	}

	t.Run("mixed sectors", func(t *testing.T) {
		p := flash.Profile{
			Name:        "STM32F4-like",
			SectorSizes: []int{16 * flash.KiB, 16 * flash.KiB, 64 * flash.KiB, 128 * flash.KiB},
			ProgramUnit: 4,
			ErasedValue: 0xFF,
			Policy:      flash.AND,
			Timing:      flash.Timing{Erase: map[int]flash.Latency{16 * flash.KiB: {Typ: 100 * ms, Max: 200 * ms}}},
		}
		f := newFlash(t, p)
		if f.Size() != 224*flash.KiB || f.Geometry().SectorIndex(100*flash.KiB) != 3 {
			t.Fatalf("size %d", f.Size())
		}
		must(t, f.Write(32*flash.KiB, pattern(64, 1)))
		must(t, f.Erase(16*flash.KiB, 80*flash.KiB))
		// 16 KiB is listed; 64 KiB is charged four times as much.
		if st := f.Stats(); st.Erases != 2 || st.Busy != 500*ms {
			t.Errorf("erases %d busy %v, want 2 and 500ms", st.Erases, st.Busy)
		}
		if !bytes.Equal(read(t, f, 32*flash.KiB, 64), filled(64, 0xFF)) {
			t.Error("64 KiB sector not erased")
		}
		wantErr(t, f.Erase(16*flash.KiB, 8*flash.KiB), flash.ErrAlignment)
		wantErr(t, f.Erase(8*flash.KiB, 8*flash.KiB), flash.ErrAlignment)
	})
}

func TestECC64(t *testing.T) {
	dw := pattern(8, 4)
	for _, erased := range []byte{0xFF, 0x00} {
		t.Run(fmt.Sprintf("%#02x", erased), func(t *testing.T) {
			programmed := ^erased
			f := newFlash(t, flash.STM32WL(), flash.WithStrict(false), flash.WithErasedValue(erased))
			must(t, f.Program(0, dw))
			for _, again := range [][]byte{dw, pattern(8, 9), filled(8, erased)} {
				err := f.Program(0, again)
				wantErr(t, err, flash.ErrRewrite)
				if !strings.Contains(err.Error(), "ECC64") {
					t.Errorf("error %q does not name ECC64", err)
				}
			}
			// Zeroing (all bits programmed) invalidates the word, and may
			// be repeated.
			must(t, f.Program(0, filled(8, programmed)))
			must(t, f.Program(0, filled(8, programmed)))
			if got := read(t, f, 0, 8); !bytes.Equal(got, filled(8, programmed)) {
				t.Fatalf("zeroed word reads % x", got)
			}
			// A word programmed with the erased pattern is programmed all
			// the same.
			must(t, f.Program(16, filled(8, erased)))
			wantErr(t, f.Program(16, dw), flash.ErrRewrite)
			// A range is refused as a whole if one word is refused.
			wantErr(t, f.Program(8, append(slicesClone(dw), dw...)), flash.ErrRewrite)
			if got := read(t, f, 8, 8); !bytes.Equal(got, filled(8, erased)) {
				t.Fatal("refused range partly written")
			}
			must(t, f.Erase(0, 2048))
			must(t, f.Program(0, dw))
		})
	}

	t.Run("strict refuses zeroing", func(t *testing.T) {
		f := newFlash(t, flash.STM32WL())
		must(t, f.Program(0, dw))
		err := f.Program(0, make([]byte, 8))
		wantErr(t, err, flash.ErrRewrite)
		if !strings.Contains(err.Error(), "strict") {
			t.Errorf("error %q does not name the strict rule", err)
		}
	})
}

func slicesClone(p []byte) []byte { return append([]byte(nil), p...) }

func TestLimitedRewrite(t *testing.T) {
	t.Run("two writes per word", func(t *testing.T) {
		f := newFlash(t, flash.NRF52840(), flash.WithStrict(false))
		must(t, f.Program(0, []byte{0xF0, 0xFF, 0xFF, 0xFF}))
		must(t, f.Program(0, []byte{0x3C, 0x00, 0xFF, 0xFF}))
		err := f.Program(0, []byte{0, 0, 0, 0})
		wantErr(t, err, flash.ErrRewrite)
		if !strings.Contains(err.Error(), "limit 2") {
			t.Errorf("error %q does not give the limit", err)
		}
		if got := read(t, f, 0, 4); !bytes.Equal(got, []byte{0x30, 0x00, 0xFF, 0xFF}) {
			t.Fatalf("word reads % x", got)
		}
		must(t, f.Program(4, []byte{1, 2, 3, 4})) // the next word is independent
		must(t, f.Erase(0, 4096))
		must(t, f.Program(0, []byte{1, 2, 3, 4}))
	})

	t.Run("block budget nRF52832", func(t *testing.T) {
		f := newFlash(t, flash.NRF52832(), flash.WithStrict(false))
		must(t, f.Program(0, filled(512, 0xF0))) // 128 word writes in block 0
		wantErr(t, f.Program(0, filled(512, 0)), flash.ErrRewrite)
		for w := range 53 { // up to 181
			must(t, f.Program(4*w, make([]byte, 4)))
		}
		err := f.Program(4*53, make([]byte, 4))
		wantErr(t, err, flash.ErrRewrite)
		if !strings.Contains(err.Error(), "block") || !strings.Contains(err.Error(), "limit 181") {
			t.Errorf("error %q does not name the block budget", err)
		}
		must(t, f.Program(512, filled(512, 0xF0))) // block 1 has its own budget
		must(t, f.Erase(0, 4096))
		must(t, f.Program(0, filled(512, 0xF0)))
		must(t, f.Program(0, filled(212, 0))) // 128 + 53 = 181
	})

	t.Run("block budget nRF52840", func(t *testing.T) {
		// With 403 per block, 2 writes per word (256 per block) bind first.
		f := newFlash(t, flash.NRF52840(), flash.WithStrict(false))
		must(t, f.Program(0, filled(512, 0xF0)))
		must(t, f.Program(0, filled(512, 0)))
		wantErr(t, f.Program(0, filled(4, 0)), flash.ErrRewrite)

		p := flash.NRF52840()
		p.Limits.WordWrites = 4
		g := newFlash(t, p, flash.WithStrict(false))
		for range 3 {
			must(t, g.Program(0, filled(512, 0)))
		}
		must(t, g.Program(0, make([]byte, 4*(403-384))))
		wantErr(t, g.Program(0x100, make([]byte, 4)), flash.ErrRewrite)
	})

	t.Run("wrapped program sums blocks it visits twice", func(t *testing.T) {
		p := flash.NRF52840()
		p.PageSize = 256
		p.Limits = flash.Limits{WordWrites: 2, BlockSize: 128, BlockWrites: 32}
		f := newFlash(t, p, flash.WithStrict(false), flash.WithPageWrap(true))
		must(t, f.Program(44, make([]byte, 56))) // 14 word writes in block 0
		must(t, f.Program(44, make([]byte, 4)))  // 15
		// From page offset 100, 200 bytes wrap: 7 words in block 0, 32 in
		// block 1, then 11 in block 0 again: 33 in block 0.
		wantErr(t, f.Program(100, make([]byte, 200)), flash.ErrRewrite)
		must(t, f.Program(100, make([]byte, 156)))
	})
}

// between reports whether every bit of got is either the old or the new value
// of that bit, and returns how many bits of got differ from old and from want.
func between(old, got, want []byte) (ok bool, fromOld, fromWant int) {
	ok = true
	for i := range got {
		if (got[i]^old[i])&^(old[i]^want[i]) != 0 {
			ok = false
		}
		fromOld += bits.OnesCount8(got[i] ^ old[i])
		fromWant += bits.OnesCount8(got[i] ^ want[i])
	}
	return ok, fromOld, fromWant
}

// checkTorn checks got, what a cut of mode m left of the change from old to
// want, at the granularity of unit bytes.
func checkTorn(t *testing.T, m flash.CutMode, old, got, want []byte, unit int) {
	t.Helper()
	ok, fromOld, fromWant := between(old, got, want)
	if !ok {
		t.Fatalf("%v: bits outside the operation's changes:\n old % x\n got % x\nwant % x", m, old, got, want)
	}
	n := len(got)
	prefix := func(k int) []byte { return append(slicesClone(want[:k]), old[k:]...) }
	switch m {
	case flash.Before:
		if fromOld != 0 {
			t.Fatalf("Before changed the flash: % x", got)
		}
	case flash.After:
		if fromWant != 0 {
			t.Fatalf("After did not complete: % x", got)
		}
	case flash.TornAllButLast:
		if !bytes.Equal(got, prefix(n-unit)) {
			t.Fatalf("TornAllButLast: % x", got)
		}
	case flash.TornSomeBits:
		if fromOld != 1 {
			t.Fatalf("TornSomeBits changed %d bits", fromOld)
		}
	case flash.TornMostBits:
		if fromWant != 1 {
			t.Fatalf("TornMostBits left %d bits", fromWant)
		}
	case flash.TornPrefix:
		for k := 0; k < n; k += unit {
			if bytes.Equal(got, prefix(k)) {
				return
			}
		}
		t.Fatalf("TornPrefix left no unit prefix: % x", got)
	case flash.TornRandom:
		if fromOld == 0 || fromWant == 0 {
			t.Errorf("TornRandom changed %d bits and left %d: unlikely", fromOld, fromWant)
		}
	}
}

func TestCutDuringProgram(t *testing.T) {
	for _, pr := range profiles {
		for _, m := range flash.CutModes() {
			t.Run(pr.name+"/"+m.String(), func(t *testing.T) {
				f := newFlash(t, pr.prof(), flash.WithSeed(1))
				u := f.Geometry().Sectors[0].Size
				old := filled(32, 0xFF)
				want := filled(32, 0x0F)
				must(t, f.Program(u, want[:8]))
				f.ArmCut(1, m) // the next operation, the second one
				if !f.Armed() {
					t.Fatal("not armed")
				}
				err := f.Program(0x100, want)
				wantErr(t, err, flash.ErrPowerCut)
				if f.Armed() || !f.PoweredOff() || f.Ops() != 2 || f.Stats().Cuts != 1 {
					t.Fatalf("after the cut: armed %v off %v ops %d", f.Armed(), f.PoweredOff(), f.Ops())
				}
				wantErr(t, f.Read(0x100, make([]byte, 32)), flash.ErrPowerCut)
				wantErr(t, f.Program(0x200, want), flash.ErrPowerCut)
				wantErr(t, f.Erase(0, u), flash.ErrPowerCut)
				if f.Ops() != 2 {
					t.Fatal("operations on a powered-off flash counted")
				}
				f.PowerOn()
				got := read(t, f, 0x100, 32)
				checkTorn(t, m, old, got, want, f.Geometry().ProgramUnit)
				if again := read(t, f, 0x100, 32); !bytes.Equal(got, again) || f.MetastableBytes() != 0 {
					t.Fatal("a cut without Metastable left unstable bytes")
				}
				if !bytes.Equal(read(t, f, 0x100-16, 16), filled(16, 0xFF)) || !bytes.Equal(read(t, f, 0x120, 16), filled(16, 0xFF)) {
					t.Fatal("bytes around the program changed")
				}
			})
		}
	}
}

func TestCutDuringErase(t *testing.T) {
	for _, pr := range profiles {
		for _, m := range flash.CutModes() {
			t.Run(pr.name+"/"+m.String(), func(t *testing.T) {
				f := newFlash(t, pr.prof(), flash.WithSeed(2))
				n := f.Geometry().Sectors[1].Size
				unit := f.Geometry().ProgramUnit
				old := make([]byte, n)
				must(t, f.Write(n, old))
				f.ArmCut(1, m)
				wantErr(t, f.Erase(n, n), flash.ErrPowerCut)
				f.PowerOn()
				got := read(t, f, n, n)
				checkTorn(t, m, old, got, filled(n, 0xFF), unit)
				wear := 1
				if m == flash.Before {
					wear = 0
				}
				if f.EraseCount(1) != wear || f.EraseCount(0) != 0 || f.EraseCount(2) != 0 {
					t.Fatalf("erase counts %d %d %d", f.EraseCount(0), f.EraseCount(1), f.EraseCount(2))
				}
				// Strict refuses to program a cell the torn erase did not
				// fully erase.
				at := -1
				for i := 0; i < n && at < 0; i += unit {
					if !bytes.Equal(got[i:i+unit], filled(unit, 0xFF)) {
						at = i
					}
				}
				if m == flash.After {
					if at != -1 {
						t.Fatal("After left unerased bytes")
					}
					must(t, f.Program(n, filled(unit, 0x5A)))
					return
				}
				if at == -1 {
					t.Fatalf("%v left the sector fully erased", m)
				}
				wantErr(t, f.Program(n+at, filled(unit, 0)), flash.ErrRewrite)
				must(t, f.Erase(n, n))
				must(t, f.Program(n+at, filled(unit, 0)))
			})
		}
	}

	t.Run("between commands", func(t *testing.T) {
		f := newFlash(t, flash.NORW25Q(flash.MiB))
		must(t, f.Write(0, make([]byte, 128*flash.KiB)))
		base := f.Ops()
		f.ArmCut(2, flash.Before)
		err := f.Erase(0, 128*flash.KiB)
		wantErr(t, err, flash.ErrPowerCut)
		if !strings.Contains(err.Error(), "erase command [0x10000, +0x10000)") {
			t.Errorf("error %q does not name the command", err)
		}
		f.PowerOn()
		if f.Ops() != base+2 {
			t.Errorf("ops %d, want %d", f.Ops(), base+2)
		}
		if !bytes.Equal(read(t, f, 0, 64*flash.KiB), filled(64*flash.KiB, 0xFF)) {
			t.Error("first command not done")
		}
		if !bytes.Equal(read(t, f, 64*flash.KiB, 64*flash.KiB), make([]byte, 64*flash.KiB)) {
			t.Error("second command not cut before")
		}
	})
}

func TestMetastable(t *testing.T) {
	// distinct reads the range n times and returns how many different
	// values it saw, checking that only the bits in mask move.
	distinct := func(t *testing.T, f *flash.Flash, off int, stable, mask []byte) int {
		t.Helper()
		seen := map[string]bool{}
		for range 64 {
			got := read(t, f, off, len(stable))
			for i := range got {
				if (got[i]^stable[i])&^mask[i] != 0 {
					t.Fatalf("byte %d reads %#02x: bits outside %#02x moved from %#02x", i, got[i], mask[i], stable[i])
				}
			}
			seen[string(got)] = true
		}
		return len(seen)
	}

	t.Run("weak program settles after erase", func(t *testing.T) {
		f := newFlash(t, flash.NORW25Q(flash.MiB), flash.WithSeed(3))
		want := filled(16, 0x0F)
		f.ArmCut(1, flash.After|flash.Metastable)
		wantErr(t, f.Program(0, want), flash.ErrPowerCut)
		f.PowerOn()
		if f.MetastableBytes() != 16 {
			t.Fatalf("%d metastable bytes, want 16", f.MetastableBytes())
		}
		if n := distinct(t, f, 0, want, filled(16, 0xF0)); n < 2 {
			t.Fatal("metastable bytes read the same every time")
		}
		must(t, f.Erase(0, 4096))
		if f.MetastableBytes() != 0 || distinct(t, f, 0, filled(16, 0xFF), make([]byte, 16)) != 1 {
			t.Fatal("erase did not settle the bytes")
		}
	})

	t.Run("torn program settles when reprogrammed", func(t *testing.T) {
		f := newFlash(t, flash.NORW25Q(flash.MiB), flash.WithSeed(4), flash.WithStrict(false))
		want := filled(16, 0x0F)
		f.ArmCut(1, flash.TornSomeBits|flash.Metastable)
		wantErr(t, f.Program(0, want), flash.ErrPowerCut)
		f.PowerOn()
		if distinct(t, f, 0, want, filled(16, 0xF0)) < 2 {
			t.Fatal("metastable bytes read the same every time")
		}
		must(t, f.Program(0, want[:8]))
		if f.MetastableBytes() != 8 || distinct(t, f, 0, want[:8], make([]byte, 8)) != 1 {
			t.Fatalf("%d bytes still metastable after reprogramming half", f.MetastableBytes())
		}
		must(t, f.Program(8, want[8:]))
		if f.MetastableBytes() != 0 || !bytes.Equal(read(t, f, 0, 16), want) {
			t.Fatal("reprogramming did not settle the bytes")
		}
	})

	t.Run("weak erase", func(t *testing.T) {
		f := newFlash(t, flash.NRF52840(), flash.WithSeed(5))
		must(t, f.Program(4096, make([]byte, 4096)))
		f.ArmCut(1, flash.After|flash.Metastable)
		wantErr(t, f.Erase(4096, 4096), flash.ErrPowerCut)
		f.PowerOn()
		if f.MetastableBytes() != 4096 || distinct(t, f, 4096, filled(64, 0xFF), filled(64, 0xFF)) < 2 {
			t.Fatal("weakly erased sector reads stable")
		}
		wantErr(t, f.Program(4096, filled(4, 0x12)), flash.ErrRewrite)
		must(t, f.Erase(4096, 4096))
		must(t, f.Program(4096, filled(4, 0x12)))
		if f.MetastableBytes() != 0 {
			t.Fatal("erase did not settle the sector")
		}
	})

	t.Run("snapshots read the same sequence", func(t *testing.T) {
		f := newFlash(t, flash.NORW25Q(flash.MiB), flash.WithSeed(6))
		f.ArmCut(1, flash.TornRandom|flash.Metastable)
		wantErr(t, f.Program(0, make([]byte, 64)), flash.ErrPowerCut)
		a, b := f.Snapshot(), f.Snapshot()
		for range 8 {
			if !bytes.Equal(read(t, a, 0, 64), read(t, b, 0, 64)) {
				t.Fatal("snapshots diverge")
			}
		}
	})
}

func TestStrictReplayAfterTear(t *testing.T) {
	data := pattern(16, 2)
	cut := func(t *testing.T, p flash.Profile, m flash.CutMode) *flash.Flash {
		f := newFlash(t, p, flash.WithSeed(7))
		f.ArmCut(1, m)
		wantErr(t, f.Program(0x200, data), flash.ErrPowerCut)
		f.PowerOn()
		return f
	}

	t.Run("one replay of the same data", func(t *testing.T) {
		f := cut(t, flash.NORW25Q(flash.MiB), flash.TornPrefix)
		wantErr(t, f.Program(0x200, pattern(16, 3)), flash.ErrRewrite)
		must(t, f.Program(0x200, data[:8]))
		wantErr(t, f.Program(0x200, data[:8]), flash.ErrRewrite)
		must(t, f.Program(0x208, data[8:]))
		if !bytes.Equal(read(t, f, 0x200, 16), data) {
			t.Fatal("replay did not complete the data")
		}
		wantErr(t, f.Program(0x208, data[8:]), flash.ErrRewrite)
	})

	t.Run("no replay after a completed program", func(t *testing.T) {
		f := cut(t, flash.NORW25Q(flash.MiB), flash.After)
		wantErr(t, f.Program(0x200, data), flash.ErrRewrite)
	})

	t.Run("Before leaves the range writable", func(t *testing.T) {
		f := cut(t, flash.NORW25Q(flash.MiB), flash.Before)
		must(t, f.Program(0x200, data))
	})

	t.Run("STM32 refuses the replay", func(t *testing.T) {
		f := cut(t, flash.STM32WL(), flash.TornAllButLast)
		err := f.Program(0x200, data)
		wantErr(t, err, flash.ErrRewrite)
		if !strings.Contains(err.Error(), "ECC64") {
			t.Errorf("error %q does not name ECC64", err)
		}
	})

	t.Run("nRF replay is the second write", func(t *testing.T) {
		f := cut(t, flash.NRF52840(), flash.TornMostBits)
		must(t, f.Program(0x200, data))
		if !bytes.Equal(read(t, f, 0x200, 16), data) {
			t.Fatal("replay did not complete the data")
		}
	})
}

// TestSweep runs the pattern a bootloader test follows: count the operations
// of a clean install, cut at every one of them in every mode, recover by
// running the install again, and compare with the clean result.
func TestSweep(t *testing.T) {
	img := pattern(600, 8)
	magic := []byte{0x77, 0xC2, 0x95, 0xF3, 0x1A, 0x2B, 0x3C, 0x4D}
	install := func(f *flash.Flash) error {
		if err := f.Erase(0, 8*flash.KiB); err != nil {
			return err
		}
		if err := f.Write(0, img); err != nil {
			return err
		}
		return f.Program(4096, magic)
	}
	for _, pr := range profiles {
		t.Run(pr.name, func(t *testing.T) {
			base := newFlash(t, pr.prof(), flash.WithSeed(9))
			must(t, base.Write(0, pattern(8*flash.KiB, 1))) // an old image to replace
			clean := base.Snapshot()
			must(t, install(clean))
			n := clean.Ops() - base.Ops()
			want := read(t, clean, 0, 8*flash.KiB)

			modes := flash.CutModes()
			for _, m := range flash.CutModes() {
				modes = append(modes, m|flash.Metastable)
			}
			runs := 0
			for i := 1; i <= n; i++ {
				for _, m := range modes {
					f := base.Snapshot()
					f.ArmCut(i, m)
					if err := install(f); !errors.Is(err, flash.ErrPowerCut) {
						t.Fatalf("cut %d %v: install returned %v", i, m, err)
					}
					if f.Ops()-base.Ops() != i {
						t.Fatalf("cut %d %v fired after %d operations", i, m, f.Ops()-base.Ops())
					}
					f.PowerOn()
					if err := install(f); err != nil {
						t.Fatalf("cut %d %v: recovery: %v", i, m, err)
					}
					if got := read(t, f, 0, 8*flash.KiB); !bytes.Equal(got, want) {
						t.Fatalf("cut %d %v: recovered flash differs from a clean install", i, m)
					}
					runs++
				}
			}
			f := base.Snapshot()
			f.ArmCut(n+1, flash.Before)
			must(t, install(f))
			if !f.Armed() {
				t.Error("a cut past the last operation fired")
			}
			t.Logf("%s: N = %d operations, %d interrupted runs", pr.name, n, runs)
		})
	}
}

func TestSnapshot(t *testing.T) {
	a, b, c := pattern(4096, 1), pattern(4096, 2), pattern(4096, 3)
	f := newFlash(t, flash.NORW25Q(flash.MiB))
	must(t, f.Write(0, a))
	g := f.Snapshot()
	must(t, f.Erase(0, 4096))
	must(t, f.Write(8192, b))
	if !bytes.Equal(read(t, g, 0, 4096), a) || !bytes.Equal(read(t, g, 8192, 4096), filled(4096, 0xFF)) {
		t.Fatal("snapshot sees changes made to its origin")
	}
	must(t, g.Write(16384, c))
	if !bytes.Equal(read(t, f, 16384, 4096), filled(4096, 0xFF)) {
		t.Fatal("origin sees changes made to its snapshot")
	}
	h := g.Snapshot()
	must(t, g.Erase(16384, 4096))
	if !bytes.Equal(read(t, h, 16384, 4096), c) || !bytes.Equal(read(t, h, 0, 4096), a) {
		t.Fatal("snapshot of a snapshot")
	}
	// Strict bookkeeping travels with the content.
	wantErr(t, h.Program(0, a[:1]), flash.ErrRewrite)
	must(t, f.Program(0, a[:1]))

	if g.Ops() != 33 || g.EraseCount(4) != 1 || f.EraseCount(0) != 1 || g.EraseCount(0) != 0 {
		t.Errorf("snapshot stats: ops %d, erase counts %d %d %d", g.Ops(), g.EraseCount(4), f.EraseCount(0), g.EraseCount(0))
	}

	f.ArmCut(3, flash.Before)
	f.PowerOff()
	s := f.Snapshot()
	if s.PoweredOff() || s.Armed() || !f.PoweredOff() || !f.Armed() {
		t.Error("a snapshot is powered on and disarmed; its origin keeps its state")
	}
}

func TestSnapshotsInParallel(t *testing.T) {
	base := newFlash(t, flash.NRF52840())
	must(t, base.Program(0, pattern(64*flash.KiB, 1)))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for k := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := base.Snapshot()
			data := pattern(64*flash.KiB, byte(k))
			for _, step := range []func() error{
				func() error { return f.Erase(0, 64*flash.KiB) },
				func() error { return f.Program(0, data) },
			} {
				if err := step(); err != nil {
					errs[k] = err
					return
				}
			}
			got := make([]byte, len(data))
			if err := f.Read(0, got); err != nil || !bytes.Equal(got, data) {
				errs[k] = fmt.Errorf("snapshot %d reads back wrong data (%v)", k, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	if !bytes.Equal(read(t, base, 0, 64*flash.KiB), pattern(64*flash.KiB, 1)) {
		t.Fatal("base changed")
	}
}

func TestStatsAndTiming(t *testing.T) {
	us, ms := time.Microsecond, time.Millisecond
	t.Run("NOR", func(t *testing.T) {
		for _, worst := range []bool{false, true} {
			f := newFlash(t, flash.NORW25Q(flash.MiB), flash.WithMaxTiming(worst))
			must(t, f.Write(0, pattern(768, 1)))
			read(t, f, 0, 100)
			read(t, f, 50, 100)
			must(t, f.Erase(0, 4096))
			must(t, f.Erase(64*flash.KiB, 64*flash.KiB))
			st := f.Stats()
			want := 3*700*us + 45*ms + 150*ms
			if worst {
				want = 3*3*ms + 400*ms + 2000*ms
			}
			if st.Busy != want || f.Busy() != want {
				t.Errorf("max timing %v: busy %v, want %v", worst, st.Busy, want)
			}
			if st.Ops != 5 || st.Programs != 3 || st.ProgramBytes != 768 || st.Erases != 2 || st.EraseBytes != 68*flash.KiB ||
				st.Reads != 2 || st.ReadBytes != 200 || st.Cuts != 0 {
				t.Errorf("stats %+v", st)
			}
			if st.SectorErases[0] != 1 || st.SectorErases[1] != 0 || st.SectorErases[16] != 1 || st.SectorErases[31] != 1 || st.SectorErases[32] != 0 {
				t.Errorf("sector erase counts %v", st.SectorErases[:33])
			}
		}
	})
	t.Run("internal per unit", func(t *testing.T) {
		f := newFlash(t, flash.STM32WL())
		must(t, f.Program(0, make([]byte, 64)))
		if want := 8 * 81690 * time.Nanosecond; f.Busy() != want {
			t.Errorf("STM32 8 double words: %v, want %v", f.Busy(), want)
		}
		g := newFlash(t, flash.NRF52840())
		must(t, g.Program(0, make([]byte, 16)))
		if g.Busy() != 164*us {
			t.Errorf("nRF 4 words: %v, want 164µs", g.Busy())
		}
	})
	t.Run("interrupted operations", func(t *testing.T) {
		f := newFlash(t, flash.NORW25Q(flash.MiB))
		f.ArmCut(1, flash.Before)
		wantErr(t, f.Program(0, make([]byte, 256)), flash.ErrPowerCut)
		f.PowerOn()
		if f.Busy() != 0 {
			t.Errorf("a program cut before cost %v", f.Busy())
		}
		f.ArmCut(1, flash.TornPrefix)
		wantErr(t, f.Erase(0, 4096), flash.ErrPowerCut)
		f.PowerOn()
		if st := f.Stats(); st.Busy != 45*ms || st.Cuts != 2 || st.Ops != 2 || st.Programs != 1 || st.Erases != 1 {
			t.Errorf("stats after two cuts %+v", st)
		}
	})
}

func TestEndurance(t *testing.T) {
	f := newFlash(t, flash.NRF52840(), flash.WithEndurance(3))
	for range 3 {
		must(t, f.Erase(0, 4096))
	}
	ops := f.Ops()
	err := f.Erase(0, 4096)
	wantErr(t, err, flash.ErrWornOut)
	if f.Ops() != ops || f.EraseCount(0) != 3 {
		t.Errorf("worn-out erase counted: ops %d → %d, count %d", ops, f.Ops(), f.EraseCount(0))
	}
	must(t, f.Erase(4096, 4096))
	must(t, f.Program(0, make([]byte, 8))) // programs still work

	g := newFlash(t, flash.NORW25Q(flash.MiB), flash.WithEndurance(2))
	must(t, g.Erase(8192, 4096))
	must(t, g.Erase(8192, 4096))
	must(t, g.Write(4096, make([]byte, 16)))
	wantErr(t, g.Erase(0, 64*flash.KiB), flash.ErrWornOut)
	if g.EraseCount(1) != 0 || !bytes.Equal(read(t, g, 4096, 16), make([]byte, 16)) {
		t.Error("a refused block erase erased a sector")
	}
	if flash.NORW25Q(0).Endurance != 100_000 || flash.STM32WL().Endurance != 10_000 {
		t.Error("profile endurance")
	}
}

func TestRegion(t *testing.T) {
	f := newFlash(t, flash.NORW25Q(flash.MiB))
	primary, err := flash.NewRegion(f, "primary", 64*flash.KiB, 256*flash.KiB)
	must(t, err)
	if primary.Name() != "primary" || primary.Offset() != 64*flash.KiB || primary.Size() != 256*flash.KiB || primary.Flash() != f {
		t.Fatal("accessors")
	}
	if s := primary.Sectors(); len(s) != 64 || s[0] != (flash.Sector{Off: 0, Size: 4096}) || s[63].Off != 252*flash.KiB {
		t.Fatalf("sectors %v", s[:2])
	}
	data := pattern(1000, 4)
	must(t, primary.Write(100, data))
	if !bytes.Equal(read(t, f, 64*flash.KiB+100, 1000), data) {
		t.Fatal("region offsets are not relative")
	}
	got := make([]byte, 1000)
	must(t, primary.Read(100, got))
	if !bytes.Equal(got, data) {
		t.Fatal("region read")
	}

	for _, tt := range []struct {
		name string
		err  error
	}{
		{"read past end", primary.Read(256*flash.KiB-4, make([]byte, 8))},
		{"program past end", primary.Program(256*flash.KiB, []byte{0})},
		{"write negative", primary.Write(-1, []byte{0})},
		{"erase past end", primary.Erase(252*flash.KiB, 8*flash.KiB)},
	} {
		wantErr(t, tt.err, flash.ErrOutOfRange)
		if !strings.Contains(tt.err.Error(), `"primary"`) {
			t.Errorf("%s: error %q does not name the region", tt.name, tt.err)
		}
	}
	if f.Ops() != 5 {
		t.Errorf("out-of-bounds accesses reached the flash: %d ops", f.Ops())
	}

	err = primary.Program(100, data[:1])
	wantErr(t, err, flash.ErrRewrite)
	if !strings.Contains(err.Error(), `region "primary"`) || !strings.Contains(err.Error(), "0x10064") {
		t.Errorf("flash error %q lacks the region or the absolute offset", err)
	}

	must(t, primary.EraseAll())
	if !bytes.Equal(read(t, f, 64*flash.KiB, 4096), filled(4096, 0xFF)) {
		t.Fatal("EraseAll")
	}
	trailer, err := primary.Sub("trailer", 252*flash.KiB, 4096)
	must(t, err)
	must(t, trailer.Program(0, []byte{1, 2}))
	if !bytes.Equal(read(t, f, 316*flash.KiB, 2), []byte{1, 2}) {
		t.Fatal("sub-region offset")
	}
	if _, err := primary.Sub("x", 252*flash.KiB, 8192); !errors.Is(err, flash.ErrOutOfRange) {
		t.Errorf("Sub past the end: %v", err)
	}
	if _, err := flash.NewRegion(f, "big", 512*flash.KiB, 600*flash.KiB); !errors.Is(err, flash.ErrOutOfRange) {
		t.Errorf("NewRegion past the flash: %v", err)
	}

	snap := f.Snapshot()
	other, err := trailer.On(snap)
	must(t, err)
	must(t, other.Erase(0, 4096))
	if !bytes.Equal(read(t, f, 316*flash.KiB, 2), []byte{1, 2}) {
		t.Fatal("On: region still writes the original flash")
	}

	sr := io.NewSectionReader(trailer, 0, int64(trailer.Size()))
	buf := make([]byte, 8)
	if n, err := sr.ReadAt(buf, 4092); n != 4 || err != io.EOF || !bytes.Equal(buf[:4], filled(4, 0xFF)) {
		t.Errorf("region ReadAt at the end: %d, %v", n, err)
	}
}

func TestReadAt(t *testing.T) {
	f := newFlash(t, flash.STM32WL())
	must(t, f.Program(256*flash.KiB-8, pattern(8, 1)))
	buf := make([]byte, 16)
	n, err := f.ReadAt(buf, 256*flash.KiB-8)
	if n != 8 || err != io.EOF || !bytes.Equal(buf[:8], pattern(8, 1)) {
		t.Errorf("ReadAt at the end: %d, %v", n, err)
	}
	if n, err := f.ReadAt(buf, 256*flash.KiB); n != 0 || err != io.EOF {
		t.Errorf("ReadAt past the end: %d, %v", n, err)
	}
	if _, err := f.ReadAt(buf, -1); !errors.Is(err, flash.ErrOutOfRange) {
		t.Errorf("ReadAt before the start: %v", err)
	}
}

func TestTearsAreSeeded(t *testing.T) {
	tear := func(seed uint64, m flash.CutMode, reseed bool) []byte {
		f := newFlash(t, flash.NORW25Q(flash.MiB), flash.WithSeed(seed))
		if reseed {
			f = newFlash(t, flash.NORW25Q(flash.MiB), flash.WithSeed(seed+1000))
			f.Seed(seed)
		}
		f.ArmCut(1, m)
		wantErr(t, f.Program(0, make([]byte, 256)), flash.ErrPowerCut)
		f.PowerOn()
		return read(t, f, 0, 256)
	}
	for _, m := range []flash.CutMode{flash.TornRandom, flash.TornSomeBits, flash.TornMostBits, flash.TornPrefix} {
		if !bytes.Equal(tear(42, m, false), tear(42, m, false)) || !bytes.Equal(tear(42, m, false), tear(42, m, true)) {
			t.Errorf("%v: same seed, different tears", m)
		}
		seen := map[string]bool{}
		for seed := range uint64(8) {
			seen[string(tear(seed, m, false))] = true
		}
		if len(seen) < 4 {
			t.Errorf("%v: 8 seeds gave %d different tears", m, len(seen))
		}
	}
}

func TestPowerAndArming(t *testing.T) {
	f := newFlash(t, flash.NRF52840())
	f.PowerOff()
	wantErr(t, f.Read(0, make([]byte, 4)), flash.ErrPowerCut)
	wantErr(t, f.Program(0, make([]byte, 4)), flash.ErrPowerCut)
	wantErr(t, f.Erase(0, 4096), flash.ErrPowerCut)
	f.PowerOn()
	if f.Ops() != 0 || f.Stats().Reads != 0 {
		t.Error("calls on a powered-off flash counted")
	}

	f.ArmCut(5, flash.Before)
	f.ArmCut(1, flash.After) // replaces
	f.PowerOff()
	f.PowerOn()
	if !f.Armed() {
		t.Fatal("PowerOn disarmed the cut")
	}
	wantErr(t, f.Program(0, make([]byte, 4)), flash.ErrPowerCut)
	f.PowerOn()
	f.ArmCut(1, flash.Before)
	f.Disarm()
	must(t, f.Program(4, make([]byte, 4)))

	for _, bad := range []func(){
		func() { f.ArmCut(0, flash.Before) },
		func() { f.ArmCut(1, flash.CutMode(42)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("ArmCut accepted invalid arguments")
				}
			}()
			bad()
		}()
	}
}

func TestStrings(t *testing.T) {
	for m, want := range map[flash.CutMode]string{
		flash.Before:                        "Before",
		flash.TornPrefix:                    "TornPrefix",
		flash.After | flash.Metastable:      "After|Metastable",
		flash.TornRandom | flash.Metastable: "TornRandom|Metastable",
		flash.CutMode(42):                   "CutMode(42)",
	} {
		if m.String() != want {
			t.Errorf("%q, want %q", m.String(), want)
		}
	}
	for p, want := range map[flash.Policy]string{flash.Strict: "Strict", flash.AND: "AND", flash.ECC64: "ECC64", flash.LimitedRewrite: "LimitedRewrite", 9: "Policy(9)"} {
		if p.String() != want {
			t.Errorf("%q, want %q", p.String(), want)
		}
	}
	err := &flash.OpError{Op: "erase", Off: 0x1000, Size: 0x2000, Err: flash.ErrWornOut}
	if err.Error() != "flash: erase [0x1000, +0x2000): worn out" {
		t.Errorf("OpError %q", err)
	}
}

// TestMetastableAfterCutAcrossSectors is the regression test for a panic: an
// flash.After|flash.Metastable cut on a program spanning several sectors indexed the torn
// result, which only torn modes compute.
func TestMetastableAfterCutAcrossSectors(t *testing.T) {
	f, err := flash.New(flash.STM32WL())
	if err != nil {
		t.Fatal(err)
	}
	f.ArmCut(1, flash.After|flash.Metastable)
	data := make([]byte, 4096)
	if err := f.Program(0, data); !errors.Is(err, flash.ErrPowerCut) {
		t.Fatalf("Program: %v, want flash.ErrPowerCut", err)
	}
	f.PowerOn()
	if f.MetastableBytes() == 0 {
		t.Error("an interrupted program left no metastable bytes")
	}
}
