package nvm_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/lorafuota/lorafuota/simulator/flash"
	"github.com/lorafuota/lorafuota/simulator/nvm"
)

// state is what the workload has written: the values a reader must find.
type state struct {
	fcnt  uint32
	nonce uint16
	blob  []byte
}

func (s state) String() string {
	return fmt.Sprintf("{FCntUp %d, DevNonce %d, blob %x…}", s.fcnt, s.nonce, s.blob[:4])
}

func (s state) equal(t state) bool {
	return s.fcnt == t.fcnt && s.nonce == t.nonce && bytes.Equal(s.blob, t.blob)
}

func read(s *nvm.Store) state {
	b, _ := s.Setting("blob")
	return state{fcnt: s.FCntUp(), nonce: s.DevNonce(), blob: b}
}

const workloadSteps = 150

// step runs write i of a device's life on a store, counters and a 100-byte
// setting in turn, enough to compact a few times, and returns the state it
// leaves.
func step(s *nvm.Store, i int, cur state) (state, error) {
	next := cur
	var err error
	switch i % 3 {
	case 0:
		next.fcnt = cur.fcnt + 7
		err = s.SetFCntUp(next.fcnt)
	case 1:
		next.nonce++
		_, err = s.NextDevNonce()
	case 2:
		next.blob = bytes.Repeat([]byte{byte(i)}, 100)
		err = s.SetSetting("blob", next.blob)
	}
	return next, err
}

// checkpoint is the flash and the state before one step of the clean run.
type checkpoint struct {
	flash *flash.Flash
	ops   int // operations before the step, from the start of the run
	state state
}

// cutModes are the sweep's modes, each also with metastable bits.
func cutModes() []flash.CutMode {
	var modes []flash.CutMode
	for _, m := range flash.CutModes() {
		modes = append(modes, m)
		if m != flash.Before {
			modes = append(modes, m|flash.Metastable)
		}
	}
	return modes
}

// TestPowerCutSweep cuts the workload at every flash operation in every
// mode, on all three flash parts, then checks what a reboot reads: the old
// or the new value of the interrupted write and nothing else, the same on
// every later reboot, and a store that takes further writes. With double it
// also cuts the recovery (Open compacts after a torn write) at each of its
// operations.
func TestPowerCutSweep(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			base := newRegion(t, p.prof(), 2, flash.WithSeed(1))
			s := open(t, base)
			must(t, s.SetSetting("blob", bytes.Repeat([]byte{0xEE}, 100)))
			must(t, s.SetFCntUp(100))
			start := base.Flash().Snapshot()

			// The clean run, with a snapshot before each step: a cut in step
			// k replays only that step, from its snapshot.
			clean := region(t, base, start.Snapshot())
			cs := open(t, clean)
			cur := read(cs)
			var cps []checkpoint
			for i := range workloadSteps {
				cps = append(cps, checkpoint{clean.Flash().Snapshot(), clean.Flash().Ops() - start.Ops(), cur})
				var err error
				if cur, err = step(cs, i, cur); err != nil {
					t.Fatal(err)
				}
			}
			n := clean.Flash().Ops() - start.Ops()
			if n < workloadSteps {
				t.Fatalf("clean run took %d operations", n)
			}
			scenarios, doubles := 0, 0
			for _, mode := range cutModes() {
				for op := 1; op <= n; op++ {
					name := fmt.Sprintf("%v at %d/%d", mode, op, n)
					k := 0
					for k+1 < len(cps) && cps[k+1].ops < op {
						k++
					}
					r := region(t, base, cps[k].flash.Snapshot())
					r.Flash().Seed(uint64(op))
					r.Flash().ArmCut(op-cps[k].ops, mode)
					committed := cps[k].state
					pending, err := step(open(t, r), k, committed)
					if !errors.Is(err, flash.ErrPowerCut) {
						t.Fatalf("%s: workload error %v, want a power cut", name, err)
					}
					r.Flash().PowerOn()
					after := r.Flash().Snapshot()
					checkRecovery(t, name, r, committed, pending)
					scenarios++

					// Cut the recovery too, at each of its operations.
					probe := region(t, base, after.Snapshot())
					if _, err := nvm.Open(probe); err != nil {
						t.Fatalf("%s: Open: %v", name, err)
					}
					m := probe.Flash().Ops() - after.Ops()
					for op2 := 1; op2 <= m; op2++ {
						name2 := fmt.Sprintf("%s, then %v at %d/%d of the recovery", name, mode, op2, m)
						r2 := region(t, base, after.Snapshot())
						r2.Flash().ArmCut(op2, mode)
						if _, err := nvm.Open(r2); !errors.Is(err, flash.ErrPowerCut) {
							t.Fatalf("%s: Open error %v, want a power cut", name2, err)
						}
						r2.Flash().PowerOn()
						checkRecovery(t, name2, r2, committed, pending)
						doubles++
					}
				}
			}
			t.Logf("%s: %d operations, %d single-cut and %d double-cut scenarios", p.name, n, scenarios, doubles)
		})
	}
}

// checkRecovery reopens the store after a cut and checks it: the committed
// or the pending state, stable across reboots, and still writable.
func checkRecovery(t *testing.T, name string, r *flash.Region, committed, pending state) {
	t.Helper()
	s, err := nvm.Open(r)
	if err != nil {
		t.Fatalf("%s: Open after the cut: %v", name, err)
	}
	got := read(s)
	if !got.equal(committed) && !got.equal(pending) {
		t.Fatalf("%s: read %v, want %v (committed) or %v (interrupted write)", name, got, committed, pending)
	}
	if got.fcnt < committed.fcnt || got.nonce < committed.nonce {
		t.Fatalf("%s: counters went backwards: %v < %v", name, got, committed)
	}
	// A second and third boot read the same without writing anything.
	ops := r.Flash().Ops()
	for range 2 {
		s2, err := nvm.Open(r)
		if err != nil {
			t.Fatalf("%s: second Open: %v", name, err)
		}
		if again := read(s2); !again.equal(got) {
			t.Fatalf("%s: first boot read %v, a later one %v", name, got, again)
		}
	}
	if d := r.Flash().Ops() - ops; d != 0 {
		t.Fatalf("%s: reopening a recovered store wrote %d operations", name, d)
	}
	// The store goes on: a write after recovery sticks.
	s3, _ := nvm.Open(r)
	if err := s3.SetFCntUp(got.fcnt + 1); err != nil {
		t.Fatalf("%s: write after recovery: %v", name, err)
	}
	if _, err := s3.NextDevNonce(); err != nil {
		t.Fatalf("%s: write after recovery: %v", name, err)
	}
	if s4, _ := nvm.Open(r); s4.FCntUp() != got.fcnt+1 || s4.DevNonce() != got.nonce+1 {
		t.Fatalf("%s: write after recovery lost: %v", name, read(s4))
	}
}

// region is r's window on snapshot g.
func region(t testing.TB, r *flash.Region, g *flash.Flash) *flash.Region {
	t.Helper()
	q, err := r.On(g)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
