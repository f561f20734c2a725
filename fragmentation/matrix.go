package fragmentation

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
)

// Matrix selects the generator of the parity matrix of the TS004 FEC code
// (FragAlgo 0). Both versions seed row k with the parity index k = N − NbFrag,
// as deployed devices do (shared/PROTOCOLS.md §1.3).
type Matrix uint8

const (
	// MatrixV1 is the TS004 v1.0.0 generator (LoRaMac-node, brocaar/lorawan):
	// every draw counts, so duplicate draws collapse and a row has at most
	// ⌊NbFrag/2⌋ ones.
	MatrixV1 Matrix = iota
	// MatrixV2 is the TS004 v2.0.0 generator (LoRa Basics Modem, STM32CubeWL):
	// only draws that hit a new column count, so a row has exactly ⌊NbFrag/2⌋
	// ones.
	MatrixV2
)

func (v Matrix) String() string {
	switch v {
	case MatrixV1:
		return "v1"
	case MatrixV2:
		return "v2"
	}
	return fmt.Sprintf("Matrix(%d)", uint8(v))
}

func (v Matrix) valid() bool { return v == MatrixV1 || v == MatrixV2 }

// ParseMatrix accepts "v1", "v2", "1" or "2" (case-insensitive).
func ParseMatrix(s string) (Matrix, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "v1", "1":
		return MatrixV1, nil
	case "v2", "2":
		return MatrixV2, nil
	}
	return 0, fmt.Errorf("fragmentation: unknown matrix version %q (want v1 or v2)", s)
}

const (
	prbsBits = 23
	prbsMask = 1<<prbsBits - 1
	// prbsAhead is how many states one step of the word-wide generator yields:
	// the feedback of the 23-bit LFSR reads bits 0 and 5, so the next 18 input
	// bits depend only on the current state.
	prbsAhead = prbsBits - 5
)

// prbs23 is one step of the generator's LFSR. It adds the feedback bit where
// the pseudocode ORs it: the two differ only for seeds of 23 bits or more
// (parity index k ≥ 8380), and LoRaMac-node and brocaar/lorawan both add.
func prbs23(x uint32) uint32 {
	return x>>1 + ((x^x>>5)&1)<<22
}

// modulus computes x mod d for x < 2³² without a division (Lemire, Kaser
// and Kurz, "Faster remainder by direct computation", 2019): with
// c = ⌈2⁶⁴/d⌉, x mod d is the high word of (c·x mod 2⁶⁴)·d. Row generation
// draws NbFrag/2 remainders per row; a hardware division would cost more than
// the rest of the step.
type modulus struct {
	d uint64
	c uint64
}

func newModulus(d int) modulus {
	return modulus{d: uint64(d), c: ^uint64(0)/uint64(d) + 1}
}

func (m modulus) mod(x uint32) uint32 {
	hi, _ := bits.Mul64(m.c*uint64(x), m.d)
	return uint32(hi)
}

// rowWords is the number of 64-bit words of a bit row over m columns.
func rowWords(m int) int { return (m + 63) / 64 }

// maxRowWords is the number of words of a matrix row at the largest NbFrag:
// 16383 columns fit in 256 words.
const maxRowWords = 256

// colMask bounds column indices below 2¹⁴, so that indexing a
// [1 << 14]byte array needs no bounds check.
const colMask = 1<<14 - 1

// rowGen builds rows of the parity matrix without allocating. Draws mark a
// byte per column, which is one store where setting a bit is a load, an OR
// and a store; the bytes are packed into words once per row.
type rowGen struct {
	cols [colMask + 1 + 64]byte
	bits [maxRowWords]uint64
}

// matrixRow sets row to parity row k (1-based) of the matrix for m uncoded
// fragments. row must hold at least rowWords(m) words. It allocates; hot
// paths use a rowGen.
func matrixRow(row []uint64, k, m int, v Matrix) {
	g := new(rowGen)
	copy(row, g.build(k, m, v))
}

// build returns parity row k (1-based) of the matrix for m ≤ 16383 uncoded
// fragments as rowWords(m) words: bit i is set when uncoded fragment i+1 is
// part of the parity. The slice is valid until the next call.
func (g *rowGen) build(k, m int, v Matrix) []uint64 {
	g.fill(k, m, v)
	// Pack 8 column bytes (0 or 1) into a byte: the multiplier moves byte
	// j to bit 56+j, and no two partial products meet in the top byte.
	const gather = 0x0102040810204080
	bits := g.bits[:rowWords(m)]
	for w := range bits {
		c := g.cols[64*w : 64*w+64]
		var word uint64
		for j := range 8 {
			word |= (binary.LittleEndian.Uint64(c[8*j:]) * gather >> 56) << (8 * j)
		}
		bits[w] = word
	}
	return bits
}

// buildStrided is build with the bits of each word in strided order, which
// is cheaper to pack: bit 8b+j of word w stands for column 64w + 8j + b. The
// encoder uses byte b of word w as the selector of the 8 columns
// 64w + b + 8j, j = 0..7.
func (g *rowGen) buildStrided(k, m int, v Matrix) []uint64 {
	g.fill(k, m, v)
	bits := g.bits[:rowWords(m)]
	le := binary.LittleEndian
	for w := range bits {
		c := (*[64]byte)(g.cols[64*w:])
		bits[w] = le.Uint64(c[0:]) | le.Uint64(c[8:])<<1 | le.Uint64(c[16:])<<2 | le.Uint64(c[24:])<<3 |
			le.Uint64(c[32:])<<4 | le.Uint64(c[40:])<<5 | le.Uint64(c[48:])<<6 | le.Uint64(c[56:])<<7
	}
	return bits
}

// fill sets g.cols[i] to 1 for the columns of row k and clears the others up
// to the next multiple of 64.
func (g *rowGen) fill(k, m int, v Matrix) {
	clear(g.cols[:(m+63)&^63])
	if half := m / 2; half > 0 {
		g.draw(k, m, half, v == MatrixV2)
	}
}

// draw marks the half columns of row k in g.cols.
func (g *rowGen) draw(k, m, half int, distinct bool) {
	cols := &g.cols
	d := m
	if m&(m-1) == 0 {
		// Draw modulo m+1 and reject m.
		d = m + 1
	}
	md := newModulus(d)
	um := uint32(m)
	count := 0
	x := uint32(1 + 1001*k)

	// A seed of 24 bits (large k) decays below 2²³ within 24 steps; until
	// then the addition in prbs23 may carry, so step one at a time.
	for x > prbsMask {
		x = prbs23(x)
		r := md.mod(x)
		if r >= um || distinct && cols[r&colMask] != 0 {
			continue
		}
		cols[r&colMask] = 1
		if count++; count == half {
			return
		}
	}
	for {
		// s holds 41 stream bits: the current state in bits 0..22 and the
		// next 18 feedback bits above it, so the state j steps ahead is
		// bits j..j+22 of s.
		s := uint64(x) | uint64((x^x>>5)&(1<<prbsAhead-1))<<prbsBits
		x = uint32(s>>prbsAhead) & prbsMask
		switch {
		case distinct:
			for range prbsAhead {
				s >>= 1
				r := md.mod(uint32(s) & prbsMask)
				if r >= um {
					continue
				}
				count += int(1 - cols[r&colMask])
				cols[r&colMask] = 1
				if count == half {
					return
				}
			}
		case d == m:
			// No draw is rejected and every draw counts.
			n := min(prbsAhead, half-count)
			// Two draws per iteration: fewer loop and register moves.
			t := s
			for range n / 2 {
				r0 := md.mod(uint32(t>>1) & prbsMask)
				r1 := md.mod(uint32(t>>2) & prbsMask)
				t >>= 2
				cols[r0&colMask] = 1
				cols[r1&colMask] = 1
			}
			if n%2 == 1 {
				cols[md.mod(uint32(t>>1)&prbsMask)&colMask] = 1
			}
			if count += n; count == half {
				return
			}
		default:
			for range prbsAhead {
				s >>= 1
				r := md.mod(uint32(s) & prbsMask)
				if r >= um {
					continue
				}
				cols[r&colMask] = 1
				if count++; count == half {
					return
				}
			}
		}
	}
}
