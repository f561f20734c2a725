package fragmentation

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lorafuota/lorafuota/applayer/applayertest"

	brocaar "github.com/brocaar/lorawan/applayer/fragmentation"
)

// fecVectors is the table of shared/PROTOCOLS.md §1.3: data 0x00..0x63,
// FragSize 10, M = 10, parity rows 1..10 for both generators.
var fecVectors = []struct {
	k                int
	v1Cols, v1Parity string
	v2Cols, v2Parity string
}{
	{1, "0010010000", "26 26 22 22 2e 2e 22 22 26 26", "0111010001", "68 69 52 53 5c 5d 76 77 70 71"},
	{2, "1010110001", "54 55 56 57 58 59 6a 6b 7c 7d", "1010110001", "54 55 56 57 58 59 6a 6b 7c 7d"},
	{3, "0101011100", "5c 5d 6e 6f 10 11 02 03 04 05", "0101011100", "5c 5d 6e 6f 10 11 02 03 04 05"},
	{4, "1110100000", "36 36 32 32 3e 3e 22 22 36 36", "1110100001", "6c 6d 6e 6f 60 61 42 43 54 55"},
	{5, "0001010110", "3a 3a 0e 0e 0a 0a 06 06 0a 0a", "0001110110", "12 13 24 25 26 27 28 29 3a 3b"},
	{6, "0101110000", "0e 0e 32 32 36 36 22 22 3e 3e", "0101110100", "48 49 7a 7b 7c 7d 6e 6f 70 71"},
	{7, "0000101110", "02 02 0e 0e 72 72 76 76 62 62", "0001101110", "1c 1d 2e 2f 50 51 52 53 44 45"},
	{8, "0000101011", "1e 1e 1a 1a 66 66 5a 5a 4e 4e", "0000101111", "58 59 52 53 2c 2d 16 17 00 01"},
	{9, "0100110011", "1a 1b 1c 1d 1e 1f 30 31 22 23", "0100110011", "1a 1b 1c 1d 1e 1f 30 31 22 23"},
	{10, "0000100011", "22 23 24 25 26 27 18 19 0a 0b", "0001101011", "00 01 3a 3b 44 45 7e 7f 68 69"},
}

func rowString(row []uint64, m int) string {
	var sb strings.Builder
	for i := range m {
		if row[i/64]>>(i%64)&1 == 1 {
			sb.WriteByte('1')
		} else {
			sb.WriteByte('0')
		}
	}
	return sb.String()
}

func TestMatrixRowVectors(t *testing.T) {
	row := make([]uint64, 1)
	for _, tc := range fecVectors {
		for _, c := range []struct {
			v    Matrix
			want string
		}{{MatrixV1, tc.v1Cols}, {MatrixV2, tc.v2Cols}} {
			matrixRow(row, tc.k, 10, c.v)
			if got := rowString(row, 10); got != c.want {
				t.Errorf("%v row %d = %s, want %s", c.v, tc.k, got, c.want)
			}
		}
	}
}

func TestEncodeVectors(t *testing.T) {
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte(i)
	}
	for _, c := range []struct {
		name string
		opts []EncodeOption
		v2   bool
	}{{"default", nil, false}, {"v1", []EncodeOption{WithMatrix(MatrixV1)}, false}, {"v2", []EncodeOption{WithMatrix(MatrixV2)}, true}} {
		t.Run(c.name, func(t *testing.T) {
			frags, err := Encode(data, 10, 10, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(frags) != 20 {
				t.Fatalf("got %d fragments, want 20", len(frags))
			}
			for i := range 10 {
				if !bytes.Equal(frags[i], data[10*i:10*i+10]) {
					t.Errorf("uncoded fragment %d = %x", i+1, frags[i])
				}
			}
			for _, tc := range fecVectors {
				want := tc.v1Parity
				if c.v2 {
					want = tc.v2Parity
				}
				if got := frags[10+tc.k-1]; !bytes.Equal(got, applayertest.MustHex(t, want)) {
					t.Errorf("parity %d (N %d) = % x, want %s", tc.k, 10+tc.k, got, want)
				}
			}
		})
	}
}

// naiveParity is the definition: parity row k is the XOR of the fragments its
// matrix row selects.
func naiveParity(data []byte, fragSize, k int, v Matrix) []byte {
	m := len(data) / fragSize
	row := make([]uint64, rowWords(m))
	matrixRow(row, k, m, v)
	out := make([]byte, fragSize)
	for i := range m {
		if row[i/64]>>(i%64)&1 == 1 {
			for j := range out {
				out[j] ^= data[i*fragSize+j]
			}
		}
	}
	return out
}

func TestEncodeMatchesBrocaar(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ms := []int{1, 2, 3, 4, 5, 7, 8, 9, 10, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 255, 256, 328, 511, 512, 1000, 1024, 1366}
	for range 12 {
		ms = append(ms, 1+rng.IntN(2000))
	}
	for _, m := range ms {
		fragSize := 1 + rng.IntN(40)
		redundancy := 1 + rng.IntN(m/2+8)
		data := make([]byte, m*fragSize)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		want, err := brocaar.Encode(bytes.Clone(data), fragSize, redundancy)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Encode(data, fragSize, redundancy)
		if err != nil {
			t.Fatalf("M %d: %v", m, err)
		}
		if len(got) != len(want) {
			t.Fatalf("M %d: %d fragments, want %d", m, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("M %d FragSize %d R %d: fragment %d differs from brocaar", m, fragSize, redundancy, i+1)
			}
		}
	}
}

// TestEncodeLargeIndex covers parity indices whose seed 1+1001k needs 24 bits
// (k ≥ 8380), where the LFSR's addition carries.
func TestEncodeLargeIndex(t *testing.T) {
	const m, fragSize, redundancy = 20, 3, MaxFragmentCounter - 20
	data := make([]byte, m*fragSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	want, err := brocaar.Encode(bytes.Clone(data), fragSize, redundancy)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []Matrix{MatrixV1, MatrixV2} {
		got, err := Encode(data, fragSize, redundancy, WithMatrix(v))
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; k <= redundancy; k++ {
			if v == MatrixV1 && !bytes.Equal(got[m+k-1], want[m+k-1]) {
				t.Fatalf("v1 parity %d differs from brocaar", k)
			}
			if n := naiveParity(data, fragSize, k, v); !bytes.Equal(got[m+k-1], n) {
				t.Fatalf("%v parity %d differs from the definition", v, k)
			}
		}
	}
}

func TestEncodeV2MatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, m := range []int{2, 8, 9, 64, 100, 257, 1000} {
		fragSize := 1 + rng.IntN(30)
		data := make([]byte, m*fragSize)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		frags, err := Encode(data, fragSize, 40, WithMatrix(MatrixV2))
		if err != nil {
			t.Fatal(err)
		}
		row := make([]uint64, rowWords(m))
		for k := 1; k <= 40; k++ {
			if want := naiveParity(data, fragSize, k, MatrixV2); !bytes.Equal(frags[m+k-1], want) {
				t.Fatalf("M %d parity %d differs from the definition", m, k)
			}
			matrixRow(row, k, m, MatrixV2)
			ones := 0
			for _, w := range row {
				ones += bits.OnesCount64(w)
			}
			if ones != m/2 {
				t.Fatalf("M %d v2 row %d has %d ones, want %d", m, k, ones, m/2)
			}
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		fragSize   int
		redundancy int
		opts       []EncodeOption
		want       string
	}{
		{"counter limit", 16000 * 2, 2, 384, nil, "16383"},
		{"fragment size 0", 10, 0, 1, nil, "1..255"},
		{"fragment size 256", 512, 256, 1, nil, "1..255"},
		{"empty data", 0, 10, 1, nil, "no data"},
		{"not a multiple", 25, 10, 1, nil, "multiple of the fragment size 10"},
		{"negative redundancy", 10, 10, -1, nil, "negative redundancy"},
		{"unknown matrix", 10, 10, 1, []EncodeOption{WithMatrix(7)}, "unknown matrix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(make([]byte, tc.size), tc.fragSize, tc.redundancy, tc.opts...)
			if !errors.Is(err, ErrFECParameter) {
				t.Fatalf("err = %v, want ErrFECParameter", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
	// The limit itself is accepted.
	if _, err := Encode(make([]byte, 16000), 1, MaxFragmentCounter-16000); err != nil {
		t.Errorf("NbFrag + R = %d: %v", MaxFragmentCounter, err)
	}
}

func TestPad(t *testing.T) {
	tests := []struct {
		n, fragSize, wantLen, wantPad int
	}{
		{100, 10, 100, 0},
		{101, 10, 110, 9},
		{1, 48, 48, 47},
		{0, 5, 0, 0},
	}
	for _, tc := range tests {
		data := bytes.Repeat([]byte{0xab}, tc.n)
		got, pad := Pad(data, tc.fragSize)
		if len(got) != tc.wantLen || pad != tc.wantPad {
			t.Errorf("Pad(%d B, %d) = %d B, %d; want %d B, %d", tc.n, tc.fragSize, len(got), pad, tc.wantLen, tc.wantPad)
		}
		if !bytes.Equal(got[:tc.n], data) || bytes.Count(got[tc.n:], []byte{0}) != tc.wantPad {
			t.Errorf("Pad(%d B, %d): content %x", tc.n, tc.fragSize, got)
		}
	}
}

// benchCases are the targets plus the decoding case.
var benchCases = []struct {
	size, fragSize int
	redundancy     float64
}{
	{256 << 10, 48, 0.30},
	{1 << 20, 200, 0.30},
}

func benchName(size, fragSize int, red float64) string {
	unit := fmt.Sprintf("%dKiB", size>>10)
	if size >= 1<<20 {
		unit = fmt.Sprintf("%dMiB", size>>20)
	}
	return fmt.Sprintf("%s/FS%d/R%.0f%%", unit, fragSize, red*100)
}

func benchInput(size, fragSize int, red float64) ([]byte, int) {
	rng := rand.New(rand.NewPCG(uint64(size), uint64(fragSize)))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	data, _ = Pad(data, fragSize)
	m := len(data) / fragSize
	return data, int(float64(m)*red + 0.999999)
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCases {
		data, r := benchInput(c.size, c.fragSize, c.redundancy)
		b.Run(benchName(c.size, c.fragSize, c.redundancy), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Encode(data, c.fragSize, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBrocaarEncode(b *testing.B) {
	for _, c := range benchCases {
		data, r := benchInput(c.size, c.fragSize, c.redundancy)
		b.Run(benchName(c.size, c.fragSize, c.redundancy), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := brocaar.Encode(data, c.fragSize, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAccumulate checks the platform's table-lookup kernel against the
// portable one.
func TestAccumulate(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, es := range []int{16, 48, 208, 256} {
		for _, rows := range []int{1, 2, 7, 100} {
			w := 1 + rng.IntN(3)
			tabSize := 256 * es
			tabs := make([]byte, 8*tabSize)
			for i := range tabs {
				tabs[i] = byte(rng.Uint32())
			}
			mat := make([]uint64, rows*w)
			for i := range mat {
				mat[i] = rng.Uint64()
			}
			acc := make([]byte, rows*es)
			for i := range acc {
				acc[i] = byte(rng.Uint32())
			}
			want := bytes.Clone(acc)
			accumulateGeneric(want, tabs, mat, w, es, tabSize)
			accumulate(acc, tabs, mat, w, es, tabSize)
			if !bytes.Equal(acc, want) {
				t.Fatalf("es %d rows %d: kernels differ", es, rows)
			}
		}
	}
}
