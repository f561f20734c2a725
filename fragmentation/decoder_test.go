package fragmentation

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// session is an encoded block for decoder tests.
type session struct {
	data    []byte // unpadded
	padding int
	m, fs   int
	matrix  Matrix
	frags   [][]byte
}

func newSession(t testing.TB, rng *rand.Rand, size, fs, redundancy int, v Matrix) *session {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	padded, padding := Pad(data, fs)
	frags, err := Encode(padded, fs, redundancy, WithMatrix(v))
	if err != nil {
		t.Fatal(err)
	}
	return &session{data: data, padding: padding, m: len(padded) / fs, fs: fs, matrix: v, frags: frags}
}

func (s *session) decoder(t testing.TB, maxLost int, store RowStore) *Decoder {
	t.Helper()
	d, err := NewDecoder(DecoderConfig{NbFrag: s.m, FragSize: s.fs, Padding: s.padding, Matrix: s.matrix, MaxLost: maxLost, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rankTracker is the brute force: Gaussian elimination over GF(2) on every
// row received, uncoded ones as unit rows.
type rankTracker struct {
	m      int
	v      Matrix
	pivots map[int][]uint64
}

func newRankTracker(m int, v Matrix) *rankTracker {
	return &rankTracker{m: m, v: v, pivots: map[int][]uint64{}}
}

// add adds the row of fragment n and reports whether it raised the rank.
func (r *rankTracker) add(n int) bool {
	row := make([]uint64, rowWords(r.m))
	if n <= r.m {
		row[(n-1)/64] |= 1 << ((n - 1) % 64)
	} else {
		matrixRow(row, n-r.m, r.m, r.v)
	}
	for {
		lead := -1
		for w, x := range row {
			if x != 0 {
				lead = w*64 + bits.TrailingZeros64(x)
				break
			}
		}
		if lead < 0 {
			return false
		}
		p, ok := r.pivots[lead]
		if !ok {
			r.pivots[lead] = row
			return true
		}
		for w := range row {
			row[w] ^= p[w]
		}
	}
}

func (r *rankTracker) rank() int { return len(r.pivots) }

// order is a sequence of fragment counters to push.
type order func(rng *rand.Rand, s *session) []int

func inOrder(loss float64) order {
	return func(rng *rand.Rand, s *session) []int {
		var ns []int
		for n := 1; n <= len(s.frags); n++ {
			if rng.Float64() >= loss {
				ns = append(ns, n)
			}
		}
		return ns
	}
}

// shuffled loses a share of the fragments, then shuffles the rest and
// repeats some: uncoded fragments arrive after coded ones.
func shuffled(loss float64, dups int) order {
	return func(rng *rand.Rand, s *session) []int {
		ns := inOrder(loss)(rng, s)
		for range dups {
			if len(ns) > 0 {
				ns = append(ns, ns[rng.IntN(len(ns))])
			}
		}
		rng.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
		return ns
	}
}

// lateUncoded sends coded fragments first, then the uncoded ones that were
// not lost.
func lateUncoded(loss float64) order {
	return func(rng *rand.Rand, s *session) []int {
		ns := inOrder(loss)(rng, s)
		var coded, uncoded []int
		for _, n := range ns {
			if n > s.m {
				coded = append(coded, n)
			} else {
				uncoded = append(uncoded, n)
			}
		}
		rng.Shuffle(len(uncoded), func(i, j int) { uncoded[i], uncoded[j] = uncoded[j], uncoded[i] })
		return append(coded, uncoded...)
	}
}

func TestDecoderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	orders := []struct {
		name string
		o    order
	}{
		{"in order 10%", inOrder(0.10)},
		{"in order 25%", inOrder(0.25)},
		{"shuffled 15% dups", shuffled(0.15, 40)},
		{"coded first", lateUncoded(0.2)},
	}
	sizes := []struct{ size, fs int }{{1, 7}, {100, 10}, {1000, 16}, {2049, 8}, {5000, 50}, {20000, 48}}
	for _, v := range []Matrix{MatrixV1, MatrixV2} {
		for _, sz := range sizes {
			for _, o := range orders {
				name := fmt.Sprintf("%v/%dB/FS%d/%s", v, sz.size, sz.fs, o.name)
				t.Run(name, func(t *testing.T) {
					for trial := range 3 {
						m := (sz.size + sz.fs - 1) / sz.fs
						s := newSession(t, rng, sz.size, sz.fs, m/2+10, v)
						d := s.decoder(t, 0, nil)
						tr := newRankTracker(s.m, v)
						pushed := 0
						for _, n := range o.o(rng, s) {
							tr.add(n)
							done, err := d.Push(n, s.frags[n-1])
							if err != nil {
								t.Fatalf("trial %d: Push(%d): %v", trial, n, err)
							}
							pushed++
							if done != (tr.rank() == s.m) {
								t.Fatalf("trial %d: after %d pushes done = %v, brute-force rank %d of %d", trial, pushed, done, tr.rank(), s.m)
							}
						}
						if !d.Done() {
							// Too many losses for this draw: the
							// status must say how far it is.
							st := d.Status()
							if st.Needed <= 0 || st.Missing-st.Rank != st.Needed {
								t.Fatalf("trial %d: not done, status %+v", trial, st)
							}
							continue
						}
						got, err := d.Data()
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, s.data) {
							t.Fatalf("trial %d: decoded block differs", trial)
						}
					}
				})
			}
		}
	}
}

// TestDecoderOptimal pushes random sequences, including duplicates and
// uncoded fragments after coded ones, and checks that the decoder completes
// exactly at the first fragment that makes the received rows full rank.
func TestDecoderOptimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	for trial := range 200 {
		v := Matrix(trial % 2)
		m := 2 + rng.IntN(90)
		fs := 1 + rng.IntN(5)
		s := newSession(t, rng, m*fs, fs, 1+rng.IntN(m+20), v)
		store := NewMemoryStore(s.m, s.fs)
		d := s.decoder(t, 0, store)
		tr := newRankTracker(s.m, v)
		ns := shuffled(rng.Float64()*0.5, rng.IntN(20))(rng, s)
		defer func() {
			// Every append raises the rank or replaces a displaced
			// pivot: never more records than unknowns.
			if records := len(store.scratch) / s.fs; records > len(d.cols) {
				t.Errorf("trial %d: %d scratch records for %d unknowns", trial, records, len(d.cols))
			}
		}()
		for i, n := range ns {
			raised := tr.add(n)
			done, err := d.Push(n, s.frags[n-1])
			if err != nil {
				t.Fatal(err)
			}
			if st := d.Status(); !done && st.Missing-st.Rank != s.m-tr.rank() {
				t.Fatalf("trial %d push %d: status needs %d, brute force %d", trial, i, st.Missing-st.Rank, s.m-tr.rank())
			}
			if done != (tr.rank() == s.m) {
				t.Fatalf("trial %d (M %d %v): push %d (N %d) done = %v, brute-force rank %d", trial, m, v, i, n, done, tr.rank())
			}
			if done {
				if !raised {
					t.Fatalf("trial %d: done reported after the full-rank fragment", trial)
				}
				got, err := d.Data()
				if err != nil || !bytes.Equal(got, s.data) {
					t.Fatalf("trial %d: wrong data (%v)", trial, err)
				}
				break
			}
		}
	}
}

// strictStore models write-once flash: a second write to a row, a read of an
// unwritten row, or more scratch records than allowed is an error. It does
// not implement RowXORer, so the decoder's copy path is exercised too.
type strictStore struct {
	fs         int
	rows       map[int][]byte
	scratch    [][]byte
	maxScratch int
	writes     int
}

func newStrictStore(fs, maxScratch int) *strictStore {
	return &strictStore{fs: fs, rows: map[int][]byte{}, maxScratch: maxScratch}
}

var errRewrite = errors.New("write to a location not erased")

func (s *strictStore) WriteRow(i int, p []byte) error {
	if _, ok := s.rows[i]; ok {
		return fmt.Errorf("row %d: %w", i, errRewrite)
	}
	s.rows[i] = bytes.Clone(p)
	s.writes++
	return nil
}

func (s *strictStore) ReadRow(i int, p []byte) error {
	r, ok := s.rows[i]
	if !ok {
		return fmt.Errorf("row %d read before written", i)
	}
	copy(p, r)
	return nil
}

func (s *strictStore) AppendScratch(p []byte) (int, error) {
	if len(s.scratch) == s.maxScratch {
		return 0, fmt.Errorf("scratch area full (%d records)", s.maxScratch)
	}
	s.scratch = append(s.scratch, bytes.Clone(p))
	return len(s.scratch) - 1, nil
}

func (s *strictStore) ReadScratch(j int, p []byte) error {
	if j < 0 || j >= len(s.scratch) {
		return fmt.Errorf("scratch record %d not written", j)
	}
	copy(p, s.scratch[j])
	return nil
}

func TestDecoderWriteOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 15))
	for trial := range 60 {
		v := Matrix(trial % 2)
		s := newSession(t, rng, 200+rng.IntN(3000), 1+rng.IntN(20), 200, v)
		maxLost := 0
		if trial%3 == 0 {
			maxLost = s.m/2 + 1
		}
		store := newStrictStore(s.fs, cmp(maxLost, s.m))
		d := s.decoder(t, maxLost, store)
		var ns []int
		switch trial % 3 {
		case 0:
			ns = inOrder(0.2)(rng, s)
		case 1:
			ns = shuffled(0.2, 30)(rng, s)
		default:
			ns = lateUncoded(0.2)(rng, s)
		}
		for _, n := range ns {
			if _, err := d.Push(n, s.frags[n-1]); err != nil && !errors.Is(err, ErrTooManyLost) {
				t.Fatalf("trial %d: %v", trial, err)
			}
		}
		if !d.Done() {
			continue
		}
		if store.writes != s.m {
			t.Errorf("trial %d: %d row writes, want %d", trial, store.writes, s.m)
		}
		got, err := d.Data()
		if err != nil || !bytes.Equal(got, s.data) {
			t.Fatalf("trial %d: wrong data (%v)", trial, err)
		}
	}
	// The strict store itself refuses a rewrite.
	st := newStrictStore(1, 1)
	if err := st.WriteRow(0, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteRow(0, []byte{1}); !errors.Is(err, errRewrite) {
		t.Fatalf("second write: %v", err)
	}
}

// cmp returns maxLost, or m when it is 0 (no limit).
func cmp(maxLost, m int) int {
	if maxLost == 0 {
		return m
	}
	return maxLost
}

func TestDecoderMaxLost(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 17))
	s := newSession(t, rng, 100*10, 10, 40, MatrixV1)
	const maxLost = 5
	d := s.decoder(t, maxLost, nil)
	lost := []int{3, 17, 18, 40, 77, 99} // 6 > maxLost
	isLost := map[int]bool{}
	for _, n := range lost {
		isLost[n] = true
	}
	for n := 1; n <= s.m; n++ {
		if !isLost[n] {
			if _, err := d.Push(n, s.frags[n-1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := d.Status()
	if st.Lost != 6 || st.Possible {
		t.Fatalf("after the uncoded fragments: Lost %d Possible %v, want 6 false", st.Lost, st.Possible)
	}
	for n := s.m + 1; n <= s.m+20; n++ {
		done, err := d.Push(n, s.frags[n-1])
		if done || !errors.Is(err, ErrTooManyLost) {
			t.Fatalf("Push(%d) = %v, %v; want ErrTooManyLost", n, done, err)
		}
		if !strings.Contains(err.Error(), "MaxLost is 5") {
			t.Errorf("error %q does not name the limit", err)
		}
	}
	if st := d.Status(); st.Dropped != 20 || st.Possible || st.Rank != 0 {
		t.Fatalf("status %+v", st)
	}
	// A late uncoded fragment brings the loss within MaxLost: coded
	// fragments count again.
	if _, err := d.Push(40, s.frags[39]); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); !st.Possible || st.Lost != 5 {
		t.Fatalf("after late fragment: %+v", st)
	}
	n := s.m + 21
	for ; n <= len(s.frags); n++ {
		done, err := d.Push(n, s.frags[n-1])
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	if !d.Done() {
		t.Fatal("not done after all parity fragments")
	}
	got, err := d.Data()
	if err != nil || !bytes.Equal(got, s.data) {
		t.Fatalf("wrong data (%v)", err)
	}
	if m := d.Memory(); m.Matrix != 5*8 || m.MatrixBound != 2 {
		t.Errorf("memory %+v: want a 5-column triangle, one word a row", m)
	}
}

func TestDecoderMemoryBound(t *testing.T) {
	for _, l := range []int{1, 5, 63, 64, 65, 130, 524, 1000} {
		d, err := NewDecoder(DecoderConfig{NbFrag: 2000, FragSize: 10, MaxLost: l})
		if err != nil {
			t.Fatal(err)
		}
		mem := d.Memory()
		bitsUsed := 8 * mem.Matrix
		if bound := l*(l+1)/2 + 126*l; bitsUsed > bound {
			t.Errorf("Lmax %d: matrix %d bits > %d", l, bitsUsed, bound)
		}
		if mem.MatrixBound != (l*(l+1)/2+7)/8 {
			t.Errorf("Lmax %d: bound %d B", l, mem.MatrixBound)
		}
	}
}

func TestDecoderStatusAndErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 19))
	s := newSession(t, rng, 95, 10, 30, MatrixV2) // 10 fragments, padding 5
	d := s.decoder(t, 0, nil)
	bad := []struct {
		n    int
		frag []byte
		want string
	}{
		{0, s.frags[0], "out of range 1..16383"},
		{16384, s.frags[0], "out of range 1..16383"},
		{1, s.frags[0][:9], "has 9 bytes, session FragSize is 10"},
	}
	for _, b := range bad {
		if _, err := d.Push(b.n, b.frag); !errors.Is(err, ErrBadFragment) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Push(%d, %d B) = %v, want %q", b.n, len(b.frag), err, b.want)
		}
	}
	if _, err := d.Data(); !errors.Is(err, ErrNotDone) {
		t.Errorf("Data before done: %v", err)
	}
	push := func(n int) bool {
		t.Helper()
		done, err := d.Push(n, s.frags[n-1])
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	push(1)
	push(1)
	push(4)
	st := d.Status()
	if st.Received != 3 || st.Uncoded != 2 || st.Redundant != 1 || st.Missing != 8 || st.Lost != 2 || !st.Possible {
		t.Fatalf("status %+v", st)
	}
	push(15)
	if st := d.Status(); st.Lost != 8 || st.Coded != 1 || st.Rank != 1 || st.Needed != 7 {
		t.Fatalf("status after coded %+v", st)
	}
	for n := 11; n <= 40 && !d.Done(); n++ {
		push(n)
	}
	if !d.Done() {
		t.Fatal("not done")
	}
	before := d.Status()
	if !push(2) {
		t.Fatal("push after done")
	}
	if st := d.Status(); st.Redundant != before.Redundant+1 || !st.Done || st.Missing != 0 {
		t.Fatalf("status after done %+v", st)
	}
	got, err := d.Data()
	if err != nil || !bytes.Equal(got, s.data) || len(got) != 95 {
		t.Fatalf("Data: %d B, %v", len(got), err)
	}
	var buf bytes.Buffer
	if n, err := d.WriteTo(&buf); err != nil || n != 95 || !bytes.Equal(buf.Bytes(), s.data) {
		t.Fatalf("WriteTo: %d, %v", n, err)
	}
}

func TestNewDecoderRefuses(t *testing.T) {
	tests := []struct {
		cfg  DecoderConfig
		want string
	}{
		{DecoderConfig{NbFrag: 0, FragSize: 10}, "NbFrag"},
		{DecoderConfig{NbFrag: 16384, FragSize: 10}, "16383"},
		{DecoderConfig{NbFrag: 10, FragSize: 0}, "1..255"},
		{DecoderConfig{NbFrag: 10, FragSize: 256}, "1..255"},
		{DecoderConfig{NbFrag: 10, FragSize: 10, Padding: 10}, "padding 10"},
		{DecoderConfig{NbFrag: 10, FragSize: 10, MaxLost: -1}, "MaxLost"},
		{DecoderConfig{NbFrag: 10, FragSize: 10, Matrix: 9}, "matrix"},
		{DecoderConfig{NbFrag: 10, FragSize: 10, Store: NewMemoryStore(5, 10)}, "MemoryStore for 5 rows"},
	}
	for _, tc := range tests {
		_, err := NewDecoder(tc.cfg)
		if !errors.Is(err, ErrFECParameter) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// BenchmarkDecode decodes 1 MiB / 200 B / 30 % redundancy sent in order with
// 10 % random loss; BenchmarkEncode/1MiB/FS200/R30% encodes the same image.
func BenchmarkDecode(b *testing.B) {
	const size, fs, red, loss = 1 << 20, 200, 0.30, 0.10
	data, r := benchInput(size, fs, red)
	frags, err := Encode(data, fs, r)
	if err != nil {
		b.Fatal(err)
	}
	m := len(data) / fs
	rng := rand.New(rand.NewPCG(20, 21))
	var ns []int
	for n := 1; n <= len(frags); n++ {
		if rng.Float64() >= loss {
			ns = append(ns, n)
		}
	}
	b.Run(benchName(size, fs, red)+"/loss10%", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			d, err := NewDecoder(DecoderConfig{NbFrag: m, FragSize: fs})
			if err != nil {
				b.Fatal(err)
			}
			for _, n := range ns {
				done, err := d.Push(n, frags[n-1])
				if err != nil {
					b.Fatal(err)
				}
				if done {
					break
				}
			}
			if !d.Done() {
				b.Fatal("not decoded")
			}
		}
	})
}
