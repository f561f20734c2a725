package boot

import (
	"slices"
	"testing"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// TestCheckpointsResume checks what the sweep relies on to start cut runs
// at checkpoints: a fresh boot from the flash at a checkpoint runs exactly
// the operations the clean run ran from there, on every flash.
func TestCheckpointsResume(t *testing.T) {
	for _, part := range Parts() {
		for _, staging := range []bool{false, true} {
			sw, err := newSweeper(SweepConfig{Layout: ExternalSwap, Flash: part, ImageSize: 20 * flash.KiB, Staging: staging, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			n, err := sw.cleanRun()
			if err != nil {
				t.Fatal(err)
			}
			if len(sw.cps) < 3*5 {
				t.Fatalf("%s: %d checkpoints for 5 swap units", part, len(sw.cps))
			}
			for k, cp := range sw.cps {
				r := cp.rig.branch()
				led := cp.led
				if err := sw.tail(r, &led, nil); err != nil {
					t.Fatalf("%s: from checkpoint %d: %v", part, k, err)
				}
				got := counts(r, cp.rig.ops())
				for i := range got {
					got[i] += cp.ops[i]
				}
				if !slices.Equal(got, n) {
					t.Fatalf("%s staging=%v: from checkpoint %d at %v: %v operations in all, the clean run %v", part, staging, k, cp.ops, got, n)
				}
			}
		}
	}
}

func TestTrailerParse(t *testing.T) {
	tf := trailerFormat{align: 8, erased: 0xFF}
	erased := func() []byte {
		b := make([]byte, tf.len())
		for i := range b {
			b[i] = 0xFF
		}
		return b
	}
	put := func(b []byte, field int, v []byte) { copy(b[tf.off(field):], tf.field(field, v)) }
	stable := make([]byte, tf.len())

	b := erased()
	if got := tf.parse(b, stable); got != (Trailer{}) {
		t.Fatalf("erased trailer: %+v", got)
	}
	put(b, fMagic, tf.magic())
	put(b, fImageOK, []byte{flagValue})
	put(b, fCopyDone, []byte{0x03}) // torn
	put(b, fSwapInfo, []byte{byte(SwapPerm)})
	put(b, fSeq, []byte{7, 0, 0, 0})
	want := Trailer{Magic: Set, ImageOK: Set, CopyDone: Bad, SwapInfo: SwapPerm, Seq: 7}
	if got := tf.parse(b, stable); got != want {
		t.Fatalf("parse = %+v, want %+v", got, want)
	}
	unstable := make([]byte, tf.len())
	unstable[tf.off(fImageOK)] = 0x10
	unstable[tf.off(fMagic)+15] = 0x01
	want.ImageOK, want.Magic = Bad, Bad
	if got := tf.parse(b, unstable); got != want {
		t.Fatalf("parse with unstable bits = %+v, want %+v", got, want)
	}
	b[tf.off(fMagic)] ^= 1 // one bit short of the magic
	if got := tf.parse(b, stable); got.Magic != Bad {
		t.Fatalf("damaged magic reads %v", got.Magic)
	}
	if got := (trailerFormat{align: 16}).magic(); len(got) != 16 || got[0] != 16 {
		t.Fatalf("magic for alignment 16: % x", got)
	}
}
