package nvm_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/lorafuota/lorafuota/simulator/flash"
	"github.com/lorafuota/lorafuota/simulator/nvm"
)

// profiles are the three parts the store must work on, NOR shrunk to keep
// snapshots cheap.
var profiles = []struct {
	name string
	prof func() flash.Profile
}{
	{"nor", func() flash.Profile { return flash.NORW25Q(1 * flash.MiB) }},
	{"stm32wl", flash.STM32WL},
	{"nrf52840", flash.NRF52840},
}

// newRegion returns a fresh flash of p with an n-sector store region at its
// second sector (not at 0, to catch offset mistakes).
func newRegion(t testing.TB, p flash.Profile, n int, opts ...flash.Option) *flash.Region {
	t.Helper()
	f, err := flash.New(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	sec := p.SectorSizes[0]
	r, err := flash.NewRegion(f, "nvm", sec, n*sec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func open(t testing.TB, r *flash.Region) *nvm.Store {
	t.Helper()
	s, err := nvm.Open(r)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEmptyStoreDefaults(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			r := newRegion(t, p.prof(), 2)
			s := open(t, r)
			want := nvm.Counters{SessionCntPrev: [4]int32{-1, -1, -1, -1}}
			if got := s.Counters(); got != want {
				t.Fatalf("Counters() = %+v, want %+v", got, want)
			}
			if r.Flash().Ops() != 0 {
				t.Fatalf("Open of an erased region wrote %d operations", r.Flash().Ops())
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			r := newRegion(t, p.prof(), 2)
			s := open(t, r)
			must(t, s.SetDevNonce(7))
			n, err := s.NextDevNonce()
			must(t, err)
			if n != 8 {
				t.Fatalf("NextDevNonce = %d, want 8", n)
			}
			must(t, s.SetFCntUp(1000))
			must(t, s.SetNFCntDown(20))
			must(t, s.SetAFCntDown(30))
			must(t, s.SetSessionCntPrev(2, 5))
			must(t, s.SetSecurityCounter(0, 3))
			must(t, s.SetSecurityCounter(1, 9))
			must(t, s.SetSetting("region", []byte("EU868")))
			must(t, s.SetSetting("adr", []byte{1}))
			must(t, s.Set(0x0123, []byte("raw")))
			must(t, s.DeleteSetting("adr"))

			s2 := open(t, r)
			want := nvm.Counters{DevNonce: 8, FCntUp: 1000, NFCntDown: 20, AFCntDown: 30,
				SessionCntPrev: [4]int32{-1, -1, 5, -1}, SecurityCounter: 3}
			if got := s2.Counters(); got != want {
				t.Fatalf("after reopen Counters() = %+v, want %+v", got, want)
			}
			if got := s2.SecurityCounter(1); got != 9 {
				t.Errorf("SecurityCounter(1) = %d, want 9", got)
			}
			if v, ok := s2.Setting("region"); !ok || string(v) != "EU868" {
				t.Errorf("Setting(region) = %q, %v", v, ok)
			}
			if _, ok := s2.Setting("adr"); ok {
				t.Error("deleted setting adr is back")
			}
			if got := s2.Settings(); !slices.Equal(got, []string{"region"}) {
				t.Errorf("Settings() = %q", got)
			}
			if v, ok := s2.Get(0x0123); !ok || string(v) != "raw" {
				t.Errorf("Get(0x0123) = %q, %v", v, ok)
			}
		})
	}
}

func TestMonotonic(t *testing.T) {
	r := newRegion(t, flash.STM32WL(), 2)
	s := open(t, r)
	must(t, s.SetFCntUp(10))
	must(t, s.SetDevNonce(10))
	must(t, s.SetSessionCntPrev(0, 4))
	must(t, s.SetSecurityCounter(0, 4))
	tests := []struct {
		name string
		err  error
	}{
		{"FCntUp", s.SetFCntUp(9)},
		{"DevNonce", s.SetDevNonce(9)},
		{"SessionCntPrev", s.SetSessionCntPrev(0, 3)},
		{"SessionCntPrev to none", s.SetSessionCntPrev(0, nvm.NoSession)},
		{"SecurityCounter", s.SetSecurityCounter(0, 3)},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, nvm.ErrBackwards) {
			t.Errorf("lowering %s: error %v, want ErrBackwards", tc.name, tc.err)
		}
	}
	ops := r.Flash().Ops()
	must(t, s.SetFCntUp(10))
	must(t, s.SetSecurityCounter(0, 4))
	must(t, s.SetSetting("x", nil))
	ops2 := r.Flash().Ops()
	must(t, s.SetSetting("x", nil))
	if r.Flash().Ops() != ops2 || ops2 != ops+1 {
		t.Errorf("unchanged values cost %d operations", r.Flash().Ops()-ops-1)
	}
	if got := open(t, r).Counters(); got.FCntUp != 10 || got.DevNonce != 10 || got.SessionCntPrev[0] != 4 {
		t.Errorf("after refused writes: %+v", got)
	}
}

func TestKeys(t *testing.T) {
	s := open(t, newRegion(t, flash.NRF52840(), 2))
	for _, k := range []nvm.Key{0, nvm.KeyFCntUp, nvm.FirstFreeKey - 1, nvm.KeySetting, 0xFFFF} {
		if err := s.Set(k, []byte{1}); !errors.Is(err, nvm.ErrKey) {
			t.Errorf("Set(%#04x): error %v, want ErrKey", uint16(k), err)
		}
	}
	if err := s.SetSetting("", []byte{1}); !errors.Is(err, nvm.ErrKey) {
		t.Errorf("SetSetting(\"\"): %v", err)
	}
	if err := s.SetSessionCntPrev(4, 1); !errors.Is(err, nvm.ErrKey) {
		t.Errorf("SetSessionCntPrev(4): %v", err)
	}
	if err := s.Set(nvm.FirstFreeKey, make([]byte, 8000)); !errors.Is(err, nvm.ErrFull) {
		t.Errorf("oversized value: %v, want ErrFull", err)
	}
	must(t, s.Set(nvm.FirstFreeKey, []byte{2}))
}

func TestRejectsBadRegion(t *testing.T) {
	f, err := flash.New(flash.NRF52840())
	must(t, err)
	for _, tc := range []struct{ off, size int }{
		{0, 4096},        // one sector
		{0, 4096 + 2048}, // not whole sectors
		{2048, 8192},     // misaligned
	} {
		r, err := flash.NewRegion(f, "nvm", tc.off, tc.size)
		must(t, err)
		if _, err := nvm.Open(r); err == nil {
			t.Errorf("Open([%#x, +%#x)) accepted", tc.off, tc.size)
		}
	}
}

// TestCompaction writes far more than a sector holds: values survive, the
// sectors take turns, unknown keys are carried along.
func TestCompaction(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			r := newRegion(t, p.prof(), 3)
			s := open(t, r)
			must(t, s.Set(0x7abc, []byte("from a newer firmware")))
			blob := make([]byte, 100)
			for i := range 600 {
				must(t, s.SetFCntUp(uint32(i)))
				blob[i%len(blob)]++
				must(t, s.SetSetting("blob", blob))
			}
			if s.Stats().Compactions < 6 {
				t.Fatalf("only %d compactions", s.Stats().Compactions)
			}
			s2 := open(t, r)
			if got := s2.FCntUp(); got != 599 {
				t.Errorf("FCntUp = %d, want 599", got)
			}
			if v, _ := s2.Setting("blob"); !bytes.Equal(v, blob) {
				t.Error("blob setting lost")
			}
			if v, ok := s2.Get(0x7abc); !ok || string(v) != "from a newer firmware" {
				t.Errorf("unknown key: %q, %v", v, ok)
			}
			f := r.Flash()
			sec := f.Geometry().SectorIndex(r.Offset())
			var wear []int
			for i := range 3 {
				wear = append(wear, f.EraseCount(sec+i))
			}
			if slices.Min(wear) == 0 || slices.Max(wear)-slices.Min(wear) > 1 {
				t.Errorf("uneven wear %v", wear)
			}
		})
	}
}

// TestErasedZero runs the store on flash that erases to 0x00.
func TestErasedZero(t *testing.T) {
	r := newRegion(t, flash.NORW25Q(1*flash.MiB), 2, flash.WithErasedValue(0x00))
	s := open(t, r)
	for i := range 300 {
		must(t, s.SetFCntUp(uint32(i)))
	}
	if got := open(t, r).FCntUp(); got != 299 {
		t.Fatalf("FCntUp = %d, want 299", got)
	}
}

func TestWideProgramUnit(t *testing.T) {
	r := newRegion(t, flash.NRF52840(), 2, flash.WithProgramUnit(32))
	s := open(t, r)
	for i := range 300 {
		must(t, s.SetFCntUp(uint32(i)))
	}
	if got := open(t, r).FCntUp(); got != 299 {
		t.Fatalf("FCntUp = %d, want 299", got)
	}
}

func ExampleStore() {
	f, _ := flash.New(flash.STM32WL())
	r, _ := flash.NewRegion(f, "nvm", 248*flash.KiB, 8*flash.KiB)
	s, _ := nvm.Open(r)
	n, _ := s.NextDevNonce() // persisted before the join request goes out
	_ = s.SetFCntUp(42)
	err := s.SetFCntUp(41)
	fmt.Println(n, s.FCntUp(), errors.Is(err, nvm.ErrBackwards))
	// Output: 1 42 true
}
