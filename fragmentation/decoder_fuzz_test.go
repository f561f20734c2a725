package fragmentation

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzDecoder derives a small session from its arguments (NbFrag ≤ 64,
// FragSize ≤ 16, up to 63 parity fragments, MaxLost) and pushes the sequence
// of fragments ops describes, three bytes each: a kind and a 16-bit value.
// Kinds 0–2 push a genuine fragment; kind 3 pushes a counter and payload
// taken from the bytes, valid or not. The decoder must never panic, must
// refuse invalid counters and lengths, and when only genuine fragments were
// pushed must complete exactly when they reach full rank (with no MaxLost)
// and then return the original data.
func FuzzDecoder(f *testing.F) {
	f.Add(uint8(9), uint8(9), uint8(20), false, uint8(0), []byte("\x00\x00\x00\x00\x00\x01\x01\x00\x02\x00\x00\x0b\x01\x00\x0c\x02\x00\x0d"))
	f.Add(uint8(63), uint8(3), uint8(63), true, uint8(8), []byte("\x03\x00\x00\x03\xff\xff\x03\x40\x00\x01\x00\x41\x02\x00\x05"))
	f.Fuzz(func(t *testing.T, mb, fsb, rb uint8, v2 bool, lb uint8, ops []byte) {
		m := 1 + int(mb)%64
		fs := 1 + int(fsb)%16
		r := int(rb) % 64
		maxLost := int(lb) % (m + 1)
		v := MatrixV1
		if v2 {
			v = MatrixV2
		}
		rng := rand.New(rand.NewPCG(uint64(mb), uint64(fsb)))
		data := make([]byte, m*fs)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		frags, err := Encode(data, fs, r, WithMatrix(v))
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDecoder(DecoderConfig{NbFrag: m, FragSize: fs, Matrix: v, MaxLost: maxLost})
		if err != nil {
			t.Fatal(err)
		}
		unbounded := maxLost == 0 || maxLost == m
		tr := newRankTracker(m, v)
		genuine := true
		for ; len(ops) >= 3; ops = ops[3:] {
			val := int(ops[1])<<8 | int(ops[2])
			var n int
			var frag []byte
			if ops[0]%4 < 3 {
				n = 1 + val%(m+r)
				frag = frags[n-1]
			} else {
				n = int(int16(val))
				l := int(ops[2]) % (fs + 3)
				frag = bytes.Repeat(ops[1:2], l)
			}
			valid := n >= 1 && n <= MaxFragmentCounter && len(frag) == fs
			wasDone := d.Done()
			done, err := d.Push(n, frag)
			switch {
			case !valid:
				if !errors.Is(err, ErrBadFragment) {
					t.Fatalf("Push(%d, %d B) = %v, want ErrBadFragment", n, len(frag), err)
				}
				continue
			case err != nil && !errors.Is(err, ErrTooManyLost):
				t.Fatalf("Push(%d): %v", n, err)
			case errors.Is(err, ErrTooManyLost) && (unbounded || n <= m):
				t.Fatalf("Push(%d) = %v with MaxLost %d", n, err, maxLost)
			}
			if wasDone && !done {
				t.Fatal("done went back")
			}
			isGenuine := n <= m+r && bytes.Equal(frag, frags[n-1])
			genuine = genuine && isGenuine
			if !genuine {
				continue
			}
			tr.add(n)
			if done && tr.rank() < m {
				t.Fatalf("done with rank %d of %d", tr.rank(), m)
			}
			if unbounded && !done && tr.rank() == m {
				t.Fatalf("full rank but not done: %+v", d.Status())
			}
		}
		if !d.Done() {
			if _, err := d.Data(); !errors.Is(err, ErrNotDone) {
				t.Fatalf("Data before done: %v", err)
			}
			return
		}
		got, err := d.Data()
		if err != nil {
			t.Fatal(err)
		}
		if genuine && !bytes.Equal(got, data) {
			t.Fatal("decoded block differs from the encoded one")
		}
	})
}
