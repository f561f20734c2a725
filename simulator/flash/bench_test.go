package flash_test

import (
	"testing"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// AND without the strict overlay lets a benchmark program the same place
// over and over.
func benchFlash(b *testing.B, p flash.Profile) *flash.Flash {
	b.Helper()
	f, err := flash.New(p, flash.WithStrict(false), flash.WithPolicy(flash.AND))
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func BenchmarkProgramNORPage(b *testing.B) {
	f := benchFlash(b, flash.NORW25Q(0))
	data := pattern(256, 1)
	b.SetBytes(256)
	for i := 0; b.Loop(); i++ {
		if err := f.Program(i%4096*256, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProgramNRFSector(b *testing.B) {
	f := benchFlash(b, flash.NRF52840())
	data := pattern(4096, 1)
	b.SetBytes(4096)
	for i := 0; b.Loop(); i++ {
		if err := f.Program(i%256*4096, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEraseNORSector measures a program-erase cycle of one 4 KiB sector
// (an erase of an already erased sector would cost next to nothing).
func BenchmarkEraseNORSector(b *testing.B) {
	f, err := flash.New(flash.NORW25Q(0))
	if err != nil {
		b.Fatal(err)
	}
	data := pattern(256, 1)
	b.SetBytes(4096)
	for i := 0; b.Loop(); i++ {
		off := i % 2048 * 4096
		if err := f.Program(off, data); err != nil {
			b.Fatal(err)
		}
		if err := f.Erase(off, 4096); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead4K(b *testing.B) {
	f := benchFlash(b, flash.NRF52840())
	if err := f.Program(0, pattern(4096, 1)); err != nil {
		b.Fatal(err)
	}
	p := make([]byte, 4096)
	b.SetBytes(4096)
	for b.Loop() {
		if err := f.Read(0, p); err != nil {
			b.Fatal(err)
		}
	}
}

// snapshotCases are fully written flashes: the worst case for a snapshot.
var snapshotCases = []struct {
	name string
	prof func() flash.Profile
}{
	{"nRF52840-1MiB", flash.NRF52840},
	{"NOR-8MiB", func() flash.Profile { return flash.NORW25Q(0) }},
}

func fullFlash(b *testing.B, p flash.Profile) *flash.Flash {
	f := benchFlash(b, p)
	for off := 0; off < f.Size(); off += 256 {
		if err := f.Program(off, pattern(256, byte(off))); err != nil {
			b.Fatal(err)
		}
	}
	return f
}

func BenchmarkSnapshot(b *testing.B) {
	for _, c := range snapshotCases {
		b.Run(c.name, func(b *testing.B) {
			f := fullFlash(b, c.prof())
			for b.Loop() {
				_ = f.Snapshot()
			}
		})
	}
}

// BenchmarkSnapshotFirstWrite adds the copy-on-write cost a branch pays when
// it first changes a sector.
func BenchmarkSnapshotFirstWrite(b *testing.B) {
	for _, c := range snapshotCases {
		b.Run(c.name, func(b *testing.B) {
			f := fullFlash(b, c.prof())
			data := make([]byte, 4)
			for b.Loop() {
				g := f.Snapshot()
				if err := g.Program(0, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCopy1MiB is the alternative to copy-on-write: a plain copy of a
// 1 MiB image.
func BenchmarkCopy1MiB(b *testing.B) {
	src := pattern(flash.MiB, 1)
	b.SetBytes(flash.MiB)
	for b.Loop() {
		dst := make([]byte, len(src))
		copy(dst, src)
	}
}
