package device

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

func TestSharedUnits(t *testing.T) {
	// brute counts the units that hold a row boundary off a unit boundary.
	brute := func(nRow, fs, unit int) int {
		seen := map[int]bool{}
		for k := 1; k < nRow; k++ {
			if off := k * fs; off%unit != 0 {
				seen[off/unit] = true
			}
		}
		return len(seen)
	}
	for _, tc := range []struct{ nRow, fs, unit, want int }{
		{10, 64, 8, 0},
		{10, 50, 1, 0},
		{10, 52, 4, 0},
		{10, 50, 8, 7}, // 200 and 400 are aligned
		{10, 3, 8, 4},  // boundaries 3 6 | 9 12 15 | 18 21 | 27 (24 aligned)
		{4, 20, 8, 2},  // 20 and 60; 40 is aligned
		{1, 50, 8, 0},  // no boundary
		{3, 12, 32, 1}, // both boundaries in unit 0
		{300, 33, 8, -1},
		{1000, 239, 4, -1},
	} {
		want := tc.want
		if want < 0 {
			want = brute(tc.nRow, tc.fs, tc.unit)
		} else if b := brute(tc.nRow, tc.fs, tc.unit); b != want {
			t.Fatalf("case %+v: brute force says %d", tc, b)
		}
		if got := sharedUnits(tc.nRow, tc.fs, tc.unit); got != want {
			t.Errorf("sharedUnits(%d, %d, %d) = %d, want %d", tc.nRow, tc.fs, tc.unit, got, want)
		}
	}
	if got := pendingBound(1000, 50, 8, 10); got != 22 {
		t.Errorf("pendingBound with Lmax 10 = %d, want 22", got)
	}
}

// TestStagingStore writes rows in random order and scratch records on strict
// STM32WL flash (8-byte ECC units): no unit is programmed twice, reads see
// buffered bytes, and the rows end up contiguous.
func TestStagingStore(t *testing.T) {
	f, err := flash.New(flash.STM32WL())
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := flash.NewRegion(f, "rows", 0, 16*flash.KiB)
	const nRow, fs = 40, 37
	s := newStagingStore(rows, rows, roundUp(nRow*fs, 8), nRow, fs, 8, sharedUnits(nRow, fs, 8))
	want := make([]byte, nRow*fs)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rnd.Uint32())
	}
	for _, i := range rnd.Perm(nRow) {
		if err := s.WriteRow(i, want[i*fs:(i+1)*fs]); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		got := make([]byte, fs)
		if err := s.ReadRow(i, got); err != nil || !bytes.Equal(got, want[i*fs:(i+1)*fs]) {
			t.Fatalf("row %d read back %x, %v", i, got, err)
		}
	}
	if len(s.pending) != 0 {
		t.Fatalf("%d units still buffered", len(s.pending))
	}
	got := make([]byte, nRow*fs)
	if err := rows.Read(0, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("flash holds other bytes: %v", err)
	}
	if err := s.WriteRow(3, want[3*fs:4*fs]); err == nil {
		t.Fatal("second write of a row accepted")
	}
	rec := bytes.Repeat([]byte{0xa5}, fs)
	for j := range 8 {
		if n, err := s.AppendScratch(rec); err != nil || n != j {
			t.Fatalf("scratch record %d: %d, %v", j, n, err)
		}
	}
	if _, err := s.AppendScratch(rec); err == nil {
		t.Fatal("scratch record beyond Lmax accepted")
	}
	back := make([]byte, fs)
	if err := s.ReadScratch(7, back); err != nil || !bytes.Equal(back, rec) {
		t.Fatalf("scratch record 7: %x, %v", back, err)
	}
}

// TestStagingStoreBufferFull: rows that would leave more shared units
// waiting than the RAM reserved are refused before anything is written.
func TestStagingStoreBufferFull(t *testing.T) {
	f, err := flash.New(flash.STM32WL())
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := flash.NewRegion(f, "rows", 0, 8*flash.KiB)
	const nRow, fs = 20, 10
	s := newStagingStore(rows, rows, 4*flash.KiB, nRow, fs, 4, 3)
	row := make([]byte, fs)
	// Row 0 leaves unit 1 waiting for row 1; row 2 leaves unit 2 waiting for
	// row 1 and unit 3 for row 3.
	for _, i := range []int{0, 2} {
		if err := s.WriteRow(i, row); err != nil {
			t.Fatal(err)
		}
	}
	if !s.wouldOverflow(6) {
		t.Fatal("two more waiting units not foreseen")
	}
	if err := s.WriteRow(6, row); !errors.Is(err, errUnitBuffer) {
		t.Fatalf("row 6: %v, want errUnitBuffer", err)
	}
	if err := s.WriteRow(1, row); err != nil { // completes both
		t.Fatal(err)
	}
	if len(s.pending) != 1 {
		t.Fatalf("%d units waiting after row 1, want 1 (shared by rows 2 and 3)", len(s.pending))
	}
	if err := s.WriteRow(6, row); err != nil {
		t.Fatalf("row 6 once buffers are free: %v", err)
	}
}
