package fragmentation

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// maxFragSize is the largest FragSize: FragSessionSetupReq carries it in one
// byte.
const maxFragSize = 255

// ErrFECParameter is wrapped by every error about encoder or decoder
// parameters outside what TS004 can carry.
var ErrFECParameter = errors.New("fragmentation: invalid FEC parameter")

// EncodeOption changes how [Encode] builds the parity fragments.
type EncodeOption func(*encodeConfig)

type encodeConfig struct {
	matrix Matrix
}

// WithMatrix selects the parity matrix generator; the default is [MatrixV1].
func WithMatrix(v Matrix) EncodeOption {
	return func(c *encodeConfig) { c.matrix = v }
}

// Pad returns data extended with zero bytes to a whole number of fragments of
// fragSize bytes, and the number of bytes added: the Padding field of
// FragSessionSetupReq. data itself is returned when no padding is needed; a
// copy otherwise.
func Pad(data []byte, fragSize int) (padded []byte, padding int) {
	if fragSize <= 0 || len(data)%fragSize == 0 {
		return data, 0
	}
	padding = fragSize - len(data)%fragSize
	padded = make([]byte, len(data)+padding)
	copy(padded, data)
	return padded, padding
}

// checkSession validates the parameters shared by the encoder and decoder.
func checkSession(nbFrag, fragSize, redundancy int) error {
	switch {
	case fragSize < 1 || fragSize > maxFragSize:
		return fmt.Errorf("%w: fragment size %d out of range 1..%d (FragSize is one byte)", ErrFECParameter, fragSize, maxFragSize)
	case nbFrag < 1:
		return fmt.Errorf("%w: empty data block (NbFrag must be at least 1)", ErrFECParameter)
	case redundancy < 0:
		return fmt.Errorf("%w: negative redundancy %d", ErrFECParameter, redundancy)
	case nbFrag+redundancy > MaxFragmentCounter:
		return fmt.Errorf("%w: %d uncoded + %d parity fragments exceed the 14-bit fragment counter limit of %d per data block",
			ErrFECParameter, nbFrag, redundancy, MaxFragmentCounter)
	}
	return nil
}

// Encode splits data into fragments of fragSize bytes and appends redundancy
// parity fragments of the TS004 FEC code: the result holds NbFrag =
// len(data)/fragSize uncoded fragments followed by the parity fragments, so
// that result[N-1] is the payload of DataFragment N. With no option the output
// is byte-identical to the LoRa Alliance v1 definition and to brocaar/lorawan's
// fragmentation.Encode; [WithMatrix]([MatrixV2]) selects the v2 generator.
//
// len(data) must be a multiple of fragSize ([Pad] pads it). As in
// brocaar/lorawan, the uncoded fragments share memory with data (each has its
// capacity limited to fragSize); the parity fragments share one new buffer.
//
// The parity fragments are computed with the "method of four Russians": each
// group of 8 uncoded fragments gets a table of its 256 XOR combinations, and a
// parity row is the XOR of one table entry per group, selected by the 8 bits
// of its matrix row in that group. This cuts the XOR work about fourfold
// against adding up the ⌊NbFrag/2⌋ fragments of each row one by one.
func Encode(data []byte, fragSize, redundancy int, opts ...EncodeOption) ([][]byte, error) {
	cfg := encodeConfig{matrix: MatrixV1}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.matrix.valid() {
		return nil, fmt.Errorf("%w: unknown matrix %v", ErrFECParameter, cfg.matrix)
	}
	if fragSize < 1 || fragSize > maxFragSize {
		return nil, checkSession(1, fragSize, redundancy)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: no data to encode", ErrFECParameter)
	}
	if len(data)%fragSize != 0 {
		return nil, fmt.Errorf("%w: data length %d is not a multiple of the fragment size %d (use Pad)", ErrFECParameter, len(data), fragSize)
	}
	m := len(data) / fragSize
	if err := checkSession(m, fragSize, redundancy); err != nil {
		return nil, err
	}

	frags := make([][]byte, m+redundancy)
	for i := range m {
		frags[i] = data[i*fragSize : (i+1)*fragSize : (i+1)*fragSize]
	}
	if redundancy == 0 {
		return frags, nil
	}
	parity := make([]byte, redundancy*fragSize)
	encodeParity(parity, data, m, fragSize, redundancy, cfg.matrix)
	for k := range redundancy {
		frags[m+k] = parity[k*fragSize : (k+1)*fragSize : (k+1)*fragSize]
	}
	return frags, nil
}

// encodeParity writes the r parity rows of the m fragments of data into out
// (r·fragSize bytes).
//
// The columns are taken 64 at a time (one word of a matrix row), as 8 groups
// of 8 fragments; each group gets a table of its 256 XOR combinations, and
// each parity row XORs the 8 entries its matrix word selects. With R parity
// rows and M fragments that is R·M/8 entry XORs plus 32·M for the tables,
// instead of about R·M/2 fragment XORs. Groups of 8 are the optimum for the
// redundancies TS004 allows (R·M/g + 2^g·M/g is least at g = 8 for R in the
// hundreds to thousands) and keep selectors byte-aligned.
func encodeParity(out, data []byte, m, fragSize, r int, v Matrix) {
	// Table entries and accumulators are padded to 16 bytes, the width of
	// the assembly kernel's XOR.
	es := (fragSize + 15) &^ 15
	w := rowWords(m)

	// The whole matrix, row-major, 2 KiB per row at most. Strided bit
	// order: byte t of word p selects among columns 64p + t + 8j, so that
	// packing a row is cheap.
	mat := make([]uint64, r*w)
	g := new(rowGen)
	for k := range r {
		copy(mat[k*w:(k+1)*w], g.buildStrided(k+1, m, v))
	}

	acc := make([]byte, r*es)
	tabSize := 256 * es
	tabs := make([]byte, 8*tabSize)
	frags := make([]byte, 64*es) // the pass's 64 fragments, padded
	rep := make([]byte, 128*es)
	for p := range w {
		clear(frags)
		for c := range min(64, m-64*p) {
			i := 64*p + c
			copy(frags[c*es:], data[i*fragSize:(i+1)*fragSize])
		}
		for t := range 8 {
			buildTable(tabs[t*tabSize:(t+1)*tabSize], frags, rep, t, es)
		}
		accumulate(acc, tabs, mat[p:], w, es, tabSize)
	}
	for k := range r {
		copy(out[k*fragSize:(k+1)*fragSize], acc[k*es:])
	}
}

// buildTable fills tab with the 256 XOR combinations of fragments t, t+8, …,
// t+56 of frags (es bytes each): entry e is the XOR of the fragments t+8j for
// the bits j set in e. rep is scratch of 128·es bytes.
func buildTable(tab, frags, rep []byte, t, es int) {
	clear(tab[:es])
	for j := range 8 {
		// Entries 2^j..2^(j+1)-1 are entries 0..2^j-1 plus fragment j:
		// one XOR of 2^j entries against rep, the fragment 2^j times.
		n := (1 << j) * es
		copy(rep[:es], frags[(t+8*j)*es:])
		for c := es; c < n; c *= 2 {
			copy(rep[c:n], rep[:c])
		}
		subtle.XORBytes(tab[n:2*n], tab[:n], rep[:n])
	}
}

// accumulateGeneric XORs into each parity row k (es bytes of acc) the eight
// table entries that its matrix word mat[k*w] selects: entry byte t of the
// word in table t, each table tabSize bytes.
func accumulateGeneric(acc, tabs []byte, mat []uint64, w, es, tabSize int) {
	for k := 0; k*es < len(acc); k++ {
		sel := mat[k*w]
		a := acc[k*es : (k+1)*es]
		for t := range 8 {
			o := t*tabSize + int(uint8(sel>>(8*t)))*es
			subtle.XORBytes(a, a, tabs[o:o+es])
		}
	}
}
