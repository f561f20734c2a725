package fragmentation

import (
	"math/rand/v2"
	"testing"
)

// TestModulus checks the division-free remainder over its whole domain
// for a few divisors and at random for all others.
func TestModulus(t *testing.T) {
	for _, d := range []int{2, 3, 1000, 4097, 16383, 16384, 16385} {
		md := newModulus(d)
		for x := uint32(0); x < 1<<24; x += 1 + x>>12 {
			if got, want := md.mod(x), x%uint32(d); got != want {
				t.Fatalf("%d mod %d = %d, want %d", x, d, got, want)
			}
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for d := 2; d <= 1<<14+1; d++ {
		md := newModulus(d)
		for range 64 {
			x := rng.Uint32N(1 << 24)
			if got, want := md.mod(x), x%uint32(d); got != want {
				t.Fatalf("%d mod %d = %d, want %d", x, d, got, want)
			}
		}
		for _, x := range []uint32{1<<24 - 1, uint32(d) - 1, uint32(d), uint32(d) * (1<<24/uint32(d) - 1)} {
			if got, want := md.mod(x), x%uint32(d); got != want {
				t.Fatalf("%d mod %d = %d, want %d", x, d, got, want)
			}
		}
	}
}

func BenchmarkMatrixRow(b *testing.B) {
	const m, r = 5462, 1639
	g := new(rowGen)
	for _, v := range []Matrix{MatrixV1, MatrixV2} {
		b.Run(v.String(), func(b *testing.B) {
			for b.Loop() {
				for k := 1; k <= r; k++ {
					g.build(k, m, v)
				}
			}
		})
	}
}
